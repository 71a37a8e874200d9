"""Held-out figures common to both tasks: class-1 probabilities, accuracy, ROC and the confusion table."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, roc_auc_score, roc_curve


def positive_probability(model, X: np.ndarray) -> np.ndarray:
    """The model's probability of class 1 for every row."""
    return model.predict_proba(X)[:, 1]


def evaluate(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Accuracy (at 0.5), balanced accuracy and ROC AUC of class-1 probabilities."""
    predicted = (proba >= 0.5).astype(int)
    metrics = {
        "accuracy": float(accuracy_score(y, predicted)),
        "balanced_accuracy": float(balanced_accuracy_score(y, predicted)),
    }
    if len(np.unique(y)) == 2:
        metrics["roc_auc"] = float(roc_auc_score(y, proba))
    return metrics


def roc_table(y: np.ndarray, proba: np.ndarray) -> pd.DataFrame:
    fpr, tpr, thresholds = roc_curve(y, proba)
    return pd.DataFrame({"fpr": fpr.round(6), "tpr": tpr.round(6), "threshold": np.clip(thresholds, 0, 1).round(6)})


def confusion_table(y: np.ndarray, predicted: np.ndarray, labels: list[str]) -> pd.DataFrame:
    """One row per test item with its actual and predicted class (DVC's confusion template)."""
    return pd.DataFrame({"actual": np.asarray(labels)[y], "predicted": np.asarray(labels)[predicted]})


def confusion_counts(y: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    return confusion_matrix(y, predicted, labels=[0, 1])


def share(flags: list[bool]) -> float | None:
    """The share of true flags (6 decimals), None when there are none."""
    return round(float(np.mean(flags)), 6) if flags else None
