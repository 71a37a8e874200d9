"""pipeline.data.manifest and pipeline.faces.haar_crop: the manifest's counts and split, haar-crop's figures."""

from __future__ import annotations

import pandas as pd

from pipeline.data.manifest import filter_counts, kept_images, with_split
from pipeline.faces.haar_crop import detection_metrics


def manifest() -> pd.DataFrame:
    n = 40
    return pd.DataFrame(
        {
            "path": [f"p{i}.jpg" for i in range(n)],
            "dataset": ["utkface"] * 30 + ["dcgan"] * 10,
            "gender": (["male", "female"] * 15) + [None] * 10,
            "race": None,
            "real_fake": ["real"] * 30 + ["fake"] * 10,
            "group": None,
            "media": ["image"] * 39 + ["video"],
            "status": pd.array(["kept"] * 34 + ["too_small"] * 4 + ["unreadable", "kept"], dtype="string"),
        }
    )


def test_the_split_goes_to_kept_rows_only_and_every_image_is_counted_once():
    split = with_split(manifest(), test_size=0.25, seed=0)
    assert split.loc[split["status"] != "kept", "split"].isna().all()
    assert set(split.loc[split["status"] == "kept", "split"]) == {"train", "test"}
    counts = filter_counts(split)
    assert counts["total"] == {"dcgan": 10, "utkface": 30}
    assert counts["kept"] == {"dcgan": 5, "utkface": 30}
    assert counts["dropped"] == {"dcgan": {"too_small": 4, "unreadable": 1}}
    assert sum(v for k, v in counts["split"].items() if k.startswith("utkface")) == 30
    assert len(kept_images(split)) == 34  # the kept video is not an image


def test_detection_metrics_per_source_and_group():
    faces = pd.DataFrame(
        {
            "dataset": ["lfw"] * 4 + ["utkface"] * 2,
            "ethnicity": [None] * 4 + ["African", "Asian (East)"],
            "gender": ["male", "male", "female", "female", "female", "male"],
            "n_faces": [1, 0, 2, -1, 1, 1],
            "face_found": [True, False, True, False, True, True],
            "detector": pd.array(["cascade", None, "mmod", None, "cascade", "cascade"], dtype="string"),
        }
    )
    metrics = detection_metrics(faces)
    assert metrics["detection_rate"] == {"lfw": 0.5, "utkface": 1.0}
    assert metrics["found_by_fallback"] == {"lfw": 0.25, "utkface": 0.0}
    assert metrics["unreadable"] == {"lfw": 1, "utkface": 0} and metrics["multiple_faces"]["lfw"] == 1
    assert metrics["detection_rate_by_group"]["lfw"] == {"ethnicity": {}, "gender": {"female": 0.5, "male": 0.5}}
    assert metrics["detection_rate_by_group"]["utkface"]["ethnicity"] == {"African": 1.0, "Asian (East)": 1.0}
