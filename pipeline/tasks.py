"""The two tasks grid-search tunes, each defined once: its data, classes, held-out figures and served model.

- `gender` (female vs male): extract-eigen's face features; the served model
  starts from the face crop (the fitted feature chain, then the classifier).
- `fake` (real vs GAN-generated): extract-spectrum's spectra, each source
  weighted so that the sources of a class share it equally.

`TASKS` maps a task's name to a `Task`; grid-search reads it and never asks
which task it runs. The model's record (`info`) carries its classes and input,
so every loader (pipeline.model_store) takes them from the model itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.pipeline import Pipeline

from pipeline.config import Config, SearchConfig
from pipeline.fake_video import FakeDetector
from pipeline.features.faces import transform_all
from pipeline.features.spectrum import detector_columns, profile_of
from pipeline.gender import GenderModel, MirrorAveraged
from pipeline.gender_data import detection_rates
from pipeline.labelled_videos import fake_videos, gender_videos, read_videos
from pipeline.leave_one_out import fake_without, fake_without_clip, gender_without
from pipeline.models import (
    SearchResult,
    calibrated_fit,
    evaluate,
    fake_probability,
    load_verified,
    repeated_holdout,
    search_candidates,
)
from pipeline.outputs import CROPS, EIGEN_FEATURES, EIGEN_TRANSFORMER, FACES, RAW, SPECTRUM, require
from pipeline.scoring import accuracy_by, fake_by_source, gap, gender_by_source, source_weights
from pipeline.spectrum_sets import trained_scenes

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
        served model answers (pipeline.gender.MirrorAveraged)."""
        proba = fake_probability(model, X[rows])
        if self.mirror is not None:
            proba = (proba + fake_probability(model, self.mirror[rows])) / 2
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


def fake_task(cfg: Config) -> TaskData:
    """The spectra with an input (a face found, a readable image); sources weighted equally within a class."""
    table = pd.read_parquet(require(SPECTRUM))
    table = table[table["has_input"]].reset_index(drop=True)
    columns = detector_columns(cfg.spectrum)
    y = (table["real_fake"] == "fake").astype(int).to_numpy()
    train, test = (table["split"] == "train").to_numpy(), (table["split"] == "test").to_numpy()
    weight = source_weights(table.loc[train, "dataset"], y[train])
    return TaskData(table, columns, y, train, test, cfg.fake_search, weight, frame_groups(table[train], cfg))


def frame_groups(rows: pd.DataFrame, cfg: Config) -> np.ndarray | None:
    """CV groups for the fake task's training rows: a labelled video's frames share their scene's group, so its
    near-identical frames never score each other; every image is its own group. None without video frames."""
    if not cfg.spectrum.video_frames:
        return None
    frames = (rows["dataset"] == cfg.spectrum.videos.dataset).to_numpy()
    return np.where(frames, "scene:" + rows["group"].astype(str), "image:" + rows["path"].astype(str))


def gender_task(cfg: Config) -> TaskData:
    table = pd.read_parquet(require(EIGEN_FEATURES))
    transformer, record = load_verified(require(EIGEN_TRANSFORMER))
    columns = record["features"]
    y = (table["gender"] == TASKS["gender"].classes[1]).astype(int).to_numpy()
    role = table["role"]
    mirror = None
    if cfg.gender.mirror_average:
        crops = np.load(require(CROPS), mmap_mode="r")
        mirror = transform_all(transformer, crops, table["crop_index"].to_numpy(), cfg.compute.batch_size, mirror=True)
    train, test = (role == "train").to_numpy(), (role == "test").to_numpy()
    return TaskData(table, columns, y, train, test, cfg.gender_search, mirror=mirror)


def tune(task: str, data: TaskData, X: np.ndarray, seed: int, n_jobs: int) -> Tuned:
    """Search every candidate, refit the best with calibrated probabilities, score every candidate's refit."""
    search_cfg, y, train, test = data.search, data.y, data.train, data.test
    result = search_candidates(X[train], y[train], search_cfg, seed, n_jobs, data.weight, data.groups)
    log.info(
        "%s: CV %.4f with %s %s; refitting on %d rows",
        task,
        result.best_score,
        result.best_candidate,
        result.best_params,
        int(train.sum()),
    )
    model = calibrated_fit(result.estimator(), X[train], y[train], search_cfg, seed, n_jobs, data.weight, data.groups)
    proba = data.probability(model, X, test)
    test_metrics = evaluate(y[test], proba)

    candidates = {}
    for name, search in result.searches.items():
        fitted = (
            model
            if name == result.best_candidate
            else calibrated_fit(
                result.estimator(name), X[train], y[train], search_cfg, seed, n_jobs, data.weight, data.groups
            )
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


def gender_extras(cfg: Config, data: TaskData, tuned: Tuned, X: np.ndarray) -> dict:
    """Per-source held-out figures with detection rates, the ethnic gaps, leave-one-source-out accuracies."""
    model, estimator = tuned.model, tuned.result.estimator()
    test = data.table[data.test]
    predicted = (tuned.proba >= 0.5).astype(int)
    detection = detection_rates(pd.read_parquet(require(FACES)), cfg.gender)
    by_ethnicity = accuracy_by(test, "ethnicity", data.y[data.test], predicted)
    extras = {
        "test": {
            "accuracy_by_group": by_ethnicity,
            "accuracy_gap": gap(by_ethnicity),
            "accuracy_by_gender": accuracy_by(test, "gender", data.y[data.test], predicted),
        },
        "heldout": gender_by_source(test, data.y[data.test], predicted, detection),
        "cross_dataset": {},
        "leave_one_out": {},
    }
    for dataset in sorted(data.table.loc[data.table["role"] == "cross", "dataset"].unique()):
        rows = ((data.table["role"] == "cross") & (data.table["dataset"] == dataset)).to_numpy()
        extras["cross_dataset"][str(dataset)] = {
            **evaluate(data.y[rows], data.probability(model, X, rows)),
            "n": int(rows.sum()),
            **detection.get(str(dataset), {}),
        }
    crops = np.load(require(CROPS), mmap_mode="r")
    if cfg.gender.leave_one_out:
        log.info("leave-one-out: refitting without %s", ", ".join(cfg.gender.leave_one_out))
    # The refits are independent single-core fits: run them side by side.
    refits = [
        delayed(gender_without)(
            source,
            data.table,
            crops,
            cfg.features,
            estimator,
            cfg.seed,
            cfg.compute.batch_size,
            cfg.gender.mirror_average,
        )
        for source in cfg.gender.leave_one_out
    ]
    extras["leave_one_out"] = dict(
        zip(cfg.gender.leave_one_out, Parallel(n_jobs=cfg.compute.n_jobs)(refits), strict=True)
    )
    return extras


def fake_extras(cfg: Config, data: TaskData, tuned: Tuned, X: np.ndarray) -> dict:
    """Per-source false alarms and detections, leave-one-source-out, each trained video clip scored by a model
    fitted without it (leave one clip out), and Durall's repeated splits."""
    estimator = tuned.result.estimator()
    extras = {"heldout": fake_by_source(data.table[data.test], tuned.proba)}
    table, y, train, test = data.table, data.y, data.train, data.test
    videos = cfg.spectrum.videos.dataset if cfg.spectrum.video_frames else None
    scenes = frame_scenes(table, videos) if videos else []
    # The refits are independent single-core fits: run them side by side.
    refits = [delayed(fake_without)(s, table, X, y, train, test, estimator, True) for s in cfg.spectrum.leave_one_out]
    refits += [delayed(fake_without_clip)(videos, s, table, X, y, train, estimator, True) for s in scenes]
    figures = Parallel(n_jobs=cfg.compute.n_jobs)(refits)
    by_source, by_scene = figures[: len(cfg.spectrum.leave_one_out)], figures[len(cfg.spectrum.leave_one_out) :]
    extras["leave_one_out"] = dict(zip(cfg.spectrum.leave_one_out, by_source, strict=True))
    if videos:
        extras["leave_one_clip_out"] = dict(zip(scenes, by_scene, strict=True))
    if data.search.repeated_splits:
        extras["repeated_splits"] = repeated_holdout(estimator, X, data.y, data.search.repeated_splits, cfg.seed)
    return extras


def frame_scenes(table: pd.DataFrame, dataset: str) -> list[str]:
    """The scenes (`group`) of the labelled clips whose frames are training rows, sorted."""
    frames = table[(table["dataset"] == dataset) & (table["split"] == "train")]
    return sorted(frames["group"].unique())


def class_profiles(X: np.ndarray, y: np.ndarray, classes: list[str]) -> dict:
    """Mean and standard deviation of the feature rows of each class (the seed's spectrum picture)."""
    return {
        name: {
            "mean": np.round(X[y == label].mean(axis=0), 5).tolist(),
            "std": np.round(X[y == label].std(axis=0), 5).tolist(),
        }
        for label, name in enumerate(classes)
        if (y == label).any()
    }


def crops_of(rows: pd.DataFrame, crops: np.ndarray) -> np.ndarray:
    """The flattened face crops of these rows (the gender model's input)."""
    return np.asarray(crops[rows["crop_index"].to_numpy()]).reshape(len(rows), -1)


def served_gender(cfg: Config, data: TaskData, tuned: Tuned, X: np.ndarray, info: dict) -> Served:
    # The served model starts from the face crop: the fitted features, then the classifier.
    transformer, record = load_verified(EIGEN_TRANSFORMER)
    served = Pipeline([("features", transformer), ("classifier", tuned.model)])
    if cfg.gender.mirror_average:
        served = MirrorAveraged(served, record["input_size"])
    info = info | {
        "input": "face crop",
        "input_size": record["input_size"],
        "features": record["blocks"],
        "crop": cfg.section_dump("crop"),
    }
    example = crops_of(data.table[data.train].head(20), np.load(require(CROPS), mmap_mode="r"))
    return Served(served, info, example)


def served_fake(cfg: Config, data: TaskData, tuned: Tuned, X: np.ndarray, info: dict) -> Served:
    # What a person is told travels with the model: the held-out figures and the training classes' spectra.
    info = info | {
        "input": "spectrum",
        "features": data.columns,
        "spectrum": cfg.section_dump("spectrum"),
        "validation": {"heldout": tuned.metrics["heldout"], "roc_auc": tuned.metrics["test"].get("roc_auc")},
        "profiles": class_profiles(
            profile_of(X[data.train], cfg.spectrum), data.y[data.train], list(TASKS["fake"].classes)
        ),
    }
    return Served(tuned.model, info, X[data.train][:20])


def videos_of_gender(cfg: Config, served: Served) -> dict:
    """The labelled videos' genders by the served model (spectrum.videos)."""
    videos = cfg.spectrum.videos
    model = GenderModel(served.model, list(TASKS["gender"].classes), cfg.crop)
    return gender_videos(read_videos(cfg.datasets[videos.dataset], RAW), model, videos.every_s, videos.max_frames)


def videos_of_fake(cfg: Config, served: Served) -> dict:
    """The labelled videos' fake scores by the served model (spectrum.videos)."""
    videos = cfg.spectrum.videos
    detector = FakeDetector(served.model, cfg.spectrum)
    labelled = read_videos(cfg.datasets[videos.dataset], RAW)
    scenes = trained_scenes(labelled, cfg)
    return fake_videos(labelled, detector, cfg.crop, videos.every_s, videos.max_frames, scenes)


@dataclass(frozen=True)
class Task:
    """What grid-search needs to know about one task."""

    classes: tuple[str, str]  # class 0, class 1
    registered: str  # MLflow registered model name
    sections: tuple[str, ...]  # params.yaml sections the stage reads
    search: Callable[[Config], SearchConfig | None]
    data: Callable[[Config], TaskData]
    extras: Callable[[Config, TaskData, Tuned, np.ndarray], dict]
    served: Callable[[Config, TaskData, Tuned, np.ndarray, dict], Served]
    videos: Callable[[Config, Served], dict]


COMMON_SECTIONS = ("seed", "models", "spectrum", "crop", "compute")
TASKS: dict[str, Task] = {
    "fake": Task(
        ("real", "fake"),
        "genrec-fakeface",
        COMMON_SECTIONS,
        lambda cfg: cfg.fake_search,
        fake_task,
        fake_extras,
        served_fake,
        videos_of_fake,
    ),
    "gender": Task(
        ("female", "male"),
        "genrec-gender",
        (*COMMON_SECTIONS, "features", "gender"),
        lambda cfg: cfg.gender_search,
        gender_task,
        gender_extras,
        served_gender,
        videos_of_gender,
    ),
}
