"""The fake detector on the labelled videos: frame- and video-level scores, with what was trained on marked."""

from __future__ import annotations

import pandas as pd

from pipeline.config import CropConfig
from pipeline.data.video import readable_videos
from pipeline.fake.detector import FakeDetector, frame_scores, video_score
from pipeline.training.metrics import share


def score_fake_videos(
    videos: pd.DataFrame,
    detector: FakeDetector,
    crop: CropConfig,
    every_s: float,
    max_frames: int,
    trained_scenes: frozenset[str] = frozenset(),
) -> dict:
    """Frame- and video-level fake scores on the labelled videos; unreadable ones are counted and named.
    `trained_scenes`: the scenes (`group`) whose real clip's frames the detector was fitted on; their videos,
    real or fake, are marked and left out of the summary's `not_in_training` figures."""
    results, skipped = [], {}
    for row, frames in readable_videos(videos, every_s, max_frames, skipped):
        scores = frame_scores(frames, detector, crop)
        gender = None if pd.isna(row.gender) else row.gender
        results.append(
            {
                "path": row.path,
                "label": row.real_fake,
                "gender": gender,
                "scene_in_training": row.group in trained_scenes,
                **video_score(scores, detector.rules.threshold),
                "frame_scores": scores,
            }
        )
    scored = [r for r in results if r["predicted_mean"] is not None]
    unseen = [r for r in scored if not r["scene_in_training"]]
    frames = [
        (bool(detector.rules.called_fake(s["fake_probability"])), r["label"] == "fake")
        for r in scored
        for s in r["frame_scores"]
        if s["fake_probability"] is not None
    ]
    summary = {
        "videos": len(videos),
        "scored": len(scored),
        "skipped": len(skipped),
        "without_face": len(results) - len(scored),
        "accuracy_vote": share([r["predicted_vote"] == r["label"] for r in scored]),
        "frame_accuracy": share([predicted == actual for predicted, actual in frames]),
        **video_figures(scored),
        "videos_in_training": sum(r["scene_in_training"] for r in results),
        "not_in_training": video_figures(unseen) | {"videos": len(unseen)},
    }
    return {"summary": summary, "videos": results, "skipped": skipped}


def video_figures(scored: list[dict]) -> dict:
    """Video-level figures over scored videos: accuracy by the mean probability, and the real ones called fake."""
    real = [r for r in scored if r["label"] == "real"]
    return {
        "accuracy_mean": share([r["predicted_mean"] == r["label"] for r in scored]),
        "real_videos": len(real),
        "real_videos_called_fake": sum(r["predicted_mean"] == "fake" for r in real),
    }
