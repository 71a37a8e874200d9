"""pipeline.training.racing: a race finds the grid search's winner and drops hopeless candidates early."""

from __future__ import annotations

from sklearn.datasets import make_classification

from pipeline.config import SearchConfig
from pipeline.training.search import (
    TrainingRows,
    search_candidates,
)


def test_a_race_finds_the_grid_searchs_winner_and_score_and_drops_hopeless_candidates():
    X, y = make_classification(n_samples=600, n_features=10, n_informative=5, random_state=1)
    svm = {
        "svm": {
            "model": "svm",
            "grid": [
                {"kernel": ["rbf"], "C": [0.001, 0.1, 1, 10], "gamma": [0.001, 0.1]},
                {"kernel": ["poly"], "C": [0.001, 1], "gamma": [0.1], "coef0": [0, 1]},
            ],
        }
    }
    rows = TrainingRows(X, y)
    grid = search_candidates(rows, SearchConfig(candidates=svm, cv_folds=5), seed=0, n_jobs=1)
    race = search_candidates(rows, SearchConfig(candidates=svm, cv_folds=5, strategy="race"), seed=0, n_jobs=1)
    assert race.best_params == grid.best_params and race.best_score == grid.best_score
    table = race.cv_table()
    assert table["folds_run"].min() == 1 and table["folds_run"].max() == 5  # C=0.001 stops after fold 1
    assert table.loc[table["rank_test_score"] == 1, "folds_run"].item() == 5


def test_still_in_race_keeps_the_candidates_within_z_standard_errors_of_the_leader():
    from pipeline.training.racing import first_fold_order, still_in_race

    # leader 0.90 over 900 rows: one standard error is 1 point, so z=2 keeps 0.88 and drops 0.879.
    assert still_in_race({0: 0.90, 1: 0.88, 2: 0.879}, rows_seen=900, z=2.0) == [0, 1]
    candidates = [
        {"clf__kernel": "rbf", "clf__C": 1},
        {"clf__kernel": "poly", "clf__C": 1},
        {"clf__kernel": "rbf", "clf__C": 100, "clf__gamma": "scale"},
    ]
    assert first_fold_order(candidates) == [1, 2, 0]
