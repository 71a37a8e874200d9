"""pipeline.evaluation.sets: the items behind Tables 1 and 2 and how each is scored, on real UTKFace chips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from pipeline.config import CropConfig, EvaluationConfig
from pipeline.errors import StageError
from pipeline.evaluation.sets import (
    confidence_bars,
    heldout_faces,
    image_at,
    item_predictor,
    swap_examples,
    table_items,
)
from pipeline.gender.model import GenderModel


@pytest.fixture(scope="module")
def model() -> GenderModel:
    crop = CropConfig()
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.integers(0, 100, (20, crop.size**2)), rng.integers(120, 256, (20, crop.size**2))])
    return GenderModel(LogisticRegression(max_iter=1000).fit(X / 255, [0] * 20 + [1] * 20), ["female", "male"], crop)


@pytest.fixture(scope="module")
def features(utk_sample) -> pd.DataFrame:
    """extract-eigen's table for a few real chips: UTKFace's file names carry age_gender_race."""
    races = {"0": "Caucasian", "1": "African", "2": "Asian (East)", "3": "Indian", "4": "Others"}
    rows = []
    for path in utk_sample[:60]:
        age, gender, race = path.name.split("_")[:3]
        rows.append(
            {
                "path": str(path),
                "dataset": "utkface",
                "ethnicity": races.get(race),
                "gender": "male" if gender == "0" else "female",
                "role": "test",
            }
        )
    return pd.DataFrame(rows)


def evaluation(**changes) -> EvaluationConfig:
    settings = {
        "table1": {"source": "utkface_heldout"},
        "table2": {"source": "utkface_swaps"},
        "ethnicities": ("African", "Caucasian"),
        "per_cell": 2,
    }
    return EvaluationConfig(**(settings | changes))


def test_heldout_faces_keep_the_sources_test_faces_of_the_groups(features):
    heldout = heldout_faces(features.assign(role=["test", "train"] * 30), "utkface", ("African",))
    assert list(heldout.columns) == ["path", "ethnicity", "gender"] and set(heldout["ethnicity"]) <= {"African"}
    assert len(heldout) <= 30


def test_table_items_sample_each_cell_and_pair_swaps_within_it(features):
    cfg = evaluation()
    real = table_items(cfg.table1, cfg, 0, lambda: features, lambda: Path("unused"))
    swaps = table_items(cfg.table2, cfg, 0, lambda: features, lambda: Path("unused"))
    assert set(real["media"]) == {"image"} and real.groupby(["ethnicity", "gender"]).size().max() <= 2
    assert list(swaps["path"]) == list(real["path"]) and set(swaps["media"]) == {"swap"}
    by_path = features.set_index("path")
    for row in swaps[swaps["source"].notna()].itertuples():
        assert row.source != row.path
        assert tuple(by_path.loc[row.source, ["ethnicity", "gender"]]) == (row.ethnicity, row.gender)


def test_fakeavceleb_needs_its_metadata(tmp_path):
    cfg = evaluation(table1={"source": "fakeavceleb", "type": "RealVideo-RealAudio"})
    with pytest.raises(StageError, match="meta_data.csv is not in"):
        table_items(cfg.table1, cfg, 0, lambda: pd.DataFrame(), lambda: tmp_path)


def test_each_item_is_scored_by_its_media(features, model, tmp_path):
    predict = item_predictor(model, every_s=1.0, max_frames=1)
    first, second = features["path"].iloc[0], features["path"].iloc[1]
    image = predict(pd.Series({"media": "image", "path": first, "source": None}))
    assert image["status"] in ("ok", "no_face")
    swap = predict(pd.Series({"media": "swap", "path": first, "source": second}))
    assert swap["status"] in ("ok", "no_face")
    with pytest.raises(ValueError, match="no other face"):
        predict(pd.Series({"media": "swap", "path": first, "source": None}))
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="cannot read image"):
        predict(pd.Series({"media": "image", "path": str(tmp_path / "broken.jpg"), "source": None}))
    with pytest.raises(ValueError, match="cannot open video"):
        predict(pd.Series({"media": "video", "path": str(tmp_path / "missing.mp4"), "source": None}))
    source, target, swapped = swap_examples(pd.DataFrame({"path": [first], "source": [second]}))[0]
    assert swapped.shape == target.shape == image_at(first).shape


def test_confidence_bars_name_each_cell():
    table = pd.DataFrame(
        {"ethnicity": ["African", "Caucasian"], "gender": ["female", "male"], "confidence_mean": [70.0, 80.0]}
    )
    bars = confidence_bars({"table1": table, "table2": table})
    assert bars["cell"].tolist() == ["African women", "Caucasian men"] * 2
    assert bars["table"].tolist() == ["table1", "table1", "table2", "table2"]
