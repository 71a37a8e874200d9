"""LFW: lfw/<Name>/<Name>_NNNN.jpg with female_names.txt and male_names.txt beside it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.data.datasets.schema import image_files, manifest, posix

LISTS = {"female": "female_names.txt", "male": "male_names.txt"}


def gender_by_file(root: Path) -> dict[str, str]:
    genders: dict[str, str] = {}
    for gender, list_name in LISTS.items():
        listing = root / list_name
        if not listing.is_file():
            raise FileNotFoundError(f"LFW gender list {listing} is missing")
        for line in listing.read_text(encoding="utf-8").splitlines():
            if line.strip():
                genders[line.strip()] = gender
    return genders


def read(root: Path, dataset: str = "lfw") -> pd.DataFrame:
    genders = gender_by_file(root)
    folder = root / "lfw" if (root / "lfw").is_dir() else root
    rows = [
        {
            "path": posix(path),
            "dataset": dataset,
            "media": "image",
            "real_fake": "real",
            "gender": genders.get(path.name),
            "group": path.parent.name,
        }
        for path in image_files(folder)
    ]
    return manifest(rows)
