"""Leave-one-source-out figures: how a model does on a source it never saw.

Each refit uses the winning candidate's parameters (no new search) and the
model's own decision; the left-out source's held-out part is then scored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone

from pipeline.config import FeaturesConfig
from pipeline.gender.features import face_features, fit_to_sample, load_crops, transform_all
from pipeline.training.scoring import source_weights


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
    predicted = decision > 0
    accuracy = float(np.mean(predicted == (test["gender"] == "male").to_numpy()))
    return {"n": int(len(test)), "n_train": int(len(train)), "accuracy": round(accuracy, 6)}


def fake_without(
    source: str,
    table: pd.DataFrame,
    X: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    estimator,
    weighted: bool,
) -> dict:
    """The classifier refitted without `source`'s training rows; its held-out rows' share called fake."""
    of_source = (table["dataset"] == source).to_numpy()
    return fake_without_rows(of_source, test & of_source, table, X, y, train, estimator, weighted)


def fake_without_clip(dataset: str, scene: str, table: pd.DataFrame, X, y, train, estimator, weighted: bool) -> dict:
    """The classifier refitted without the frames of one scene's real clip (leave one clip out); the share of
    those frames called fake, so a trained clip is scored by a model that never saw it."""
    of_clip = ((table["dataset"] == dataset) & (table["group"] == scene)).to_numpy()
    return fake_without_rows(of_clip, of_clip, table, X, y, train, estimator, weighted)


def fake_without_rows(
    left_out: np.ndarray,
    scored: np.ndarray,
    table: pd.DataFrame,
    X: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    estimator,
    weighted: bool,
) -> dict:
    """The classifier refitted on the training rows outside `left_out`, by the model's own decision;
    the share of the `scored` rows called fake."""
    fit_rows = train & ~left_out
    if not scored.any() or len(np.unique(y[fit_rows])) < 2:
        return {"n": int(scored.sum()), "called_fake": None}
    params = {}
    if weighted:
        params = {"clf__sample_weight": source_weights(table.loc[fit_rows, "dataset"], y[fit_rows])}
    model = clone(estimator).fit(X[fit_rows], y[fit_rows], **params)
    share = float(np.mean(model.predict(X[scored]) == 1))
    is_fake = bool(y[scored][0] == 1)
    return {
        "n": int(scored.sum()),
        "class": "fake" if is_fake else "real",
        ("detection_rate" if is_fake else "false_alarm_rate"): round(share, 6),
    }
