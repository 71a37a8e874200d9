"""DVC stage `extract-spectrum`: the 1D power spectrum of every real and fake image (or face crop)."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.features.spectrum import (
    detector_columns,
    detector_width,
    feature_columns,
    spectra_of_faces,
    spectra_of_files,
    spectra_of_images,
)
from pipeline.io import write_csv, write_json, write_parquet
from pipeline.parallel import absolute_paths, batches, compute_backend, map_batches
from pipeline.report import spectrum_figure
from pipeline.splits import cap_per_group
from pipeline.stages.common import (
    CROPS,
    FACES,
    FIGURES,
    MANIFEST,
    METRICS,
    PLOTS,
    SPECTRUM,
    StageError,
    log,
    require,
    run_stage,
)
from pipeline.tracking import StageRun

LABEL_COLUMNS = ["path", "dataset", "real_fake", "gender", "ethnicity", "group", "split"]


def spectra_from_images(rows: pd.DataFrame, cfg: Config) -> np.ndarray:
    work = partial(spectra_of_files, n_points=cfg.spectrum.n_points, side=cfg.spectrum.side)
    parts = list(map_batches(work, absolute_paths(rows["path"].tolist()), cfg.compute.batch_size, "spectrum"))
    return np.concatenate([p[0] for p in parts])


def spectra_from_faces(rows: pd.DataFrame, cfg: Config) -> np.ndarray:
    """The served input: each image's largest Haar face (haar-crop's box), framed by spectrum.face_scale."""
    found = rows["face_found"].to_numpy()
    features = np.full((len(rows), detector_width(cfg.spectrum)), np.nan)
    boxes = rows.loc[found, ["box_x", "box_y", "box_w", "box_h"]].to_numpy()
    items = list(zip(absolute_paths(rows.loc[found, "path"].astype(str).tolist()), map(tuple, boxes)))
    if items:
        work = partial(spectra_of_faces, spectrum=cfg.spectrum)
        features[found] = np.concatenate(list(map_batches(work, items, cfg.compute.batch_size, "spectrum")))
    return features


def spectra_from_crops(rows: pd.DataFrame, cfg: Config) -> np.ndarray:
    crops = np.load(CROPS, mmap_mode="r")
    features = np.full((len(rows), cfg.spectrum.n_points), np.nan)
    found = np.flatnonzero(rows["face_found"].to_numpy())
    parts = [
        spectra_of_images(list(crops[rows["crop_index"].to_numpy()[part]]), cfg.spectrum.n_points)
        for part in batches(list(found), cfg.compute.batch_size)
    ]
    if parts:
        features[found] = np.concatenate(parts)
    return features


def select_rows(cfg: Config) -> pd.DataFrame:
    """Labelled images of spectrum.datasets, sampled per data set and split, then per class."""
    if cfg.spectrum.input == "image":
        rows = pd.read_parquet(require(MANIFEST, "filter-small-images"))
        rows = rows[(rows["status"] == "kept") & (rows["media"] == "image")]
    else:
        rows = pd.read_parquet(require(FACES, "haar-crop"))
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


SPECTRA = {
    "image": spectra_from_images,
    "face": spectra_from_faces,
    "patch": spectra_from_faces,
    "crop": spectra_from_crops,
}


def class_profiles(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
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


def extract_spectrum(cfg: Config, run: StageRun) -> None:
    rows = select_rows(cfg)
    columns = detector_columns(cfg.spectrum)
    with compute_backend(cfg.compute):
        features = SPECTRA[cfg.spectrum.input](rows, cfg)
    has_input = ~np.isnan(features).any(axis=1)
    # Rows without an input (no face found, unreadable) stay in the table: the held-out
    # figures count them per source.
    table = pd.concat(
        [
            rows[LABEL_COLUMNS].reset_index(drop=True).assign(has_input=has_input),
            pd.DataFrame(features, columns=columns),
        ],
        axis=1,
    )
    write_parquet(SPECTRUM, table)

    profiles = class_profiles(table[table["has_input"]], feature_columns(cfg.spectrum.n_points))
    write_csv(PLOTS / "spectrum_profiles.csv", profiles)
    spectrum_figure(profiles, FIGURES / "spectrum_profiles.png")
    metrics = {
        "images": {str(k): int(v) for k, v in table["real_fake"].value_counts().sort_index().items()},
        "without_input": {str(k): int((~v["has_input"]).sum()) for k, v in table.groupby("dataset", sort=True)},
        "input": cfg.spectrum.input,
        "side": cfg.spectrum.side,
    }
    write_json(METRICS / "spectrum.json", metrics)
    run.log_metrics({"images": metrics["images"], "without_input": metrics["without_input"]})
    for path in (METRICS / "spectrum.json", PLOTS / "spectrum_profiles.csv", FIGURES / "spectrum_profiles.png"):
        run.log_artifact(path)
    log.info("spectra of %s images; without input %s", metrics["images"], metrics["without_input"])


def main() -> None:
    run_stage("extract-spectrum", ["seed", "spectrum", "compute"], extract_spectrum)


if __name__ == "__main__":
    main()
