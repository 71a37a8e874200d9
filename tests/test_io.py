"""pipeline.io: a written file is absent, the old version, or complete; a model file loads only as it was saved."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sklearn.datasets import make_classification

from pipeline.errors import ModelError
from pipeline.io import atomic_path, load_verified, save_model, write_csv, write_json, write_parquet, write_with
from pipeline.training.search import classifier


def test_writers_create_folders_and_leave_no_temporary_files(tmp_path):
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    write_json(tmp_path / "m" / "metrics.json", {"b": 1, "a": [1.5]})
    write_csv(tmp_path / "p" / "plot.csv", frame)
    write_parquet(tmp_path / "d" / "table.parquet", frame)
    assert (tmp_path / "m" / "metrics.json").read_text() == '{\n  "a": [\n    1.5\n  ],\n  "b": 1\n}\n'  # sorted keys
    assert (tmp_path / "p" / "plot.csv").read_bytes() == b"a,b\n1,x\n2,y\n"  # \n on every platform
    assert pd.read_parquet(tmp_path / "d" / "table.parquet").equals(frame)
    assert sorted(p.name for p in tmp_path.rglob(".*")) == []


def test_a_failed_write_keeps_the_previous_version(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"version": 1})

    def half_then_fail(tmp):
        tmp.write_text('{"version": 2')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_with(path, half_then_fail)
    assert json.loads(path.read_text()) == {"version": 1}
    assert list(tmp_path.iterdir()) == [path]


def test_atomic_path_renames_only_on_success(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("done")
        assert not target.exists()
    assert target.read_text() == "done"


def test_a_saved_model_loads_only_while_its_sha256_matches(tmp_path):
    X, y = make_classification(n_samples=160, n_features=6, n_informative=4, random_state=0)
    model = classifier("logistic_regression", 0).fit(X, y)
    path = tmp_path / "models" / "fake.joblib"
    record = save_model(model, path, {"task": "fake"})
    assert json.loads(path.with_suffix(".json").read_text()) == record and record["file"] == "fake.joblib"
    loaded, info = load_verified(path)
    assert (loaded.predict(X) == model.predict(X)).all() and info["task"] == "fake"

    path.write_bytes(path.read_bytes() + b"\0")  # changed after the pipeline wrote it
    with pytest.raises(ModelError, match="does not match the sha256"):
        load_verified(path)
    with pytest.raises(ModelError, match="run `dvc repro`"):
        load_verified(tmp_path / "models" / "absent.joblib")
