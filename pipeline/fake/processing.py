"""What happens to a photo before anyone uploads it: re-saved as JPEG, resized, blurred, sharpened, screenshot,
shown in a figure mosaic.

Nobody uploads a generator's pristine output. The detector is trained on rows processed by a random chain of
these everyday steps (spectrum.augment), drawn alike for both classes so that processing never tells them
apart, and its held-out parts are scored under each named step separately (spectrum.robustness).

A step maps (colour image, face box) to (image, box): resizing moves the box with the pixels. Every draw is
seeded by the row's own path, so a row's chain does not depend on batching, workers or the other rows.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[float, float, float, float]
Step = Callable[[np.ndarray, Box], tuple[np.ndarray, Box]]

INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}
# The interpolations a resize in the random chain draws from (nearest is left to the NPR-style pseudo-fakes:
# photo software and browsers resample smoothly).
CHAIN_INTERPOLATIONS = ("linear", "cubic", "area", "lanczos")
# Sides outside this range are not resized: below, nothing of a face is left; above, the image is a bomb.
MIN_SIDE, MAX_SIDE = 8, 8192


def jpeg(image: np.ndarray, box: Box, quality: int) -> tuple[np.ndarray, Box]:
    """Re-encoded as baseline JPEG at `quality`, 4:2:0 chroma (OpenCV's default, as most encoders)."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV encodes every 8-bit image
        raise ValueError("JPEG encoding failed")
    return cv2.imdecode(data, cv2.IMREAD_UNCHANGED), box


def resize(image: np.ndarray, box: Box, factor: float, interpolation: str) -> tuple[np.ndarray, Box]:
    """Both sides times `factor` (rounded), the box with them."""
    height, width = image.shape[:2]
    size = (int(round(width * factor)), int(round(height * factor)))
    if min(size) < MIN_SIDE or max(size) > MAX_SIDE:
        return image, box
    resized = cv2.resize(image, size, interpolation=INTERPOLATIONS[interpolation])
    sx, sy = size[0] / width, size[1] / height
    x, y, w, h = box
    return resized, (x * sx, y * sy, w * sx, h * sy)


def blur(image: np.ndarray, box: Box, sigma: float) -> tuple[np.ndarray, Box]:
    """Gaussian blur of standard deviation `sigma` pixels."""
    return cv2.GaussianBlur(image, (0, 0), sigma), box


def sharpen(image: np.ndarray, box: Box, amount: float) -> tuple[np.ndarray, Box]:
    """Unsharp masking (radius 1 px), as photo apps sharpen: image + amount x (image - blurred)."""
    blurred = cv2.GaussianBlur(image, (0, 0), 1.0)
    return cv2.addWeighted(image, 1 + amount, blurred, -amount, 0), box


def screenshot(image: np.ndarray, box: Box, factor: float) -> tuple[np.ndarray, Box]:
    """A screenshot of the photo shown at `factor` of its size: bilinear resampling, no compression."""
    return resize(image, box, factor, "linear")


# Where a photo sits on a mosaic's canvas: off the 8x8 JPEG block grid, as most of the figures' tiles do.
MOSAIC_OFFSET = 5


def mosaic(image: np.ndarray, box: Box, side: int) -> tuple[np.ndarray, Box]:
    """As a figure mosaic shows a photo (the mirror's text-to-image faces): resized so its longer side is
    `side` px, placed on a black canvas off the JPEG block grid, saved as baseline JPEG q75 with 4:2:0 chroma,
    and cut back out. Real photos laundered alike keep the detector from learning the laundering."""
    height, width = image.shape[:2]
    factor = side / max(height, width)
    image, box = resize(image, box, factor, "area" if factor < 1 else "cubic")
    height, width = image.shape[:2]
    canvas = np.zeros((height + 2 * MOSAIC_OFFSET + 3, width + 2 * MOSAIC_OFFSET + 3, *image.shape[2:]), np.uint8)
    canvas[MOSAIC_OFFSET : MOSAIC_OFFSET + height, MOSAIC_OFFSET : MOSAIC_OFFSET + width] = image
    saved, _ = jpeg(canvas, box, 75)
    return saved[MOSAIC_OFFSET : MOSAIC_OFFSET + height, MOSAIC_OFFSET : MOSAIC_OFFSET + width], box


@dataclass(frozen=True)
class Applied:
    """One step of a chain with the values drawn for it."""

    kind: str
    value: float
    interpolation: str | None = None

    def __str__(self) -> str:
        value = str(int(self.value)) if self.kind in ("jpeg", "mosaic") else f"{self.value:g}"
        return f"{self.kind}({value}{',' + self.interpolation if self.interpolation else ''})"

    def apply(self, image: np.ndarray, box: Box) -> tuple[np.ndarray, Box]:
        if self.kind == "jpeg":
            return jpeg(image, box, int(self.value))
        if self.kind == "resize":
            return resize(image, box, self.value, self.interpolation or "linear")
        if self.kind == "blur":
            return blur(image, box, self.value)
        if self.kind == "sharpen":
            return sharpen(image, box, self.value)
        if self.kind == "screenshot":
            return screenshot(image, box, self.value)
        if self.kind == "mosaic":
            return mosaic(image, box, int(self.value))
        raise ValueError(f"unknown processing step {self.kind!r}")


# The named steps the held-out parts are scored under (spectrum.robustness): what the users do most.
NAMED: dict[str, tuple[Applied, ...]] = {
    "jpeg90": (Applied("jpeg", 90),),
    "jpeg75": (Applied("jpeg", 75),),
    "jpeg50": (Applied("jpeg", 50),),
    "half": (Applied("resize", 0.5, "area"),),
    "x1.5": (Applied("resize", 1.5, "cubic"),),
    "blur1": (Applied("blur", 1.0),),
    "x2": (Applied("resize", 2.0, "cubic"),),
    "x3": (Applied("resize", 3.0, "cubic"),),
    "mosaic255": (Applied("mosaic", 255),),
}


def chain_text(chain: Sequence[Applied]) -> str:
    """A chain as it is written in the spectrum table's `processing` column ('' when there is none)."""
    return "+".join(str(step) for step in chain)


def apply_chain(image: np.ndarray, box: Box, chain: Sequence[Applied]) -> tuple[np.ndarray, Box]:
    for step in chain:
        image, box = step.apply(image, box)
    return image, box


def row_rng(seed: int, path: str) -> np.random.Generator:
    """The random draws of one row: seeded by the run's seed and the row's path alone."""
    return np.random.default_rng([seed, zlib.crc32(path.encode())])


def draw_step(rng: np.random.Generator, augment) -> Applied:
    """One step of spectrum.augment's kinds, its value drawn from the configured range."""
    kind = augment.kinds[int(rng.integers(len(augment.kinds)))]
    if kind == "jpeg":
        low, high = augment.jpeg_quality
        return Applied("jpeg", int(rng.integers(low, high + 1)))
    if kind == "resize":
        low, high = np.log(augment.resize)
        interpolation = CHAIN_INTERPOLATIONS[int(rng.integers(len(CHAIN_INTERPOLATIONS)))]
        return Applied("resize", round(float(np.exp(rng.uniform(low, high))), 3), interpolation)
    if kind == "blur":
        return Applied("blur", round(float(rng.uniform(*augment.blur_sigma)), 3))
    if kind == "sharpen":
        return Applied("sharpen", round(float(rng.uniform(*augment.sharpen)), 3))
    if kind == "mosaic":
        low, high = augment.mosaic_side
        return Applied("mosaic", int(rng.integers(low, high + 1)))
    low, high = np.log(augment.screenshot)
    return Applied("screenshot", round(float(np.exp(rng.uniform(low, high))), 3))


def random_chain(seed: int, path: str, augment) -> tuple[Applied, ...]:
    """The row's chain: with probability augment.share, one to augment.max_steps steps; else none."""
    rng = row_rng(seed, path)
    if rng.random() >= augment.share:
        return ()
    length = int(rng.integers(1, augment.max_steps + 1))
    return tuple(draw_step(rng, augment) for _ in range(length))
