"""grid-search@gender's leave-one-source-out figures: the face features and the classifier refitted without one
source, scored on that source's held-out faces."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone

from pipeline.config import FeaturesConfig
from pipeline.gender.features import face_features, fit_to_sample, load_crops, transform_all
from pipeline.training.scoring import accuracy_interval


def gender_without(
    source: str,
    table: pd.DataFrame,
    crops: np.ndarray,
    features: FeaturesConfig,
    estimator,
    seed: int,
    batch_size: int,
    mirror_average: bool = False,
) -> dict:
    """The feature chain and the classifier refitted on the training faces of every other source,
    scored on `source`'s held-out faces by the refit's own decision (uncalibrated, as before the mirror
    average); with mirror_average, by the mean of its decisions for each face and for its mirror image, the
    counterpart of the served model's mean of calibrated probabilities."""
    train = table[(table["role"] == "train") & (table["dataset"] != source)]
    test = table[(table["role"] == "test") & (table["dataset"] == source)]
    if test.empty or train["gender"].nunique() < 2:
        return {"n": int(len(test)), "accuracy": None}
    size = crops.shape[1]
    train_crops = load_crops(crops, train["crop_index"].to_numpy())
    transformer = face_features(fit_to_sample(features, len(train)), size, seed).fit(train_crops)
    classifier = clone(estimator).fit(transformer.transform(train_crops), (train["gender"] == "male").to_numpy())
    faces = test["crop_index"].to_numpy()
    decision = classifier.decision_function(transform_all(transformer, crops, faces, batch_size))
    if mirror_average:
        mirrored = transform_all(transformer, crops, faces, batch_size, mirror=True)
        decision = (decision + classifier.decision_function(mirrored)) / 2
    correct = (decision > 0) == (test["gender"] == "male").to_numpy()
    return {
        "n": int(len(test)),
        "n_train": int(len(train)),
        "accuracy": round(float(np.mean(correct)), 6),
        "accuracy_ci95": accuracy_interval(correct, test["group"].to_numpy(), seed),
    }
