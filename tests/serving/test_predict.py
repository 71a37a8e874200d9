"""pipeline.serving.predict: one file's faces and their rendering, models loaded by pipeline.serving.model_store."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from pipeline.config import config_from_dict
from pipeline.fake.spectrum import detector_width
from pipeline.io import save_model
from pipeline.serving.predict import fake_detector_for, load_predictor, predict_file, render

from helpers import base_params


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A folder with tiny gender and fake models where the pipeline puts them, and the config."""
    tmp_path = tmp_path_factory.mktemp("predict")
    cfg = config_from_dict(base_params())
    rng = np.random.default_rng(0)
    size, width = cfg.crop.size, detector_width(cfg.spectrum)
    X = rng.integers(0, 256, (40, size * size)) / 255
    gender = LogisticRegression(max_iter=500).fit(X, (X.mean(axis=1) > X.mean()).astype(int))
    save_model(
        gender,
        tmp_path / "data/models/gender.joblib",
        {"task": "gender", "classes": ["female", "male"], "input_size": size},
    )
    S = rng.normal(size=(40, width))
    fake = LogisticRegression().fit(S, (S[:, 1] > 0).astype(int))
    save_model(
        fake,
        tmp_path / "data/models/fake.joblib",
        {"task": "fake", "classes": ["real", "fake"], "spectrum": cfg.section_dump("spectrum")},
    )
    return tmp_path, cfg


@pytest.fixture()
def project(models, monkeypatch):
    folder, cfg = models
    monkeypatch.chdir(folder)
    return cfg


def test_a_photo_gets_each_face_with_gender_confidence_and_fake_probability(project, utk_sample, tmp_path):
    predictor = load_predictor(None, project)
    fake = fake_detector_for(None, project)
    result = predict_file(predictor, str(utk_sample[0]), 40_000_000, fake)
    assert result["status"] == "ok" and result["faces"]
    face = result["faces"][0]
    assert face["gender"] in ("female", "male") and 50 <= face["confidence"] <= 100
    assert 0 <= face["fake_probability"] <= 1
    assert face["fake_verdict"] in ("generator_traces", "no_known_traces", "cannot_tell") and face["fake_reason"]
    assert render(result).startswith(f"{utk_sample[0]}: {len(result['faces'])} face(s)")
    # The verdict in words and its reason; p(fake) only beside a verdict the model was validated for.
    assert f"generated? {face['fake_verdict_text']}" in render(result) and face["fake_reason"] in render(result)
    assert ("p(fake)" in render(result)) == (face["fake_verdict"] != "cannot_tell")


def test_skipped_files_and_faceless_photos_are_rendered_as_such(project, tmp_path):
    predictor = load_predictor(None, project)
    (tmp_path / "notes.jpg").write_text("not an image")
    skipped = predict_file(predictor, str(tmp_path / "notes.jpg"), 40_000_000)
    assert skipped["status"] == "skipped" and render(skipped).endswith("skipped (not an image)")
    import cv2

    cv2.imwrite(str(tmp_path / "grey.png"), np.full((120, 120), 128, np.uint8))
    faceless = predict_file(predictor, str(tmp_path / "grey.png"), 40_000_000)
    assert faceless["status"] == "no_face" and render(faceless).endswith("no face found")


def test_no_fake_model_when_asked_for_none(project):
    assert fake_detector_for("none", project) is None
