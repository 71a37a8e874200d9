"""Models saved before the domain layout (0.1: pipeline.features.faces.*, pipeline.gender.MirrorAveraged) still
load and answer as they did, from their file and as MLflow stores them (skops); models saved now name the new
paths. The fixtures and how they were made: tests/fixtures/make_pre_0_2_gender.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import skops.io

from pipeline.config import CropConfig
from pipeline.serving.model_store import gender_model, load_model

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ANSWERS = json.loads((FIXTURES / "pre_0_2_gender.answers.json").read_text())
SIZE = 20


def probe() -> np.ndarray:
    rng = np.random.default_rng(ANSWERS["probe_seed"])
    rng.integers(0, 256, (40, SIZE * SIZE), dtype=np.uint8)  # the training crops come first from this stream
    return rng.integers(0, 256, (10, SIZE * SIZE), dtype=np.uint8)


def test_a_model_file_saved_before_the_layout_loads_verified_and_answers_as_before():
    loaded = load_model(FIXTURES / "pre_0_2_gender.joblib")
    model = gender_model(loaded, CropConfig(size=SIZE))
    np.testing.assert_allclose(model.model.predict_proba(probe()), ANSWERS["proba"], rtol=0, atol=1e-9)
    assert model.classes == ["female", "male"] and type(loaded.model).__module__ == "pipeline.gender.model"


def test_a_model_stored_by_mlflow_before_the_layout_loads_with_the_types_it_trusted():
    trusted = ANSWERS["trusted"]
    assert "pipeline.gender.MirrorAveraged" in trusted and "pipeline.features.faces.minmax_rows" in trusted
    model = skops.io.loads((FIXTURES / "pre_0_2_gender.skops").read_bytes(), trusted=trusted)
    np.testing.assert_allclose(model.predict_proba(probe()), ANSWERS["proba"], rtol=0, atol=1e-9)


def test_a_model_saved_now_names_the_new_paths():
    model = skops.io.loads((FIXTURES / "pre_0_2_gender.skops").read_bytes(), trusted=ANSWERS["trusted"])
    names = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    assert "pipeline.gender.model.MirrorAveraged" in names
    assert not [name for name in names if name.startswith(("pipeline.features.", "pipeline.gender.Mirror"))]
