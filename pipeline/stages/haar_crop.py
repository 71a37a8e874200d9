"""DVC stage `haar-crop`: the largest face of every kept image, as one array of grayscale crops."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.faces import crop_largest_faces, read_gray
from pipeline.io import atomic_path, write_parquet
from pipeline.outputs import CROP_METRICS, CROPS, FACE_CROPS_FIGURE, FACES, MANIFEST, publish_figure, publish_json, require
from pipeline.parallel import absolute_paths, compute_backend, map_batches
from pipeline.report import face_sheet
from pipeline.stages.common import StageError, log, run_stage
from pipeline.tracking import StageRun

GROUP_COLUMNS = ("ethnicity", "gender")


def kept_images(manifest: pd.DataFrame) -> pd.DataFrame:
    rows = manifest[(manifest["status"] == "kept") & (manifest["media"] == "image")]
    return rows.reset_index(drop=True)


def crop_all(faces: pd.DataFrame, cfg: Config, crops_path) -> pd.DataFrame:
    """Write every crop into one .npy (streamed, never all images in memory); return the face table."""
    count, size = len(faces), cfg.crop.size
    boxes = np.full((count, 4), -1, dtype=np.int32)
    n_faces = np.full(count, -1, dtype=np.int32)
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
                start = stop
        crops.flush()
        del crops
    return faces.assign(
        crop_index=np.arange(count, dtype=np.int64),
        n_faces=n_faces, face_found=n_faces > 0,
        box_x=boxes[:, 0], box_y=boxes[:, 1], box_w=boxes[:, 2], box_h=boxes[:, 3],
    )


def detection_metrics(faces: pd.DataFrame) -> dict:
    """detection_rate.<dataset>, per group, and counts of unreadable and multi-face images."""
    metrics: dict = {"detection_rate": {}, "detection_rate_by_group": {}, "images": {},
                     "unreadable": {}, "multiple_faces": {}}
    for dataset, rows in faces.groupby("dataset", sort=True):
        metrics["detection_rate"][dataset] = round(float(rows["face_found"].mean()), 4)
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


def sample_sheet(faces: pd.DataFrame, crops_path, count: int, seed: int, path) -> None:
    found = faces[faces["face_found"]]
    chosen = found.sample(n=min(count, len(found)), random_state=seed).sort_values("crop_index")
    crops = np.load(crops_path, mmap_mode="r")
    face_sheet(
        [read_gray(str(p)) for p in chosen["path"]],
        chosen[["box_x", "box_y", "box_w", "box_h"]].to_numpy(),
        [np.asarray(crops[i]) for i in chosen["crop_index"]],
        path,
    )


def haar_crop(cfg: Config, run: StageRun) -> None:
    faces = kept_images(pd.read_parquet(require(MANIFEST)))
    if faces.empty:
        raise StageError(f"{MANIFEST} lists no kept images: check filter.datasets and rerun filter-small-images")
    faces = crop_all(faces, cfg, CROPS)
    write_parquet(FACES, faces)
    metrics = detection_metrics(faces)
    publish_json(run, CROP_METRICS, metrics)
    publish_figure(run, FACE_CROPS_FIGURE, partial(sample_sheet, faces, CROPS, cfg.crop.sample_sheet, cfg.seed))
    run.log_metrics(metrics)
    log.info("detection rate %s", metrics["detection_rate"])


def main() -> None:
    run_stage("haar-crop", ["seed", "crop", "compute"], haar_crop)


if __name__ == "__main__":
    main()
