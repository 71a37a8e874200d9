"""pipeline.training.scoring: held-out figures per source, with 95% bootstrap intervals over people."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.training.scoring import accuracy_interval, gap_interval, gender_by_source


def test_the_accuracy_interval_holds_the_accuracy_narrows_with_more_people_and_repeats_by_seed():
    rng = np.random.default_rng(0)
    small, large = rng.random(100) < 0.8, rng.random(2000) < 0.8
    low, high = accuracy_interval(small, np.arange(100), seed=0)
    assert low < small.mean() < high and 0.05 < high - low < 0.25  # about +/- 1.96 * sqrt(.8 * .2 / 100)
    wide, narrow = high - low, np.subtract(*accuracy_interval(large, np.arange(2000), seed=0)[::-1])
    assert narrow < wide / 3
    assert accuracy_interval(small, np.arange(100), seed=0) == [low, high]


def test_people_are_drawn_whole_so_a_person_photographed_often_does_not_narrow_the_interval():
    rng = np.random.default_rng(1)
    person_right = rng.random(50) < 0.7
    faces = np.repeat(person_right, 10)  # ten photos of each of 50 people, all answered alike
    by_person = accuracy_interval(faces, np.repeat(np.arange(50), 10), seed=0)
    by_face = accuracy_interval(faces, np.arange(500), seed=0)  # as if 500 people
    assert by_person[1] - by_person[0] > 2.5 * (by_face[1] - by_face[0])


def test_the_gap_interval_holds_the_gap_between_the_best_and_worst_group():
    rng = np.random.default_rng(2)
    groups = pd.Series(np.repeat(["a", "b", "c"], 200))
    correct = np.concatenate([rng.random(200) < 0.95, rng.random(200) < 0.80, rng.random(200) < 0.90])
    observed = max(correct[groups == g].mean() for g in "abc") - min(correct[groups == g].mean() for g in "abc")
    low, high = gap_interval(correct, groups, np.arange(600), seed=0)
    assert low < observed < high and low > 0.05


def test_each_source_reports_its_accuracy_with_an_interval_and_its_gap_where_groups_are_known():
    table = pd.DataFrame(
        {
            "dataset": ["lfw"] * 4 + ["utkface"] * 4,
            "group": ["p1", "p1", "p2", "p3", "u1", "u2", "u3", "u4"],
            "ethnicity": [None] * 4 + ["African", "African", "Asian (East)", "Asian (East)"],
        }
    )
    y, predicted = np.array([1, 0, 1, 1, 0, 1, 1, 0]), np.array([1, 0, 0, 1, 0, 1, 0, 0])
    figures = gender_by_source(table, y, predicted, {"lfw": {"detection_rate": 1.0}}, seed=0)
    assert figures["lfw"]["accuracy"] == 0.75 and figures["lfw"]["people"] == 3
    assert figures["lfw"]["accuracy_ci95"][0] <= 0.75 <= figures["lfw"]["accuracy_ci95"][1]
    assert figures["lfw"]["detection_rate"] == 1.0 and "accuracy_gap" not in figures["lfw"]
    assert figures["utkface"]["accuracy_by_group"] == {"African": 1.0, "Asian (East)": 0.5}
    assert figures["utkface"]["accuracy_gap"] == 0.5 and len(figures["utkface"]["accuracy_gap_ci95"]) == 2
