"""pipeline.project: every stage's outputs are declared once and agree with dvc.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipeline.errors import StageError
from pipeline.project import CROPS, EIGEN_FEATURES, MANIFEST, RAW, STAGES, TaskFiles, producer, require

from helpers import REPO


def dvc_stages() -> dict[str, dict]:
    """dvc.yaml's stages, each foreach stage expanded to `name@key` with ${key} and ${item.*} filled in."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    expanded = {}
    for name, spec in stages.items():
        if "foreach" not in spec:
            expanded[name] = spec
            continue
        for key, item in spec["foreach"].items():
            text = json.dumps(spec["do"]).replace("${key}", key)
            for field, value in item.items():
                text = text.replace(f"${{item.{field}}}", str(value))
            expanded[f"{name}@{key}"] = json.loads(text)
    return expanded


def listed(spec: dict, kind: str) -> list[Path]:
    return [Path(next(iter(entry)) if isinstance(entry, dict) else entry) for entry in spec.get(kind, [])]


def test_every_dvc_stage_is_declared_and_nothing_else():
    assert set(STAGES) == set(dvc_stages())


@pytest.mark.parametrize("stage", sorted(dvc_stages()))
def test_declared_outputs_equal_dvc_yaml(stage):
    spec, declared = dvc_stages()[stage], STAGES[stage]
    assert list(declared.outs) == listed(spec, "outs")
    assert list(declared.metrics) == listed(spec, "metrics")
    assert list(declared.plots) == listed(spec, "plots")


def test_task_files_are_the_task_declaration():
    files = TaskFiles.of("fake")
    declared = STAGES["grid-search@fake"]
    assert sorted(files.paths()) == sorted([*declared.outs, *declared.metrics, *declared.plots])
    assert files.confusion == Path("metrics/plots/fake_confusion.csv")


def test_each_input_names_the_stage_that_makes_it():
    assert producer(MANIFEST) == "filter-small-images"
    assert producer(CROPS) == "haar-crop"
    assert producer(EIGEN_FEATURES) == "extract-eigen"  # a file inside a declared folder
    assert producer(RAW / "utkface" / "labels.csv") == "download"
    assert producer(Path("elsewhere.txt")) is None


def test_require_returns_the_path_or_says_which_stage_to_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StageError, match=r"data/crops/crops.npy is missing: run `dvc repro haar-crop` first"):
        require(CROPS)
    CROPS.parent.mkdir(parents=True)
    CROPS.write_bytes(b"")
    assert require(CROPS) == CROPS
    with pytest.raises(StageError, match=r"^elsewhere.txt is missing$"):
        require(Path("elsewhere.txt"))
