"""Validated as served: `genrec predict` and the web app's API give, for held-out photos, the very answers
the stages computed for the same faces (one detector, one face normalization, one fake-detector input)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest

from pipeline.config import config_from_dict
from pipeline.fake.verdict import VerdictRules

from helpers import trained_params

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stage_answers(trained) -> pd.DataFrame:
    """Held-out photos (UTKFace and CelebA people never fitted on) with the stages' gender and fake answers."""
    faces = pd.read_parquet(trained / "data" / "features" / "eigen" / "features.parquet")
    heldout = pd.concat([rows.head(6) for _, rows in faces[faces["role"] == "test"].groupby("dataset")])
    crops = np.load(trained / "data" / "crops" / "crops.npy")
    gender = joblib.load(trained / "data" / "models" / "gender.joblib")
    proba = gender.predict_proba(crops[heldout["crop_index"].to_numpy()].reshape(len(heldout), -1))
    spectra = pd.read_parquet(trained / "data" / "features" / "spectrum.parquet")
    # The images as they are (the training rows' processed copies and the robustness rows share their paths).
    spectra = spectra[spectra["processing"] == ""].set_index("path")
    fake = joblib.load(trained / "data" / "models" / "fake.joblib")
    # The detector's features as the stage wrote them, in the order its record names them: the 1D profile
    # (s000...), then one quadrant per window (q0000..., h0000...).
    record = json.loads((trained / "data" / "models" / "fake.json").read_text())
    columns = record["features"]
    assert columns[0] == "s000" and any(c.startswith("h") for c in columns)
    answers = heldout[["path", "dataset"]].assign(
        gender=np.where(proba[:, 1] >= 0.5, "male", "female"),
        confidence=np.round(100 * proba.max(axis=1), 2),
        in_spectrum=heldout["path"].isin(spectra.index[spectra["has_input"]]),
    )
    scored = answers["in_spectrum"].to_numpy()
    answers["fake_probability"] = np.nan
    answers["fake_verdict"] = None
    if scored.any():
        features = spectra.loc[answers.loc[scored, "path"], columns].to_numpy()
        answers.loc[scored, "fake_probability"] = fake.predict_proba(features)[:, 1]
        # The verdict by the rules grid-search@fake recorded with the model, on the stage's own spectra.
        rules = VerdictRules.from_record(record, record["spectrum"]["side"])
        profiles = features[:, [columns.index(c) for c in columns if c.startswith("s")]]
        answers.loc[scored, "fake_verdict"] = [
            rules.judge(p, profile).kind
            for p, profile in zip(answers.loc[scored, "fake_probability"], profiles, strict=True)
        ]
    assert len(answers) == 12 and scored.sum() >= 4  # both sources, some of them in the spectrum sample
    return answers.reset_index(drop=True)


def largest(faces: list[dict]) -> dict:
    return max(faces, key=lambda face: face["box"][2] * face["box"][3])


def assert_same(answer, face: dict) -> None:
    assert face["gender"] == answer.gender, answer.path
    assert face["confidence"] == pytest.approx(answer.confidence, abs=0.011), answer.path
    if answer.in_spectrum:
        assert face["fake_probability"] == pytest.approx(answer.fake_probability, abs=1e-5), answer.path
        assert face["fake_verdict"] == answer.fake_verdict, answer.path
        assert face["fake_reason"] and face["fake_verdict_text"], answer.path


def test_genrec_predict_answers_as_the_stages_did(trained, stage_answers):
    env = {**os.environ, "GENREC_PARAMS": str(trained / "params.yaml")}
    (trained / "params.yaml").write_text(__import__("yaml").safe_dump(trained_params()))
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "predict", "--json", *stage_answers["path"]],
        cwd=trained,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for answer, found in zip(stage_answers.itertuples(), json.loads(result.stdout), strict=True):
        assert found["status"] == "ok", found
        assert_same(answer, largest(found["faces"]))


def test_the_web_api_answers_as_the_stages_did(trained, stage_answers, tmp_path):
    from pipeline.serving.webapp import create_app

    params = trained_params()
    params["serve"] = {
        **params["serve"],
        "upload_dir": str(tmp_path),
        "gender_model": str(trained / "data/models/gender.joblib"),
        "fake_model": str(trained / "data/models/fake.joblib"),
    }
    client = create_app(config_from_dict(params)).test_client()
    for answer in stage_answers.itertuples():
        data = (trained / answer.path).read_bytes()
        response = client.post(
            "/api/predict", data={"file": (io.BytesIO(data), "photo.jpg")}, content_type="multipart/form-data"
        )
        assert response.status_code == 200, response.get_json()
        assert_same(answer, largest(response.get_json()["faces"]))


def test_the_stages_held_out_figures_are_the_served_models(trained):
    """metrics/gender.json's held-out accuracy per source is the served model's on the same crops (with the
    mirror average that `gender.mirror_average` adds), not a figure of some other model or input."""
    faces = pd.read_parquet(trained / "data" / "features" / "eigen" / "features.parquet")
    heldout = faces[faces["role"] == "test"]
    crops = np.load(trained / "data" / "crops" / "crops.npy")
    served = joblib.load(trained / "data" / "models" / "gender.joblib")
    assert type(served).__name__ == "MirrorAveraged"  # the default configuration serves the mirror average
    proba = served.predict_proba(crops[heldout["crop_index"].to_numpy()].reshape(len(heldout), -1))
    right = (proba[:, 1] >= 0.5) == (heldout["gender"] == "male").to_numpy()
    reported = json.loads((trained / "metrics" / "gender.json").read_text())["heldout"]
    assert set(reported) == set(heldout["dataset"])
    for dataset, rows in heldout.groupby("dataset"):
        accuracy = right[heldout.index.get_indexer(rows.index)].mean()
        assert reported[dataset]["accuracy"] == pytest.approx(accuracy, abs=1e-6), dataset
