"""One reader per source layout, one manifest schema out (see schema.COLUMNS).

A reader is the module of this package named for it (`utkface`, `lfw`, ...), its `read` function. The names
a config may use are pipeline.config.READERS; a test checks that each has its module here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from pipeline.config import Source
from pipeline.data.datasets import (
    celeba,
    fairface,
    fakeavceleb,
    image_folder,
    imdb_wiki,
    lfw,
    mosaic_tiles,
    utkface,
    videos,
)
from pipeline.data.datasets.schema import COLUMNS, manifest

READERS: dict[str, Callable[..., pd.DataFrame]] = {
    module.__name__.rsplit(".", 1)[-1]: module.read
    for module in (celeba, fairface, fakeavceleb, image_folder, imdb_wiki, lfw, mosaic_tiles, utkface, videos)
}


def read_dataset(reader: str, root: Path, dataset: str, **options) -> pd.DataFrame:
    if reader not in READERS:
        raise ValueError(f"unknown reader {reader!r} for data set {dataset!r}; known: {sorted(READERS)}")
    if not root.exists():
        raise FileNotFoundError(f"data set {dataset!r} is not at {root}: run the download stage first")
    return READERS[reader](root, dataset=dataset, **options)


def read_videos(source: Source, raw: Path) -> pd.DataFrame:
    """A configured data set (a labelled video set, say) as its reader lists it, under the raw data folder."""
    return read_dataset(source.reader, raw / source.name / source.root, source.name, **source.options)


__all__ = ["COLUMNS", "READERS", "manifest", "read_dataset", "read_videos"]
