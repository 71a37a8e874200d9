"""Sample frames from a video at a fixed rate, with a cap on their number."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.errors import GenrecError


class VideoError(GenrecError):
    """A video that cannot be opened or holds no readable frame."""


@dataclass
class Frame:
    index: int        # frame number in the video
    time_s: float     # its time stamp
    image: np.ndarray  # BGR


def sample_frames(path: str, every_s: float = 1.0, max_frames: int = 20, max_seconds: float | None = None) -> list[Frame]:
    """One frame every `every_s` seconds (the first one included), at most `max_frames`, from the first
    `max_seconds` (None: the whole video)."""
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise VideoError(f"cannot open video {path}: missing, not a video, or a codec OpenCV lacks")
    try:
        fps = capture.get(cv2.CAP_PROP_FPS)
        fps = fps if fps and np.isfinite(fps) and fps > 0 else 25.0
        step = max(1, int(round(fps * every_s)))
        frames: list[Frame] = []
        index = 0
        last = None if max_seconds is None else int(max_seconds * fps)
        while len(frames) < max_frames and (last is None or index <= last) and capture.grab():
            if index % step == 0:
                ok, image = capture.retrieve()
                if ok and image is not None:
                    frames.append(Frame(index, index / fps, image))
            index += 1
    finally:
        capture.release()
    if not frames:
        raise VideoError(f"{path} holds no readable frame")
    return frames
