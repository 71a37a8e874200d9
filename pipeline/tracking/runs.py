"""MLflow: one store per project (or the team's server), one run per stage execution.

Without MLFLOW_TRACKING_URI the store is `mlflow.db` at the repository root.
DVC runs queued experiments in a temporary copy of the repository but sets
DVC_ROOT to the original one, so every run lands in the same `mlflow.db`.
SQLite allows one writer at a time: a stage collects what it logs while it
runs and writes it in one short transaction under a file lock, so parallel
queued experiments (`dvc queue start -j 2`) neither lose runs nor fail on a
locked database. The run's start time is the stage's own, so the UI shows the
stage's real duration.

With MLFLOW_TRACKING_URI set (a team's `mlflow server`), every stage, queued
experiment, `genrec predict` and the web app use that server instead.

Each run records the stage's input data as MLflow dataset inputs
(pipeline.tracking.lineage), so a registered model leads back to its data.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.project import project_root

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

EXPERIMENT = "genrec"
log = logging.getLogger(__name__)


def tracking_uri(root: Path | None = None) -> str:
    """MLFLOW_TRACKING_URI when set (a team's server), else the project's own `mlflow.db`."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return local_tracking_uri(root)


def local_tracking_uri(root: Path | None = None) -> str:
    return f"sqlite:///{(root or project_root()) / 'mlflow.db'}"


def uses_local_store(uri: str) -> bool:
    return uri.startswith("sqlite:///")


def git_commit() -> str:
    """HEAD of the working copy the stage runs in, else of the original repository."""
    for where in (Path.cwd(), project_root()):
        try:
            return subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            continue
    return "unknown"


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def metric_name(key: str) -> str:
    """MLflow's allowed characters only: 'rate.Asian (East)' -> 'rate.Asian _East_'."""
    return re.sub(r"[^A-Za-z0-9_\-. :/]", "_", key)


@contextmanager
def store_lock(root: Path, uri: str) -> Iterator[None]:
    """Serialise writers of the project's SQLite store across processes (a server serialises its own)."""
    if not uses_local_store(uri):
        yield
        return
    with open(root / "mlflow.db.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class StageRun:
    """What one stage execution logs; written to MLflow when the stage ends."""

    stage: str
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: list[tuple[Path, str | None]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    callbacks: list[Callable[[], None]] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    run_id: str | None = None
    started_ms: int = field(default_factory=lambda: int(time.time() * 1000))

    def log_params(self, params: dict[str, Any]) -> None:
        self.params.update(flatten(params))

    def log_metrics(self, metrics: dict[str, Any]) -> None:
        for key, value in flatten(metrics).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.metrics[metric_name(key)] = float(value)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self.artifacts.append((Path(path), artifact_path))

    def in_run(self, callback: Callable[[], None]) -> None:
        """Run `callback` inside the active MLflow run (e.g. to log a model)."""
        self.callbacks.append(callback)

    def log_inputs(self, paths: list[str]) -> None:
        """Record these DVC paths as the run's input data (hashed when the run is written)."""
        self.inputs.extend(path for path in paths if path not in self.inputs)


def _experiment_id(mlflow, root: Path, uri: str) -> str:
    """genrec's experiment; in the local store its artifacts go to mlartifacts/, on a server where it says."""
    from mlflow.exceptions import MlflowException

    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        return experiment.experiment_id
    if not uses_local_store(uri):
        try:  # the server's default artifact store (proxied to S3 by `make services`)
            return mlflow.create_experiment(EXPERIMENT)
        except MlflowException:  # another stage created it just now
            return mlflow.get_experiment_by_name(EXPERIMENT).experiment_id
    artifacts = (root / "mlartifacts").resolve()
    artifacts.mkdir(exist_ok=True)
    return mlflow.create_experiment(EXPERIMENT, artifact_location=artifacts.as_uri())


def _write(run: StageRun, status: str) -> None:
    import mlflow

    root = project_root()
    uri = tracking_uri(root)
    mlflow.set_tracking_uri(uri)
    from pipeline.tracking.lineage import describe_inputs, log_inputs, stage_data_deps

    try:  # the data this stage reads, as dvc.yaml declares it
        inputs = describe_inputs([*stage_data_deps(run.stage), *run.inputs])
    except OSError as error:  # lineage must never cost the stage's results
        log.warning("input data not recorded: %s", error)
        inputs = []
    tags = {
        "genrec.stage": run.stage,
        "mlflow.source.git.commit": git_commit(),
        "genrec.workdir": str(Path.cwd()),
        **run.tags,
    }
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
    with store_lock(root, uri):
        experiment_id = _experiment_id(mlflow, root, uri)
        # Opened with the stage's own start time: the run spans the stage's real work.
        created = mlflow.MlflowClient().create_run(
            experiment_id, start_time=run.started_ms, tags=tags, run_name=run.stage
        )
        with mlflow.start_run(run_id=created.info.run_id) as active:
            run.run_id = active.info.run_id
            log_inputs(mlflow, inputs)
            params = {key: str(value)[:6000] for key, value in run.params.items()}
            if params:
                mlflow.log_params(params)
            if run.metrics:
                mlflow.log_metrics(run.metrics)
            for path, artifact_path in run.artifacts:
                if path.exists():
                    mlflow.log_artifact(str(path), artifact_path)
            for callback in run.callbacks:
                callback()
            mlflow.end_run(status=status)


@contextmanager
def stage_run(stage: str, params: dict[str, Any] | None = None) -> Iterator[StageRun]:
    """One MLflow run for one stage execution; a failed stage is logged as FAILED."""
    run = StageRun(stage)
    run.log_params(params or {})
    try:
        yield run
    except BaseException:
        run.callbacks.clear()
        _write(run, "FAILED")
        raise
    _write(run, "FINISHED")
    log.info("logged %s to MLflow run %s", stage, run.run_id)
