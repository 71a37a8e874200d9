"""grid-search@fake: real vs GAN-generated from extract-spectrum's spectra.

Each source is weighted so that the sources of a class share it equally; a labelled video's frames keep to
one CV fold (its scene). What a person is told travels with the model: the held-out figures and the training
classes' spectra.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from pipeline.config import Config
from pipeline.data.datasets import read_videos
from pipeline.fake.detector import FakeDetector
from pipeline.fake.spectrum import detector_columns, profile_of
from pipeline.fake.training_set import trained_scenes
from pipeline.fake.videos import score_fake_videos
from pipeline.project import FAKE, RAW, SPECTRUM, require
from pipeline.training.leave_one_out import fake_without, fake_without_clip
from pipeline.training.scoring import fake_by_source, source_weights
from pipeline.training.search import repeated_holdout
from pipeline.training.tasks import COMMON_SECTIONS, Served, Task, TaskData, Tuned


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


def served_fake(cfg: Config, data: TaskData, tuned: Tuned, X: np.ndarray, info: dict) -> Served:
    # What a person is told travels with the model: the held-out figures and the training classes' spectra.
    info = info | {
        "input": "spectrum",
        "features": data.columns,
        "spectrum": cfg.section_dump("spectrum"),
        "validation": {"heldout": tuned.metrics["heldout"], "roc_auc": tuned.metrics["test"].get("roc_auc")},
        "profiles": class_profiles(profile_of(X[data.train], cfg.spectrum), data.y[data.train], list(FAKE.classes)),
    }
    return Served(tuned.model, info, X[data.train][:20])


def score_labelled_videos(cfg: Config, served: Served) -> dict:
    """The labelled videos' fake scores by the served model (spectrum.videos)."""
    videos = cfg.spectrum.videos
    detector = FakeDetector(served.model, cfg.spectrum)
    labelled = read_videos(cfg.datasets[videos.dataset], RAW)
    scenes = trained_scenes(labelled, cfg)
    return score_fake_videos(labelled, detector, cfg.crop, videos.every_s, videos.max_frames, scenes)


TASK = Task(
    FAKE,
    COMMON_SECTIONS,
    lambda cfg: cfg.fake_search,
    fake_task,
    fake_extras,
    served_fake,
    score_labelled_videos,
)
