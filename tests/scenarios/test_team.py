"""A team's setup, live: SeaweedFS (S3) and `mlflow server` started by pipeline.tracking.services on loopback ports.

The smoke experiment logs to the server, its artifacts land in the S3 bucket,
the registry aliases its models, `dvc push` fills the S3 remote, a fresh clone
pulls every output, the web app serves `models:/genrec-gender@champion` from
the server, a store killed in the middle of a push loses nothing, and stopping
the services leaves no process behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from helpers import (
    STAGES,
    free_port,
    project_env,
    shell,
    smoke_project,
    start_queue,
    stop_queue_workers,
    wait_for_queue,
    wait_until_answering,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def team(tmp_path_factory, mirror):
    """A fresh git repository of the project (smoke experiment) and its services, started as `make services` does."""
    base = tmp_path_factory.mktemp("team")
    root = base / "genrec"
    services_dir = base / "services"
    env = project_env(GENREC_SERVICES_DIR=str(services_dir))
    sh = shell(root, env)
    smoke_project(root, mirror, sh)
    sh(sys.executable, "-m", "pipeline.tracking.services", "start", "--s3-port", "0", "--mlflow-port", "0", timeout=300)
    record = json.loads((services_dir / "services.json").read_text())
    env["MLFLOW_TRACKING_URI"] = f"http://127.0.0.1:{record['mlflow_port']}"
    try:
        yield root, sh, env, services_dir
    finally:
        stop_queue_workers(root)
        subprocess.run([sys.executable, "-m", "pipeline.tracking.services", "stop"], cwd=root, env=env, timeout=120)


def s3(services_dir: Path):
    import boto3

    record = json.loads((services_dir / "services.json").read_text())
    keys = json.loads((services_dir / "credentials.json").read_text())
    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{record['s3_port']}",
        region_name="us-east-1",
        aws_access_key_id=keys["access_key_id"],
        aws_secret_access_key=keys["secret_access_key"],
    )


def bucket_keys(services_dir: Path, prefix: str) -> set[str]:
    client = s3(services_dir)
    keys = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket="genrec", Prefix=prefix):
        keys |= {item["Key"] for item in page.get("Contents", [])}
    return keys


def cached_outputs(root: Path) -> dict[str, str]:
    """Every DVC-cached output of dvc.lock: path -> md5 (metrics, plots and tables.md stay in git)."""
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    outs = {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}
    return {path: md5 for path, md5 in outs.items() if not (path.startswith("metrics/") or path.endswith(".md"))}


def check_smoke_outputs(root: Path) -> None:
    """The smoke pipeline's outputs: every source counted, held out and left out where the config says."""
    filter_metrics = json.loads((root / "metrics" / "filter.json").read_text())
    assert filter_metrics["kept"] == {
        "celeba": 200,
        "celeba_hq": 200,
        "dcgan": 200,
        "fairface": 200,
        "lfw": 200,
        "stylegan2": 188,
        "t2i_sfhq": 200,  # of the 517 tiles the download stage cut (DALL-E 3's two left out)
        "utkface": 200,
    }
    crop = json.loads((root / "metrics" / "haar_crop.json").read_text())
    assert crop["detection_rate"]["utkface"] >= 0.9 and crop["detection_rate"]["lfw"] >= 0.9
    fake = json.loads((root / "metrics" / "fake.json").read_text())
    # Every real source and generator has its own held-out figure, and every real source a leave-one-out one.
    # Every real source, the real labelled clips' frames ("videos") among them, and every generator.
    real = {"celeba", "celeba_hq", "utkface", "lfw", "fairface", "videos"}
    generators = {"dcgan", "stylegan2"}  # the text-to-image faces train only in experiment=t2i
    assert set(fake["heldout"]) == real | generators
    assert set(fake["leave_one_out"]) == real | generators and fake["leave_one_clip_out"]
    # The verdict's rules come from the training CV, and every held-out source is scored under every step.
    assert set(fake["verdict"]["generators"]) == generators and 0 < fake["verdict"]["threshold"] < 1
    steps = yaml.safe_load((root / "params.yaml").read_text())["spectrum"]["robustness"]["steps"]
    assert set(fake["robustness"]) == set(steps)
    assert fake["test"]["roc_auc"] >= 0.8 and sum(fake["n"].values()) > 1000
    gender = json.loads((root / "metrics" / "gender.json").read_text())
    for section, key in [
        ("cv", "best_score"),
        ("cv", "best_params"),
        ("train", "accuracy"),
        ("test", "accuracy"),
        ("test", "balanced_accuracy"),
        ("test", "roc_auc"),
        ("test", "accuracy_by_group"),
    ]:
        assert key in gender[section], (section, key)
    assert set(gender["heldout"]) == {"utkface", "celeba", "lfw", "fairface"}
    assert set(gender["leave_one_out"]) == {"lfw", "celeba"} and gender["heldout"]["lfw"]["n"] > 30
    evaluation = json.loads((root / "metrics" / "evaluation.json").read_text())
    assert set(evaluation["model"]) == {"sha256"}  # nothing store-dependent in a DVC output
    assert evaluation["table1"]["scored"] > 0 and evaluation["table2"]["scored"] > 0
    assert (root / "metrics" / "tables.md").is_file()
    assert set(yaml.safe_load((root / "dvc.lock").read_text())["stages"]) == set(STAGES)


def dvc_hash(path: Path) -> str:
    from pipeline.tracking.lineage import directory_md5, file_md5

    return directory_md5(path) if path.is_dir() else file_md5(path)


def fresh_clone(root: Path, env: dict, name: str) -> tuple[Path, callable]:
    """A clone of the project with the remote's endpoint and keys in its own .dvc/config.local."""
    clone = root.parent / name
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True, env=env)
    shutil.copy(root / ".dvc" / "config.local", clone / ".dvc" / "config.local")
    return clone, shell(clone, env)


def test_the_smoke_experiment_logs_to_the_server_and_its_artifacts_land_in_s3(team):
    import mlflow

    root, sh, env, services_dir = team
    started = time.time()
    sh("dvc", "repro")
    check_smoke_outputs(root)
    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    assert not (root / "mlflow.db").exists()  # nothing went to the local store
    experiment = client.get_experiment_by_name("genrec")
    found = client.search_runs([experiment.experiment_id], max_results=100)
    assert sorted(r.data.tags["genrec.stage"] for r in found) == sorted(STAGES)
    by_stage = {r.data.tags["genrec.stage"]: r for r in found}

    crop = json.loads((root / "metrics" / "haar_crop.json").read_text())
    crop_run = by_stage["haar-crop"]
    assert crop_run.data.metrics["detection_rate.utkface"] == crop["detection_rate"]["utkface"]
    assert crop_run.data.params["crop.padding"] == "0.25"
    assert {a.path for a in client.list_artifacts(crop_run.info.run_id)} >= {"haar_crop.json", "face_crops.png"}
    assert by_stage["evaluate-by-ethnicity"].data.tags["genrec.gender_model_version"] == "1"
    # Artifacts went through the server into the bucket.
    stored = bucket_keys(services_dir, "mlartifacts/")
    assert any(key.endswith(f"{crop_run.info.run_id}/artifacts/haar_crop.json") for key in stored)
    assert any(key.endswith("/MLmodel") for key in stored)  # the logged models too

    # Real start times: each run spans its stage, not the few ms of logging at its end.
    gender_run = by_stage["grid-search@gender"]
    assert gender_run.info.start_time / 1000 >= started - 1
    assert (gender_run.info.end_time - gender_run.info.start_time) / 1000 > 5
    starts = [by_stage[stage].info.start_time for stage in ("filter-small-images", "haar-crop", "extract-eigen")]
    assert starts == sorted(starts)

    # Lineage: the gender model's run names its features by DVC path and DVC md5.
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    eigen_md5 = next(out["md5"] for out in lock["extract-eigen"]["outs"] if out["path"] == "data/features/eigen")
    inputs = {d.dataset.name: d.dataset for d in client.get_run(gender_run.info.run_id).inputs.dataset_inputs}
    assert inputs["data/features/eigen"].digest == eigen_md5
    assert json.loads(inputs["data/features/eigen"].source)["path"] == "data/features/eigen"
    assert inputs["data/features/eigen"].source_type == "dvc"

    # The registry: the first version is challenger and, with no champion before it, champion.
    for name in ("genrec-gender", "genrec-fakeface"):
        versions = client.search_model_versions(f"name='{name}'")
        assert len(versions) == 1
        version = client.get_model_version(name, versions[0].version)
        assert set(version.aliases) == {"challenger", "champion"}
        assert version.tags["genrec.registry.decision"] == "no champion yet"
    assert by_stage["grid-search@gender"].data.tags["genrec.registry.promoted"] == "true"
    # Each model's run records the held-out set its figures were measured on (the registry compares only on it).
    from pipeline.tracking.registry import holder_of_run

    for task in ("gender", "fake"):
        run = by_stage[f"grid-search@{task}"]
        heldout = holder_of_run(client, "1", run.info.run_id).heldout
        reported = json.loads((root / "metrics" / f"{task}.json").read_text())
        assert dict(heldout.counts)["n.test"] == reported["n"]["test"]
        assert dict(heldout.data)["data/raw"] == lock["download"]["outs"][0]["md5"]
        assert run.data.tags["genrec.registry.challenger_heldout"] == str(heldout)

    # `make ui` opens the page of genrec's runs, not MLflow's empty Default experiment.
    from pipeline.tracking.services import experiment_url

    page = experiment_url(env["MLFLOW_TRACKING_URI"], env["MLFLOW_TRACKING_URI"])
    assert page == f"{env['MLFLOW_TRACKING_URI']}/#/experiments/{experiment.experiment_id}/runs"
    assert urllib.request.urlopen(page, timeout=30).status == 200

    # Run again, DVC finds nothing to do and no stage logs a run.
    assert "Data and pipelines are up to date" in sh("dvc", "repro")
    assert len(client.search_runs([experiment.experiment_id], max_results=100)) == len(STAGES)


def test_the_web_app_serves_the_champion_from_the_server(team):
    root, sh, env, _ = team
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["serve"] = {
        **params.get("serve", {}),
        "gender_model": "models:/genrec-gender@champion",
        "fake_model": "models:/genrec-fakeface@champion",
    }
    (root.parent / "serve.yaml").write_text(yaml.safe_dump(params))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "serve", "--port", str(port), "--workers", "1"],
        cwd=root,
        env={**env, "GENREC_PARAMS": str(root.parent / "serve.yaml")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        health = json.loads(wait_until_answering(f"{base}/health", "genrec serve", 180, server))
        assert health["models"]["gender"] == "models:/genrec-gender@champion"
        chip = next((root / "data" / "raw" / "utkface").rglob("35_0_0_*.jpg"))  # an adult man's face
        boundary = "genrecboundary"
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
                "Content-Type: image/jpeg\r\n\r\n"
            ).encode()
            + chip.read_bytes()
            + f"\r\n--{boundary}--\r\n".encode()
        )
        request = urllib.request.Request(
            f"{base}/api/predict", data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        result = json.load(urllib.request.urlopen(request, timeout=60))
        assert result["faces"] and result["faces"][0]["gender"] in {"female", "male"}
        assert 50 <= result["faces"][0]["confidence"] <= 100
    finally:
        server.terminate()
        server.wait(timeout=30)
    # `genrec predict` loads the same alias from the server, and answers as the pipeline's own model file does.
    by_file, by_registry = (
        json.loads(sh(sys.executable, "-m", "pipeline.cli", "predict", "--json", *model, str(chip), stdout_only=True))
        for model in ([], ["--model", "models:/genrec-gender@champion"])
    )
    assert by_registry[0]["status"] == "ok" and by_file == by_registry
    assert by_registry[0]["faces"][0]["gender"] == result["faces"][0]["gender"]


def test_a_store_killed_mid_push_loses_nothing_and_a_fresh_clone_pulls_every_output(team):
    import mlflow

    root, sh, env, services_dir = team
    sh("git", "add", "-A")
    sh("git", "commit", "-qm", "pipeline outputs")
    expected = cached_outputs(root)
    # data/raw is cached too: its 2,010 files (the smoke subset) keep the push going long enough to kill the store
    # in the middle.
    assert {"data/raw", "data/models/gender.joblib", "data/crops/crops.npy"} <= set(expected)

    weed = json.loads((services_dir / "services.json").read_text())["pids"]["weed"]
    push = subprocess.Popen(
        ["dvc", "push"], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        # One client, one key asked for: the store is killed as soon as the first object has landed.
        client, deadline = s3(services_dir), time.time() + 120
        while not client.list_objects_v2(Bucket="genrec", Prefix="dvc/", MaxKeys=1).get("KeyCount"):
            if time.time() > deadline:
                break
            time.sleep(0.1)
        assert push.poll() is None, "the push ended before the store could be killed: " + push.stdout.read()
        os.killpg(weed, signal.SIGKILL)  # uploads in flight are cut
        time.sleep(2)
        # The store comes back on its ports; the interrupted push retries, then ends one way or the other.
        sh(sys.executable, "-m", "pipeline.tracking.services", "start", timeout=300)
        push.communicate(timeout=900)
    finally:
        if push.poll() is None:
            push.kill()
    again = sh("dvc", "push")  # sends whatever the interrupted push did not
    assert "Everything is up to date" in sh("dvc", "push"), again

    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("genrec")
    runs_before = len(client.search_runs([experiment.experiment_id], max_results=1000))
    clone, clone_sh = fresh_clone(root, env, "clone")
    clone_sh("dvc", "pull")
    for path, md5 in expected.items():
        assert dvc_hash(clone / path) == md5, path
    # Every output came from the remote, the raw images included: nothing to do, no stage runs.
    assert "Data and pipelines are up to date" in clone_sh("dvc", "status")
    rerun = clone_sh("dvc", "repro")
    assert "Running stage" not in rerun, rerun
    for stage in STAGES:
        assert f"Stage '{stage}' didn't change, skipping" in rerun, rerun
    assert "Data and pipelines are up to date" in rerun
    assert len(client.search_runs([experiment.experiment_id], max_results=1000)) == runs_before  # no stage logged


def test_queued_experiments_log_to_the_server(team):
    """`dvc queue start` inherits MLFLOW_TRACKING_URI: the queued run's stages land on the server."""
    import mlflow

    root, sh, env, _ = team
    # One stage alone (-s): its inputs are cached outputs, so the queued copy rebuilds nothing upstream.
    sh(
        "dvc",
        "exp",
        "run",
        "--queue",
        "-n",
        "team-eigen",
        "-s",
        "-S",
        "experiment=smoke",
        "-S",
        "features.eigen.n_components=40",
        "extract-eigen",
    )
    start_queue(root, env, 1)
    status = wait_for_queue(sh, timeout=600)
    assert "Success" in status and "Queued" not in status and "Running" not in status, status
    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("genrec")
    (queued,) = client.search_runs([experiment.experiment_id], "tags.`dvc.exp_name` = 'team-eigen'")
    assert queued.data.tags["genrec.stage"] == "extract-eigen" and queued.info.status == "FINISHED"
    assert queued.data.params["features.eigen.n_components"] == "40"
    inputs = {d.dataset.name for d in client.get_run(queued.info.run_id).inputs.dataset_inputs}
    assert inputs == {"data/crops/crops.npy", "data/crops/faces.parquet"}
    assert not (root / "mlflow.db").exists()


def test_stopping_the_services_leaves_no_process_behind(team):
    root, sh, env, services_dir = team
    record = json.loads((services_dir / "services.json").read_text())
    groups = set(record["pids"].values())
    sh(sys.executable, "-m", "pipeline.tracking.services", "stop", timeout=120)
    left = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in groups and fields[0] != "Z":
            left.append(stat.parent.name)
    assert left == []
    assert not (services_dir / "services.json").exists()
    for port in (record["s3_port"], record["mlflow_port"]):
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
