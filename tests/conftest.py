"""Shared fixtures: the offline mirror, real archives extracted once, a stage runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("GENREC_DATA_MIRROR", REPO.parent / "shared" / "datasets")).resolve()

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session")
def mirror() -> Path:
    if not (MIRROR / "README.md").is_file():
        pytest.fail(f"the dataset mirror is not at {MIRROR}: put ../shared beside the checkout or set GENREC_DATA_MIRROR")
    return MIRROR


@pytest.fixture(scope="session")
def raw(tmp_path_factory, mirror) -> Path:
    """The mirror's UTKFace, LFW, CelebA, DCGAN and video archives, extracted once per session."""
    root = tmp_path_factory.mktemp("raw")
    for name, archive in {
        "utkface": "utkface/UTKFace.tar.gz",
        "lfw": "lfw/lfw-gender-2000.tar.gz",
        "celeba": "celeba/celeba-real-2000.tar.gz",
        "dcgan": "dcgan-celeba/dataset_celebA.tar.gz",
        "videos": "videos/deepfake-samples.tar",
    }.items():
        with tarfile.open(mirror / archive) as tar:
            tar.extractall(root / name, filter="data")
    return root


@pytest.fixture(scope="session")
def utk_images(raw) -> list[Path]:
    return sorted((raw / "utkface" / "UTKFace").glob("*.jpg"))


def base_params(**overrides) -> dict:
    """The smoke experiment's params, with top-level sections replaced by `overrides`."""
    from pipeline.config import compose

    params = compose(["experiment=smoke"], conf_dir=REPO / "conf")
    params.update(overrides)
    return params


def run_stage(module: str, workdir: Path, params: dict, env: dict | None = None,
              args: list[str] | None = None) -> subprocess.CompletedProcess:
    """Run `python -m pipeline.stages.<module>` in `workdir` with these params; MLflow store in workdir."""
    params_file = workdir / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    full_env = {**os.environ, "GENREC_PARAMS": str(params_file), "DVC_ROOT": str(workdir), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", f"pipeline.stages.{module}", *(args or [])], cwd=workdir, env=full_env,
        capture_output=True, text=True, timeout=600,
    )


def free_port() -> int:
    """A TCP port nobody listens on at the moment, on loopback."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def copy_images(paths, dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(path, dest / Path(path).name)) for path in paths]


UTK_SAMPLE = 1500  # images per data set in the `trained` project


def trained_params() -> dict:
    """Smoke params for a small real project: 1,500 UTKFace and LFW images, CelebA and DCGAN, no videos."""
    params = base_params()
    params["filter"] = {**params["filter"], "datasets": ["utkface", "lfw", "celeba", "dcgan"],
                        "max_per_dataset": UTK_SAMPLE}
    params["spectrum"] = {**params["spectrum"], "videos": None, "max_per_class": 300}
    params["models"]["gender"]["candidates"]["svm_rbf"]["grid"] = {"kernel": ["rbf"], "C": [1, 10], "gamma": [0.003]}
    return params


@pytest.fixture(scope="session")
def trained(tmp_path_factory, raw) -> Path:
    """A project whose stages ran for real up to both models: filter, haar-crop, extract-eigen,
    grid-search@gender, extract-spectrum, grid-search@fake (its own MLflow store)."""
    work = tmp_path_factory.mktemp("trained")
    (work / "data" / "raw").mkdir(parents=True)
    for name in ("utkface", "lfw", "celeba", "dcgan"):
        (work / "data" / "raw" / name).symlink_to(raw / name)
    params = trained_params()
    for stage, args in [("filter_small_images", []), ("haar_crop", []), ("extract_eigen", []),
                        ("grid_search", ["gender"]), ("extract_spectrum", []), ("grid_search", ["fake"])]:
        result = run_stage(stage, work, params, args=args)
        assert result.returncode == 0, f"{stage} {args}: {result.stderr[-3000:]}"
    return work
