"""One reader per source layout, one manifest schema out (see schema.COLUMNS)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.datasets import celeba, fairface, fakeavceleb, image_folder, imdb_wiki, lfw, utkface, videos
from pipeline.datasets.schema import COLUMNS, manifest

READERS = {
    "utkface": utkface.read,
    "lfw": lfw.read,
    "celeba": celeba.read,
    "fairface": fairface.read,
    "image_folder": image_folder.read,
    "imdb_wiki": imdb_wiki.read,
    "videos": videos.read,
    "fakeavceleb": fakeavceleb.read,
}


def read_dataset(reader: str, root: Path, dataset: str, **options) -> pd.DataFrame:
    if reader not in READERS:
        raise ValueError(f"unknown reader {reader!r} for data set {dataset!r}; known: {sorted(READERS)}")
    if not root.exists():
        raise FileNotFoundError(f"data set {dataset!r} is not at {root}: run the download stage first")
    return READERS[reader](root, dataset=dataset, **options)


__all__ = ["COLUMNS", "READERS", "manifest", "read_dataset"]
