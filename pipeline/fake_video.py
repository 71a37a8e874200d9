"""Real/fake scores for video frames and whole videos from the spectrum model."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.config import CropConfig
from pipeline.faces import detect_faces
from pipeline.features.spectrum import spectra_of_images
from pipeline.video import Frame


def face_region(gray: np.ndarray, crop: CropConfig, scale: float) -> np.ndarray | None:
    """The largest face with a margin (side = scale x the box), cut from the frame; None without a face."""
    boxes = detect_faces(gray, crop)
    return region_around(gray, boxes[0], scale) if len(boxes) else None


def region_around(gray: np.ndarray, box, scale: float) -> np.ndarray | None:
    """A square of side scale x the box's longer side, centred on the box, clipped to the frame."""
    x, y, w, h = box
    side = scale * max(w, h)
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = max(0, int(round(cx - side / 2))), max(0, int(round(cy - side / 2)))
    x1, y1 = min(gray.shape[1], int(round(cx + side / 2))), min(gray.shape[0], int(round(cy + side / 2)))
    return gray[y0:y1, x0:x1] if x1 - x0 >= 8 and y1 - y0 >= 8 else None


def frame_scores(frames: list[Frame], model, crop: CropConfig, n_points: int, face_scale: float) -> list[dict]:
    """Per sampled frame: whether a face was found and the model's fake probability for it."""
    regions = [face_region(cv2.cvtColor(f.image, cv2.COLOR_BGR2GRAY), crop, face_scale) for f in frames]
    found = [i for i, region in enumerate(regions) if region is not None]
    probabilities = np.full(len(frames), np.nan)
    if found:
        features = spectra_of_images([regions[i] for i in found], n_points)
        probabilities[found] = model.predict_proba(features)[:, 1]
    return [
        {"frame": f.index, "time_s": round(f.time_s, 3), "face": regions[i] is not None,
         "fake_probability": None if np.isnan(probabilities[i]) else round(float(probabilities[i]), 6)}
        for i, f in enumerate(frames)
    ]


def video_score(scores: list[dict]) -> dict:
    """A video's score: the mean of its frames' fake probabilities, and their majority vote."""
    probabilities = np.array([s["fake_probability"] for s in scores if s["fake_probability"] is not None])
    if len(probabilities) == 0:
        return {"frames": len(scores), "frames_with_face": 0, "fake_probability_mean": None,
                "fake_vote_share": None, "predicted_mean": None, "predicted_vote": None}
    vote_share = float((probabilities >= 0.5).mean())
    mean = float(probabilities.mean())
    return {
        "frames": len(scores), "frames_with_face": int(len(probabilities)),
        "fake_probability_mean": round(mean, 6), "fake_vote_share": round(vote_share, 6),
        "predicted_mean": "fake" if mean >= 0.5 else "real",
        "predicted_vote": "fake" if vote_share > 0.5 else "real",
    }
