"""The project's shape, declared once: where it lives, every stage's files, and the two tasks' identities.

The stages write these paths, `require` names the stage that makes a missing input, and a test checks each
stage's declaration against dvc.yaml's outs, metrics and plots. A task's identity (its classes and its
registered model's name) is what the served model and the registry need to know of it, without the training
code (pipeline.training.tasks).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, fields
from pathlib import Path

from pipeline.errors import StageError


def project_root() -> Path:
    """The original repository: DVC_ROOT under `dvc exp run`, else the git top level."""
    if os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"]).resolve()
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True
        ).stdout.strip()
        return Path(top).resolve()
    except (OSError, subprocess.CalledProcessError):
        return Path.cwd().resolve()


def resolve_from_root(path: str | os.PathLike) -> Path:
    """A configured path: absolute as given, relative from the original repository."""
    path = Path(path)
    return path if path.is_absolute() else project_root() / path


@dataclass(frozen=True)
class TaskIdentity:
    """What everyone may know of a task: its name, its classes (0, 1) and its registered model's name."""

    name: str
    classes: tuple[str, str]
    registered: str  # the MLflow registered model


GENDER = TaskIdentity("gender", ("female", "male"), "genrec-gender")
FAKE = TaskIdentity("fake", ("real", "fake"), "genrec-fakeface")
TASK_IDENTITIES = {task.name: task for task in (GENDER, FAKE)}

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
ITEMS = DATA / "evaluation" / "items.parquet"
METRICS = Path("metrics")
PLOTS = METRICS / "plots"
FIGURES = METRICS / "figures"


@dataclass(frozen=True)
class Declared:
    """One stage's files as dvc.yaml lists them."""

    outs: tuple[Path, ...] = ()
    metrics: tuple[Path, ...] = ()
    plots: tuple[Path, ...] = ()


@dataclass(frozen=True)
class TaskFiles:
    """grid-search@<task>'s files."""

    model: Path
    record: Path
    metrics: Path
    videos: Path
    cv_results: Path
    roc: Path
    confusion: Path
    roc_figure: Path
    confusion_figure: Path

    @classmethod
    def of(cls, task: str) -> TaskFiles:
        return cls(
            model=MODELS / f"{task}.joblib",
            record=MODELS / f"{task}.json",
            metrics=METRICS / f"{task}.json",
            videos=METRICS / f"{task}_videos.json",
            cv_results=METRICS / f"{task}_cv_results.csv",
            roc=PLOTS / f"{task}_roc.csv",
            confusion=PLOTS / f"{task}_confusion.csv",
            roc_figure=FIGURES / f"{task}_roc.png",
            confusion_figure=FIGURES / f"{task}_confusion.png",
        )

    def declared(self) -> Declared:
        return Declared(
            outs=(self.model, self.record),
            metrics=(self.metrics, self.videos),
            plots=(self.cv_results, self.roc, self.confusion, self.roc_figure, self.confusion_figure),
        )

    def paths(self) -> list[Path]:
        return [getattr(self, field.name) for field in fields(self)]


DOWNLOAD_METRICS = METRICS / "download.json"
FILTER_METRICS, IMAGE_SIZES, IMAGE_SIZES_FIGURE = (
    METRICS / "filter.json",
    PLOTS / "image_sizes.csv",
    FIGURES / "image_sizes.png",
)
CROP_METRICS, FACE_CROPS_FIGURE = METRICS / "haar_crop.json", FIGURES / "face_crops.png"
SPECTRUM_METRICS, SPECTRUM_PROFILES, SPECTRUM_FIGURE = (
    METRICS / "spectrum.json",
    PLOTS / "spectrum_profiles.csv",
    FIGURES / "spectrum_profiles.png",
)
EIGEN_METRICS, EIGEN_VARIANCE, EIGEN_VARIANCE_FIGURE, EIGENFACES_FIGURE = (
    METRICS / "eigen.json",
    PLOTS / "eigen_variance.csv",
    FIGURES / "eigen_variance.png",
    FIGURES / "eigenfaces.png",
)
TABLE_FILES = {"table1": METRICS / "table1.csv", "table2": METRICS / "table2.csv"}
TABLES_MARKDOWN, EVALUATION_METRICS = METRICS / "tables.md", METRICS / "evaluation.json"
CONFIDENCE_BY_CELL, CONFIDENCE_FIGURE, SWAPS_FIGURE = (
    PLOTS / "confidence_by_cell.csv",
    FIGURES / "confidence_by_cell.png",
    FIGURES / "face_swaps.png",
)
GRID_SEARCH_TASKS = tuple(TASK_IDENTITIES)  # dvc.yaml's foreach

STAGES: dict[str, Declared] = {
    "download": Declared(outs=(RAW,), metrics=(DOWNLOAD_METRICS,)),
    "filter-small-images": Declared(
        outs=(MANIFEST,), metrics=(FILTER_METRICS,), plots=(IMAGE_SIZES, IMAGE_SIZES_FIGURE)
    ),
    "haar-crop": Declared(outs=(CROPS, FACES), metrics=(CROP_METRICS,), plots=(FACE_CROPS_FIGURE,)),
    "extract-spectrum": Declared(
        outs=(SPECTRUM,), metrics=(SPECTRUM_METRICS,), plots=(SPECTRUM_PROFILES, SPECTRUM_FIGURE)
    ),
    "extract-eigen": Declared(
        outs=(EIGEN,), metrics=(EIGEN_METRICS,), plots=(EIGEN_VARIANCE, EIGEN_VARIANCE_FIGURE, EIGENFACES_FIGURE)
    ),
    **{f"grid-search@{task}": TaskFiles.of(task).declared() for task in GRID_SEARCH_TASKS},
    "evaluate-by-ethnicity": Declared(
        outs=(ITEMS, TABLES_MARKDOWN),
        metrics=(EVALUATION_METRICS,),
        plots=(*TABLE_FILES.values(), CONFIDENCE_BY_CELL, CONFIDENCE_FIGURE, SWAPS_FIGURE),
    ),
}


def producer(path: Path) -> str | None:
    """The stage whose declared outs hold `path` (the path itself or a folder above it)."""
    for stage, declared in STAGES.items():
        for out in (*declared.outs, *declared.metrics, *declared.plots):
            if path == out or out in path.parents:
                return stage
    return None


def require(path: Path) -> Path:
    """`path`, or a StageError saying which stage makes it."""
    if not path.exists():
        stage = producer(path)
        raise StageError(f"{path} is missing: run `dvc repro {stage}` first" if stage else f"{path} is missing")
    return path
