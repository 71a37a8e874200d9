"""Leave-one-source-out figures: how a model does on a source it never saw (the gender task's refits, which
rebuild the face features, are pipeline.gender.leave_one_out).

Each refit uses the winning candidate's parameters (no new search) and the
model's own decision; the left-out source's held-out part is then scored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone

from pipeline.training.scoring import source_weights


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
