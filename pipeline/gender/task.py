"""grid-search@gender: female vs male from extract-eigen's face features.

The served model starts from the face crop: the fitted feature chain, then the classifier, and with
gender.mirror_average the mean of the answers for the face and its mirror image.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.pipeline import Pipeline

from pipeline.config import Config
from pipeline.data.datasets import read_videos
from pipeline.gender.features import transform_all
from pipeline.gender.leave_one_out import gender_without
from pipeline.gender.model import GenderModel, MirrorAveraged
from pipeline.gender.selection import detection_rates
from pipeline.gender.videos import score_gender_videos
from pipeline.io import load_verified
from pipeline.project import CROPS, EIGEN_FEATURES, EIGEN_TRANSFORMER, FACES, GENDER, RAW, require
from pipeline.training.metrics import evaluate
from pipeline.training.scoring import accuracy_by, accuracy_interval, gap, gap_interval, gender_by_source
from pipeline.training.tasks import COMMON_SECTIONS, Served, Task, TaskData, Tuned

log = logging.getLogger("genrec")


def gender_task(cfg: Config) -> TaskData:
    table = pd.read_parquet(require(EIGEN_FEATURES))
    transformer, record = load_verified(require(EIGEN_TRANSFORMER))
    columns = record["features"]
    y = (table["gender"] == GENDER.classes[1]).astype(int).to_numpy()
    role = table["role"]
    mirror = None
    if cfg.gender.mirror_average:
        crops = np.load(require(CROPS), mmap_mode="r")
        mirror = transform_all(transformer, crops, table["crop_index"].to_numpy(), cfg.compute.batch_size, mirror=True)
    train, test = (role == "train").to_numpy(), (role == "test").to_numpy()
    return TaskData(table, columns, y, train, test, cfg.gender_search, mirror=mirror)


def gender_extras(cfg: Config, data: TaskData, tuned: Tuned, X: np.ndarray) -> dict:
    """Per-source held-out figures with detection rates, the ethnic gaps, leave-one-source-out accuracies."""
    model, estimator = tuned.model, tuned.result.estimator()
    test = data.table[data.test]
    predicted = (tuned.proba >= 0.5).astype(int)
    detection = detection_rates(pd.read_parquet(require(FACES)), cfg.gender)
    by_ethnicity = accuracy_by(test, "ethnicity", data.y[data.test], predicted)
    correct = predicted == data.y[data.test]
    extras = {
        "test": {
            "accuracy_by_group": by_ethnicity,
            "accuracy_gap": gap(by_ethnicity),
            "accuracy_gap_ci95": gap_interval(correct, test["ethnicity"], test["group"].to_numpy(), cfg.seed),
            "accuracy_by_gender": accuracy_by(test, "gender", data.y[data.test], predicted),
        },
        "heldout": gender_by_source(test, data.y[data.test], predicted, detection, cfg.seed),
        "cross_dataset": {},
        "leave_one_out": {},
    }
    for dataset in sorted(data.table.loc[data.table["role"] == "cross", "dataset"].unique()):
        rows = ((data.table["role"] == "cross") & (data.table["dataset"] == dataset)).to_numpy()
        proba = data.probability(model, X, rows)
        people = data.table.loc[rows, "group"].to_numpy()
        extras["cross_dataset"][str(dataset)] = {
            **evaluate(data.y[rows], proba),
            "accuracy_ci95": accuracy_interval((proba >= 0.5) == data.y[rows], people, cfg.seed),
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


def score_labelled_videos(cfg: Config, served: Served) -> dict:
    """The labelled videos' genders by the served model (spectrum.videos)."""
    videos = cfg.spectrum.videos
    model = GenderModel(served.model, list(GENDER.classes), cfg.crop)
    return score_gender_videos(read_videos(cfg.datasets[videos.dataset], RAW), model, videos.every_s, videos.max_frames)


TASK = Task(
    GENDER,
    (*COMMON_SECTIONS, "features", "gender"),
    lambda cfg: cfg.gender_search,
    gender_task,
    gender_extras,
    served_gender,
    score_labelled_videos,
)
