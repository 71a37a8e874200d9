"""CelebA real faces: img_align_celeba/*.jpg with labels.csv (file,celeb_id,celeba_image,gender)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.data.datasets.schema import manifest, posix


def read(root: Path, dataset: str = "celeba") -> pd.DataFrame:
    labels = pd.read_csv(root / "labels.csv", dtype=str)
    images = root / "img_align_celeba"
    rows = [
        {
            "path": posix(images / row.file),
            "dataset": dataset,
            "media": "image",
            "real_fake": "real",
            "gender": row.gender if row.gender in ("male", "female") else None,
            "group": row.celeb_id,
        }
        for row in labels.itertuples(index=False)
    ]
    return manifest(rows)
