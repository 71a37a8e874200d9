"""What both tasks share in grid-search: their data's shape, the search and calibrated refit, the served model.

Each task (pipeline.gender.task, pipeline.fake.task) is one `Task`: its data, held-out figures and served
model. grid-search reads it and never asks which task it runs. The model's record (`info`) carries its classes
and input, so every loader (pipeline.serving.model_store) takes them from the model itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config import Config, SearchConfig
from pipeline.project import TaskIdentity
from pipeline.training.metrics import evaluate, positive_probability
from pipeline.training.search import SearchResult, TrainingRows, calibrated_fit, search_candidates

log = logging.getLogger("genrec")


@dataclass
class TaskData:
    """One task's features, labels and roles, as grid-search needs them."""

    table: pd.DataFrame
    columns: list[str]
    y: np.ndarray
    train: np.ndarray
    test: np.ndarray
    search: SearchConfig
    weight: np.ndarray | None = None  # per training row
    groups: np.ndarray | None = None  # per training row: rows of one group stay on one side of every CV fold
    mirror: np.ndarray | None = None  # per row: the features of its face's mirror image (gender.mirror_average)

    def features(self) -> np.ndarray:
        return self.table[self.columns].to_numpy()

    def probability(self, model, X: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """p(class 1) for these rows; with mirror features, the mean for the face and its mirror image, as the
        served model answers (pipeline.gender.model.MirrorAveraged)."""
        proba = positive_probability(model, X[rows])
        if self.mirror is not None:
            proba = (proba + positive_probability(model, self.mirror[rows])) / 2
        return proba


@dataclass
class Tuned:
    """The search, the calibrated refit of its winner, its held-out probabilities and the common metrics."""

    result: SearchResult
    model: Any
    proba: np.ndarray  # p(class 1) on the test rows
    metrics: dict


@dataclass
class Served:
    """The model as it is saved and registered, its record, and an input example for MLflow's signature."""

    model: Any
    info: dict
    example: np.ndarray


def tune(task: str, data: TaskData, X: np.ndarray, seed: int, n_jobs: int) -> Tuned:
    """Search every candidate, refit the best with calibrated probabilities, score every candidate's refit."""
    search_cfg, y, train, test = data.search, data.y, data.train, data.test
    rows = TrainingRows(X[train], y[train], data.weight, data.groups)
    result = search_candidates(rows, search_cfg, seed, n_jobs)
    log.info(
        "%s: CV %.4f with %s %s; refitting on %d rows",
        task,
        result.best_score,
        result.best_candidate,
        result.best_params,
        int(train.sum()),
    )
    model = calibrated_fit(result.estimator(), rows, search_cfg, seed, n_jobs)
    proba = data.probability(model, X, test)
    test_metrics = evaluate(y[test], proba)

    candidates = {}
    for name, search in result.searches.items():
        fitted = (
            model
            if name == result.best_candidate
            else calibrated_fit(result.estimator(name), rows, search_cfg, seed, n_jobs)
        )
        candidates[name] = {
            "cv_score": float(search.best_score_),
            "test_accuracy": evaluate(y[test], data.probability(fitted, X, test))["accuracy"],
        }
    metrics = {
        "cv": {
            "best_score": result.best_score,
            "best_params": result.best_params,
            "best_candidate": result.best_candidate,
            "searched_rows": result.searched_rows,
            "strategy": search_cfg.strategy,
        },
        "train": evaluate(y[train], data.probability(model, X, train)),
        "test": test_metrics,
        "candidates": candidates,
        "n": {"train": int(train.sum()), "test": int(test.sum())},
    }
    return Tuned(result, model, proba, metrics)


@dataclass(frozen=True)
class Task:
    """What grid-search needs to know about one task (pipeline.gender.task, pipeline.fake.task)."""

    identity: TaskIdentity  # name, classes, registered model (pipeline.project)
    sections: tuple[str, ...]  # params.yaml sections the stage logs to MLflow
    search: Callable[[Config], SearchConfig | None]
    data: Callable[[Config], TaskData]
    extras: Callable[[Config, TaskData, Tuned, np.ndarray], dict]
    served: Callable[[Config, TaskData, Tuned, np.ndarray, dict], Served]
    videos: Callable[[Config, Served], dict]

    @property
    def name(self) -> str:
        return self.identity.name

    @property
    def classes(self) -> tuple[str, str]:
        return self.identity.classes

    @property
    def registered(self) -> str:
        return self.identity.registered


COMMON_SECTIONS = ("seed", "models", "spectrum", "crop", "compute")
