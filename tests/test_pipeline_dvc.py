"""The real thing: DVC runs the pipeline in a fresh copy of the repository, MLflow records it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import (
    STAGES,
    free_port,
    project_env,
    run_of_stage,
    runs,
    shell,
    smoke_project,
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
    return root, sh


def test_dvc_repro_runs_every_stage_then_nothing(project):
    root, sh = project
    sh("dvc", "repro")
    filter_metrics = json.loads((root / "metrics" / "filter.json").read_text())
    assert filter_metrics["kept"] == {"celeba": 200, "celeba_hq": 200, "dcgan": 200, "fairface": 200, "lfw": 200,
                                      "stylegan2": 188, "utkface": 200}
    crop = json.loads((root / "metrics" / "haar_crop.json").read_text())
    assert crop["detection_rate"]["utkface"] >= 0.9 and crop["detection_rate"]["lfw"] >= 0.9
    fake = json.loads((root / "metrics" / "fake.json").read_text())
    # Every real source and generator has its own held-out figure, and every real source a leave-one-out one.
    assert set(fake["heldout"]) == {"celeba", "celeba_hq", "utkface", "lfw", "fairface", "dcgan", "stylegan2"}
    assert set(fake["leave_one_out"]) == {"celeba", "celeba_hq", "utkface", "lfw", "fairface", "stylegan2"}
    assert fake["test"]["roc_auc"] >= 0.8 and sum(fake["n"].values()) > 1000
    gender = json.loads((root / "metrics" / "gender.json").read_text())
    for section, key in [("cv", "best_score"), ("cv", "best_params"), ("train", "accuracy"), ("test", "accuracy"),
                         ("test", "balanced_accuracy"), ("test", "roc_auc"), ("test", "accuracy_by_group")]:
        assert key in gender[section], (section, key)
    assert set(gender["heldout"]) == {"utkface", "celeba", "lfw", "fairface"}
    assert set(gender["leave_one_out"]) == {"lfw", "celeba"} and gender["heldout"]["lfw"]["n"] > 30
    evaluation = json.loads((root / "metrics" / "evaluation.json").read_text())
    assert set(evaluation["model"]) == {"sha256"}  # nothing store-dependent in a DVC output
    assert evaluation["table1"]["scored"] > 0 and evaluation["table2"]["scored"] > 0
    assert (root / "metrics" / "tables.md").is_file()
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    assert set(lock["stages"]) == set(STAGES)

    client, found = runs(root)
    assert sorted(r.data.tags["genrec.stage"] for r in found) == sorted(STAGES)
    for name in ("genrec-fakeface", "genrec-gender"):
        versions = client.search_model_versions(f"name='{name}'")
        assert len(versions) == 1 and versions[0].run_id in {r.info.run_id for r in found}
    evaluation_run = run_of_stage(found, "evaluate-by-ethnicity")
    assert evaluation_run.data.tags["genrec.gender_model_version"] == "1"
    # The registered gender model serves `genrec predict` as the pipeline's own file does.
    chip = next((root / "data" / "raw" / "utkface").rglob("35_0_0_*.jpg"))  # an adult face
    by_file, by_registry = (json.loads(sh("genrec", "predict", "--json", *model, str(chip), stdout_only=True))
                            for model in ([], ["--model", "models:/genrec-gender/1"]))
    assert by_file[0]["status"] == "ok" and by_file == by_registry
    crop_run = run_of_stage(found, "haar-crop")
    assert crop_run.data.params["crop.padding"] == "0.25"
    assert crop_run.data.metrics["detection_rate.utkface"] == crop["detection_rate"]["utkface"]
    assert {a.path for a in client.list_artifacts(crop_run.info.run_id)} >= {"haar_crop.json", "face_crops.png"}

    again = sh("dvc", "repro")
    assert "Data and pipelines are up to date" in again
    assert len(runs(root)[1]) == len(STAGES)


def test_queued_experiments_run_in_parallel_and_all_reach_mlflow(project):
    root, sh = project
    before = {r.info.run_id for r in runs(root)[1]}
    # Up to haar-crop only: the full pipeline under DVC is test_dvc_repro's job; here the queue is under test.
    for size in (60, 90):
        sh("dvc", "exp", "run", "--queue", "-n", f"smoke{size}", "-S", "experiment=smoke",
           "-S", f"filter.max_per_dataset={size}", "haar-crop")
    sh("dvc", "queue", "start", "-j", "2")
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
        for r in new if r.data.tags["genrec.stage"] == "filter-small-images"
    }
    assert kept == {"smoke60": 60.0, "smoke90": 90.0}
    shown = sh("dvc", "exp", "show", "--json")
    assert "smoke60" in shown and "smoke90" in shown


def test_mlflow_ui_started_in_the_repository_serves_the_stage_runs(project):
    """`mlflow ui` in the repository root (its default store is ./mlflow.db) lists every stage run."""
    import urllib.request

    root, _ = project
    port = free_port()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "ui", "--host", "127.0.0.1", "--port", str(port)],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{base}/health", "mlflow ui", 120, server)

        def api(path, payload):
            request = urllib.request.Request(
                f"{base}/api/2.0/mlflow/{path}", data=json.dumps(payload).encode(),
                headers={"Content-Type": "application/json"},
            )
            return json.load(urllib.request.urlopen(request, timeout=30))

        experiments = api("experiments/search", {"max_results": 10})["experiments"]
        genrec = next(e for e in experiments if e["name"] == "genrec")
        found = api("runs/search", {"experiment_ids": [genrec["experiment_id"]], "max_results": 100})["runs"]
        stages = {tag["value"] for run in found for tag in run["data"]["tags"] if tag["key"] == "genrec.stage"}
        assert set(STAGES) <= stages
        crop_run = next(
            run for run in found
            if {"key": "genrec.stage", "value": "haar-crop"} in run["data"]["tags"]
        )
        assert any(m["key"] == "detection_rate.utkface" for m in crop_run["data"]["metrics"])
        assert any(p["key"] == "crop.scale_factor" for p in crop_run["data"]["params"])
        listing = json.load(urllib.request.urlopen(
            f"{base}/api/2.0/mlflow/artifacts/list?run_id={crop_run['info']['run_id']}", timeout=30))
        assert "face_crops.png" in {f["path"] for f in listing.get("files", [])}
    finally:
        server.terminate()
        server.wait(timeout=30)
