"""The one way to load a trained model: a file verified by its sha256 record, or an MLflow model URI.

Either way the model comes with its record, the `info` grid-search saved with
it (beside the file as <name>.json, or as the MLflow model's metadata): its
task, class names and input. `load_gender_model` and `load_fake_detector` take
the class names and the input from there, so no caller restates them. The
stages, `genrec predict` and the web app all load through here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import CropConfig, SpectrumConfig
from pipeline.errors import ModelError
from pipeline.fake.detector import FakeDetector
from pipeline.fake.spectrum import detector_columns
from pipeline.fake.verdict import VerdictRules
from pipeline.gender.model import GenderModel
from pipeline.io import load_verified
from pipeline.project import TASK_IDENTITIES

REGISTRY = ("models:/", "runs:/")
# What the fake detector's input depends on (pipeline.fake.spectrum.detector_input, spectra_of_inputs).
SPECTRUM_INPUT = ("input", "side", "face_scale", "n_points", "quadrant_pool", "quadrant_windows")


@dataclass(frozen=True)
class LoadedModel:
    model: Any
    record: dict[str, Any]  # task, classes, input, ... as grid-search recorded them
    source: str  # the file's sha256, or the MLflow URI


def is_registry_uri(spec: str | os.PathLike) -> bool:
    return str(spec).startswith(REGISTRY)


def load_model(spec: str | os.PathLike, base: Path | None = None) -> LoadedModel:
    """A model file (relative paths from `base`, default the working directory), checked against the
    sha256 recorded beside it, or an MLflow model URI (models:/name@alias, runs:/id/model) in the
    project's store (pipeline.tracking.runs.tracking_uri)."""
    if is_registry_uri(spec):
        import mlflow
        import mlflow.sklearn
        from mlflow.models import get_model_info

        from pipeline.tracking.runs import tracking_uri

        mlflow.set_tracking_uri(tracking_uri())  # the project's store, or MLFLOW_TRACKING_URI
        uri = str(spec)
        record = dict(get_model_info(uri).metadata or {}) or registered_task_record(uri)
        return LoadedModel(mlflow.sklearn.load_model(uri), record, uri)
    path = Path(spec)
    model, record = load_verified(path if path.is_absolute() or base is None else base / path)
    return LoadedModel(model, record, record["sha256"])


def registered_task_record(uri: str) -> dict[str, Any]:
    """For a version registered before grid-search logged its record as metadata: the task and classes
    its registered name stands for (pipeline.project), or nothing."""
    if not uri.startswith("models:/"):
        return {}
    name = uri.removeprefix("models:/").split("/")[0].split("@")[0]
    for task in TASK_IDENTITIES.values():
        if task.registered == name:
            return {"task": task.name, "classes": list(task.classes)}
    return {}


def _task_record(loaded: LoadedModel, task: str) -> dict[str, Any]:
    record = loaded.record
    if record.get("task") != task:
        found = f"a {record['task']} model" if record.get("task") else "no genrec record (task, classes)"
        raise ModelError(
            f"{loaded.source} is {found}, not a {task} model: "
            "give the model grid-search built for this task (data/models/<task>.joblib or its registry name)"
        )
    return record


def gender_model(loaded: LoadedModel, crop: CropConfig) -> GenderModel:
    """The gender model with its own class names and input size (the crop's side it was trained on)."""
    record = _task_record(loaded, "gender")
    size = record.get("input_size", crop.size)
    if size != crop.size:
        crop = crop.model_copy(update={"size": size})
    return GenderModel(loaded.model, record["classes"], crop)


def fake_detector(loaded: LoadedModel, spectrum: SpectrumConfig) -> FakeDetector:
    """The fake detector with the input definition it was validated on (the record's spectrum section) and
    its verdict rules (the record's `verdict`; p >= 0.5 and no input range for a model recorded before them)."""
    record = _task_record(loaded, "fake")
    recorded = record.get("spectrum") or {}
    if not recorded:
        return FakeDetector(loaded.model, spectrum, VerdictRules.from_record(record, spectrum.side))
    # A setting the record does not name had its schema default when the model was trained (a model from
    # before spectrum.quadrant_pool existed reads the 1D profile alone), not today's config value.
    defaults = SpectrumConfig.model_fields
    trained = {key: recorded.get(key, defaults[key].default) for key in SPECTRUM_INPUT}
    trained = {key: tuple(value) if isinstance(value, list) else value for key, value in trained.items()}  # JSON
    update = {key: value for key, value in trained.items() if value != getattr(spectrum, key)}
    resolved = spectrum.model_copy(update=update) if update else spectrum
    named = record.get("features")
    if named and list(named) != detector_columns(resolved):
        raise ModelError(
            f"{loaded.source} was trained on {len(named)} features, but its recorded input gives "
            f"{len(detector_columns(resolved))}: the model and its record do not belong together"
        )
    return FakeDetector(loaded.model, resolved, VerdictRules.from_record(record, resolved.side))


def load_gender_model(
    spec: str | os.PathLike, crop: CropConfig, base: Path | None = None
) -> tuple[GenderModel, dict[str, Any]]:
    """load_model + gender_model; also the record."""
    loaded = load_model(spec, base)
    return gender_model(loaded, crop), loaded.record


def load_fake_detector(
    spec: str | os.PathLike, spectrum: SpectrumConfig, base: Path | None = None
) -> tuple[FakeDetector, dict[str, Any]]:
    """load_model + fake_detector; also the record."""
    loaded = load_model(spec, base)
    return fake_detector(loaded, spectrum), loaded.record
