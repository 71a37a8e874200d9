"""Decide, without trusting names or headers, whether a file is a usable image; decode one as uploads are."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

OK = "ok"
# Drop reasons, as counted in metrics/filter.json.
MISSING = "missing"
EMPTY = "empty"
NOT_AN_IMAGE = "not_an_image"
TOO_MANY_PIXELS = "too_many_pixels"
TRUNCATED = "truncated"
UNREADABLE = "unreadable"
TOO_SMALL = "too_small"


def inspect_image(path: str, max_pixels: int) -> tuple[int, int, str]:
    """(width, height, status) of an image file; status is OK or the reason it is unusable.

    The pixel count is checked from the header before anything is decoded, so a
    decompression bomb costs nothing; the full decode then catches truncation.
    """
    try:
        if os.path.getsize(path) == 0:
            return 0, 0, EMPTY
    except OSError:
        return 0, 0, MISSING
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > max_pixels:
                    return width, height, TOO_MANY_PIXELS
                image.load()
    except Image.DecompressionBombError:
        return 0, 0, TOO_MANY_PIXELS
    except UnidentifiedImageError:
        return 0, 0, NOT_AN_IMAGE
    except OSError as error:
        reason = TRUNCATED if "truncated" in str(error).lower() else UNREADABLE
        return 0, 0, reason
    except (ValueError, SyntaxError, EOFError):  # malformed headers surface as these in Pillow
        return 0, 0, UNREADABLE
    return width, height, OK


def inspect_images(paths: Sequence[str], max_pixels: int) -> list[tuple[int, int, str]]:
    """inspect_image over a batch (one joblib task)."""
    return [inspect_image(path, max_pixels) for path in paths]


def to_gray(image: np.ndarray) -> np.ndarray:
    """8-bit grayscale of a decoded image (BGR, BGRA or already gray): one conversion for every path."""
    if image.ndim == 2:
        return image
    code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    return cv2.cvtColor(image, code)


def read_image(path: str) -> np.ndarray | None:
    """A photo decoded in colour (BGR) as uploads are, or None when OpenCV cannot decode it."""
    return cv2.imread(path, cv2.IMREAD_COLOR)


def read_gray(path: str) -> np.ndarray | None:
    """8-bit grayscale image decoded in colour and converted as uploads are, or None when OpenCV cannot decode it."""
    image = read_image(path)
    return None if image is None else to_gray(image)


def pad_to_contain(gray: np.ndarray, box: Sequence[int]) -> tuple[np.ndarray, int]:
    """`gray` extended by edge replication far enough to hold the box, and the extension's width."""
    x, y, w, h = (int(v) for v in box)
    pad = max(0, -x, -y, x + w - gray.shape[1], y + h - gray.shape[0])
    if pad:
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return gray, pad
