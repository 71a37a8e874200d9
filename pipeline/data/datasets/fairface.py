"""FairFace validation faces: fairface_val/<n>.jpg with labels.csv (file,gender,race,age).

FairFace gives no identities, so each file is its own group. Ages come as
buckets ("20-29", "more than 70"); `age` holds the bucket's lower bound, so an
age filter such as 18+ keeps the buckets from 20-29 up (10-19 mixes minors in).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from pipeline.config import ETHNICITY
from pipeline.data.datasets.schema import manifest, posix

GENDERS = ("male", "female")


def age_floor(bucket: str) -> float | None:
    """The lower bound of a FairFace age bucket ('20-29' -> 20, 'more than 70' -> 70), None if unreadable."""
    match = re.search(r"\d+", str(bucket))
    return float(match.group()) if match else None


def read(root: Path, dataset: str = "fairface") -> pd.DataFrame:
    labels = pd.read_csv(root / "labels.csv", dtype=str)
    rows = [
        {
            "path": posix(root / row.file),
            "dataset": dataset,
            "media": "image",
            "real_fake": "real",
            "gender": row.gender if row.gender in GENDERS else None,
            "race": row.race,
            "ethnicity": ETHNICITY.get(row.race),
            "age": age_floor(row.age),
            "group": row.file,
        }
        for row in labels.itertuples(index=False)
    ]
    return manifest(rows)
