"""The azimuthally averaged 1D power spectrum (Durall et al. 2020), batched.

Exactly the seed's feature: grayscale -> 2D FFT -> zero frequency at the centre
-> +1e-8 -> 20*log|F| -> mean over rings of integer radius -> cubic
interpolation onto N points -> divide by the first value. Everything that
depends only on the image size is computed once per size:

- the rings: a sparse matrix that averages the (unshifted, half-plane) FFT
  magnitudes of each ring, so there is no per-image sort and no fftshift copy;
  for real images |F(-k)| = |F(k)|, so the real FFT's half plane carries every
  ring once its mirrored pixels are folded onto it;
- the cubic interpolation: linear in the profile, so a (N x rings) matrix.

A batch of same-size images is then one real FFT, one log, two matrix products.
The FFT is ducc0's (the successor of the pocketfft inside numpy and scipy):
the same double-precision transform, about 2.4x faster on CelebA's 218x178
images, whose sides have the large prime factors 109 and 89.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache

import cv2
import ducc0
import numpy as np
import scipy.sparse
from scipy.interpolate import interp1d

EPSILON = 1e-8
# Images per FFT batch: small enough that a batch's arrays stay in the CPU's
# cache (CelebA on one pinned core: 4 images 0.53 ms/image, 16 0.6-0.9 ms).
CACHE_BATCH = 4
# Patches per 2D FFT of the quadrant features: 64 patches of 128x128 complex doubles are 16 MB, so a
# batch's temporaries stay small while numpy's per-call overhead is spread over many patches.
QUADRANT_BATCH = 64


def feature_columns(n_points: int) -> list[str]:
    """Column names of the feature in tables: s000, s001, ..."""
    return [f"s{index:03d}" for index in range(n_points)]


def ring_radii(shape: tuple[int, int]) -> np.ndarray:
    """Integer radius of every pixel of the centred spectrum, as the seed's radialProfile measures it.

    The centre is the middle of the pixel grid, ((w-1)/2, (h-1)/2), and a
    radius is truncated to an integer.
    """
    height, width = shape
    y, x = np.indices(shape)
    return np.hypot(x - (width - 1) / 2.0, y - (height - 1) / 2.0).astype(int)


@lru_cache(maxsize=32)
def ring_operator(shape: tuple[int, int]) -> scipy.sparse.csr_matrix:
    """Sparse (half-plane pixels x rings) matrix: magnitudes @ it = mean of each ring.

    The seed's average covers the rings of radius 1 .. R-1 (its cumulative-sum
    differences drop the centre ring and the outermost one).
    """
    height, width = shape
    radii = np.fft.ifftshift(ring_radii(shape))  # radius at each unshifted FFT index
    outer = radii.max()
    ky, kx = np.indices(shape)
    # Fold the right half onto the real FFT's columns 0 .. width//2 through F(-k) = conj F(k).
    mirrored = kx > width // 2
    half_y = np.where(mirrored, (-ky) % height, ky)
    half_x = np.where(mirrored, (-kx) % width, kx)
    half_columns = width // 2 + 1
    keep = (radii >= 1) & (radii <= outer - 1)
    rows = (half_y * half_columns + half_x)[keep]
    rings = radii[keep] - 1
    counts = np.bincount(rings, minlength=outer - 1).astype(float)
    weights = 1.0 / counts[rings]
    return scipy.sparse.csr_matrix((weights, (rows, rings)), shape=(height * half_columns, outer - 1))


@lru_cache(maxsize=32)
def interpolation_operator(length: int, n_points: int) -> np.ndarray:
    """(n_points x length) matrix of the seed's griddata(linspace(0, N, length), p, linspace(0, N, N), 'cubic')."""
    points = np.linspace(0, n_points, num=length)
    targets = np.linspace(0, n_points, num=n_points)
    return interp1d(points, np.eye(length), kind="cubic", axis=0)(targets)


class Workspace:
    """The FFT's arrays for batches of up to `batch` images of one size, reused batch after batch.

    Fresh multi-megabyte arrays for every batch cost page faults, ~14% of the
    time on CelebA; reused arrays keep the stage compute-bound.
    """

    def __init__(self, batch: int, shape: tuple[int, int]):
        height, width = shape
        self.shape = shape
        self.pixels = np.empty((batch, height, width))
        self.spectrum = np.empty((batch, height, width // 2 + 1), dtype=np.complex128)
        self.magnitude = np.empty((batch, height * (width // 2 + 1)))


_reusable = threading.local()


def workspace_for(shape: tuple[int, int]) -> Workspace:
    """This thread's workspace for CACHE_BATCH images of `shape`, kept while the size repeats."""
    current = getattr(_reusable, "workspace", None)
    if current is None or current.shape != shape:
        current = _reusable.workspace = Workspace(CACHE_BATCH, shape)
    return current


def spectra_of_batch(grays: np.ndarray, n_points: int) -> np.ndarray:
    """Features of a (batch, height, width) stack of same-size grayscale images."""
    batch, height, width = grays.shape
    work = workspace_for((height, width)) if batch <= CACHE_BATCH else Workspace(batch, (height, width))
    pixels, spectrum, magnitude = work.pixels[:batch], work.spectrum[:batch], work.magnitude[:batch]
    np.copyto(pixels, grays)
    # One thread: parallelism comes from the joblib workers, one batch each.
    ducc0.fft.r2c(pixels, axes=(1, 2), nthreads=1, out=spectrum)
    spectrum += EPSILON
    np.abs(spectrum.reshape(batch, -1), out=magnitude)
    np.log(magnitude, out=magnitude)
    magnitude *= 20
    profiles = magnitude @ ring_operator((height, width))
    features = profiles @ interpolation_operator(profiles.shape[1], n_points).T
    return features / features[:, :1]


def spectra_of_images(grays: Sequence[np.ndarray], n_points: int) -> np.ndarray:
    """Features of images of any sizes, row for row (same-size images share batches)."""
    features = np.empty((len(grays), n_points))
    by_shape: dict[tuple[int, int], list[int]] = {}
    for index, gray in enumerate(grays):
        by_shape.setdefault(gray.shape, []).append(index)
    for same_shape in by_shape.values():
        for start in range(0, len(same_shape), CACHE_BATCH):
            indices = same_shape[start : start + CACHE_BATCH]
            features[indices] = spectra_of_batch(np.stack([grays[i] for i in indices]), n_points)
    return features


def spectra_of_files(paths: Sequence[str], n_points: int, side: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(features, readable) for whole image files (one joblib task), read as the seed reads them
    (cv2.imread(path, 0)), resized to side x side unless side is None; unreadable rows are NaN."""
    cv2.setNumThreads(1)
    grays = [cv2.imread(path, cv2.IMREAD_GRAYSCALE) for path in paths]
    grays = [None if gray is None or min(gray.shape) < 8 else at_side(gray, side) for gray in grays]
    readable = np.array([gray is not None and min(gray.shape) >= 8 for gray in grays])
    features = np.full((len(paths), n_points), np.nan)
    good = np.flatnonzero(readable)
    if len(good):
        features[good] = spectra_of_images([grays[i] for i in good], n_points)
    return features, readable


# ---- the detector's input: one definition for the stage, the videos, `genrec predict` and the web app ----


def face_region(gray: np.ndarray, box, scale: float) -> np.ndarray | None:
    """The square of side scale x the box's longer side, centred on the box but kept inside the image
    (shifted, and shrunk to the image's shorter side if need be): only real pixels, no padding, whose
    spectrum would be the padding's. None when less than 8 px remain."""
    height, width = gray.shape[:2]
    x, y, w, h = (float(v) for v in box)
    side = int(min(round(scale * max(w, h)), height, width))
    if side < 8:
        return None
    left = int(np.clip(round(x + w / 2 - side / 2), 0, width - side))
    top = int(np.clip(round(y + h / 2 - side / 2), 0, height - side))
    return gray[top : top + side, left : left + side]


def face_patch(gray: np.ndarray, box, side: int) -> np.ndarray | None:
    """The side x side square at the face box's centre, at the image's own resolution (no resampling, which
    would reshape the very high frequencies a generator leaves), kept inside the image; None when the image
    is smaller than side."""
    height, width = gray.shape[:2]
    if min(height, width) < side:
        return None
    x, y, w, h = (float(v) for v in box)
    left = int(np.clip(round(x + w / 2 - side / 2), 0, width - side))
    top = int(np.clip(round(y + h / 2 - side / 2), 0, height - side))
    return gray[top : top + side, left : left + side]


def at_side(gray: np.ndarray, side: int | None) -> np.ndarray:
    """The image resized to side x side with INTER_AREA (null side: as it is)."""
    if side is None or gray.shape[:2] == (side, side):
        return gray
    return cv2.resize(gray, (side, side), interpolation=cv2.INTER_AREA)


def detector_input(gray: np.ndarray, box, spectrum) -> np.ndarray | None:
    """What the fake detector sees: the native-resolution patch at a face's centre (spectrum.input patch),
    the face's region resized to a common side (face), or the whole image (image)."""
    if spectrum.input == "patch":
        return face_patch(gray, box, spectrum.side)
    region = gray if spectrum.input == "image" else face_region(gray, box, spectrum.face_scale)
    return None if region is None else at_side(region, spectrum.side)


# ---- the quadrant: the 2D log power spectrum, which keeps the directions the 1D profile averages away ----


# Column prefix of each window's quadrant features (config.QUADRANT_WINDOWS names the windows).
WINDOW_PREFIX = {"none": "q", "hann": "h"}


def quadrant_columns(side: int, pool: int, window: str = "none") -> list[str]:
    """Column names of one window's quadrant features: q0000, q0001, ... (none); h0000, h0001, ... (hann)."""
    return [f"{WINDOW_PREFIX[window]}{index:04d}" for index in range(quadrant_size(side, pool))]


def quadrant_size(side: int, pool: int) -> int:
    """The horizontal and vertical frequency axes (side // 2 each) plus the pooled interior cells."""
    half = side // 2
    return 2 * half + (half // pool) ** 2


@lru_cache(maxsize=8)
def hann_window(side: int) -> np.ndarray:
    """The separable 2D Hann window: 1 at the centre, 0 at the edges."""
    return np.outer(np.hanning(side), np.hanning(side))


def quadrant_spectra(grays: np.ndarray, pool: int, window: str = "none") -> np.ndarray:
    """Features of a (batch, side, side) stack: 20 log|F| (+1e-8, as the 1D profile), folded onto one quadrant
    (F(ky, kx) and F(-ky, kx), F(ky, -kx) averaged, so a mirrored face gives the same features), then the
    two frequency axes at full resolution (where JPEG blocks and an upsampler's checkerboard put their peaks)
    and the interior averaged over pool x pool cells.

    Why: DCGAN's and CelebA's 1D profiles overlap (23% of held-out CelebA photos were called fake); their
    2D spectra differ along the axes and diagonals, which the azimuthal average mixes.

    window "hann" tapers the patch to zero at its edges first. The FFT treats a patch as periodic, so the
    jump between opposite edges leaks a cross of energy along both axes, exactly where JPEG blocks and an
    upsampler's checkerboard put their peaks; the taper removes that leak and leaves the peaks (5-fold CV on
    the training rows: DCGAN caught 97.5% -> 99.3% with both quadrants, no real source above 0.5%)."""
    batch, side, _ = grays.shape
    half = side // 2
    pixels = np.asarray(grays, dtype=float)
    if window == "hann":
        pixels = pixels * hann_window(side)
    log_power = 20 * np.log(np.abs(np.fft.fft2(pixels)) + EPSILON)
    mirrored = (-np.arange(side)) % side
    folded = (log_power + log_power[:, mirrored, :]) / 2
    folded = (folded + folded[:, :, mirrored]) / 2
    quadrant = folded[:, : half + 1, : half + 1]
    cells = half // pool
    interior = quadrant[:, 1 : 1 + cells * pool, 1 : 1 + cells * pool]
    pooled = interior.reshape(batch, cells, pool, cells, pool).mean(axis=(2, 4)).reshape(batch, -1)
    return np.hstack([quadrant[:, 0, 1:], quadrant[:, 1:, 0], pooled])


def quadrant_windows(spectrum) -> tuple[str, ...]:
    """The windows of the detector's quadrants, in order (none when spectrum.quadrant_pool is null)."""
    return tuple(spectrum.quadrant_windows) if spectrum.quadrant_pool else ()


def detector_width(spectrum) -> int:
    """How many features the detector reads: the 1D profile, then one quadrant per window when
    spectrum.quadrant_pool is set."""
    windows = quadrant_windows(spectrum)
    return spectrum.n_points + (len(windows) * quadrant_size(spectrum.side, spectrum.quadrant_pool) if windows else 0)


def detector_columns(spectrum) -> list[str]:
    """Column names of the detector's features, in order."""
    columns = feature_columns(spectrum.n_points)
    for window in quadrant_windows(spectrum):
        columns += quadrant_columns(spectrum.side, spectrum.quadrant_pool, window)
    return columns


def spectra_of_inputs(regions: Sequence[np.ndarray | None], spectrum) -> np.ndarray:
    """The detector's features row for row (1D profile, then the quadrant if configured); NaN where there is
    no region."""
    features = np.full((len(regions), detector_width(spectrum)), np.nan)
    found = [i for i, region in enumerate(regions) if region is not None]
    if found:
        inputs = [regions[i] for i in found]
        features[found, : spectrum.n_points] = spectra_of_images(inputs, spectrum.n_points)
        column = spectrum.n_points
        for window in quadrant_windows(spectrum):
            width = quadrant_size(spectrum.side, spectrum.quadrant_pool)
            for start in range(0, len(found), QUADRANT_BATCH):
                rows = found[start : start + QUADRANT_BATCH]
                features[rows, column : column + width] = quadrant_spectra(
                    np.stack(inputs[start : start + QUADRANT_BATCH]), spectrum.quadrant_pool, window
                )
            column += width
    return features


def profile_of(features: np.ndarray, spectrum) -> np.ndarray:
    """The seed's 1D power spectrum part of detector features (what GEN_REC draws)."""
    return features[..., : spectrum.n_points]
