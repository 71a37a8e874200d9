"""MLflow: one SQLite store at the repository root, one run per stage, safe under concurrency."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import runs

LOG_ONE_RUN = """
import sys
from pipeline.tracking import stage_run
with stage_run(sys.argv[1], {"crop": {"padding": 0.25}}) as run:
    run.log_metrics({"detection_rate": {"utkface": 0.97, "Asian (East)": 0.9}})
    path = __import__("pathlib").Path("out.txt"); path.write_text("x"); run.log_artifact(path)
    if sys.argv[1] == "boom":
        raise RuntimeError("boom")
"""


def log_run(workdir: Path, root: Path, stage: str, extra_env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "DVC_ROOT": str(root), **(extra_env or {})}
    return subprocess.Popen([sys.executable, "-c", LOG_ONE_RUN, stage], cwd=workdir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow  # creates MLflow stores from several processes (~1 min)
def test_parallel_stage_runs_from_other_directories_all_land_in_the_root_store(tmp_path):
    root, elsewhere = tmp_path / "repo", tmp_path / "exps" / "copy"
    root.mkdir()
    elsewhere.mkdir(parents=True)
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    procs = [log_run(elsewhere, root, f"stage{i}", {"DVC_EXP_NAME": f"exp{i}"}) for i in range(6)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    assert (root / "mlflow.db").is_file() and not (elsewhere / "mlflow.db").exists()
    client, found = runs(root)
    assert sorted(r.data.tags["genrec.stage"] for r in found) == [f"stage{i}" for i in range(6)]
    for run in found:
        assert run.info.status == "FINISHED"
        assert run.data.params["crop.padding"] == "0.25"
        assert run.data.metrics["detection_rate.utkface"] == pytest.approx(0.97)
        assert run.data.metrics["detection_rate.Asian _East_"] == pytest.approx(0.9)
        assert run.data.tags["dvc.exp_name"] == "exp" + run.data.tags["genrec.stage"][-1]
        assert run.data.tags["mlflow.source.git.commit"] == head
        assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["out.txt"]


@pytest.mark.slow
def test_a_failing_stage_is_logged_as_failed(tmp_path):
    proc = log_run(tmp_path, tmp_path, "boom")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "boom" in err
    _, found = runs(tmp_path)
    assert [r.info.status for r in found] == ["FAILED"]


def test_stage_run_collects_flat_params_and_numeric_metrics_with_mlflows_characters():
    from pipeline.tracking import StageRun, flatten, metric_name

    assert flatten({"a": {"b": 1, "c": {"d": [2]}}, "e": None}) == {"a.b": 1, "a.c.d": [2], "e": None}
    assert metric_name("rate.Asian (East)") == "rate.Asian _East_"
    run = StageRun("haar-crop")
    run.log_params({"crop": {"padding": 0.25}})
    run.log_metrics({"rate": {"Asian (East)": 0.9, "utkface": 1}, "name": "text", "flag": True, "missing": None})
    assert run.params == {"crop.padding": 0.25}
    assert run.metrics == {"rate.Asian _East_": 0.9, "rate.utkface": 1.0}  # text, booleans and None left out
    run.log_artifact("metrics/x.json")
    assert run.artifacts == [(Path("metrics/x.json"), None)]


def test_the_project_root_is_dvc_root_when_dvc_runs_the_stage(tmp_path, monkeypatch):
    from pipeline.tracking import project_root, tracking_uri

    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    assert project_root() == tmp_path.resolve()
    assert tracking_uri() == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
