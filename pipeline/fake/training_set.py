"""The fake detector's training set: which labelled images, their spectra for each input kind, the class profiles.

The spectrum itself is pipeline.fake.spectrum's; this module picks the
rows (spectrum.datasets, sampled per source and split, then per class), runs
the batched extraction over them (`image`: whole files; `face`/`patch`: each
image's largest Haar face from haar-crop; `crop`: haar-crop's crops), adds
the frames of the real labelled videos (spectrum.video_frames), and
summarizes the table for extract-spectrum's plot and metrics.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.data.datasets import read_videos
from pipeline.data.images import read_image, to_gray
from pipeline.data.splits import assign_split, cap_per_group
from pipeline.data.video import readable_videos
from pipeline.errors import StageError
from pipeline.faces.detection import detect_faces
from pipeline.fake.processing import NAMED, Applied, apply_chain, chain_text, random_chain
from pipeline.fake.spectrum import (
    detector_input,
    detector_width,
    spectra_of_files,
    spectra_of_images,
    spectra_of_inputs,
)
from pipeline.parallel import absolute_paths, batches, map_batches

# `processing`: the chain of everyday steps the row's image went through first ('' for none:
# pipeline.fake.processing); split `robustness` marks the held-out rows under a named step.
SPECTRUM_LABEL_COLUMNS = ["path", "dataset", "real_fake", "gender", "ethnicity", "group", "split", "processing"]
ROBUSTNESS = "robustness"


def sample_rows(rows: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """Labelled images of spectrum.datasets, sampled per data set and split, then per class."""
    rows = rows[rows["dataset"].isin(cfg.spectrum.datasets) & rows["real_fake"].notna()]
    rows = cap_per_group(rows, ["dataset", "split"], cfg.spectrum.max_per_source, cfg.seed)
    rows = cap_per_group(rows, ["real_fake"], cfg.spectrum.max_per_class, cfg.seed)
    rows = rows.sort_values("path").reset_index(drop=True)
    if rows.empty:
        raise StageError(
            f"no labelled real/fake images of {list(cfg.spectrum.datasets)} in the manifest: "
            "check that filter.datasets includes spectrum.datasets"
        )
    return rows


def training_chains(rows: pd.DataFrame, cfg: Config) -> list[tuple[Applied, ...]]:
    """Each row's processing: spectrum.augment's random chain for training rows (seeded by the row's path,
    drawn alike for both classes), none for held-out rows and without spectrum.augment."""
    augment = cfg.spectrum.augment
    if augment is None:
        return [()] * len(rows)
    return [
        random_chain(cfg.seed, path, augment) if split == "train" else ()
        for path, split in zip(rows["path"], rows["split"], strict=True)
    ]


def robustness_rows(rows: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """Each named step's copy of the held-out rows (spectrum.robustness: at most max_per_source seeded rows of
    each source, the same rows under every step, so the steps compare pair for pair): split `robustness`,
    processing the step's name."""
    robustness = cfg.spectrum.robustness
    if robustness is None:
        return rows.iloc[:0]
    heldout = cap_per_group(rows[rows["split"] == "test"], ["dataset"], robustness.max_per_source, cfg.seed)
    heldout = heldout.sort_values("path")
    return pd.concat([heldout.assign(split=ROBUSTNESS, processing=step) for step in robustness.steps])


def with_processing(rows: pd.DataFrame, cfg: Config) -> tuple[pd.DataFrame, list[tuple[Applied, ...]]]:
    """The sampled rows with their `processing`, then the robustness rows; and each row's chain of steps."""
    chains = training_chains(rows, cfg)
    rows = rows.assign(processing=[chain_text(chain) for chain in chains])
    extra = robustness_rows(rows, cfg)
    chains = chains + [NAMED[step] for step in extra["processing"]]
    return pd.concat([rows, extra], ignore_index=True), chains


def spectra_from_images(rows: pd.DataFrame, cfg: Config) -> np.ndarray:
    work = partial(spectra_of_files, n_points=cfg.spectrum.n_points, side=cfg.spectrum.side)
    parts = list(map_batches(work, absolute_paths(rows["path"].tolist()), cfg.compute.batch_size, "spectrum"))
    return np.concatenate([p[0] for p in parts])


def processed_region(path: str, box, chain: tuple[Applied, ...], spectrum) -> np.ndarray | None:
    """The detector's input for a face after the image went through `chain` (the box moves with resizing);
    None when the file cannot be read or no input can be cut."""
    image = read_image(path)
    if image is None:
        return None
    if chain:
        image, box = apply_chain(image, tuple(float(v) for v in box), chain)
    return detector_input(to_gray(image), box, spectrum)


def spectra_of_faces(items, spectrum) -> np.ndarray:
    """Features of (image path, face box, chain) triples (one joblib task); NaN rows where there is no input."""
    cv2.setNumThreads(1)
    return spectra_of_inputs([processed_region(path, box, chain, spectrum) for path, box, chain in items], spectrum)


def spectra_from_faces(rows: pd.DataFrame, cfg: Config, chains: list[tuple[Applied, ...]]) -> np.ndarray:
    """The served input: each image's largest Haar face (haar-crop's box), after the row's processing."""
    found = rows["face_found"].to_numpy()
    features = np.full((len(rows), detector_width(cfg.spectrum)), np.nan)
    boxes = rows.loc[found, ["box_x", "box_y", "box_w", "box_h"]].to_numpy()
    paths = absolute_paths(rows.loc[found, "path"].astype(str).tolist())
    items = list(zip(paths, map(tuple, boxes), [chains[i] for i in np.flatnonzero(found)], strict=True))
    if items:
        work = partial(spectra_of_faces, spectrum=cfg.spectrum)
        features[found] = np.concatenate(list(map_batches(work, items, cfg.compute.batch_size, "spectrum")))
    return features


def spectra_from_crops(rows: pd.DataFrame, cfg: Config, crops: np.ndarray) -> np.ndarray:
    features = np.full((len(rows), cfg.spectrum.n_points), np.nan)
    found = np.flatnonzero(rows["face_found"].to_numpy())
    parts = [
        spectra_of_images(list(crops[rows["crop_index"].to_numpy()[part]]), cfg.spectrum.n_points)
        for part in batches(list(found), cfg.compute.batch_size)
    ]
    if parts:
        features[found] = np.concatenate(parts)
    return features


def spectra_of_rows(
    rows: pd.DataFrame, cfg: Config, crops_path: Path, chains: list[tuple[Applied, ...]] | None = None
) -> np.ndarray:
    """One spectrum per row for spectrum.input (NaN where the row has no input: no face, unreadable), each
    row's image processed by its chain first (input patch or face only: the schema refuses the others)."""
    if cfg.spectrum.input == "crop":
        return spectra_from_crops(rows, cfg, np.load(crops_path, mmap_mode="r"))
    if cfg.spectrum.input == "image":
        return spectra_from_images(rows, cfg)
    return spectra_from_faces(rows, cfg, chains or [()] * len(rows))  # face, patch


def spectrum_table(rows: pd.DataFrame, features: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """The rows' labels, `has_input`, and their spectra. Rows without an input stay: the held-out
    figures count them per source."""
    has_input = ~np.isnan(features).any(axis=1)
    return pd.concat(
        [
            rows[SPECTRUM_LABEL_COLUMNS].reset_index(drop=True).assign(has_input=has_input),
            pd.DataFrame(features, columns=columns),
        ],
        axis=1,
    )


def profile_plot_data(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Mean and std of the spectrum per class, long format (DVC plot data)."""
    frames = []
    for label, rows in table.groupby("real_fake", sort=True):
        values = rows[columns].to_numpy()
        frames.append(
            pd.DataFrame(
                {
                    "frequency": np.arange(len(columns)),
                    "class": label,
                    "mean": values.mean(axis=0).round(8),
                    "std": values.std(axis=0).round(8),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def spectrum_counts(table: pd.DataFrame) -> dict:
    """Images per class, and per data set the images without an input (the robustness rows apart)."""
    table = table[table["split"] != ROBUSTNESS]
    return {
        "images": {str(k): int(v) for k, v in table["real_fake"].value_counts().sort_index().items()},
        "without_input": {str(k): int((~v["has_input"]).sum()) for k, v in table.groupby("dataset", sort=True)},
    }


def processing_counts(table: pd.DataFrame) -> dict:
    """Training rows processed by a random chain (per class), and the held-out rows scored under each named step
    (with an input)."""
    train = table[table["split"] == "train"]
    processed = train[train["processing"] != ""]
    robustness = table[table["split"] == ROBUSTNESS]
    return {
        "train_processed": {str(k): int(v) for k, v in processed["real_fake"].value_counts().sort_index().items()},
        "train_rows": {str(k): int(v) for k, v in train["real_fake"].value_counts().sort_index().items()},
        "robustness": {
            str(step): {"rows": int(len(rows)), "with_input": int(rows["has_input"].sum())}
            for step, rows in robustness.groupby("processing", sort=False)
        },
    }


# ---- frames of the real labelled videos: compressed video of real people, split by clip ----


def real_clip_split(videos: pd.DataFrame, cfg: Config) -> pd.Series:
    """'train' or 'test' for each real clip of the labelled videos, split by scene (the reader's `group`: a
    FaceForensics++ original and the fakes made from it share one): round(spectrum.video_held_out x the
    scenes) of each video source's real clips are held out, seeded; every frame of a clip falls on one side."""
    real = videos[videos["real_fake"] == "real"]
    return assign_split(real["subset"].fillna(""), real["group"], cfg.spectrum.video_held_out, cfg.seed)


def trained_scenes(videos: pd.DataFrame, cfg: Config) -> frozenset[str]:
    """The scenes (`group`) whose real clip's frames are training rows (none without spectrum.video_frames):
    every labelled video of such a scene, real or fake, was seen in part by the detector."""
    if not cfg.spectrum.video_frames:
        return frozenset()
    split = real_clip_split(videos, cfg)
    return frozenset(videos.loc[split.index[split == "train"], "group"])


def frame_path(video: str, frame: int) -> str:
    """A sampled frame's `path` in the spectrum table: its video's, and the frame number."""
    return f"{video}#frame={frame}"


def video_frame_table(cfg: Config, raw: Path, columns: list[str]) -> tuple[pd.DataFrame, dict]:
    """One real-class row per sampled frame of the real labelled clips (spectrum.videos' sampling; its source
    is the video set's name), its input the largest face's (the detector the labelled videos and the web app
    use), split by clip; and the clips that could not be read, by path."""
    spectrum = cfg.spectrum
    videos = read_videos(cfg.datasets[spectrum.videos.dataset], raw)
    split = real_clip_split(videos, cfg)
    rows, regions, skipped = [], [], {}
    for row, frames in readable_videos(
        videos.loc[split.index], spectrum.videos.every_s, spectrum.videos.max_frames, skipped
    ):
        for frame in frames:
            gray = to_gray(frame.image)
            boxes = detect_faces(frame.image, cfg.crop)[:1]
            regions.append(detector_input(gray, boxes[0], spectrum) if len(boxes) else None)
            rows.append(
                {
                    "path": frame_path(row.path, frame.index),
                    "dataset": spectrum.videos.dataset,
                    "real_fake": "real",
                    "gender": None if pd.isna(row.gender) else row.gender,
                    "ethnicity": None,
                    "group": row.group,  # the scene: leave-one-clip-out refits leave out all its frames
                    "split": split[row.Index],
                    "processing": "",  # compressed video as it was published
                }
            )
    table = spectrum_table(
        pd.DataFrame(rows, columns=SPECTRUM_LABEL_COLUMNS), spectra_of_inputs(regions, spectrum), columns
    )
    return table, skipped


def video_frame_counts(table: pd.DataFrame, dataset: str, skipped: dict) -> dict:
    """Per split, the real clips and their sampled frames (with and without a face); the clips not read."""
    frames = table[table["dataset"] == dataset]
    counts = {
        str(split): {
            "clips": int(rows["group"].nunique()),
            "frames": int(len(rows)),
            "frames_with_face": int(rows["has_input"].sum()),
        }
        for split, rows in frames.groupby("split", sort=True)
    }
    return {**counts, "skipped": skipped}
