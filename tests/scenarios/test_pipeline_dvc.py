"""The real thing: DVC runs queued experiments in parallel in a fresh copy of the repository, and MLflow's
default store at the repository root records them.

The whole smoke pipeline under `dvc repro` (every stage, its metrics, the registry, nothing to do when run
again) is tests/scenarios/test_team.py's first test, against the team's MLflow server: the suite runs it once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import (
    chromium_driver,
    free_port,
    project_env,
    runs,
    shell,
    smoke_project,
    start_queue,
    stop_queue_workers,
    wait_for_queue,
    wait_until_answering,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory, mirror):
    """A fresh git repository holding the project's files, set to the smoke experiment (MLflow: its own store)."""
    root = tmp_path_factory.mktemp("genrec")
    sh = shell(root, project_env())
    smoke_project(root, mirror, sh)
    try:
        yield root, sh
    finally:
        stop_queue_workers(root)


def test_queued_experiments_run_in_parallel_and_all_reach_mlflow(project):
    root, sh = project
    before = {r.info.run_id for r in runs(root)[1]}
    # Up to haar-crop only: the full pipeline under DVC is test_team's job; here the queue is under test.
    for size in (60, 90):
        sh(
            "dvc",
            "exp",
            "run",
            "--queue",
            "-n",
            f"smoke{size}",
            "-S",
            "experiment=smoke",
            "-S",
            f"filter.max_per_dataset={size}",
            "haar-crop",
        )
    start_queue(root, project_env(), 2)
    status = wait_for_queue(sh, timeout=900, every=5)
    assert "Failed" not in status and "Queued" not in status and "Running" not in status, status
    _, found = runs(root)
    new = [r for r in found if r.info.run_id not in before]
    by_exp = {}
    for run in new:
        assert run.info.status == "FINISHED"
        by_exp.setdefault(run.data.tags.get("dvc.exp_name"), set()).add(run.data.tags["genrec.stage"])
    assert by_exp.get("smoke60", set()) >= {"filter-small-images", "haar-crop"}
    assert by_exp.get("smoke90", set()) >= {"filter-small-images", "haar-crop"}
    kept = {
        r.data.tags["dvc.exp_name"]: r.data.metrics["kept.utkface"]
        for r in new
        if r.data.tags["genrec.stage"] == "filter-small-images"
    }
    assert kept == {"smoke60": 60.0, "smoke90": 90.0}
    shown = sh("dvc", "exp", "show", "--json")
    assert "smoke60" in shown and "smoke90" in shown


def test_mlflow_ui_started_in_the_repository_serves_the_stage_runs(project):
    """`mlflow ui` in the repository root (its default store is ./mlflow.db) lists the stage runs of the
    queued experiments (test above), which ran in copies elsewhere and logged to the repository's store; the
    page `make ui` opens shows them."""
    import urllib.request

    root, _ = project
    port = free_port()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "ui", "--host", "127.0.0.1", "--port", str(port)],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{base}/health", "mlflow ui", 120, server)

        def api(path, payload):
            request = urllib.request.Request(
                f"{base}/api/2.0/mlflow/{path}",
                data=json.dumps(payload).encode(),
                headers={"Content-Type": "application/json"},
            )
            return json.load(urllib.request.urlopen(request, timeout=30))

        experiments = api("experiments/search", {"max_results": 10})["experiments"]
        genrec = next(e for e in experiments if e["name"] == "genrec")
        found = api("runs/search", {"experiment_ids": [genrec["experiment_id"]], "max_results": 100})["runs"]
        stages = {tag["value"] for run in found for tag in run["data"]["tags"] if tag["key"] == "genrec.stage"}
        assert {"download", "filter-small-images", "haar-crop"} <= stages  # what the queued experiments ran
        crop_run = next(run for run in found if {"key": "genrec.stage", "value": "haar-crop"} in run["data"]["tags"])
        assert any(m["key"] == "detection_rate.utkface" for m in crop_run["data"]["metrics"])
        assert any(p["key"] == "crop.scale_factor" for p in crop_run["data"]["params"])
        listing = json.load(
            urllib.request.urlopen(
                f"{base}/api/2.0/mlflow/artifacts/list?run_id={crop_run['info']['run_id']}", timeout=30
            )
        )
        assert "face_crops.png" in {f["path"] for f in listing.get("files", [])}

        # `make ui`'s page, in a real browser: the experiment's runs table with the stage runs in it. MLflow 3
        # opens an experiment on its GenAI overview (traces), where no run is listed.
        from selenium.webdriver.support.ui import WebDriverWait

        from pipeline.tracking.services import experiment_url

        page = experiment_url(base, f"sqlite:///{root / 'mlflow.db'}")
        assert page == f"{base}/#/experiments/{genrec['experiment_id']}/runs"
        browser = chromium_driver()
        try:
            browser.get(page)
            WebDriverWait(browser, 60).until(lambda b: "haar-crop" in b.find_element("tag name", "body").text)
            assert f"/#/experiments/{genrec['experiment_id']}/runs" in browser.current_url
        finally:
            browser.quit()
    finally:
        server.terminate()
        server.wait(timeout=30)
