"""IMDB-WIKI's wiki_crop: images in NN/ folders, labels in wiki.mat (the seed's training set)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.io import loadmat

from pipeline.data.datasets.schema import manifest, posix

GENDERS = {1.0: "male", 0.0: "female"}


def matlab_year(datenum: float) -> int | None:
    """The year of a MATLAB serial date number (days since year 0)."""
    if not np.isfinite(datenum) or datenum < 367:
        return None
    return (date.fromordinal(int(datenum)) - timedelta(days=366)).year


def _field(record, name: str) -> np.ndarray:
    return np.asarray(record[name][0, 0]).ravel()


def read(root: Path, dataset: str = "imdb_wiki", mat_name: str = "wiki") -> pd.DataFrame:
    """Rows from `<root>/<mat_name>.mat`; paths are relative to `root`."""
    record = loadmat(root / f"{mat_name}.mat")[mat_name]
    full_path = [str(np.asarray(item).ravel()[0]) for item in _field(record, "full_path")]
    gender = _field(record, "gender").astype(float)
    dob = _field(record, "dob").astype(float)
    taken = _field(record, "photo_taken").astype(float)
    names = [str(np.asarray(item).ravel()[0]) if np.asarray(item).size else None for item in _field(record, "name")]
    rows = []
    for index, relative in enumerate(full_path):
        born = matlab_year(dob[index])
        age = taken[index] - born if born is not None and np.isfinite(taken[index]) else None
        rows.append(
            {
                "path": posix(root / relative),
                "dataset": dataset,
                "media": "image",
                "real_fake": "real",
                "gender": GENDERS.get(gender[index]),
                "age": age if age is not None and 0 <= age <= 120 else None,
                "group": names[index],
            }
        )
    return manifest(rows)
