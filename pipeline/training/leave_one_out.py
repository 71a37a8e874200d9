"""Leave-one-source-out figures: how a model does on a source it never saw (the gender task's refits, which
rebuild the face features, are pipeline.gender.leave_one_out).

Each refit uses the winning candidate's parameters (no new search) and the
model's own decision; the left-out source's held-out part is then scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from pipeline.config import SearchConfig
from pipeline.training.scoring import source_weights, threshold_for
from pipeline.training.search import TrainingRows, out_of_fold_decision, weight_params


@dataclass(frozen=True)
class Transfer:
    """How a generator left out is scored at a stated false-alarm rate: the rate, and the CV folds' settings
    its threshold is chosen with (on the refit's own training rows)."""

    false_alarm_rate: float
    search: SearchConfig
    seed: int


def weights(table: pd.DataFrame, y: np.ndarray, rows: np.ndarray, weighted: bool) -> np.ndarray | None:
    """Sample weights giving each class's sources equal shares of these rows (none unweighted)."""
    return source_weights(table.loc[rows, "dataset"], y[rows]) if weighted else None


def refit_without(left_out: np.ndarray, table: pd.DataFrame, X, y, train, estimator, weighted: bool):
    """The classifier refitted on the training rows outside `left_out`, and those rows; None when they no
    longer hold both classes."""
    fit_rows = train & ~left_out
    if len(np.unique(y[fit_rows])) < 2:
        return None
    model = clone(estimator).fit(X[fit_rows], y[fit_rows], **weight_params(weights(table, y, fit_rows, weighted)))
    return model, fit_rows


def called_fake_share(model, X: np.ndarray, y: np.ndarray, scored: np.ndarray) -> dict:
    """The share of the `scored` rows (all of one class) the model's own decision calls fake."""
    share = float(np.mean(model.predict(X[scored]) == 1))
    is_fake = bool(y[scored][0] == 1)
    return {
        "n": int(scored.sum()),
        "class": "fake" if is_fake else "real",
        ("detection_rate" if is_fake else "false_alarm_rate"): round(share, 6),
    }


def fake_without(
    source: str,
    table: pd.DataFrame,
    X: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    estimator,
    weighted: bool,
    transfer: Transfer | None = None,
) -> dict:
    """The classifier refitted without `source`'s training rows; its held-out rows' share called fake, and
    the ROC AUC of the refit's decision between them and the other class's held-out rows (which it never saw
    either). With `transfer`, for a generator left out: the detection rate at the threshold that gave
    transfer.false_alarm_rate on every real source of the refit's own training CV, never chosen on held-out
    rows, and the held-out real rows' false alarms at it."""
    of_source = (table["dataset"] == source).to_numpy()
    scored = test & of_source
    refit = refit_without(of_source, table, X, y, train, estimator, weighted) if scored.any() else None
    if refit is None:
        return {"n": int(scored.sum()), "called_fake": None}
    model, fit_rows = refit
    figures = called_fake_share(model, X, y, scored)
    others = test & ~of_source & (y != y[scored][0])
    if others.any():
        both = scored | others
        figures["roc_auc"] = round(float(roc_auc_score(y[both], model.decision_function(X[both]))), 6)
    if transfer is not None and figures["class"] == "fake":
        rows = TrainingRows(X[fit_rows], y[fit_rows], weights(table, y, fit_rows, weighted))
        oof = out_of_fold_decision(estimator, rows, transfer.search, transfer.seed, n_jobs=1)
        sources = table.loc[fit_rows, "dataset"].to_numpy()
        threshold = threshold_for(oof, sources, y[fit_rows] == 0, transfer.false_alarm_rate)
        figures["at_false_alarm_rate"] = {
            "rate": transfer.false_alarm_rate,
            "detection_rate": round(float(np.mean(model.decision_function(X[scored]) > threshold)), 6),
            "heldout_false_alarm_rate": round(float(np.mean(model.decision_function(X[others]) > threshold)), 6),
        }
    return figures


def fake_without_clip(dataset: str, scene: str, table: pd.DataFrame, X, y, train, estimator, weighted: bool) -> dict:
    """The classifier refitted without the frames of one scene's real clip (leave one clip out); the share of
    those frames called fake, so a trained clip is scored by a model that never saw it."""
    of_clip = ((table["dataset"] == dataset) & (table["group"] == scene)).to_numpy()
    refit = refit_without(of_clip, table, X, y, train, estimator, weighted) if of_clip.any() else None
    if refit is None:
        return {"n": int(of_clip.sum()), "called_fake": None}
    return called_fake_share(refit[0], X, y, of_clip)
