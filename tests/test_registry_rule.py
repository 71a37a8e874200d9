"""pipeline.registry's promotion rule on its own (the MLflow round trip is tests/test_tracking.py's, slow)."""

from __future__ import annotations

from pipeline.registry import Holder, beats, decide


def test_only_a_strictly_higher_held_out_accuracy_beats_the_champion():
    assert beats(0.81, 0.8) and not beats(0.8, 0.8) and not beats(0.7, 0.8)
    assert beats(0.5, None) and not beats(None, None) and not beats(None, 0.8)


def test_a_decision_says_why_and_is_tagged_with_both_figures():
    first = decide("genrec-gender", "1", 0.8, None)
    assert first.promoted and first.reason == "no champion yet"
    tie = decide("genrec-gender", "2", 0.8, Holder("1", 0.8))
    assert not tie.promoted and tie.reason == "test.accuracy 0.8 does not beat champion v1's 0.8"
    tags = decide("genrec-gender", "3", 0.85, Holder("1", 0.8)).as_tags()
    assert tags["genrec.registry.promoted"] == "true" and tags["genrec.registry.champion_version"] == "1"
    assert decide("genrec-gender", "1", None, None).reason == "no test.accuracy to compare"
