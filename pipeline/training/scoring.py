"""Held-out figures per source: one pooled number hides what matters.

Gender: accuracy, balanced accuracy and n per source, with the detection rate
of its held-out images and, where a source has ethnic labels, the accuracy per
group and the gap. Real or fake: per real source the false-alarm rate (real
photos called fake), per generator the detection rate (fakes caught).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, balanced_accuracy_score

# Sources whose ethnic groups are reported (UTKFace's five, FairFace's seven).
GROUPED_SOURCES = ("utkface", "fairface")


def accuracy_by(table: pd.DataFrame, column: str, y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Accuracy per value of `column` (rows without a value are left out)."""
    correct = pd.Series(np.asarray(y) == np.asarray(predicted), index=table.index)
    known = table[column].notna()
    return {
        str(value): round(float(correct[members.index].mean()), 6)
        for value, members in table[known].groupby(column, sort=True)
    }


def gap(by_group: dict[str, float]) -> float | None:
    return round(max(by_group.values()) - min(by_group.values()), 6) if by_group else None


def gender_by_source(
    table: pd.DataFrame, y: np.ndarray, predicted: np.ndarray, detection: dict[str, dict]
) -> dict[str, dict]:
    """heldout.<source>: accuracy over the faces found, balanced accuracy, n, and the detection rate."""
    figures = {}
    for source, rows in table.groupby("dataset", sort=True):
        at = table.index.get_indexer(rows.index)
        truth, guess = y[at], predicted[at]
        entry = {
            "accuracy": round(float(accuracy_score(truth, guess)), 6),
            "balanced_accuracy": round(float(balanced_accuracy_score(truth, guess)), 6),
            "n": int(len(rows)),
            **detection.get(str(source), {}),
        }
        if source in GROUPED_SOURCES:
            by_group = accuracy_by(rows, "ethnicity", truth, guess)
            entry |= {"accuracy_by_group": by_group, "accuracy_gap": gap(by_group)}
        figures[str(source)] = entry
    return figures


def fake_by_source(table: pd.DataFrame, proba: np.ndarray, threshold: float = 0.5) -> dict[str, dict]:
    """Per source: real ones' false-alarm rate, fake ones' detection rate, over the items with an input."""
    called_fake = np.asarray(proba) >= threshold
    figures = {}
    for source, rows in table.groupby("dataset", sort=True):
        at = table.index.get_indexer(rows.index)
        is_fake = rows["real_fake"].iloc[0] == "fake"
        share = round(float(called_fake[at].mean()), 6)
        figures[str(source)] = {
            "class": "fake" if is_fake else "real",
            "n": int(len(rows)),
            ("detection_rate" if is_fake else "false_alarm_rate"): share,
        }
    return figures


def source_weights(sources: pd.Series, labels: np.ndarray) -> np.ndarray:
    """Sample weights giving each class the same total, shared equally by the class's sources."""
    frame = pd.DataFrame({"source": np.asarray(sources), "label": np.asarray(labels)})
    per_source = frame.groupby("source")["source"].transform("size").to_numpy(dtype=float)
    sources_in_class = frame.groupby("label")["source"].transform("nunique").to_numpy(dtype=float)
    weights = 1.0 / (per_source * sources_in_class)
    return weights * len(weights) / weights.sum()
