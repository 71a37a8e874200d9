"""Detect faces with OpenCV's Haar cascade and crop them to small grayscale squares.

Detection cost grows with the pixels searched and the number of scales, so
the image is shrunk to `detect_side` and faces smaller than `min_face` of the
image are not searched for; boxes are mapped back to full resolution and the
crop is cut from the full-resolution image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from pipeline.config import CropConfig
from pipeline.errors import GenrecError


class CascadeError(GenrecError, RuntimeError):
    """The configured cascade file cannot be loaded."""


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


def detect_faces(gray: np.ndarray, crop: CropConfig) -> np.ndarray:
    """Face boxes (x, y, w, h) in `gray`'s coordinates, largest first.

    The same detector serves every input (training photos, held-out photos, uploads, video
    frames), so where a photo came from cannot change how its face is found. When nothing is
    found and `crop.equalize_fallback` is on, the search is repeated on the histogram-equalized
    image (dark and low-contrast faces). Boxes may reach outside the image.
    """
    height, width = gray.shape[:2]
    scale = 1.0
    if crop.detect_side and max(height, width) > crop.detect_side:
        scale = crop.detect_side / max(height, width)
    small = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    smallest = max(1, int(round(crop.min_face * min(small.shape[:2]))))
    boxes = _search(small, crop, smallest)
    if len(boxes) == 0 and crop.equalize_fallback:
        boxes = _search(cv2.equalizeHist(small), crop, smallest)
    if len(boxes) == 0:
        return np.zeros((0, 4), dtype=np.int32)
    boxes = np.round(boxes / scale).astype(np.int32)
    order = np.argsort(-(boxes[:, 2] * boxes[:, 3]), kind="stable")
    return boxes[order]


def face_square(box: Sequence[int], margin: float) -> tuple[int, int, int, int]:
    """The square of side margin x the box's longer side, centred on the box."""
    x, y, w, h = (float(v) for v in box)
    side = max(1, int(round(margin * max(w, h))))
    left = int(round(x + w / 2 - side / 2))
    top = int(round(y + h / 2 - side / 2))
    return left, top, side, side


def pad_to_contain(gray: np.ndarray, box: Sequence[int]) -> tuple[np.ndarray, int]:
    """`gray` extended by edge replication far enough to hold the box, and the extension's width."""
    x, y, w, h = (int(v) for v in box)
    pad = max(0, -x, -y, x + w - gray.shape[1], y + h - gray.shape[0])
    if pad:
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return gray, pad


def cut_region(gray: np.ndarray, box: Sequence[int]) -> np.ndarray:
    """The box cut from `gray`; where it reaches past the edge, the edge pixels are repeated."""
    x, y, w, h = (int(v) for v in box)
    gray, pad = pad_to_contain(gray, box)
    return gray[y + pad : y + pad + h, x + pad : x + pad + w]


def crop_face(gray: np.ndarray, box: Sequence[int], size: int, margin: float = 1.0) -> np.ndarray:
    """The gender model's input: the face's square (margin x box), resized to size x size (INTER_AREA)."""
    patch = cut_region(gray, face_square(box, margin))
    return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)


def face_input(gray: np.ndarray, box: Sequence[int], crop: CropConfig) -> np.ndarray:
    """The one face normalization: training, evaluation, `genrec predict`, the web app and videos call it."""
    return crop_face(gray, box, crop.size, crop.margin)


def to_gray(image: np.ndarray) -> np.ndarray:
    """8-bit grayscale of a decoded image (BGR, BGRA or already gray): one conversion for every path."""
    if image.ndim == 2:
        return image
    code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    return cv2.cvtColor(image, code)


def read_gray(path: str) -> np.ndarray | None:
    """8-bit grayscale image decoded in colour and converted as uploads are, or None when OpenCV cannot decode it."""
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    return None if image is None else to_gray(image)


@dataclass
class CropBatch:
    """haar-crop's results for a batch of images, row for row."""

    crops: np.ndarray  # uint8 (n, size, size); zeros where no face was found
    boxes: np.ndarray  # int32 (n, 4) x, y, w, h of the largest face; -1 where none
    n_faces: np.ndarray  # int32 (n,); -1 where the image could not be read


def crop_largest_faces(paths: Sequence[str], crop: CropConfig) -> CropBatch:
    """Detect and crop the largest face of every image (one joblib task)."""
    cv2.setNumThreads(1)  # parallelism comes from the workers, not from OpenCV's threads
    count = len(paths)
    result = CropBatch(
        crops=np.zeros((count, crop.size, crop.size), dtype=np.uint8),
        boxes=np.full((count, 4), -1, dtype=np.int32),
        n_faces=np.full(count, -1, dtype=np.int32),
    )
    for index, path in enumerate(paths):
        gray = read_gray(path)
        if gray is None:
            continue
        boxes = detect_faces(gray, crop)
        result.n_faces[index] = len(boxes)
        if len(boxes):
            result.boxes[index] = boxes[0]
            result.crops[index] = face_input(gray, boxes[0], crop)
    return result
