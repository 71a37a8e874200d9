"""Sample frames from a video at a fixed rate, with a cap on their number.

A container's frame rate and size are claims. The rate is clamped to a
plausible range, and for untrusted videos (the web app) frame grabbing is
bounded by a count and a deadline, every frame's real size is checked against
a pixel cap, and frames are shrunk to a working size as they are read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pandas as pd

from pipeline.errors import GenrecError

# Frame rates outside this range are lies or broken headers; 25 when none is given.
MIN_FPS, MAX_FPS, DEFAULT_FPS = 1.0, 120.0, 25.0


log = logging.getLogger("genrec")


class VideoError(GenrecError):
    """A video that cannot be opened or holds no readable frame."""


class FrameTooLarge(VideoError):
    """A frame (declared or decoded) with more pixels than allowed."""


@dataclass
class Frame:
    index: int  # frame number in the video
    time_s: float  # its time stamp
    image: np.ndarray  # BGR
    scale: float = 1.0  # the image's size over the decoded frame's (below 1 when shrunk to a working size)


@dataclass(frozen=True)
class FrameLimits:
    """Bounds for an untrusted video: at most `max_grabs` frames decoded, for at most `max_grab_s`
    seconds, each of at most `max_pixels`, shrunk to `working_side` (None: full size)."""

    max_grabs: int
    max_grab_s: float
    max_pixels: int
    working_side: int | None = None


def clamped_fps(claimed: float) -> float:
    if not claimed or not np.isfinite(claimed) or claimed <= 0:
        return DEFAULT_FPS
    return float(min(MAX_FPS, max(MIN_FPS, claimed)))


def open_video(path: str, limits: FrameLimits | None) -> cv2.VideoCapture:
    """FFmpeg's reader (never the image-sequence backend); for untrusted videos one decoding thread."""
    threads = getattr(cv2, "CAP_PROP_N_THREADS", None)
    params = [threads, 1] if limits and threads is not None else []
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG, params)
    if not capture.isOpened():
        raise VideoError(f"cannot open video {path}: missing, not a video, or a codec OpenCV lacks")
    if limits:
        declared = capture.get(cv2.CAP_PROP_FRAME_WIDTH) * capture.get(cv2.CAP_PROP_FRAME_HEIGHT)
        if declared > limits.max_pixels:
            capture.release()
            raise FrameTooLarge(f"the video's frames have {declared:,.0f} pixels; at most {limits.max_pixels:,}")
    return capture


def bounded_frame(image: np.ndarray, limits: FrameLimits | None) -> tuple[np.ndarray, float]:
    """The decoded frame, checked against the pixel cap and shrunk to the working size, and its scale."""
    if limits is None:
        return image, 1.0
    height, width = image.shape[:2]
    if height * width > limits.max_pixels:
        raise FrameTooLarge(f"a frame has {width}x{height} pixels; at most {limits.max_pixels:,}")
    scale = 1.0 if limits.working_side is None else min(1.0, limits.working_side / max(height, width))
    if scale == 1.0:
        return image, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def sample_frames(
    path: str,
    every_s: float = 1.0,
    max_frames: int = 20,
    max_seconds: float | None = None,
    limits: FrameLimits | None = None,
) -> list[Frame]:
    """One frame every `every_s` seconds (the first one included), at most `max_frames`, from the first
    `max_seconds` (None: the whole video); with `limits`, bounded by facts as FrameLimits says."""
    capture = open_video(path, limits)
    deadline = None if limits is None else time.monotonic() + limits.max_grab_s
    try:
        fps = clamped_fps(capture.get(cv2.CAP_PROP_FPS))
        step = max(1, int(round(fps * every_s)))
        frames: list[Frame] = []
        index = 0
        last = None if max_seconds is None else int(max_seconds * fps)
        while len(frames) < max_frames and (last is None or index <= last):
            if limits and (index >= limits.max_grabs or time.monotonic() > deadline):
                break
            if not capture.grab():
                break
            if index % step == 0:
                ok, image = capture.retrieve()
                if ok and image is not None:
                    frames.append(Frame(index, index / fps, *bounded_frame(image, limits)))
            index += 1
    finally:
        capture.release()
    if not frames:
        raise VideoError(f"{path} holds no readable frame")
    return frames


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
