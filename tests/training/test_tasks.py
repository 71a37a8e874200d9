"""pipeline.training.tasks: each task defined once; the search, refit and candidates block on small generated data."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification

from pipeline.config import SearchConfig
from pipeline.fake.task import class_profiles
from pipeline.gender.features import shown_eigenfaces, variance_curve
from pipeline.gender.task import crops_of
from pipeline.stages.grid_search import TASKS
from pipeline.training.tasks import TaskData, tune

from helpers import REPO


def test_every_task_names_its_two_classes_registry_model_and_sections():
    assert TASKS["gender"].classes == ("female", "male") and TASKS["fake"].classes == ("real", "fake")
    assert {task.registered for task in TASKS.values()} == {"genrec-gender", "genrec-fakeface"}
    assert {"features", "gender"} <= set(TASKS["gender"].sections)
    assert "gender" not in TASKS["fake"].sections


def test_each_search_stage_depends_on_its_own_task_settings_only():
    """DVC re-runs grid-search@<task> when a listed setting changes: a sweep of gender's features must not
    re-run the fake search, nor a change of the spectrum the gender search (it reads only spectrum.videos)."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(str(REPO)) as repo:
        params = {
            stage.addressing: {key for dep in stage.deps if isinstance(dep, ParamsDependency) for key in dep.params}
            for stage in repo.index.stages
            if stage.addressing.startswith("grid-search@")
        }
    for task, spec in TASKS.items():
        listed = params[f"grid-search@{task}"]
        assert f"models.{task}" in listed and "models" not in listed
        # Every listed key sits in a section the stage logs to MLflow (datasets: where the videos are), and
        # no worker setting is listed (docs/params.md).
        assert {key.split(".")[0] for key in listed} <= {*spec.sections, "datasets"}, (task, listed)
        assert not {key for key in listed if key.startswith("compute")} - {"compute.batch_size"}, (task, listed)
    assert {"features", "gender", "models.gender"}.isdisjoint(params["grid-search@fake"])
    assert "spectrum" in params["grid-search@fake"]
    assert "spectrum" not in params["grid-search@gender"] and "spectrum.videos" in params["grid-search@gender"]


def test_tune_refits_the_best_candidate_and_scores_every_one():
    X, y = make_classification(n_samples=120, n_features=5, n_informative=3, class_sep=2.0, random_state=0)
    train = np.arange(120) < 90
    search = SearchConfig(
        candidates={
            "svm_linear": {"model": "svm", "grid": {"kernel": ["linear"], "C": [1]}},
            "logistic_regression": {"model": "logistic_regression", "grid": {"C": [0.1, 1]}},
        },
        cv_folds=3,
    )
    data = TaskData(pd.DataFrame(X, columns=list("abcde")), list("abcde"), y, train, ~train, search)
    assert np.array_equal(data.features(), X)
    tuned = tune("test", data, X, seed=0, n_jobs=1)
    metrics = tuned.metrics
    assert set(metrics["candidates"]) == {"svm_linear", "logistic_regression"}
    assert metrics["cv"]["best_candidate"] in metrics["candidates"] and metrics["n"] == {"train": 90, "test": 30}
    assert tuned.proba.shape == (30,) and ((tuned.proba >= 0) & (tuned.proba <= 1)).all()
    assert metrics["test"]["accuracy"] > 0.7
    again = tune("test", data, X, seed=0, n_jobs=1)
    assert again.metrics == metrics  # seeded


def test_class_profiles_and_crops_of():
    X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    profiles = class_profiles(X, np.array([0, 0, 1]), ["real", "fake"])
    assert profiles == {
        "real": {"mean": [2.0, 3.0], "std": [1.0, 1.0]},
        "fake": {"mean": [5.0, 6.0], "std": [0.0, 0.0]},
    }
    assert class_profiles(X, np.array([1, 1, 1]), ["real", "fake"]).keys() == {"fake"}
    crops = np.arange(4 * 3 * 3, dtype=np.uint8).reshape(4, 3, 3)
    flat = crops_of(pd.DataFrame({"crop_index": [2, 0]}), crops)
    assert flat.shape == (2, 9) and flat[0].tolist() == crops[2].ravel().tolist()


def test_the_eigenface_curve_and_the_shown_eigenfaces():
    from sklearn.decomposition import PCA
    from sklearn.pipeline import FeatureUnion
    from sklearn.preprocessing import FunctionTransformer

    rng = np.random.default_rng(0)
    pca = PCA(4).fit(rng.normal(size=(30, 16)))
    curve = variance_curve(pca)
    assert curve["components"].tolist() == [1, 2, 3, 4]
    assert curve["explained_variance"].is_monotonic_increasing and curve["explained_variance"].iloc[-1] <= 1
    shown = shown_eigenfaces(FeatureUnion([("hog", FunctionTransformer())]), pca, 3)  # no eigen block: the sample's
    assert shown.shape == (3, 4, 4)
