"""Cut a found face out of its photo: the one face normalization every path uses, and haar-crop's batch.

The gender model's input is the face's square (margin x the box's longer side), turned level when both eyes
are found (crop.align), resized to crop.size. Where the square reaches past the photo's edge, the edge pixels
are repeated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.config import CropConfig
from pipeline.data.images import pad_to_contain, read_image, to_gray
from pipeline.faces.detection import find_faces, load_cascade


def face_square(box: Sequence[int], margin: float) -> tuple[int, int, int, int]:
    """The square of side margin x the box's longer side, centred on the box."""
    x, y, w, h = (float(v) for v in box)
    side = max(1, int(round(margin * max(w, h))))
    left = int(round(x + w / 2 - side / 2))
    top = int(round(y + h / 2 - side / 2))
    return left, top, side, side


def cut_region(gray: np.ndarray, box: Sequence[int]) -> np.ndarray:
    """The box cut from `gray`; where it reaches past the edge, the edge pixels are repeated."""
    x, y, w, h = (int(v) for v in box)
    gray, pad = pad_to_contain(gray, box)
    return gray[y + pad : y + pad + h, x + pad : x + pad + w]


def crop_face(gray: np.ndarray, box: Sequence[int], size: int, margin: float = 1.0) -> np.ndarray:
    """The gender model's input: the face's square (margin x box), resized to size x size (INTER_AREA)."""
    patch = cut_region(gray, face_square(box, margin))
    return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)


EYE_CASCADE = "haarcascade_eye.xml"


def eye_tilt(gray: np.ndarray, box: Sequence[int], max_tilt: float) -> float | None:
    """The angle (degrees, clockwise in image coordinates) of the line from the left eye to the right eye,
    found by OpenCV's eye cascade in the upper 60% of the face box: the hit nearest the usual eye position
    in each half of the box. None unless both eyes are found and the tilt is at most max_tilt."""
    x, y, w, h = (int(v) for v in box)
    upper = cut_region(gray, (x, y, w, max(1, int(round(0.6 * h)))))
    smallest = max(1, w // 8)
    hits = load_cascade(EYE_CASCADE).detectMultiScale(
        upper, scaleFactor=1.1, minNeighbors=3, minSize=(smallest, smallest), maxSize=(w // 2, w // 2)
    )
    centres = [(ex + ew / 2, ey + eh / 2) for ex, ey, ew, eh in np.asarray(hits).reshape(-1, 4)]
    left = [c for c in centres if c[0] < w / 2]
    right = [c for c in centres if c[0] >= w / 2]
    if not left or not right:
        return None
    lx, ly = min(left, key=lambda c: np.hypot(c[0] - 0.3 * w, c[1] - 0.4 * h))
    rx, ry = min(right, key=lambda c: np.hypot(c[0] - 0.7 * w, c[1] - 0.4 * h))
    tilt = float(np.degrees(np.arctan2(ry - ly, rx - lx)))
    return tilt if abs(tilt) <= max_tilt else None


def aligned_face(gray: np.ndarray, box: Sequence[int], size: int, margin: float, tilt: float) -> np.ndarray:
    """crop_face of a face turned by -tilt about the centre of its square, so the eyes lie level."""
    left, top, side, _ = face_square(box, margin)
    reach = int(np.ceil(side * 0.75))  # half the diagonal: rotated corners stay inside the cut
    centre_x, centre_y = left + side / 2, top + side / 2
    outer = (int(round(centre_x)) - reach, int(round(centre_y)) - reach, 2 * reach, 2 * reach)
    region = cut_region(gray, outer)
    turn = cv2.getRotationMatrix2D((reach, reach), tilt, 1.0)
    level = cv2.warpAffine(
        region, turn, (2 * reach, 2 * reach), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    start = reach - side // 2
    return cv2.resize(level[start : start + side, start : start + side], (size, size), interpolation=cv2.INTER_AREA)


def face_input(gray: np.ndarray, box: Sequence[int], crop: CropConfig) -> np.ndarray:
    """The one face normalization: training, evaluation, `genrec predict`, the web app and videos call it.
    With crop.align, a face whose two eyes are found is turned so they lie level (else the box as it is)."""
    tilt = eye_tilt(gray, box, crop.max_tilt) if crop.align else None
    if tilt is None:
        return crop_face(gray, box, crop.size, crop.margin)
    return aligned_face(gray, box, crop.size, crop.margin, tilt)


@dataclass
class CropBatch:
    """haar-crop's results for a batch of images, row for row."""

    crops: np.ndarray  # uint8 (n, size, size); zeros where no face was found
    boxes: np.ndarray  # int32 (n, 4) x, y, w, h of the largest face; -1 where none
    n_faces: np.ndarray  # int32 (n,); -1 where the image could not be read
    detectors: list[str | None]  # which detector found the faces (find_faces); None where none did


def crop_largest_faces(paths: Sequence[str], crop: CropConfig) -> CropBatch:
    """Detect and crop the largest face of every image (one joblib task)."""
    cv2.setNumThreads(1)  # parallelism comes from the workers, not from OpenCV's threads
    count = len(paths)
    result = CropBatch(
        crops=np.zeros((count, crop.size, crop.size), dtype=np.uint8),
        boxes=np.full((count, 4), -1, dtype=np.int32),
        n_faces=np.full(count, -1, dtype=np.int32),
        detectors=[None] * count,
    )
    for index, path in enumerate(paths):
        image = read_image(path)
        if image is None:
            continue
        boxes, result.detectors[index] = find_faces(image, crop)
        result.n_faces[index] = len(boxes)
        if len(boxes):
            result.boxes[index] = boxes[0]
            result.crops[index] = face_input(to_gray(image), boxes[0], crop)
    return result
