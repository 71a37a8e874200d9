"""The one model loader: files verified by their sha256 record, MLflow URIs; classes and input from the model."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from pipeline.config import CropConfig, SpectrumConfig
from pipeline.errors import ModelError
from pipeline.fake.detector import FakeDetector
from pipeline.fake.spectrum import detector_columns, detector_width
from pipeline.gender.model import GenderModel
from pipeline.io import save_model
from pipeline.serving.model_store import (
    fake_detector,
    gender_model,
    is_registry_uri,
    load_fake_detector,
    load_gender_model,
    load_model,
    registered_task_record,
)


def tiny_model(n_features: int) -> LogisticRegression:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, n_features))
    return LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))


@pytest.fixture()
def saved(tmp_path):
    models = tmp_path / "data" / "models"
    save_model(
        tiny_model(8 * 8), models / "gender.joblib", {"task": "gender", "classes": ["female", "male"], "input_size": 8}
    )
    save_model(
        tiny_model(16),
        models / "fake.joblib",
        {"task": "fake", "classes": ["real", "fake"], "spectrum": {"n_points": 16, "side": 48, "input": "face"}},
    )
    return tmp_path


def test_a_file_loads_with_its_record_and_sha256(saved):
    loaded = load_model(saved / "data" / "models" / "gender.joblib")
    assert loaded.record["classes"] == ["female", "male"] and loaded.source == loaded.record["sha256"]
    assert len(loaded.source) == 64


def test_relative_paths_are_read_from_the_base(saved, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path / "data")
    assert load_model("data/models/fake.joblib", base=saved).record["task"] == "fake"
    with pytest.raises(ModelError, match="run `dvc repro`"):
        load_model("data/models/fake.joblib")  # from the working directory: not there


def test_the_gender_model_takes_its_classes_and_input_size_from_its_record(saved):
    model, record = load_gender_model(saved / "data" / "models" / "gender.joblib", CropConfig())
    assert isinstance(model, GenderModel) and record["task"] == "gender"
    assert model.classes == ["female", "male"] and model.size == 8 and model.crop.size == 8
    predictions = model.predict_crops(np.full((2, 8, 8), 128, np.uint8))
    assert [gender for gender, _ in predictions] == [predictions[0][0]] * 2
    assert all(50 <= confidence <= 100 for _, confidence in predictions)


def test_the_fake_detector_takes_its_input_definition_from_its_record(saved):
    spectrum = SpectrumConfig(datasets=("celeba",))
    detector, _ = load_fake_detector(saved / "data" / "models" / "fake.joblib", spectrum)
    assert isinstance(detector, FakeDetector)
    assert (detector.spectrum.n_points, detector.spectrum.side, detector.spectrum.input) == (16, 48, "face")
    assert detector.spectrum.datasets == ("celeba",) and spectrum.n_points == 80  # the config is not changed


def test_a_record_from_before_the_quadrant_reads_the_1d_profile_alone(saved):
    """Today's config adds the quadrant; a model whose record does not name it was trained without it."""
    spectrum = SpectrumConfig(
        datasets=("celeba",), input="patch", side=48, n_points=80, quadrant_pool=2, quadrant_windows=("none", "hann")
    )
    detector, _ = load_fake_detector(saved / "data" / "models" / "fake.joblib", spectrum)
    assert detector.spectrum.quadrant_pool is None and detector.spectrum.n_points == 16
    gray = np.random.default_rng(1).integers(0, 256, (64, 64)).astype(np.uint8)
    (probability,) = detector.probabilities(gray, [(8, 8, 48, 48)])
    assert 0 <= probability <= 1


def save_fake(saved, spectrum: dict, features: list[str] | None = None):
    """A fake model whose record names this spectrum section (as JSON has it) and, optionally, its features."""
    columns = features if features is not None else detector_columns(SpectrumConfig(datasets=("x",), **spectrum))
    record = {"task": "fake", "classes": ["real", "fake"], "spectrum": spectrum, "features": columns}
    path = saved / "data" / "models" / "fake2.joblib"
    save_model(tiny_model(len(columns)), path, record)
    return path


def test_a_record_from_before_the_windows_reads_the_plain_quadrant_alone(saved):
    """The previous default: a quadrant (pool 2), no quadrant_windows in its record; today's config adds hann."""
    path = save_fake(saved, {"input": "patch", "side": 32, "n_points": 10, "quadrant_pool": 2})
    today = SpectrumConfig(
        datasets=("celeba",), input="patch", side=32, n_points=10, quadrant_pool=2, quadrant_windows=("none", "hann")
    )
    detector, _ = load_fake_detector(path, today)
    assert detector.spectrum.quadrant_windows == ("none",) and detector_width(detector.spectrum) == 10 + 32 + 64
    gray = np.random.default_rng(2).integers(0, 256, (48, 48)).astype(np.uint8)
    (probability,) = detector.probabilities(gray, [(8, 8, 32, 32)])
    assert 0 <= probability <= 1


def test_a_record_names_its_windows_as_a_json_list_and_they_are_read_as_the_config_reads_them(saved):
    spectrum = {"input": "patch", "side": 32, "n_points": 10, "quadrant_pool": 2, "quadrant_windows": ["none", "hann"]}
    path = save_fake(saved, spectrum)
    today = SpectrumConfig(
        datasets=("celeba",), input="patch", side=32, n_points=10, quadrant_pool=2, quadrant_windows=("none", "hann")
    )
    detector, _ = load_fake_detector(path, today)
    assert detector.spectrum is today  # nothing to change: the list equals the tuple once read


def test_a_record_whose_features_do_not_match_its_input_is_refused(saved):
    path = save_fake(saved, {"input": "patch", "side": 32, "n_points": 10, "quadrant_pool": 2}, ["s000", "s001"])
    with pytest.raises(ModelError, match="trained on 2 features, but its recorded input gives 106"):
        load_fake_detector(path, SpectrumConfig(datasets=("celeba",)))


def test_a_model_of_the_other_task_is_refused(saved):
    fake = load_model(saved / "data" / "models" / "fake.joblib")
    with pytest.raises(ModelError, match="is a fake model, not a gender model"):
        gender_model(fake, CropConfig())
    gender = load_model(saved / "data" / "models" / "gender.joblib")
    with pytest.raises(ModelError, match="not a fake model"):
        fake_detector(gender, SpectrumConfig(datasets=("celeba",)))


def test_a_changed_file_is_refused(saved):
    path = saved / "data" / "models" / "gender.joblib"
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ModelError, match="does not match the sha256"):
        load_model(path)


def test_registry_uris_are_recognized():
    assert is_registry_uri("models:/genrec-gender@champion") and is_registry_uri("runs:/abc/model")
    assert not is_registry_uri("data/models/gender.joblib")


def test_a_version_registered_without_its_record_is_known_by_its_registered_name():
    assert registered_task_record("models:/genrec-gender@champion") == {"task": "gender", "classes": ["female", "male"]}
    assert registered_task_record("models:/genrec-fakeface/3")["classes"] == ["real", "fake"]
    assert registered_task_record("models:/other/1") == {} and registered_task_record("runs:/abc/model") == {}


@pytest.mark.slow
def test_a_registered_model_brings_its_record_as_metadata(tmp_path, monkeypatch):
    """A model logged as grid-search logs it (record as MLflow metadata) loads by its models:/ URI."""
    import mlflow

    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    from pipeline.tracking.runs import tracking_uri

    mlflow.set_tracking_uri(tracking_uri())
    record = {"task": "gender", "classes": ["female", "male"], "input_size": 8}
    with mlflow.start_run():
        mlflow.sklearn.log_model(
            tiny_model(64),
            name="model",
            registered_model_name="genrec-gender",
            metadata=record,
            serialization_format="cloudpickle",
        )
    model, loaded = load_gender_model("models:/genrec-gender/1", CropConfig())
    assert loaded == record and model.classes == ["female", "male"] and model.size == 8
