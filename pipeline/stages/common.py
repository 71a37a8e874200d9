"""What every stage does around its own work: config, logging, MLflow, clear failures."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from pipeline.config import Config, load_config
from pipeline.errors import GenrecError
from pipeline.tracking import StageRun, project_root, stage_run

DATA = Path("data")
RAW = DATA / "raw"
DOWNLOADS = DATA / "downloads"
MANIFEST = DATA / "manifest.parquet"
CROPS = DATA / "crops" / "crops.npy"
FACES = DATA / "crops" / "faces.parquet"
SPECTRUM = DATA / "features" / "spectrum.parquet"
EIGEN = DATA / "features" / "eigen"
EIGEN_FEATURES = EIGEN / "features.parquet"
EIGEN_TRANSFORMER = EIGEN / "transformer.joblib"
MODELS = DATA / "models"
METRICS = Path("metrics")
PLOTS = METRICS / "plots"
FIGURES = METRICS / "figures"

log = logging.getLogger("genrec")


class StageError(GenrecError, RuntimeError):
    """A stage cannot go on; its message says what to do."""


def resolve_from_root(path: str | os.PathLike) -> Path:
    """A configured path: absolute as given, relative from the original repository."""
    path = Path(path)
    return path if path.is_absolute() else project_root() / path


def require(path: Path, stage: str) -> Path:
    """`path`, or a StageError saying which stage makes it."""
    if not path.exists():
        raise StageError(f"{path} is missing: run `dvc repro {stage}` first")
    return path


def run_stage(name: str, sections: list[str], body: Callable[[Config, StageRun], None]) -> None:
    """Load params.yaml, run `body` inside one MLflow run, turn known failures into one sentence."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config()
        params = {section: cfg.section_dump(section) for section in sections}  # as validated
        with stage_run(name, params) as run:
            run.tags["genrec.experiment"] = cfg.experiment_name
            body(cfg, run)
    except (GenrecError, FileNotFoundError) as error:
        log.error("%s failed: %s", name, error)
        sys.exit(1)
