"""Video frames and the fake model on them: real clips from the mirror, broken ones counted."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from pipeline.config import config_from_dict
from pipeline.data.datasets import read_videos
from pipeline.data.video import VideoError, sample_frames
from pipeline.fake.detector import FakeDetector
from pipeline.fake.spectrum import spectra_of_files
from pipeline.fake.videos import score_fake_videos
from pipeline.project import RAW

from helpers import base_params


def test_frames_are_sampled_at_the_rate_and_capped(real_clip):
    frames = sample_frames(str(real_clip), every_s=1.0, max_frames=5)
    assert [f.index for f in frames] == [0, 25, 50, 75, 100]  # 25 fps
    assert frames[0].image.shape == (720, 1280, 3)
    assert len(sample_frames(str(real_clip), every_s=0.5, max_frames=100)) == 26  # 309 frames, every 12th: 0..300


def test_unreadable_and_empty_videos_raise_a_clear_error(tmp_path):
    text = tmp_path / "text.mp4"
    text.write_text("not a video")
    with pytest.raises(VideoError, match="cannot open video"):
        sample_frames(str(text))
    with pytest.raises(VideoError, match="cannot open video"):
        sample_frames(str(tmp_path / "missing.mp4"))


@pytest.fixture(scope="module")
def fake_model(raw_sample):
    """A real spectrum model: logistic regression on 60 real CelebA and 60 DCGAN images."""
    real = sorted((raw_sample / "celeba" / "img_align_celeba").glob("*.jpg"))[:60]
    fake = sorted((raw_sample / "dcgan" / "dataset_celebA").glob("*.jpg"))[:60]
    features, _ = spectra_of_files([str(p) for p in real + fake], 80)
    return LogisticRegression(max_iter=5000).fit(features, [0] * 60 + [1] * 60)


def test_broken_videos_are_counted_and_named_and_the_rest_scored(tmp_path, monkeypatch, real_clip, fake_model):
    folder = tmp_path / "data" / "raw" / "videos" / "deepfake-samples"
    folder.mkdir(parents=True)
    shutil.copy(real_clip, folder / "004.mp4")
    (folder / "broken.mp4").write_bytes(real_clip.read_bytes()[:2000])
    pd.DataFrame(
        {
            "path": ["004.mp4", "broken.mp4", "gone.mp4"],
            "label": ["REAL", "FAKE", "REAL"],
            "gender": ["male", "", "female"],
            "source": ["ff++"] * 3,
        }
    ).to_csv(folder / "labels.csv", index=False)
    cfg = config_from_dict(base_params())
    monkeypatch.chdir(tmp_path)
    videos = cfg.spectrum.videos
    # The fixture's model reads the seed's 80-point profile alone.
    detector = FakeDetector(fake_model, cfg.spectrum.model_copy(update={"quadrant_pool": None}))
    report = score_fake_videos(
        read_videos(cfg.datasets[videos.dataset], RAW), detector, cfg.crop, videos.every_s, videos.max_frames
    )
    summary = report["summary"]
    assert (summary["videos"], summary["scored"], summary["skipped"]) == (3, 1, 2)
    assert set(report["skipped"]) == {
        "data/raw/videos/deepfake-samples/broken.mp4",
        "data/raw/videos/deepfake-samples/gone.mp4",
    }
    video = report["videos"][0]
    assert video["frames"] == 3 and video["frames_with_face"] == 3
    probabilities = [s["fake_probability"] for s in video["frame_scores"]]
    assert np.isclose(video["fake_probability_mean"], np.mean(probabilities), atol=1e-6)
    assert video["predicted_mean"] in ("real", "fake") and 0 <= video["fake_vote_share"] <= 1
