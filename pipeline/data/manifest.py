"""The manifest of usable images: every source's rows, each image inspected, the split assigned once, the counts.

filter-small-images writes it; haar-crop and extract-spectrum read its kept images.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import ComputeConfig, Config, FilterConfig
from pipeline.data import images
from pipeline.data.datasets import read_dataset
from pipeline.data.splits import assign_split
from pipeline.errors import StageError
from pipeline.parallel import absolute_paths, compute_backend, map_batches

KEPT = "kept"


def kept_images(manifest: pd.DataFrame) -> pd.DataFrame:
    """The manifest's usable still images."""
    return manifest[(manifest["status"] == KEPT) & (manifest["media"] == "image")]


def read_sources(cfg: Config, raw: Path) -> pd.DataFrame:
    """The manifest rows of every data set named in filter.datasets, sampled if configured."""
    frames = []
    for name in cfg.filter.datasets:
        source = cfg.datasets[name]
        frame = read_dataset(source.reader, raw / name / source.root, name, **source.options)
        if cfg.filter.max_per_dataset and len(frame) > cfg.filter.max_per_dataset:
            frame = frame.sample(n=cfg.filter.max_per_dataset, random_state=cfg.seed).sort_values("path")
        frames.append(frame)
    manifest = pd.concat(frames, ignore_index=True)
    if manifest.empty:
        raise StageError(f"no images found in {', '.join(cfg.filter.datasets)}: run the download stage first")
    return manifest


def inspect_all(manifest: pd.DataFrame, filter_cfg: FilterConfig, compute: ComputeConfig) -> pd.DataFrame:
    """Width, height and status (kept, or the drop reason) of every row."""
    paths = absolute_paths(manifest["path"].astype(str).tolist())
    inspect = partial(images.inspect_images, max_pixels=filter_cfg.max_pixels)
    with compute_backend(compute):
        results = [row for batch in map_batches(inspect, paths, compute.batch_size, "inspect") for row in batch]
    width, height, status = (np.array(column) for column in zip(*results, strict=True))
    status = np.where(status == images.OK, KEPT, status).astype(object)
    too_small = (status == KEPT) & (np.minimum(width, height) < filter_cfg.min_size)
    status[too_small] = images.TOO_SMALL
    return manifest.assign(
        width=width.astype("int32"), height=height.astype("int32"), status=pd.array(status, dtype="string")
    )


def with_split(manifest: pd.DataFrame, test_size: float, seed: int) -> pd.DataFrame:
    """Assign train/test to kept rows, stratified by data set, label and group."""
    kept = manifest["status"] == KEPT
    strata = (
        manifest[["dataset", "gender", "race", "real_fake"]]
        .astype(object)
        .fillna("-")
        .astype(str)
        .agg("|".join, axis=1)
    )
    groups = manifest["dataset"] + "/" + manifest["group"].fillna(manifest["path"])
    split = pd.Series(pd.NA, index=manifest.index, dtype="string")
    split[kept] = assign_split(strata[kept], groups[kept], test_size, seed)
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
