"""pipeline.training.metrics: the ROC and confusion tables."""

from __future__ import annotations

import numpy as np

from pipeline.training.metrics import confusion_counts, confusion_table, roc_table


def test_roc_and_confusion_tables():
    y, proba = np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.9])
    roc = roc_table(y, proba)
    assert list(roc.columns) == ["fpr", "tpr", "threshold"]
    assert roc["fpr"].iloc[-1] == 1 and roc["tpr"].iloc[-1] == 1 and roc["threshold"].max() <= 1
    predicted = (proba >= 0.5).astype(int)
    assert confusion_counts(y, predicted).tolist() == [[1, 1], [1, 1]]
    assert confusion_table(y, predicted, ["real", "fake"])["actual"].tolist() == ["real", "real", "fake", "fake"]
