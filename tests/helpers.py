"""Helpers shared by the test modules (fixtures live in conftest.py; test modules never import each other)."""

from __future__ import annotations

import copy
import functools
import os
import shutil
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("GENREC_DATA_MIRROR", REPO.parent / "shared" / "datasets")).resolve()
UTK_SAMPLE = 1500  # images per data set in the `trained` project
ARCHIVES = {
    "utkface": "utkface/UTKFace.tar.gz",
    "lfw": "lfw/lfw-gender-2000.tar.gz",
    "celeba": "celeba/celeba-real-2000.tar.gz",
    "dcgan": "dcgan-celeba/dataset_celebA.tar.gz",
    "videos": "videos/deepfake-samples.tar",
}
IMAGE_NAMES = (".jpg", ".jpeg", ".png")


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
    """Smoke params for a small real project: 1,500 UTKFace, LFW, CelebA and DCGAN images each, no videos."""
    params = base_params()
    params["filter"] = {
        **params["filter"],
        "datasets": ["utkface", "lfw", "celeba", "dcgan"],
        "max_per_dataset": UTK_SAMPLE,
    }
    params["spectrum"] = {
        **params["spectrum"],
        "videos": None,
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


def copy_images(paths, dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(path, dest / Path(path).name)) for path in paths]


def runs(root: Path):
    """The MLflow client of the store at `root` and every run of genrec's experiment in it, newest first."""
    import mlflow

    from pipeline.tracking import EXPERIMENT, tracking_uri

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
