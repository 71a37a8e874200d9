"""Shared fixtures: the offline mirror, real archives extracted once, a small trained project (helpers.py: the rest)."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from helpers import MIRROR, run_stage, trained_params

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session")
def mirror() -> Path:
    if not (MIRROR / "README.md").is_file():
        pytest.fail(f"the dataset mirror is not at {MIRROR}: "
                    "put ../shared beside the checkout or set GENREC_DATA_MIRROR")
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
