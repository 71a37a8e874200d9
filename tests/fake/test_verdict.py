"""pipeline.fake.verdict and the threshold it is given: three answers, each with its reason, and no more."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.fake.verdict import (
    CANNOT_TELL,
    GENERATOR_TRACES,
    NO_KNOWN_TRACES,
    VerdictRules,
    high_frequency,
    majority_verdict,
)
from pipeline.training.scoring import threshold_for

RULES = VerdictRules(0.8, 0.01, ("dcgan", "stylegan2"), 0.4, 128)


def profile(detail: float) -> np.ndarray:
    """A 1D spectrum whose last quarter averages `detail`."""
    return np.r_[np.ones(60), np.full(20, detail)]


def test_the_threshold_keeps_every_real_source_at_the_rate_and_is_the_smallest_that_does():
    rng = np.random.default_rng(0)
    scores = np.r_[rng.uniform(0, 0.5, 500), rng.uniform(0, 0.9, 300), rng.uniform(0.5, 1, 200)]
    sources = np.array(["celeba"] * 500 + ["lfw"] * 300 + ["dcgan"] * 200)
    is_real = sources != "dcgan"
    threshold = threshold_for(scores, sources, is_real, 0.01)
    for source in ("celeba", "lfw"):
        assert np.mean(scores[sources == source] > threshold) <= 0.01
    # The harder source sets it; a hair lower and it has more false alarms than the rate.
    assert np.mean(scores[sources == "lfw"] > threshold - 1e-9) > 0.01


def test_above_the_threshold_traces_are_found_and_the_generators_named():
    verdict = RULES.judge(0.95, profile(0.5))
    assert verdict.kind == GENERATOR_TRACES and verdict.headline == "traces of a generator found"
    assert "dcgan, stylegan2" in verdict.reason and "1% false alarms" in verdict.reason


def test_below_it_the_answer_never_says_real():
    verdict = RULES.judge(0.0, profile(0.5))
    assert verdict.kind == NO_KNOWN_TRACES
    assert verdict.headline == "no traces of the generators it was validated on"
    assert "does not show the face is real" in verdict.reason and "dcgan, stylegan2" in verdict.reason


def test_a_face_without_a_patch_or_with_too_little_detail_cannot_be_told():
    small = RULES.judge(None, None)
    assert small.kind == CANNOT_TELL and "128 x 128 px patch" in small.reason
    upscaled = RULES.judge(0.0, profile(0.3))  # below the validated range, whatever its score
    assert upscaled.kind == CANNOT_TELL and "less fine detail" in upscaled.reason
    assert RULES.judge(0.99, profile(0.3)).kind == CANNOT_TELL


def test_high_frequency_is_the_mean_of_the_last_quarter():
    assert high_frequency(profile(0.25)) == pytest.approx([0.25])
    assert high_frequency(np.vstack([profile(0.1), profile(0.7)])) == pytest.approx([0.1, 0.7])


def test_a_model_recorded_before_the_verdict_decides_at_one_half_with_no_range():
    record = {"validation": {"heldout": {"celeba": {"class": "real"}, "dcgan": {"class": "fake"}}}}
    rules = VerdictRules.from_record(record, 128)
    assert (rules.threshold, rules.min_high_frequency, rules.generators) == (0.5, None, ("dcgan",))
    assert rules.judge(0.6, profile(0.0)).kind == GENERATOR_TRACES
    assert VerdictRules.from_record({"verdict": RULES.as_record()}, 96) == RULES


def test_a_videos_verdict_is_its_judged_frames_majority():
    assert majority_verdict([GENERATOR_TRACES, GENERATOR_TRACES, NO_KNOWN_TRACES, CANNOT_TELL]) == GENERATOR_TRACES
    assert majority_verdict([GENERATOR_TRACES, NO_KNOWN_TRACES]) == NO_KNOWN_TRACES  # a tie finds no traces
    assert majority_verdict([CANNOT_TELL, None]) == CANNOT_TELL
