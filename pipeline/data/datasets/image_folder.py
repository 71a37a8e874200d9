"""A folder of images per class (e.g. real/ and fake/), or one folder whose images share a label."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.data.datasets.schema import image_files, manifest, posix

LABELS = {"real": "real", "fake": "fake", "gan": "fake", "generated": "fake"}


def read(root: Path, dataset: str, label: str | None = None) -> pd.DataFrame:
    """With `label`, every image gets it; else the class is the first folder below `root`."""
    rows = []
    for path in image_files(root):
        folder = path.relative_to(root).parts[0] if len(path.relative_to(root).parts) > 1 else ""
        real_fake = label or LABELS.get(folder.lower())
        rows.append(
            {
                "path": posix(path),
                "dataset": dataset,
                "media": "image",
                "real_fake": real_fake,
                "group": path.name,
                "subset": folder or None,
            }
        )
    return manifest(rows)
