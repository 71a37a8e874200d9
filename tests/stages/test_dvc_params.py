"""dvc.yaml's params name the keys a stage reads: a setting that cannot change an output re-runs no stage.

The repository's tracked files are copied into a fresh git repository and `dvc status --json` is asked which
stages see changed params. Data outputs are absent from the copy, so DVC also reports deleted deps and outs:
only the params (`params.yaml` under `changed deps`) are looked at. Why each stage lists what it lists:
docs/params.md.

DVC 3's answer, for a stage whose params changed (beside its other changed deps and outs):

    {"haar-crop": [{"changed deps": {"data/manifest.parquet": "deleted",
                                     "params.yaml": {"crop.scale_factor": "modified"}}},
                   {"changed outs": {"data/crops/crops.npy": "deleted", ...}}]}

with "new" or "deleted" for a key added to or gone from params.yaml (and a whole-section entry such as
`crop` reported under its own name when any key below it changes).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow  # dvc status subprocesses, 7-12 s in all

ROOT = Path(__file__).resolve().parents[2]
PARAMS = "params.yaml"


def dvc_env() -> dict[str, str]:
    return {**os.environ, "DVC_NO_ANALYTICS": "1", "MLFLOW_DISABLE_TELEMETRY": "true", "GIT_TERMINAL_PROMPT": "0"}


def run(root: Path, *args: str) -> str:
    done = subprocess.run(args, cwd=root, env=dvc_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def copy_project(source: Path, dest: Path) -> Path:
    """The tracked files of `source` (as in its work tree) in a fresh git repository at `dest`."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=source, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, listed):
        path = source / name
        if path.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / name)
    run(dest, "git", "init", "-q")
    run(dest, "git", "config", "core.autocrlf", "false")
    return dest


def changed_params(root: Path) -> dict[str, dict[str, str]]:
    """{stage: {params key: how it changed}} from `dvc status --json`, params changes only."""
    status = json.loads(run(root, sys.executable, "-m", "dvc", "status", "--json") or "{}")
    found = {}
    for stage, changes in status.items():
        for change in changes if isinstance(changes, list) else []:
            if not isinstance(change, dict):
                continue  # "always changed", "changed checksum"
            params = (change.get("changed deps") or {}).get(PARAMS)
            if params:
                # a dict of key -> modified/new/deleted; a string ("new", "deleted") when the whole file is
                found.setdefault(stage, {}).update(params if isinstance(params, dict) else {"*": params})
    return found


@contextmanager
def edited_params(root: Path, **changes):
    """params.yaml with `changes` ({"compute__n_jobs": 3}: compute.n_jobs = 3), restored afterwards."""
    path = root / PARAMS
    original = path.read_bytes()
    params = yaml.safe_load(original)
    for dotted, value in changes.items():
        *parents, key = dotted.split("__")
        node = params
        for parent in parents:
            node = node[parent]
        assert key in node, f"params.yaml has no {dotted.replace('__', '.')}"
        assert node[key] != value, f"{dotted.replace('__', '.')} is already {value!r}"
        node[key] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True), encoding="utf-8")
    try:
        yield
    finally:
        path.write_bytes(original)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return copy_project(ROOT, tmp_path_factory.mktemp("dvc-params"))


def test_unchanged_copy_reports_no_changed_params(project):
    """dvc.lock records exactly the params that dvc.yaml lists, with params.yaml's values."""
    assert changed_params(project) == {}


def test_changing_n_jobs_reruns_no_stage(project):
    with edited_params(project, compute__n_jobs=3):
        assert changed_params(project) == {}


def test_changing_settings_about_speed_or_serving_reruns_no_stage(project):
    """Workers, backend, the Dask address, download retries and timeout, the web app, the MLflow experiment."""
    speed_only = {
        "compute__backend": "dask",
        "compute__scheduler_address": "tcp://127.0.0.1:8786",
        "serve__port": 8123,
        "serve__workers": 5,
        "experiment_name": "elsewhere",
    }
    with edited_params(project, **speed_only):
        assert changed_params(project) == {}


def test_changing_a_crop_key_reruns_the_stages_that_read_it(project):
    """The detector's scale factor: every stage that finds faces; the sample sheet: haar-crop's figure, and
    grid-search@gender, whose model record holds the whole crop section."""
    with edited_params(project, crop__scale_factor=1.3):
        changed = changed_params(project)
    assert set(changed) == {
        "haar-crop",
        "extract-spectrum",
        "grid-search@gender",
        "grid-search@fake",
        "evaluate-by-ethnicity",
    }, changed
    assert changed["haar-crop"] == {"crop": "modified"}
    assert changed["extract-spectrum"] == {"crop.scale_factor": "modified"}
    with edited_params(project, crop__sample_sheet=4):
        assert set(changed_params(project)) == {"haar-crop", "grid-search@gender"}


def test_changing_a_task_setting_reruns_that_task_alone(project):
    with edited_params(project, spectrum__leave_one_out=["celeba"]):
        assert changed_params(project) == {"grid-search@fake": {"spectrum": "modified"}}
    with edited_params(project, gender__leave_one_out=["lfw"]):
        assert changed_params(project) == {"grid-search@gender": {"gender": "modified"}}  # the whole section
