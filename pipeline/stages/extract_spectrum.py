"""DVC stage `extract-spectrum`: the 1D power spectrum of every real and fake image (or face crop)."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.features.spectrum import feature_columns, spectra_of_files, spectra_of_images
from pipeline.io import write_csv, write_json, write_parquet
from pipeline.parallel import absolute_paths, batches, compute_backend, map_batches
from pipeline.report import spectrum_figure
from pipeline.stages.common import (
    CROPS, FACES, FIGURES, MANIFEST, METRICS, PLOTS, SPECTRUM, StageError, log, require, run_stage,
)
from pipeline.tracking import StageRun

LABEL_COLUMNS = ["path", "dataset", "real_fake", "gender", "ethnicity", "group", "split"]


def spectra_from_images(rows: pd.DataFrame, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    work = partial(spectra_of_files, n_points=cfg.spectrum.n_points)
    parts = list(map_batches(work, absolute_paths(rows["path"].tolist()), cfg.compute.batch_size, "spectrum"))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def spectra_from_crops(rows: pd.DataFrame, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    crops = np.load(CROPS, mmap_mode="r")
    features = [
        spectra_of_images(list(crops[list(part)]), cfg.spectrum.n_points)
        for part in batches(rows["crop_index"].tolist(), cfg.compute.batch_size)
    ]
    return np.concatenate(features), np.ones(len(rows), dtype=bool)


def select_rows(cfg: Config) -> pd.DataFrame:
    if cfg.spectrum.input == "crop":
        rows = pd.read_parquet(require(FACES, "haar-crop"))
        rows = rows[rows["face_found"]]
    else:
        rows = pd.read_parquet(require(MANIFEST, "filter-small-images"))
        rows = rows[(rows["status"] == "kept") & (rows["media"] == "image")]
    rows = rows[rows["dataset"].isin(cfg.spectrum.datasets) & rows["real_fake"].notna()]
    if cfg.spectrum.max_per_class:
        limit = cfg.spectrum.max_per_class
        samples = [
            group.sample(n=min(len(group), limit), random_state=cfg.seed)
            for _, group in rows.groupby("real_fake", sort=True)
        ]
        rows = pd.concat(samples).sort_values("path")
    rows = rows.reset_index(drop=True)
    if rows.empty:
        raise StageError(
            f"no labelled real/fake images of {list(cfg.spectrum.datasets)} in the manifest: "
            "check that filter.datasets includes spectrum.datasets"
        )
    return rows


def class_profiles(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Mean and std of the spectrum per class, long format (DVC plot data)."""
    frames = []
    for label, rows in table.groupby("real_fake", sort=True):
        values = rows[columns].to_numpy()
        frames.append(pd.DataFrame({
            "frequency": np.arange(len(columns)), "class": label,
            "mean": values.mean(axis=0).round(8), "std": values.std(axis=0).round(8),
        }))
    return pd.concat(frames, ignore_index=True)


def extract_spectrum(cfg: Config, run: StageRun) -> None:
    rows = select_rows(cfg)
    columns = feature_columns(cfg.spectrum.n_points)
    with compute_backend(cfg.compute):
        features, readable = (spectra_from_crops if cfg.spectrum.input == "crop" else spectra_from_images)(rows, cfg)
    for path in rows.loc[~readable, "path"]:
        log.info("skipped unreadable %s", path)
    table = pd.concat(
        [rows[LABEL_COLUMNS].reset_index(drop=True)[readable], pd.DataFrame(features[readable], columns=columns)],
        axis=1,
    ).reset_index(drop=True)
    write_parquet(SPECTRUM, table)

    profiles = class_profiles(table, columns)
    write_csv(PLOTS / "spectrum_profiles.csv", profiles)
    spectrum_figure(profiles, FIGURES / "spectrum_profiles.png")
    metrics = {
        "images": {str(k): int(v) for k, v in table["real_fake"].value_counts().sort_index().items()},
        "skipped_unreadable": int((~readable).sum()),
        "input": cfg.spectrum.input,
    }
    write_json(METRICS / "spectrum.json", metrics)
    run.log_metrics(metrics)
    for path in (METRICS / "spectrum.json", PLOTS / "spectrum_profiles.csv", FIGURES / "spectrum_profiles.png"):
        run.log_artifact(path)
    log.info("spectra of %s images, %d unreadable", metrics["images"], metrics["skipped_unreadable"])


def main() -> None:
    run_stage("extract-spectrum", ["seed", "spectrum", "compute"], extract_spectrum)


if __name__ == "__main__":
    main()
