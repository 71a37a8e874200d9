"""Find faces in a photo: OpenCV's Haar cascade, and dlib's CNN where the cascade finds nothing.

Detection cost grows with the pixels searched and the number of scales, so
the image is shrunk to `detect_side` and faces smaller than `min_face` of the
image are not searched for; boxes are mapped back to full resolution and the
crop is cut from the full-resolution image (pipeline.faces.crops).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from pipeline.config import CropConfig
from pipeline.data.images import to_gray
from pipeline.errors import GenrecError


class CascadeError(GenrecError, RuntimeError):
    """A configured face detector (a Haar cascade or dlib's MMOD model) cannot be loaded."""


@lru_cache(maxsize=4)
def load_cascade(name: str) -> cv2.CascadeClassifier:
    """An OpenCV cascade by file name (from opencv's data folder) or by path."""
    path = Path(name) if Path(name).is_file() else Path(cv2.data.haarcascades) / name
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise CascadeError(
            f"cannot load the Haar cascade {name!r} (looked at {path}); "
            "install opencv-python-headless>=4.10,<5, which ships the cascade files"
        )
    return cascade


def border(gray: np.ndarray, padding: float) -> int:
    """Padding in pixels: a fraction of the image's longer side."""
    return int(round(padding * max(gray.shape[:2])))


def _search(gray: np.ndarray, crop: CropConfig, smallest: int) -> np.ndarray:
    """Raw cascade hits in an image padded by edge replication (a constant border would be a framing cue)."""
    pad = border(gray, crop.padding)
    searched = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else gray
    found = load_cascade(crop.cascade).detectMultiScale(
        searched,
        scaleFactor=crop.scale_factor,
        minNeighbors=crop.min_neighbors,
        minSize=(smallest, smallest),
    )
    boxes = np.asarray(found, dtype=np.float64).reshape(-1, 4)
    boxes[:, :2] -= pad
    return boxes


def detect_faces(image: np.ndarray, crop: CropConfig) -> np.ndarray:
    """find_faces' boxes alone."""
    return find_faces(image, crop)[0]


def find_faces(image: np.ndarray, crop: CropConfig) -> tuple[np.ndarray, str | None]:
    """Face boxes (x, y, w, h) in a decoded image's coordinates (gray, BGR or BGRA), largest first.

    The same detector serves every input (training photos, held-out photos, uploads, video
    frames), so where a photo came from cannot change how its face is found. The cascade searches
    the grayscale image; when it finds nothing and `crop.equalize_fallback` is on, it searches the
    histogram-equalized image (dark and low-contrast faces); when it still finds nothing and
    `crop.fallback` is "mmod", dlib's CNN detector searches the colour image (turned and tight
    faces, which the frontal cascade misses). Boxes may reach outside the image. Also which detector
    found them: "cascade", "mmod", or None when neither did.
    """
    gray = to_gray(image)
    height, width = gray.shape[:2]
    scale = 1.0
    if crop.detect_side and max(height, width) > crop.detect_side:
        scale = crop.detect_side / max(height, width)
    small = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    smallest = max(1, int(round(crop.min_face * min(small.shape[:2]))))
    boxes = _search(small, crop, smallest) / scale
    if len(boxes) == 0 and crop.equalize_fallback:
        boxes = _search(cv2.equalizeHist(small), crop, smallest) / scale
    detector = "cascade"
    if len(boxes) == 0 and crop.fallback == "mmod":
        boxes, detector = mmod_faces(image, crop.fallback_side), "mmod"
    if len(boxes) == 0:
        return np.zeros((0, 4), dtype=np.int32), None
    boxes = np.round(boxes).astype(np.int32)
    order = np.argsort(-(boxes[:, 2] * boxes[:, 3]), kind="stable")
    return boxes[order], detector


# dlib's MMOD box is tighter than the cascade's and sits lower: around the same face, the cascade's box is
# 1.17 times as wide, and its centre lies 0.02 of the MMOD width to the right and 0.015 above. Medians over
# 417 faces that both detectors found alone, in all seven image sets (benchmarks/fallback_boxes.py). Mapping
# the fallback's boxes so frames the face as the cascade's would: the gender model and the fake detector
# see one framing, whichever detector found the face.
MMOD_TO_HAAR_WIDTH = 1.17
MMOD_TO_HAAR_SHIFT = (0.02, -0.015)
MMOD_MODEL = "mmod_human_face_detector.dat"
# dlib's CNN raises on slivers (a 192x3 image), and a model that raised once was seen to answer nonsense
# afterwards; no face it finds is smaller than this, so a shorter side under it is not searched at all.
MMOD_MIN_SIDE = 32
# One call at a time into a process's model: dlib releases the GIL, and Dask's workers run threads.
MMOD_LOCK = threading.Lock()
# The process that ran the CNN. dlib's thread pool does not survive a fork: a child forked from a process
# that ran it hangs in its first call (measured), so there the fallback is skipped with a warning and the
# cascade's answer stands. Forking after load_mmod() alone is safe: the web app's workers load it and only
# their analysis children run it, so a served analysis never meets this (a test checks the warm-up).
_mmod_ran_in: int | None = None
log = logging.getLogger("genrec")


@lru_cache(maxsize=1)
def load_mmod():
    """dlib's CNN face detector, from the face_recognition_models package's data (not imported: its
    __init__ needs pkg_resources, which recent setuptools no longer ship)."""
    import dlib

    spec = importlib.util.find_spec("face_recognition_models")
    path = Path(spec.submodule_search_locations[0]) / "models" / MMOD_MODEL if spec else None
    if path is None or not path.is_file():
        raise CascadeError(
            f"cannot find dlib's face detector {MMOD_MODEL} (crop.fallback: mmod); "
            "install face-recognition-models>=0.3,<0.4, which ships it"
        )
    return dlib.cnn_face_detection_model_v1(str(path))


def to_rgb(image: np.ndarray) -> np.ndarray:
    """A decoded image (gray, BGR or BGRA) as contiguous 8-bit RGB: dlib's input."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    code = cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB
    return cv2.cvtColor(image, code)


def mmod_boxes_as_haar(rects, scale: float) -> np.ndarray:
    """dlib rectangles found in an image shrunk by `scale`, as cascade-like boxes at full resolution."""
    boxes = []
    for rect in rects:
        width = max(rect.width(), rect.height()) / scale
        centre_x = (rect.left() + rect.width() / 2) / scale + MMOD_TO_HAAR_SHIFT[0] * width
        centre_y = (rect.top() + rect.height() / 2) / scale + MMOD_TO_HAAR_SHIFT[1] * width
        side = MMOD_TO_HAAR_WIDTH * width
        boxes.append((centre_x - side / 2, centre_y - side / 2, side, side))
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def mmod_faces(image: np.ndarray, side: int) -> np.ndarray:
    """Faces found by dlib's CNN detector in the colour image shrunk so its longer side is at most `side`
    (its cost grows with the pixels: 192 px takes about 0.17 s), as cascade-like boxes."""
    rgb = to_rgb(image)
    scale = min(1.0, side / max(rgb.shape[:2]))
    if scale < 1.0:
        rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    if min(rgb.shape[:2]) < MMOD_MIN_SIDE:
        return np.zeros((0, 4), dtype=np.float64)
    global _mmod_ran_in
    if _mmod_ran_in not in (None, os.getpid()):
        log.warning(
            "dlib's face detector ran in this process's parent before it forked and would hang here: "
            "skipped (load it with pipeline.faces.detection.load_mmod before forking, never run it)"
        )
        return np.zeros((0, 4), dtype=np.float64)
    with MMOD_LOCK:
        _mmod_ran_in = os.getpid()
        try:
            found = load_mmod()(np.ascontiguousarray(rgb), 0)  # 0: no upsampling
        except RuntimeError as error:
            load_mmod.cache_clear()  # never reuse a model that failed: the next call loads it afresh
            log.warning("dlib's face detector failed on a %dx%d image (no face): %s", *rgb.shape[1::-1], error)
            return np.zeros((0, 4), dtype=np.float64)
    return mmod_boxes_as_haar([hit.rect for hit in found], scale)
