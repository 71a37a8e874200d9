"""Publish a stage's metrics, plot data and figures: write the file and log it to the stage's MLflow run in one
call, so what DVC tracks and what MLflow shows cannot drift. Where each file lives: pipeline.project."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.io import write_csv, write_json, write_with
from pipeline.tracking.runs import StageRun


def publish_json(run: StageRun, path: Path, data: Any) -> None:
    """Write a metrics file and log it to the stage's run."""
    write_json(path, data)
    run.log_artifact(path)


def publish_csv(run: StageRun, path: Path, frame: pd.DataFrame) -> None:
    """Write plot data (or a table) and log it to the stage's run."""
    write_csv(path, frame)
    run.log_artifact(path)


def publish_text(run: StageRun, path: Path, text: str) -> None:
    write_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    run.log_artifact(path)


def publish_figure(run: StageRun, path: Path, draw: Callable[[Path], None]) -> None:
    """Draw a figure to `path` (`draw(path)`, e.g. a pipeline.figures function) and log it."""
    draw(path)
    run.log_artifact(path)
