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

# 95% intervals: a percentile bootstrap over people (a source's `group`: one person's faces are drawn together,
# so a person photographed many times does not narrow the interval), seeded, this many draws.
BOOTSTRAP_DRAWS = 2000


def person_draws(groups: np.ndarray, seed: int, draws: int = BOOTSTRAP_DRAWS) -> tuple[np.ndarray, np.ndarray]:
    """How many times each person is drawn in each bootstrap sample (draws x people), and each row's person."""
    people, row_person = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(len(people), np.full(len(people), 1 / len(people)), size=draws)
    return counts, row_person


def interval(values: np.ndarray) -> list[float]:
    """The central 95% of the finite bootstrap values, rounded as the figures are."""
    values = values[np.isfinite(values)]
    return [round(float(np.percentile(values, 2.5)), 6), round(float(np.percentile(values, 97.5)), 6)]


def accuracy_interval(correct: np.ndarray, groups: np.ndarray, seed: int) -> list[float]:
    """95% bootstrap interval of the share of correct answers, people resampled."""
    counts, person = person_draws(groups, seed)
    right = np.bincount(person, weights=np.asarray(correct, dtype=float), minlength=counts.shape[1])
    faces = np.bincount(person, minlength=counts.shape[1]).astype(float)
    return interval((counts @ right) / (counts @ faces))


def gap_interval(correct: np.ndarray, labels: pd.Series, groups: np.ndarray, seed: int) -> list[float]:
    """95% bootstrap interval of the gap between the best and the worst group's accuracy, people resampled;
    a draw missing a group is left out."""
    counts, person = person_draws(groups, seed)
    codes, names = pd.factorize(labels)
    known = codes >= 0
    shape = (counts.shape[1], len(names))
    right, faces = np.zeros(shape), np.zeros(shape)
    np.add.at(right, (person[known], codes[known]), np.asarray(correct, dtype=float)[known])
    np.add.at(faces, (person[known], codes[known]), 1.0)
    drawn_faces = counts @ faces
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = (counts @ right) / drawn_faces
    complete = (drawn_faces > 0).all(axis=1)
    return interval(accuracy[complete].max(axis=1) - accuracy[complete].min(axis=1))


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
    table: pd.DataFrame, y: np.ndarray, predicted: np.ndarray, detection: dict[str, dict], seed: int
) -> dict[str, dict]:
    """heldout.<source>: accuracy over the faces found with its 95% interval (people resampled), balanced
    accuracy, n, the detection rate; per ethnic group and the gap, with the gap's interval."""
    figures = {}
    for source, rows in table.groupby("dataset", sort=True):
        at = table.index.get_indexer(rows.index)
        truth, guess = y[at], predicted[at]
        people = rows["group"].to_numpy()
        entry = {
            "accuracy": round(float(accuracy_score(truth, guess)), 6),
            "accuracy_ci95": accuracy_interval(truth == guess, people, seed),
            "balanced_accuracy": round(float(balanced_accuracy_score(truth, guess)), 6),
            "n": int(len(rows)),
            "people": int(pd.unique(people).size),
            **detection.get(str(source), {}),
        }
        if source in GROUPED_SOURCES:
            by_group = accuracy_by(rows, "ethnicity", truth, guess)
            entry |= {
                "accuracy_by_group": by_group,
                "accuracy_gap": gap(by_group),
                "accuracy_gap_ci95": gap_interval(truth == guess, rows["ethnicity"], people, seed),
            }
        figures[str(source)] = entry
    return figures


def fake_by_source(
    table: pd.DataFrame, proba: np.ndarray, threshold: float = 0.5, cannot_tell: np.ndarray | None = None
) -> dict[str, dict]:
    """Per source: real ones' false-alarm rate, fake ones' detection rate: the share of its rows called fake
    (p(fake) above `threshold`, the served verdict's "traces found"). Rows the model cannot tell (no input, or
    outside its validated range: NaN probability or `cannot_tell`) count as not called fake, and their share is
    given beside; `n` counts them all."""
    proba = np.asarray(proba, dtype=float)
    unsure = np.isnan(proba) if cannot_tell is None else np.isnan(proba) | np.asarray(cannot_tell)
    called_fake = ~unsure & (np.nan_to_num(proba, nan=0.0) > threshold)
    figures = {}
    for source, rows in table.groupby("dataset", sort=True):
        at = table.index.get_indexer(rows.index)
        is_fake = rows["real_fake"].iloc[0] == "fake"
        figures[str(source)] = {
            "class": "fake" if is_fake else "real",
            "n": int(len(rows)),
            ("detection_rate" if is_fake else "false_alarm_rate"): round(float(called_fake[at].mean()), 6),
            "cannot_tell": round(float(unsure[at].mean()), 6),
        }
    return figures


def threshold_for(scores: np.ndarray, sources: np.ndarray, is_real: np.ndarray, rate: float) -> float:
    """The smallest threshold with at most `rate` of every real source's rows above it (called fake: score >
    threshold), on scores none of these rows were fitted on (out-of-fold): for each source, the value with
    floor(rate x n) of its rows above; the largest of these."""
    scores, sources = np.asarray(scores, dtype=float), np.asarray(sources)
    per_source = []
    for source in np.unique(sources[is_real]):
        ranked = np.sort(scores[is_real & (sources == source)])
        allowed = int(np.floor(rate * len(ranked)))
        per_source.append(float(ranked[len(ranked) - allowed - 1]))
    return max(per_source)


def source_weights(sources: pd.Series, labels: np.ndarray) -> np.ndarray:
    """Sample weights giving each class the same total, shared equally by the class's sources."""
    frame = pd.DataFrame({"source": np.asarray(sources), "label": np.asarray(labels)})
    per_source = frame.groupby("source")["source"].transform("size").to_numpy(dtype=float)
    sources_in_class = frame.groupby("label")["source"].transform("nunique").to_numpy(dtype=float)
    weights = 1.0 / (per_source * sources_in_class)
    return weights * len(weights) / weights.sum()
