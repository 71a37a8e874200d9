"""Shared fixtures: the offline mirror, real archives extracted once, a small trained project (helpers.py: the rest)."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from helpers import ARCHIVES, MIRROR, extract_sample, run_stage, trained_params

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


# The team's server when the suite itself runs against one, else nothing (each project's own mlflow.db).
SESSION_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI")


@pytest.fixture(autouse=True)
def tracking_uri_restored():
    """mlflow.set_tracking_uri also writes MLFLOW_TRACKING_URI into os.environ, where it would outlive the
    test or fixture that set it and send later tests' runs, and their subprocesses', to that store."""
    yield
    if SESSION_TRACKING_URI is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = SESSION_TRACKING_URI


@pytest.fixture(scope="session")
def mirror() -> Path:
    if not (MIRROR / "README.md").is_file():
        pytest.fail(
            f"the dataset mirror is not at {MIRROR}: put ../shared beside the checkout or set GENREC_DATA_MIRROR"
        )
    return MIRROR


@pytest.fixture(scope="session")
def raw(tmp_path_factory, mirror) -> Path:
    """The mirror's UTKFace, LFW, CelebA, DCGAN and video archives, extracted whole once per session (~20 s)."""
    root = tmp_path_factory.mktemp("raw")
    for name, archive in ARCHIVES.items():
        with tarfile.open(mirror / archive) as tar:
            tar.extractall(root / name, filter="data")
    return root


@pytest.fixture(scope="session")
def utk_images(raw) -> list[Path]:
    return sorted((raw / "utkface" / "UTKFace").glob("*.jpg"))


# Every n-th image of each archive: about 200 UTKFace chips, 400 LFW photos, 100 CelebA and 100 DCGAN images.
SAMPLE_EVERY = {"utkface": 118, "lfw": 5, "celeba": 20, "dcgan": 10, "videos": 1}


@pytest.fixture(scope="session")
def raw_sample(tmp_path_factory, mirror) -> Path:
    """The same layout as `raw` with a few hundred images of each archive (~3 s): the fast lane's data."""
    root = tmp_path_factory.mktemp("raw_sample")
    for name, archive in ARCHIVES.items():
        extract_sample(mirror / archive, root / name, SAMPLE_EVERY[name])
    # CelebA's labels list all 2,000 images: keep the rows of the sampled ones, so the sample is a data set.
    labels = root / "celeba" / "labels.csv"
    lines = labels.read_text().splitlines(keepends=True)
    present = {p.name for p in (root / "celeba" / "img_align_celeba").glob("*.jpg")}
    labels.write_text("".join([lines[0], *(line for line in lines[1:] if line.split(",")[0] in present)]))
    return root


@pytest.fixture(scope="session")
def real_clip(raw_sample) -> Path:
    """A real FaceForensics++ clip (004, 309 frames) from the mirror's labelled videos."""
    return (
        raw_sample
        / "videos"
        / "deepfake-samples"
        / "ffpp"
        / "original_sequences"
        / "youtube"
        / "c23"
        / "videos"
        / "004.mp4"
    )


@pytest.fixture(scope="session")
def utk_sample(raw_sample) -> list[Path]:
    """200 real UTKFace chips."""
    return sorted((raw_sample / "utkface" / "UTKFace").glob("*.jpg"))


@pytest.fixture(scope="session")
def trained(tmp_path_factory, raw) -> Path:
    """A project whose stages ran for real up to both models: filter, haar-crop, extract-eigen,
    grid-search@gender, extract-spectrum, grid-search@fake (its own MLflow store)."""
    work = tmp_path_factory.mktemp("trained")
    (work / "data" / "raw").mkdir(parents=True)
    for name in ("utkface", "lfw", "celeba", "dcgan"):
        (work / "data" / "raw" / name).symlink_to(raw / name)
    params = trained_params()
    for stage, args in [
        ("filter_small_images", []),
        ("haar_crop", []),
        ("extract_eigen", []),
        ("grid_search", ["gender"]),
        ("extract_spectrum", []),
        ("grid_search", ["fake"]),
    ]:
        result = run_stage(stage, work, params, args=args)
        assert result.returncode == 0, f"{stage} {args}: {result.stderr[-3000:]}"
    return work
