"""pipeline.training.search: search, calibrated refit, evaluation and verified saving, on small generated data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.model_selection import StratifiedKFold

from pipeline.config import SearchConfig
from pipeline.errors import ModelError
from pipeline.training.metrics import evaluate, positive_probability
from pipeline.training.search import (
    TrainingRows,
    calibrated_fit,
    classifier,
    param_grid,
    search_candidates,
    search_rows,
)

CANDIDATES = {
    "svm_linear": {"model": "svm", "grid": {"kernel": ["linear"], "C": [0.1, 1]}},
    "logistic_regression": {"model": "logistic_regression", "grid": {"C": [0.01, 1]}},
}


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=160, n_features=6, n_informative=4, random_state=0)
    return X, y


def search_config(**changes) -> SearchConfig:
    return SearchConfig(candidates=CANDIDATES, cv_folds=3, **changes)


def test_param_grid_takes_one_mapping_or_a_list_and_prefixes_the_classifier():
    assert param_grid({"C": [1, 10]}) == [{"clf__C": [1, 10]}]
    assert param_grid([{"kernel": ["rbf"]}, {"kernel": ["poly"], "coef0": [0, 1]}]) == [
        {"clf__kernel": ["rbf"]},
        {"clf__kernel": ["poly"], "clf__coef0": [0, 1]},
    ]
    for bad in ([], {}, [{}], "C"):
        with pytest.raises(ModelError, match="grid"):
            param_grid(bad)


def test_an_unknown_model_family_is_refused():
    assert type(classifier("svm", 0)).__name__ == "SVC"
    with pytest.raises(ModelError, match="use one of svm, logistic_regression"):
        classifier("xgboost", 0)


def test_search_rows_take_a_stratified_seeded_sample(data):
    _, y = data
    assert len(search_rows(y, search_config(), seed=0)) == len(y)
    rows = search_rows(y, search_config(search_sample=60), seed=0)
    assert len(rows) == 60 and (np.diff(rows) > 0).all()
    assert abs(y[rows].mean() - y.mean()) < 0.05
    assert (rows == search_rows(y, search_config(search_sample=60), seed=0)).all()


def test_search_candidates_picks_the_best_cv_score_and_reports_every_candidate(data):
    X, y = data
    result = search_candidates(TrainingRows(X, y), search_config(), seed=0, n_jobs=1)
    assert set(result.searches) == set(CANDIDATES)
    assert result.best_score == max(s.best_score_ for s in result.searches.values())
    assert result.searched_rows == len(y)
    table = result.cv_table()
    assert list(table.columns[:2]) == ["candidate", "params"] and len(table) == 4
    assert json.loads(table.loc[0, "params"])  # plain parameter names, no clf__ prefix
    assert "clf__" not in table.loc[0, "params"]
    estimator = result.estimator()
    assert not hasattr(estimator, "classes_")  # unfitted, with the winner's parameters


def test_halving_search_runs_in_rounds(data):
    X, y = data
    halving = search_config(strategy="halving", halving_factor=2)
    result = search_candidates(TrainingRows(X, y), halving, seed=0, n_jobs=1)
    assert {"iter", "n_resources"} <= set(result.cv_table().columns)


def test_calibrated_fit_gives_probabilities_and_evaluate_scores_them(data):
    X, y = data
    result = search_candidates(TrainingRows(X[:120], y[:120]), search_config(), seed=0, n_jobs=1)
    model = calibrated_fit(result.estimator(), TrainingRows(X[:120], y[:120]), search_config(), seed=0, n_jobs=1)
    proba = positive_probability(model, X[120:])
    assert proba.shape == (40,) and ((proba >= 0) & (proba <= 1)).all()
    metrics = evaluate(y[120:], proba)
    assert set(metrics) == {"accuracy", "balanced_accuracy", "roc_auc"} and metrics["accuracy"] > 0.7
    assert "roc_auc" not in evaluate(np.ones(5, dtype=int), np.full(5, 0.9))  # one class: no AUC


def test_grouped_folds_keep_each_group_on_one_side_and_stay_stratified():
    from pipeline.training.search import cv_folds

    y = np.array([0, 1] * 50)
    groups = np.array([f"clip{i // 10}" if i < 40 else f"image{i}" for i in range(100)])
    five = SearchConfig(candidates=CANDIDATES, cv_folds=5)
    folds = cv_folds(y, five, seed=0, groups=groups)
    seen = 0
    for train, test in folds.split(np.zeros(len(y)), y):
        assert not set(groups[train]) & set(groups[test])  # no clip scores itself
        assert 0.3 < y[test].mean() < 0.7
        seen += len(test)
    assert seen == len(y) and folds.get_n_splits() == 5
    # Without groups: the plain stratified folds, as before.
    plain = cv_folds(y, five, seed=0)
    assert [list(t) for _, t in plain.split(np.zeros(len(y)), y)] == [
        list(t) for _, t in StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(y)), y)
    ]


def test_the_search_and_the_calibration_use_the_grouped_folds(data):
    X, y = data
    groups = np.array([f"g{i // 4}" for i in range(len(y))])
    result = search_candidates(TrainingRows(X, y, groups=groups), search_config(), seed=0, n_jobs=1)
    search = next(iter(result.searches.values()))
    for train, test in search.cv.split(X, y):
        assert not set(groups[train]) & set(groups[test])
    model = calibrated_fit(result.estimator(), TrainingRows(X, y, groups=groups), search_config(), seed=0, n_jobs=1)
    assert 0 <= model.predict_proba(X[:3]).min() <= 1
    with pytest.raises(ModelError, match="halving subsamples rows"):
        search_candidates(
            TrainingRows(X, y, groups=groups), search_config(strategy="halving", halving_factor=2), seed=0, n_jobs=1
        )
