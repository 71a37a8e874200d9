"""Labelled videos through the models: one path from a video to its sampled frames' largest faces.

grid-search scores the mirror's labelled videos with each model, and
evaluate-by-ethnicity scores its video items with the gender model. Both read
frames with pipeline.data.video.sample_frames and give the gender model each frame
through `gender_of_frames`, so a video's gender is computed in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config import CropConfig, Source
from pipeline.data.datasets import read_dataset
from pipeline.data.video import Frame, VideoError, sample_frames
from pipeline.fake.detector import FakeDetector, frame_scores, video_score
from pipeline.gender.model import GenderModel, summarize_video_gender

log = logging.getLogger("genrec")


def read_videos(source: Source, raw: Path) -> pd.DataFrame:
    """A labelled video data set as its reader lists it, under the raw data folder."""
    return read_dataset(source.reader, raw / source.name / source.root, source.name, **source.options)


def gender_of_frames(frames: list[Frame], model: GenderModel) -> dict:
    """A video's gender and mean confidence from the largest face of each sampled frame."""
    faces = [model.faces(frame.image, largest_only=True) for frame in frames]
    return summarize_video_gender(faces, model.classes)


def readable_videos(
    videos: pd.DataFrame, every_s: float, max_frames: int, skipped: dict
) -> Iterator[tuple[Any, list[Frame]]]:
    """Each readable video's row with its sampled frames, one video at a time; unreadable ones go to `skipped`."""
    for row in videos.itertuples():
        try:
            frames = sample_frames(row.path, every_s, max_frames)
        except VideoError as error:
            skipped[row.path] = str(error)
            log.warning("skipped video: %s", error)
            continue
        yield row, frames


def share(flags: list[bool]) -> float | None:
    """The share of true flags (6 decimals), None when there are none."""
    return round(float(np.mean(flags)), 6) if flags else None


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
                **video_score(scores),
                "frame_scores": scores,
            }
        )
    scored = [r for r in results if r["predicted_mean"] is not None]
    unseen = [r for r in scored if not r["scene_in_training"]]
    frames = [
        (s["fake_probability"] >= 0.5, r["label"] == "fake")
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


def score_gender_videos(videos: pd.DataFrame, model: GenderModel, every_s: float, max_frames: int) -> dict:
    """The gender model on the labelled videos: each video's gender and mean confidence."""
    results, skipped = [], {}
    for row, frames in readable_videos(videos, every_s, max_frames, skipped):
        label = None if pd.isna(row.gender) else row.gender
        results.append(
            {"path": row.path, "label": label, "real_fake": row.real_fake, **gender_of_frames(frames, model)}
        )
    scored = [r for r in results if r["gender"] is not None and r["label"] is not None]
    summary = {
        "videos": len(videos),
        "scored": len(scored),
        "skipped": len(skipped),
        "without_face": sum(r["gender"] is None for r in results),
        "accuracy": share([r["gender"] == r["label"] for r in scored]),
    }
    return {"summary": summary, "videos": results, "skipped": skipped}
