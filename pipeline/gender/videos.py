"""The gender model on videos: a video's gender from its sampled frames' largest faces, and the labelled videos.

grid-search@gender scores the mirror's labelled videos, and evaluate-by-ethnicity its video items, both through
`gender_of_frames`, so a video's gender is computed in one place (frames: pipeline.data.video.sample_frames).
"""

from __future__ import annotations

import pandas as pd

from pipeline.data.video import Frame, readable_videos
from pipeline.gender.model import GenderModel, summarize_video_gender
from pipeline.training.metrics import share


def gender_of_frames(frames: list[Frame], model: GenderModel) -> dict:
    """A video's gender and mean confidence from the largest face of each sampled frame."""
    faces = [model.faces(frame.image, largest_only=True) for frame in frames]
    return summarize_video_gender(faces, model.classes)


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
