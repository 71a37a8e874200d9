"""The labelled real/fake video set: labels.csv (path,label,gender,source,...) beside the clips."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.data.datasets.schema import manifest, posix

LABELS = {"REAL": "real", "FAKE": "fake"}


def read(root: Path, dataset: str = "videos") -> pd.DataFrame:
    labels = pd.read_csv(root / "labels.csv", dtype=str, keep_default_na=False)
    rows = [
        {
            "path": posix(root / row.path),
            "dataset": dataset,
            "media": "video",
            "real_fake": LABELS.get(row.label.upper()),
            "gender": row.gender if row.gender in ("male", "female") else None,
            "group": Path(row.path).stem.split("_")[0],
            "subset": row.source,
        }
        for row in labels.itertuples(index=False)
    ]
    return manifest(rows)
