"""haar-crop's work: every kept image's largest face into one crop array, the detection figures, the sample sheet."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.data.images import read_gray
from pipeline.faces.crops import crop_largest_faces
from pipeline.figures import face_sheet
from pipeline.io import atomic_path
from pipeline.parallel import absolute_paths, compute_backend, map_batches

GROUP_COLUMNS = ("ethnicity", "gender")


def crop_all(faces: pd.DataFrame, cfg: Config, crops_path: Path) -> pd.DataFrame:
    """Write every crop into one .npy (streamed, never all images in memory); return the face table."""
    count, size = len(faces), cfg.crop.size
    boxes = np.full((count, 4), -1, dtype=np.int32)
    n_faces = np.full(count, -1, dtype=np.int32)
    detectors: list[str | None] = []
    work = partial(crop_largest_faces, crop=cfg.crop)
    with atomic_path(crops_path) as tmp:
        crops = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(count, size, size))
        start = 0
        with compute_backend(cfg.compute):
            paths = absolute_paths(faces["path"].astype(str).tolist())
            for batch in map_batches(work, paths, cfg.compute.batch_size, "haar-crop"):
                stop = start + len(batch.n_faces)
                crops[start:stop] = batch.crops
                boxes[start:stop] = batch.boxes
                n_faces[start:stop] = batch.n_faces
                detectors += batch.detectors
                start = stop
        crops.flush()
        del crops
    return faces.assign(
        crop_index=np.arange(count, dtype=np.int64),
        n_faces=n_faces,
        face_found=n_faces > 0,
        detector=pd.array(detectors, dtype="string"),
        box_x=boxes[:, 0],
        box_y=boxes[:, 1],
        box_w=boxes[:, 2],
        box_h=boxes[:, 3],
    )


def detection_metrics(faces: pd.DataFrame) -> dict:
    """detection_rate.<dataset>, per group, the share found by the fallback detector, and counts of
    unreadable and multi-face images."""
    metrics: dict = {
        "detection_rate": {},
        "found_by_fallback": {},
        "detection_rate_by_group": {},
        "images": {},
        "unreadable": {},
        "multiple_faces": {},
    }
    for dataset, rows in faces.groupby("dataset", sort=True):
        metrics["detection_rate"][dataset] = round(float(rows["face_found"].mean()), 4)
        metrics["found_by_fallback"][dataset] = round(float(rows["detector"].eq("mmod").fillna(False).mean()), 4)
        metrics["images"][dataset] = int(len(rows))
        metrics["unreadable"][dataset] = int((rows["n_faces"] < 0).sum())
        metrics["multiple_faces"][dataset] = int((rows["n_faces"] > 1).sum())
        metrics["detection_rate_by_group"][dataset] = {
            column: {
                str(value): round(float(members["face_found"].mean()), 4)
                for value, members in rows[rows[column].notna()].groupby(column, sort=True)
            }
            for column in GROUP_COLUMNS
        }
    return metrics


def sample_sheet(faces: pd.DataFrame, crops_path: Path, count: int, seed: int, path: Path) -> None:
    """A seeded sample of found faces: each image with its box, beside its crop."""
    found = faces[faces["face_found"]]
    chosen = found.sample(n=min(count, len(found)), random_state=seed).sort_values("crop_index")
    crops = np.load(crops_path, mmap_mode="r")
    face_sheet(
        [read_gray(str(p)) for p in chosen["path"]],
        chosen[["box_x", "box_y", "box_w", "box_h"]].to_numpy(),
        [np.asarray(crops[i]) for i in chosen["crop_index"]],
        path,
    )
