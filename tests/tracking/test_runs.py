"""MLflow: one SQLite store at the repository root, one run per stage, safe under concurrency."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.tracking.registry import holder_of_run

from helpers import runs

LOG_ONE_RUN = """
import sys
from pipeline.tracking.runs import stage_run
with stage_run(sys.argv[1], {"crop": {"padding": 0.25}}) as run:
    run.log_metrics({"detection_rate": {"utkface": 0.97, "Asian (East)": 0.9}})
    path = __import__("pathlib").Path("out.txt"); path.write_text("x"); run.log_artifact(path)
    if sys.argv[1] == "boom":
        raise RuntimeError("boom")
"""


def log_run(workdir: Path, root: Path, stage: str, extra_env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "DVC_ROOT": str(root), **(extra_env or {})}
    return subprocess.Popen(
        [sys.executable, "-c", LOG_ONE_RUN, stage],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow  # creates MLflow stores from several processes (~1 min)
def run_in_project(root: Path, script: str, *args: str) -> None:
    """`script` in a fresh interpreter working in `root`, as DVC runs a stage there (DVC_ROOT); it must succeed."""
    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=root,
        env={**os.environ, "DVC_ROOT": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr


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
    from pipeline.tracking.runs import StageRun, flatten, metric_name

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
    from pipeline.project import project_root
    from pipeline.tracking.runs import tracking_uri

    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    assert project_root() == tmp_path.resolve()
    assert tracking_uri() == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"


REGISTER_ONE_VERSION = """
import sys
import mlflow
from pipeline.tracking.registry import review_challenger
from pipeline.tracking.runs import stage_run

def register():
    client = mlflow.MlflowClient()
    run = mlflow.active_run()
    if not client.search_registered_models("name='genrec-test'"):
        client.create_registered_model("genrec-test")
    client.create_model_version("genrec-test", run.info.artifact_uri, run_id=run.info.run_id)

from pathlib import Path

# The data the held-out rows come from, logged as the run's inputs (the stage's lineage does it from dvc.yaml).
Path("data/raw").mkdir(parents=True, exist_ok=True)
Path("data/raw/face.jpg").write_bytes(b"jpeg")
Path("data/crops").mkdir(exist_ok=True)
Path("data/crops/faces.parquet").write_bytes(sys.argv[2].encode())  # another face table: another held-out set

with stage_run("grid-search@test") as run:
    run.log_metrics({"test": {"accuracy": float(sys.argv[1])}, "n": {"test": int(sys.argv[2])},
                     "heldout": {"utkface": {"n": int(sys.argv[2])}}})
    run.log_inputs(["data/raw", "data/crops/faces.parquet"])
    run.in_run(register)
    run.in_run(lambda: review_challenger("genrec-test"))
"""


@pytest.mark.slow  # several processes, each opening an MLflow store; the rule itself: tests/tracking/test_registry.py
def test_a_new_version_is_challenger_and_becomes_champion_only_when_its_held_out_accuracy_is_higher(tmp_path):
    # Version 5 scores higher on another held-out set (30 items, not 100): not compared, no promotion.
    for accuracy, heldout_n in (("0.80", "100"), ("0.75", "100"), ("0.80", "100"), ("0.85", "100"), ("0.95", "30")):
        run_in_project(tmp_path, REGISTER_ONE_VERSION, accuracy, heldout_n)
    client, found = runs(tmp_path)
    assert str(client.get_model_version_by_alias("genrec-test", "champion").version) == "4"
    assert str(client.get_model_version_by_alias("genrec-test", "challenger").version) == "5"
    versions = {str(v.version): v for v in client.search_model_versions("name='genrec-test'")}
    decisions = {
        number: (v.tags["genrec.registry.promoted"], v.tags["genrec.registry.decision"])
        for number, v in versions.items()
    }
    full, smoke = (holder_of_run(client, version, versions[version].run_id).heldout for version in ("4", "5"))
    assert str(full).startswith("100 held out (utkface 100) from data/crops/faces.parquet ")
    assert str(smoke).startswith("30 held out (utkface 30) from data/crops/faces.parquet ")
    assert decisions == {
        "1": ("true", "no champion yet"),
        "2": ("false", "test.accuracy 0.75 does not beat champion v1's 0.8"),
        "3": ("false", "test.accuracy 0.8 does not beat champion v1's 0.8"),  # a tie keeps the champion
        "4": ("true", "test.accuracy 0.85 beats champion v1's 0.8"),
        "5": (
            "false",
            f"held-out sets differ (challenger: {smoke}; champion v4: {full}): "
            "test.accuracy 0.95 and 0.85 not compared, the champion stays",
        ),
    }
    assert {r.data.tags["genrec.registry.version"] for r in found} == {"1", "2", "3", "4", "5"}
    # The decision is logged on the run too, with the held-out set each figure was measured on.
    fifth = next(r for r in found if r.data.tags["genrec.registry.version"] == "5")
    assert fifth.data.tags["genrec.registry.compared"] == "false"
    assert fifth.data.tags["genrec.registry.champion_heldout"] == str(full)


@pytest.mark.slow  # creates an MLflow store in a subprocess
def test_a_run_spans_its_stage_and_records_its_input_data_by_dvc_hash(tmp_path):
    """The run starts when the stage starts; the stage's data deps are dataset inputs with DVC's md5."""
    from pipeline.tracking.lineage import directory_md5, file_md5

    (tmp_path / "data" / "features").mkdir(parents=True)
    (tmp_path / "data" / "manifest.parquet").write_bytes(b"manifest")
    (tmp_path / "data" / "features" / "a.parquet").write_bytes(b"a")
    (tmp_path / "data" / "features" / "b").mkdir()
    (tmp_path / "data" / "features" / "b" / "c.npy").write_bytes(b"c")
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  slow:\n    cmd: x\n    deps:\n      - data/manifest.parquet\n      - data/features\n"
        "      - pipeline/x.py\n"
    )
    script = (
        "import time\nfrom pipeline.tracking.runs import stage_run\nwith stage_run('slow') as run:\n    time.sleep(3)\n"
    )
    started = time.time()
    run_in_project(tmp_path, script)
    client, (run,) = runs(tmp_path)
    assert started - 1 <= run.info.start_time / 1000 and (run.info.end_time - run.info.start_time) / 1000 >= 3
    inputs = {d.dataset.name: d.dataset for d in client.get_run(run.info.run_id).inputs.dataset_inputs}
    assert set(inputs) == {"data/manifest.parquet", "data/features"}
    assert inputs["data/manifest.parquet"].digest == file_md5(tmp_path / "data" / "manifest.parquet")
    assert inputs["data/features"].digest == directory_md5(tmp_path / "data" / "features")
    assert inputs["data/features"].digest.endswith(".dir")


@pytest.mark.slow  # runs DVC itself (dvc init, dvc add: ~3 s of CPU)
def test_lineage_hashes_are_the_ones_dvc_records(tmp_path):
    """`dvc add` is the oracle: the same md5 for a file and for a nested folder."""
    import yaml

    from pipeline.tracking.lineage import directory_md5, file_md5

    folder = tmp_path / "features"
    (folder / "nested").mkdir(parents=True)
    for name, content in {"a.parquet": b"a" * 1000, "nested/b.npy": os.urandom(5000), "z.txt": b"line\r\n"}.items():
        (folder / name).write_bytes(content)
    (tmp_path / "model.joblib").write_bytes(os.urandom(3000))
    dvc = str(Path(sys.executable).parent / "dvc")
    subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    subprocess.run([dvc, "add", "-q", "features", "model.joblib"], cwd=tmp_path, check=True)
    recorded = {
        name: yaml.safe_load((tmp_path / f"{name}.dvc").read_text())["outs"][0]["md5"]
        for name in ("features", "model.joblib")
    }
    assert directory_md5(folder) == recorded["features"]
    assert file_md5(tmp_path / "model.joblib") == recorded["model.joblib"]
