"""UTKFace "aligned & cropped": labels in the name, [age]_[gender]_[race]_[date&time].jpg.chip.jpg."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from pipeline.config import ETHNICITY
from pipeline.data.datasets.schema import manifest, posix

GENDERS = {"0": "male", "1": "female"}
RACES = {"0": "White", "1": "Black", "2": "Asian", "3": "Indian", "4": "Others"}

# The release's quirks: a missing race field, a space before ".jpg", a missing
# dot ("...357jpg.chip.jpg"), and 16- to 18-digit time stamps.
NAME = re.compile(r"^(?P<age>\d{1,3})_(?P<gender>[01])_(?:(?P<race>[0-4])_)?(?P<stamp>\d{8,20})\s*\.?jpg\.chip\.jpg$")


def parse_name(name: str) -> dict | None:
    """Labels from a UTKFace file name, or None when the name carries none."""
    match = NAME.match(name)
    if match is None:
        return None
    race = RACES.get(match["race"]) if match["race"] else None
    return {
        "age": float(match["age"]),
        "gender": GENDERS[match["gender"]],
        "race": race,
        "ethnicity": ETHNICITY.get(race) if race else None,
    }


def read(root: Path, dataset: str = "utkface") -> pd.DataFrame:
    rows = []
    for path in sorted(root.glob("*.jpg")):
        labels = parse_name(path.name) or {}
        rows.append(
            {
                "path": posix(path),
                "dataset": dataset,
                "media": "image",
                "real_fake": "real",
                "group": path.name,
                **labels,
            }
        )
    return manifest(rows)
