"""DVC stage `filter-small-images`: the manifest of usable images, with drop reasons and the split."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from pipeline import images
from pipeline.config import Config
from pipeline.datasets import read_dataset
from pipeline.io import write_parquet
from pipeline.outputs import (
    FILTER_METRICS, IMAGE_SIZES, IMAGE_SIZES_FIGURE, MANIFEST, RAW, publish_csv, publish_figure, publish_json,
)
from pipeline.parallel import absolute_paths, compute_backend, map_batches
from pipeline.report import size_histogram_figure, size_histogram_table
from pipeline.splits import assign_split
from pipeline.stages.common import StageError, log, run_stage
from pipeline.tracking import StageRun

KEPT = "kept"


def read_sources(cfg: Config) -> pd.DataFrame:
    """The manifest rows of every data set named in filter.datasets, sampled if configured."""
    frames = []
    for name in cfg.filter.datasets:
        source = cfg.datasets[name]
        frame = read_dataset(source.reader, RAW / name / source.root, name, **source.options)
        if cfg.filter.max_per_dataset and len(frame) > cfg.filter.max_per_dataset:
            frame = frame.sample(n=cfg.filter.max_per_dataset, random_state=cfg.seed).sort_values("path")
        frames.append(frame)
    manifest = pd.concat(frames, ignore_index=True)
    if manifest.empty:
        raise StageError(f"no images found in {', '.join(cfg.filter.datasets)}: run the download stage first")
    return manifest


def inspect_all(manifest: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """Width, height and status (kept, or the drop reason) of every row."""
    paths = absolute_paths(manifest["path"].astype(str).tolist())
    inspect = partial(images.inspect_images, max_pixels=cfg.filter.max_pixels)
    with compute_backend(cfg.compute):
        results = [
            row for batch in map_batches(inspect, paths, cfg.compute.batch_size, "inspect") for row in batch
        ]
    width, height, status = (np.array(column) for column in zip(*results))
    status = np.where(status == images.OK, KEPT, status).astype(object)
    too_small = (status == KEPT) & (np.minimum(width, height) < cfg.filter.min_size)
    status[too_small] = images.TOO_SMALL
    return manifest.assign(
        width=width.astype("int32"), height=height.astype("int32"), status=pd.array(status, dtype="string")
    )


def with_split(manifest: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """Assign train/test to kept rows, stratified by data set, label and group."""
    kept = manifest["status"] == KEPT
    strata = manifest[["dataset", "gender", "race", "real_fake"]].astype(object).fillna("-").astype(str).agg("|".join, axis=1)
    groups = manifest["dataset"] + "/" + manifest["group"].fillna(manifest["path"])
    split = pd.Series(pd.NA, index=manifest.index, dtype="string")
    split[kept] = assign_split(strata[kept], groups[kept], cfg.filter.test_size, cfg.seed)
    return manifest.assign(split=split)


def filter_counts(manifest: pd.DataFrame) -> dict:
    """kept.<dataset> and dropped.<dataset>.<reason>: every input image in exactly one count."""
    counts = manifest.groupby(["dataset", "status"]).size()
    kept: dict[str, int] = {}
    dropped: dict[str, dict[str, int]] = {}
    total: dict[str, int] = {}
    for (dataset, status), count in counts.items():
        total[dataset] = total.get(dataset, 0) + int(count)
        if status == KEPT:
            kept[dataset] = int(count)
        else:
            dropped.setdefault(dataset, {})[status] = int(count)
    for dataset in total:
        kept.setdefault(dataset, 0)
    split = manifest[manifest["status"] == KEPT].groupby(["dataset", "split"]).size()
    splits = {f"{dataset}.{name}": int(n) for (dataset, name), n in split.items()}
    return {"kept": kept, "dropped": dropped, "total": total, "split": splits}


def filter_small_images(cfg: Config, run: StageRun) -> None:
    manifest = with_split(inspect_all(read_sources(cfg), cfg), cfg)
    write_parquet(MANIFEST, manifest)
    metrics = filter_counts(manifest)
    publish_json(run, FILTER_METRICS, metrics)
    for row in manifest[manifest["status"] != KEPT].itertuples():
        log.info("dropped %s: %s", row.path, row.status)

    decoded = manifest[manifest["width"] > 0]
    table = size_histogram_table(decoded)
    publish_csv(run, IMAGE_SIZES, table)
    publish_figure(run, IMAGE_SIZES_FIGURE, partial(size_histogram_figure, table, cfg.filter.min_size))

    run.log_metrics(metrics)
    log.info("kept %s; dropped %s", metrics["kept"], metrics["dropped"])


def main() -> None:
    run_stage("filter-small-images", ["seed", "datasets", "filter", "compute"], filter_small_images)


if __name__ == "__main__":
    main()
