"""Model search: the candidates' grids and CV folds, the search (grid, halving or racing), the calibrated refit."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    GridSearchCV,
    PredefinedSplit,
    StratifiedGroupKFold,
    StratifiedKFold,
    cross_val_predict,
    train_test_split,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from pipeline.config import MODEL_FAMILIES, SearchConfig
from pipeline.errors import ModelError


def classifier(model: str, seed: int):
    """A fresh classifier of one of the configured model families (pipeline.config.MODEL_FAMILIES)."""
    builders = {
        "svm": lambda: SVC(random_state=seed),
        "logistic_regression": lambda: LogisticRegression(max_iter=5000, random_state=seed),
    }
    if model not in builders:
        raise ModelError(f"unknown model {model!r}: use one of {', '.join(MODEL_FAMILIES)}")
    return builders[model]()


def param_grid(grid: dict | list[dict]) -> list[dict[str, list]]:
    """A configured grid (one mapping, or a list of them) as scikit-learn's list of grids."""
    grids = grid if isinstance(grid, list) else [grid]
    if not grids or not all(isinstance(g, dict) and g for g in grids):
        raise ModelError(f"a candidate's grid must be a mapping or a list of mappings of parameter lists, got {grid!r}")
    return [{f"clf__{name}": list(values) for name, values in g.items()} for g in grids]


def cv_folds(y: np.ndarray, search: SearchConfig, seed: int, groups: np.ndarray | None = None):
    """Stratified, seeded folds. With groups (the frames of one video clip share a group), no group lies on
    both sides of a fold, so a clip's near-identical frames never score each other."""
    if groups is None:
        return StratifiedKFold(n_splits=search.cv_folds, shuffle=True, random_state=seed)
    grouped = StratifiedGroupKFold(n_splits=search.cv_folds, shuffle=True, random_state=seed)
    test_fold = np.empty(len(y), dtype=int)
    for fold, (_, test) in enumerate(grouped.split(np.zeros(len(y)), y, groups)):
        test_fold[test] = fold
    return PredefinedSplit(test_fold)


def candidate_search(candidate: dict, search: SearchConfig, seed: int, n_jobs: int, folds):
    """Grid (or successive-halving) search of one model family on `folds` (cv_folds)."""
    scale = StandardScaler() if search.standardize else "passthrough"
    pipeline = Pipeline([("scale", scale), ("clf", classifier(candidate["model"], seed))])
    grid = param_grid(candidate["grid"])
    if search.strategy == "halving":
        from sklearn.experimental import enable_halving_search_cv  # noqa: F401
        from sklearn.model_selection import HalvingGridSearchCV

        return HalvingGridSearchCV(
            pipeline,
            grid,
            cv=folds,
            scoring="accuracy",
            n_jobs=n_jobs,
            refit=False,
            factor=search.halving_factor,
            random_state=seed,
        )
    if search.strategy == "race":
        from pipeline.training.racing import RacingSearch

        return RacingSearch(pipeline, grid, cv=folds, n_jobs=n_jobs, z=search.race_z)
    return GridSearchCV(pipeline, grid, cv=folds, scoring="accuracy", n_jobs=n_jobs, refit=False)


def search_rows(y: np.ndarray, search: SearchConfig, seed: int) -> np.ndarray:
    """Indices the search sees: all rows, or a stratified seeded sample of `search_sample`."""
    if not search.search_sample or search.search_sample >= len(y):
        return np.arange(len(y))
    sample, _ = train_test_split(np.arange(len(y)), train_size=search.search_sample, stratify=y, random_state=seed)
    return np.sort(sample)


@dataclass
class SearchResult:
    best_candidate: str
    best_params: dict[str, Any]
    best_score: float
    searches: dict[str, GridSearchCV]
    searched_rows: int

    def estimator(self, candidate: str | None = None) -> Pipeline:
        """An unfitted pipeline with a candidate's best parameters (default: the winner's)."""
        search = self.searches[candidate or self.best_candidate]
        return clone(search.estimator).set_params(**search.best_params_)

    def cv_table(self) -> pd.DataFrame:
        frames = []
        for name, search in self.searches.items():
            results = pd.DataFrame(search.cv_results_)
            # No fit times: they differ run to run, and the table must rebuild to the same bytes.
            keep = ["params", "mean_test_score", "std_test_score", "rank_test_score"]
            if "iter" in results:  # successive halving: one row per candidate and round
                keep = ["iter", "n_resources", *keep]
            if "folds_run" in results:  # a race: the folds each candidate ran before it was dropped
                keep = [*keep, "folds_run"]
            frames.append(results[keep].assign(candidate=name, params=results["params"].map(plain_params)))
        columns = ["candidate", *dict.fromkeys(column for frame in frames for column in frame if column != "candidate")]
        return pd.concat(frames, ignore_index=True).reindex(columns=columns)


def plain_params(params: dict[str, Any]) -> str:
    return json.dumps({key.removeprefix("clf__"): value for key, value in params.items()}, sort_keys=True)


def weight_params(sample_weight: np.ndarray | None, rows=slice(None)) -> dict:
    """The fit parameters that hand sample weights to the pipeline's classifier (none without weights)."""
    return {} if sample_weight is None else {"clf__sample_weight": np.asarray(sample_weight)[rows]}


@dataclass(frozen=True)
class TrainingRows:
    """What a search or a refit learns from: features, labels, and optionally a weight per row and the CV
    groups (rows of one group stay on one side of every fold, cv_folds)."""

    X: np.ndarray
    y: np.ndarray
    weight: np.ndarray | None = None
    groups: np.ndarray | None = None


def search_candidates(train: TrainingRows, search: SearchConfig, seed: int, n_jobs: int = -1) -> SearchResult:
    """Every configured candidate's search on the same rows and folds; the best CV accuracy wins."""
    X, y, sample_weight, groups = train.X, train.y, train.weight, train.groups
    if groups is not None and search.strategy == "halving":
        raise ModelError("strategy halving subsamples rows and so splits grouped rows: use grid or race")
    rows = search_rows(y, search, seed)
    folds = cv_folds(y[rows], search, seed, None if groups is None else np.asarray(groups)[rows])
    searches = {
        name: candidate_search(candidate, search, seed, n_jobs, folds).fit(
            X[rows], y[rows], **weight_params(sample_weight, rows)
        )
        for name, candidate in search.candidates.items()
    }
    best_candidate = max(searches, key=lambda name: searches[name].best_score_)  # first wins ties
    best = searches[best_candidate]
    params = {key.removeprefix("clf__"): value for key, value in best.best_params_.items()}
    return SearchResult(best_candidate, params, float(best.best_score_), searches, int(len(rows)))


def calibrated_fit(estimator, train: TrainingRows, search: SearchConfig, seed: int, n_jobs: int = -1):
    """Refit on the whole training split with calibrated probabilities.

    ensemble=False: the calibration map is learnt on cross-validated scores (folds by cv_folds, so a group
    never scores itself) and applied to one model fitted on all rows, so predictions cost one model, not
    cv_folds.
    """
    X, y, sample_weight = train.X, train.y, train.weight
    folds = cv_folds(y, search, seed, train.groups)
    calibrated = CalibratedClassifierCV(estimator, method=search.calibration, cv=folds, ensemble=False, n_jobs=n_jobs)
    with warnings.catch_warnings():
        # The weights reach the classifier as clf__sample_weight; sklearn warns only because a Pipeline's
        # fit() does not name sample_weight itself.
        warnings.filterwarnings("ignore", message="Since Pipeline does not appear to accept sample_weight")
        return calibrated.fit(X, y, sample_weight=sample_weight, **weight_params(sample_weight))


def out_of_fold_decision(estimator, train: TrainingRows, search: SearchConfig, seed: int, n_jobs: int = -1):
    """Each training row's decision value from the estimator fitted on the other folds (cv_folds: a group never
    scores itself): what a threshold can be chosen on without any row scoring itself."""
    folds = cv_folds(train.y, search, seed, train.groups)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Since Pipeline does not appear to accept sample_weight")
        return cross_val_predict(
            estimator,
            train.X,
            train.y,
            cv=folds,
            method="decision_function",
            n_jobs=n_jobs,
            params=weight_params(train.weight),
        )


def out_of_fold_probability(model, estimator, train: TrainingRows, search: SearchConfig, seed: int, n_jobs: int = -1):
    """p(class 1) of each training row as calibrated_fit's model would give it had it never seen the row: the
    out-of-fold decision values (the very ones its calibration was learnt on) through its calibration map."""
    decision = out_of_fold_decision(estimator, train, search, seed, n_jobs)
    (calibrated,) = model.calibrated_classifiers_
    return calibrated.calibrators[0].predict(decision)


def repeated_holdout(estimator, X: np.ndarray, y: np.ndarray, repeats: int, seed: int) -> dict[str, float]:
    """Durall et al.'s scoring: test accuracy over `repeats` seeded random 80/20 splits, mean and std."""
    scores = []
    for repeat in range(repeats):
        train, test = train_test_split(np.arange(len(y)), test_size=0.2, random_state=seed + repeat)
        scores.append(float(clone(estimator).fit(X[train], y[train]).score(X[test], y[test])))
    return {
        "repeats": repeats,
        "accuracy_mean": float(np.mean(scores)),
        "accuracy_std": float(np.std(scores)),
        "accuracies": [round(score, 6) for score in scores],
    }
