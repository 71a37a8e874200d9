"""pipeline.fake_video: a video's score from its frames, and the face region the spectrum model sees."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.fake_video import region_around, video_score


def frames(*probabilities) -> list[dict]:
    return [
        {"frame": i, "time_s": float(i), "face": p is not None, "fake_probability": p}
        for i, p in enumerate(probabilities)
    ]


def test_video_score_is_the_mean_and_the_majority_of_the_frames_with_a_face():
    score = video_score(frames(0.9, 0.8, None, 0.2))
    assert score["frames"] == 4 and score["frames_with_face"] == 3
    assert score["fake_probability_mean"] == pytest.approx(0.633333, abs=1e-6)
    assert score["fake_vote_share"] == pytest.approx(2 / 3, abs=1e-6)
    assert score["predicted_mean"] == "fake" and score["predicted_vote"] == "fake"


def test_a_tied_vote_is_real_and_a_faceless_video_has_no_score():
    tied = video_score(frames(0.6, 0.3))
    assert tied["fake_vote_share"] == 0.5 and tied["predicted_vote"] == "real" and tied["predicted_mean"] == "real"
    faceless = video_score(frames(None, None))
    assert faceless["frames"] == 2 and faceless["frames_with_face"] == 0
    assert faceless["fake_probability_mean"] is None and faceless["predicted_vote"] is None


def test_region_around_is_a_square_margin_clipped_to_the_frame():
    gray = np.arange(100 * 200, dtype=np.uint8).reshape(100, 200)
    region = region_around(gray, (80, 30, 40, 40), scale=1.5)  # centre (100, 50), side 60
    assert region.shape == (60, 60)
    assert region[0, 0] == gray[20, 70]
    clipped = region_around(gray, (0, 0, 40, 40), scale=2.0)  # centre (20, 20), side 80: cut at the edges
    assert clipped.shape == (60, 60)
    assert region_around(gray, (-20, -20, 10, 10), scale=1.0) is None  # nothing of it inside the frame
