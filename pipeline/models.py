"""Model search, calibrated refit, held-out evaluation, saving and loading."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, roc_auc_score, roc_curve
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from pipeline.config import SearchConfig
from pipeline.errors import GenrecError
from pipeline.io import write_json, write_with


class ModelError(GenrecError):
    """A model that cannot be searched, loaded or trusted."""


def classifier(model: str, seed: int):
    if model == "svm":
        return SVC(random_state=seed)
    if model == "logistic_regression":
        return LogisticRegression(max_iter=5000, random_state=seed)
    raise ModelError(f"unknown model {model!r}: use svm or logistic_regression")


def candidate_search(candidate: dict, search: SearchConfig, seed: int, n_jobs: int) -> GridSearchCV:
    """Grid search of one model family on standardized features, stratified and seeded."""
    pipeline = Pipeline([("scale", StandardScaler()), ("clf", classifier(candidate["model"], seed))])
    grid = {f"clf__{name}": list(values) for name, values in candidate["grid"].items()}
    folds = StratifiedKFold(n_splits=search.cv_folds, shuffle=True, random_state=seed)
    return GridSearchCV(pipeline, grid, cv=folds, scoring="accuracy", n_jobs=n_jobs, refit=False)


@dataclass
class SearchResult:
    best_candidate: str
    best_params: dict[str, Any]
    best_score: float
    searches: dict[str, GridSearchCV]

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
            frames.append(results[keep].assign(candidate=name, params=results["params"].map(plain_params)))
        return pd.concat(frames, ignore_index=True)[["candidate", *keep]]


def plain_params(params: dict[str, Any]) -> str:
    return json.dumps({key.removeprefix("clf__"): value for key, value in params.items()}, sort_keys=True)


def search_candidates(X: np.ndarray, y: np.ndarray, search: SearchConfig, seed: int, n_jobs: int = -1) -> SearchResult:
    """Every configured candidate's grid search on the same folds; the best CV accuracy wins."""
    searches = {
        name: candidate_search(candidate, search, seed, n_jobs).fit(X, y)
        for name, candidate in search.candidates.items()
    }
    best_candidate = max(searches, key=lambda name: searches[name].best_score_)  # first wins ties
    best = searches[best_candidate]
    params = {key.removeprefix("clf__"): value for key, value in best.best_params_.items()}
    return SearchResult(best_candidate, params, float(best.best_score_), searches)


def calibrated_fit(estimator, X: np.ndarray, y: np.ndarray, search: SearchConfig, seed: int) -> CalibratedClassifierCV:
    """Refit on the whole training split with calibrated probabilities."""
    folds = StratifiedKFold(n_splits=search.cv_folds, shuffle=True, random_state=seed)
    return CalibratedClassifierCV(estimator, method=search.calibration, cv=folds).fit(X, y)


def fake_probability(model, X: np.ndarray) -> np.ndarray:
    """The model's probability of class 1 for every row."""
    return model.predict_proba(X)[:, 1]


def evaluate(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Accuracy (at 0.5), balanced accuracy and ROC AUC of class-1 probabilities."""
    predicted = (proba >= 0.5).astype(int)
    metrics = {
        "accuracy": float(accuracy_score(y, predicted)),
        "balanced_accuracy": float(balanced_accuracy_score(y, predicted)),
    }
    if len(np.unique(y)) == 2:
        metrics["roc_auc"] = float(roc_auc_score(y, proba))
    return metrics


def roc_table(y: np.ndarray, proba: np.ndarray) -> pd.DataFrame:
    fpr, tpr, thresholds = roc_curve(y, proba)
    return pd.DataFrame({"fpr": fpr.round(6), "tpr": tpr.round(6), "threshold": np.clip(thresholds, 0, 1).round(6)})


def confusion_table(y: np.ndarray, predicted: np.ndarray, labels: list[str]) -> pd.DataFrame:
    """One row per test item with its actual and predicted class (DVC's confusion template)."""
    return pd.DataFrame({"actual": np.asarray(labels)[y], "predicted": np.asarray(labels)[predicted]})


def confusion_counts(y: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    return confusion_matrix(y, predicted, labels=[0, 1])


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_model(model, path: Path, info: dict[str, Any]) -> dict[str, Any]:
    """joblib file plus <name>.json recording its sha256, so loaders can verify it."""
    write_with(path, lambda tmp: joblib.dump(model, tmp))
    record = {**info, "file": path.name, "sha256": sha256_of(path)}
    write_json(path.with_suffix(".json"), record)
    return record
