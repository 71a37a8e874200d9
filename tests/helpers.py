"""Helpers shared by the test modules (fixtures live in conftest.py; test modules never import each other)."""

from __future__ import annotations

import copy
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("GENREC_DATA_MIRROR", REPO.parent / "shared" / "datasets")).resolve()
UTK_SAMPLE = 600  # images per data set in the `trained` project (its stages take about 90 s)
ARCHIVES = {
    "utkface": "utkface/UTKFace.tar.gz",
    "lfw": "lfw/lfw-gender-2000.tar.gz",
    "celeba": "celeba/celeba-real-2000.tar.gz",
    "dcgan": "dcgan-celeba/dataset_celebA.tar.gz",
    "videos": "videos/deepfake-samples.tar",
}
IMAGE_NAMES = (".jpg", ".jpeg", ".png")
STAGES = [
    "download",
    "filter-small-images",
    "haar-crop",
    "extract-eigen",
    "extract-spectrum",
    "grid-search@gender",
    "grid-search@fake",
    "evaluate-by-ethnicity",
]
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


@functools.cache
def _smoke_params() -> dict:
    from pipeline.config import compose

    return compose(["experiment=smoke"], conf_dir=REPO / "conf")


def base_params(**overrides) -> dict:
    """The smoke experiment's params on the archives the tests extract (ARCHIVES), with top-level
    sections replaced by `overrides`. Composed once per session (Hydra takes ~0.2 s); each call gets its own copy."""
    params = copy.deepcopy(_smoke_params())
    params["filter"]["datasets"] = ["utkface", "lfw", "celeba", "dcgan"]
    params["gender"] |= {"datasets": ["utkface", "celeba", "lfw"], "leave_one_out": ["celeba"]}
    params["spectrum"] |= {"datasets": ["celeba", "utkface", "lfw", "dcgan"], "leave_one_out": ["lfw"]}
    params.update(overrides)
    return params


def trained_params() -> dict:
    """Smoke params for a small real project: 600 UTKFace, LFW, CelebA and DCGAN images each, no videos."""
    params = base_params()
    params["filter"] = {
        **params["filter"],
        "datasets": ["utkface", "lfw", "celeba", "dcgan"],
        "max_per_dataset": UTK_SAMPLE,
    }
    params["spectrum"] = {
        **params["spectrum"],
        "videos": None,
        "video_frames": False,
        "max_per_source": 150,
        "datasets": ["celeba", "utkface", "lfw", "dcgan"],
        "leave_one_out": ["lfw"],
    }
    # UTKFace and CelebA train and are held out; LFW is only evaluated on (and left out of nothing).
    params["gender"] = {
        **params["gender"],
        "datasets": ["utkface", "celeba"],
        "cross_datasets": ["lfw"],
        "leave_one_out": ["celeba"],
        "max_train_per_source": None,
    }
    params["models"]["gender"]["candidates"]["svm_rbf"]["grid"] = {"kernel": ["rbf"], "C": [1, 10], "gamma": [0.003]}
    return params


def run_stage(
    module: str, workdir: Path, params: dict, env: dict | None = None, args: list[str] | None = None
) -> subprocess.CompletedProcess:
    """Run `python -m pipeline.stages.<module>` in `workdir` with these params; MLflow store in workdir."""
    params_file = workdir / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    full_env = {**os.environ, "GENREC_PARAMS": str(params_file), "DVC_ROOT": str(workdir), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", f"pipeline.stages.{module}", *(args or [])],
        cwd=workdir,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def free_port() -> int:
    """A TCP port nobody listens on at the moment, on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def chromium_driver():
    """Debian's headless Chromium under Selenium (`make browser` installs it)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver:
        pytest.fail(
            "the browser test needs Debian's chromium and chromium-driver: apt-get install chromium chromium-driver"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


def copy_images(paths, dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(path, dest / Path(path).name)) for path in paths]


def runs(root: Path):
    """The MLflow client of the store at `root` and every run of genrec's experiment in it, newest first."""
    import mlflow

    from pipeline.tracking.runs import EXPERIMENT, tracking_uri

    client = mlflow.MlflowClient(tracking_uri(root))
    experiment = client.get_experiment_by_name(EXPERIMENT)
    return client, client.search_runs([experiment.experiment_id], max_results=1000) if experiment else []


def run_of_stage(found, stage: str):
    """The newest of these runs logged by `stage` (search_runs lists the newest first)."""
    return next(r for r in found if r.data.tags["genrec.stage"] == stage)


def extract_sample(archive: Path, dest: Path, every: int) -> None:
    """Every `every`-th image of a mirror archive and all its other members (labels, name lists, videos).

    One forward pass over the archive: a gzip stream is never rewound.
    """
    seen = 0
    with tarfile.open(archive) as tar:
        for member in tar:
            if member.name.lower().endswith(IMAGE_NAMES):
                seen += 1
                if (seen - 1) % every:
                    continue
            tar.extract(member, dest, filter="data")


def project_files() -> list[str]:
    """The repository's files as a checkout has them: tracked, and untracked but not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [name for name in listed.split("\0") if name and (REPO / name).is_file()]


def project_env(**extra: str) -> dict:
    """The environment of commands run in a copy of the project: this venv first on PATH, a git identity, and
    none of the variables that would point the stages at this checkout's params, mirror or MLflow store."""
    env = {
        **os.environ,
        **GIT_ENV,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        **extra,
    }
    for name in ("GENREC_DATA_MIRROR", "GENREC_PARAMS", "DVC_ROOT", "MLFLOW_TRACKING_URI"):
        env.pop(name, None)
    return env


def shell(root: Path, env: dict) -> Callable[..., str]:
    """`sh(*args)` runs a command in `root`, asserts it succeeded, and returns its output (stdout, then stderr)."""

    def sh(*args, timeout=900, stdout_only=False) -> str:
        result = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
        return result.stdout if stdout_only else result.stdout + result.stderr

    return sh


def smoke_project(root: Path, mirror: Path, sh: Callable[..., str]) -> None:
    """A fresh git repository of the project at `root`, set to the smoke experiment, nothing run yet.

    As in a real checkout, the mirror is found at ../shared/datasets (from the repository root, also for
    queued experiments, which run in a copy elsewhere).
    """
    shared = root.parent / "shared"
    shared.mkdir(exist_ok=True)
    if not (shared / "datasets").exists():
        (shared / "datasets").symlink_to(mirror)
    for name in project_files():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, root / name)
    for stale in ("dvc.lock", "metrics", ".dvc/config.local"):
        path = root / stale
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    sh("git", "init", "-q")
    sh(sys.executable, "-m", "pipeline.cli", "compose", "experiment=smoke")
    sh("git", "add", "-A")
    sh("git", "commit", "-qm", "smoke")


def wait_for_queue(sh: Callable[..., str], timeout: float, every: float = 3) -> str:
    """Poll `dvc queue status` until no experiment is queued or running; its last output."""
    deadline = time.time() + timeout
    while True:
        status = sh("dvc", "queue", "status")
        if ("Queued" not in status and "Running" not in status) or time.time() > deadline:
            return status
        time.sleep(every)


def start_queue(root: Path, env: dict, jobs: int) -> None:
    """`dvc queue start -j jobs` with its output in a file beside the project, returning once the workers are
    spawned (then `wait_for_queue`).

    Not through `shell`: each worker inherits the command's stderr, so a caller reading it through a pipe waits
    until every worker has exited, which is 10 s after the queue empties at best, and never when a worker misses
    its shutdown (seen with two workers on DVC's filesystem broker: its monitor found "an empty queue" while its
    experiment ran, and the shutdown it sent never arrived). `stop_queue_workers` ends what is left.
    """
    log = root.parent / f"{root.name}-queue-start.log"
    with open(log, "a") as out:
        result = subprocess.run(
            ["dvc", "queue", "start", "-j", str(jobs)],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=300,
        )
    assert result.returncode == 0, log.read_text()


def stop_queue_workers(root: Path, grace: float = 10) -> None:
    """End the DVC queue workers of the project at `root` that are still alive (by their pid files)."""

    def running(pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    alive = []
    for pid_file in (root / ".dvc" / "tmp" / "exps" / "celery").glob("dvc-exp-worker-*.pid"):
        try:
            pid = int(pid_file.read_text().strip())
            if b"queue-worker" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            continue
        alive.append(pid)
    deadline = time.time() + grace
    for pid in alive:
        while running(pid) and time.time() < deadline:
            time.sleep(0.2)
        if running(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def wait_until_answering(
    url: str, what: str, timeout: float, process: subprocess.Popen | None = None, every: float = 1
) -> bytes:
    """GET `url` until it answers and return the body; fail when `process` (the server) ends or time runs out."""
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read()
        except OSError:
            if process is not None and process.poll() is not None:
                errors = process.stderr.read() if process.stderr else ""
                detail = errors.decode() if isinstance(errors, bytes) else errors
                raise AssertionError(f"{what} ended: {detail}") from None
            assert time.time() < deadline, f"{what} did not start"
            time.sleep(every)
