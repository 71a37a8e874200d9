"""FakeAVCeleb: meta_data.csv and FakeAVCeleb_v1.2/<type>/<race>/<gender>/<id>/<clip>.mp4.

The metadata comes with two headers: `...,gender,filename,path` (path = folder),
and, as distributed with the data set, `...,gender,path,` where the column
named `path` holds the file name and an unnamed tenth column the folder.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.config import ETHNICITY
from pipeline.data.datasets.schema import manifest, posix

GENDERS = {"men": "male", "women": "female"}
HEADER = ["source", "target1", "target2", "method", "category", "type", "race", "gender", "filename", "folder"]


def read_metadata(csv_path: Path) -> pd.DataFrame:
    """The metadata with columns HEADER, whichever header variant the file has."""
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    columns = list(table.columns)
    if "filename" in columns:
        table = table.rename(columns={"path": "folder"})
    elif len(columns) == 10 and columns[8] == "path":
        table.columns = HEADER
    else:
        raise ValueError(f"{csv_path}: unexpected FakeAVCeleb header {columns}")
    return table[HEADER]


def read(root: Path, dataset: str = "fakeavceleb", videos_root: Path | None = None) -> pd.DataFrame:
    """Rows for every clip in `root/meta_data.csv`; clips are looked up below `videos_root` (default `root`)."""
    meta = read_metadata(root / "meta_data.csv")
    base = videos_root or root
    rows = [
        {
            "path": posix(base / row.folder / row.filename),
            "dataset": dataset,
            "media": "video",
            "real_fake": "fake" if row.type.startswith("FakeVideo") else "real",
            "gender": GENDERS.get(row.gender),
            "race": row.race,
            "ethnicity": ETHNICITY.get(row.race),
            "group": row.source,
            "subset": row.type,
        }
        for row in meta.itertuples(index=False)
    ]
    return manifest(rows)
