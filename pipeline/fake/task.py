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
from pipeline.fake.training_set import ROBUSTNESS, trained_scenes
from pipeline.fake.verdict import VerdictRules, high_frequency
from pipeline.fake.videos import score_fake_videos
from pipeline.project import FAKE, RAW, SPECTRUM, require
from pipeline.training.leave_one_out import Transfer, fake_without, fake_without_clip
from pipeline.training.scoring import fake_by_source, source_weights, threshold_for
from pipeline.training.search import TrainingRows, out_of_fold_probability, repeated_holdout
from pipeline.training.tasks import COMMON_SECTIONS, Served, Task, TaskData, Tuned


def fake_task(cfg: Config) -> TaskData:
    """The spectra with an input (a face found, a readable image), the robustness rows apart; sources weighted
    equally within a class."""
    table = pd.read_parquet(require(SPECTRUM), filters=[("split", "in", ["train", "test"])])
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


def verdict_rules(cfg: Config, data: TaskData, tuned: Tuned, X: np.ndarray) -> tuple[VerdictRules, dict]:
    """The served verdict's rules from the training rows' cross-validation alone (spectrum.verdict): the
    threshold from their out-of-fold p(fake), the input range from their spectra; and the training CV's
    per-source figures at that threshold."""
    train = data.train
    rows = TrainingRows(X[train], data.y[train], data.weight, data.groups)
    estimator = tuned.result.estimator()
    oof = out_of_fold_probability(tuned.model, estimator, rows, data.search, cfg.seed, cfg.compute.n_jobs)
    sources = data.table.loc[train, "dataset"].to_numpy()
    spectrum = cfg.spectrum
    threshold = threshold_for(oof, sources, data.y[train] == 0, spectrum.verdict.false_alarm_rate)
    profiles = profile_of(X[train], spectrum)
    quantile = spectrum.verdict.range_quantile
    rules = VerdictRules(
        threshold=round(float(threshold), 9),
        false_alarm_rate=spectrum.verdict.false_alarm_rate,
        generators=tuple(sorted(set(sources[data.y[train] == 1]))),
        min_high_frequency=round(float(np.quantile(high_frequency(profiles), quantile)), 9) if quantile else None,
        side=spectrum.side if spectrum.input == "patch" else None,
    )
    cv = fake_by_source(data.table[train], oof, rules.threshold, rules.outside_range(profiles))
    return rules, cv


def robustness_figures(cfg: Config, model, rules: VerdictRules, columns: list[str]) -> dict:
    """Per named step and held-out source: the share called fake by the served verdict, rows without an input
    or outside the validated range counted as cannot tell (spectrum.robustness)."""
    if cfg.spectrum.robustness is None:
        return {}
    table = pd.read_parquet(require(SPECTRUM), filters=[("split", "==", ROBUSTNESS)])
    X = table[columns].to_numpy()
    proba = np.full(len(table), np.nan)
    scored = table["has_input"].to_numpy()
    if scored.any():
        proba[scored] = model.predict_proba(X[scored])[:, 1]
    outside = np.zeros(len(table), dtype=bool)
    outside[scored] = rules.outside_range(profile_of(X[scored], cfg.spectrum))
    figures = {}
    for step, rows in table.groupby("processing", sort=False):
        at = table.index.get_indexer(rows.index)
        figures[str(step)] = fake_by_source(rows, proba[at], rules.threshold, outside[at])
    return figures


def fake_extras(cfg: Config, data: TaskData, tuned: Tuned, X: np.ndarray) -> dict:
    """The verdict's rules (from the training CV), per-source false alarms and detections at them, as they are
    and under each named step, leave-one-source-out, each trained video clip scored by a model fitted without
    it (leave one clip out), and Durall's repeated splits."""
    estimator = tuned.result.estimator()
    rules, cv = verdict_rules(cfg, data, tuned, X)
    outside = rules.outside_range(profile_of(X[data.test], cfg.spectrum))
    extras = {
        "verdict": rules.as_record() | {"cv": cv},
        "heldout": fake_by_source(data.table[data.test], tuned.proba, rules.threshold, outside),
        "robustness": robustness_figures(cfg, tuned.model, rules, data.columns),
    }
    table, y, train, test = data.table, data.y, data.train, data.test
    videos = cfg.spectrum.videos.dataset if cfg.spectrum.video_frames else None
    scenes = frame_scenes(table, videos) if videos else []
    transfer = Transfer(cfg.spectrum.verdict.false_alarm_rate, data.search, cfg.seed)
    # The refits are independent single-core fits: run them side by side.
    left_out = cfg.spectrum.leave_one_out
    refits = [delayed(fake_without)(s, table, X, y, train, test, estimator, True, transfer) for s in left_out]
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
    verdict = {key: value for key, value in tuned.metrics["verdict"].items() if key != "cv"}
    info = info | {
        "input": "spectrum",
        "features": data.columns,
        "spectrum": cfg.section_dump("spectrum"),
        "verdict": verdict,
        "validation": {
            "heldout": tuned.metrics["heldout"],
            "roc_auc": tuned.metrics["test"].get("roc_auc"),
            "robustness": tuned.metrics.get("robustness", {}),
        },
        "profiles": class_profiles(profile_of(X[data.train], cfg.spectrum), data.y[data.train], list(FAKE.classes)),
    }
    return Served(tuned.model, info, X[data.train][:20])


def score_labelled_videos(cfg: Config, served: Served) -> dict:
    """The labelled videos' fake scores by the served model (spectrum.videos)."""
    videos = cfg.spectrum.videos
    detector = FakeDetector(served.model, cfg.spectrum, VerdictRules.from_record(served.info, cfg.spectrum.side))
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
