"""The one manifest schema every data set reader produces."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

# column -> pandas dtype; every reader returns exactly these columns.
COLUMNS: dict[str, str] = {
    "path": "string",  # file, relative to the working directory (posix)
    "dataset": "string",  # config name of the data set
    "media": "string",  # image | video
    "gender": "string",  # male | female | <NA>
    "race": "string",  # the data set's own race label
    "ethnicity": "string",  # the seed study's groups: African, Asian (East), Caucasian, ...
    "age": "Float64",
    "real_fake": "string",  # real | fake
    "group": "string",  # source group: person, identity or source video
    "subset": "string",  # the data set's own sub-collection (e.g. FakeAVCeleb type)
}


def manifest(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A manifest frame with the schema's columns and dtypes, in a stable order."""
    frame = pd.DataFrame(list(rows), columns=list(COLUMNS))
    frame = frame.astype(COLUMNS)
    return frame.sort_values("path", kind="stable").reset_index(drop=True)


def posix(path: Path) -> str:
    return path.as_posix()


def image_files(folder: Path) -> list[Path]:
    """Image files below `folder`, sorted, by suffix (content is checked later)."""
    return sorted(path for path in folder.rglob("*") if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES)
