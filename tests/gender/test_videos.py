"""pipeline.gender.videos: one path from a labelled video to its frames' largest faces, on a real clip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from pipeline.config import CropConfig
from pipeline.data.video import readable_videos, sample_frames
from pipeline.gender.model import GenderModel
from pipeline.gender.videos import gender_of_frames, score_gender_videos
from pipeline.training.metrics import share


@pytest.fixture(scope="module")
def clip(real_clip) -> str:
    return str(real_clip)


@pytest.fixture(scope="module")
def model() -> GenderModel:
    """A crop -> gender model fitted on bright (male) and dark (female) made-up crops."""
    crop = CropConfig()
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.integers(0, 100, (20, crop.size**2)), rng.integers(120, 256, (20, crop.size**2))])
    return GenderModel(LogisticRegression(max_iter=1000).fit(X / 255, [0] * 20 + [1] * 20), ["female", "male"], crop)


def test_share_is_the_rounded_share_of_true_flags_or_none():
    assert share([]) is None
    assert share([True, False, True]) == 0.666667


def test_a_videos_gender_comes_from_the_largest_face_of_each_frame(clip, model):
    frames = sample_frames(clip, every_s=1.0, max_frames=2)
    summary = gender_of_frames(frames, model)
    assert summary["frames"] == 2 and summary["frames_with_face"] == 2
    assert summary["gender"] in ("female", "male") and 50 <= summary["confidence"] <= 100
    largest = [model.faces(frame.image, largest_only=True) for frame in frames]
    assert all(len(found) == 1 for found in largest)


def test_unreadable_videos_are_named_and_the_rest_scored(clip, model, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    videos = pd.DataFrame({"path": [clip, str(broken)], "gender": ["male", None], "real_fake": ["real", "fake"]})
    skipped: dict = {}
    assert [row.path for row, _ in readable_videos(videos, 1.0, 1, skipped)] == [clip]
    assert list(skipped) == [str(broken)]
    report = score_gender_videos(videos, model, every_s=1.0, max_frames=1)
    assert report["summary"]["videos"] == 2 and report["summary"]["skipped"] == 1
    assert report["summary"]["scored"] == 1 and report["summary"]["accuracy"] in (0.0, 1.0)
    assert report["videos"][0]["label"] == "male" and report["videos"][0]["real_fake"] == "real"
