"""The seed's per-image spectrum feature, written as the seed writes it (the oracle).

From ../shared/seeds/002_024fe0cd3cf307e7.txt: grayscale -> fft2 -> fftshift ->
+1e-8 -> 20*log|F| -> radialProfile.azimuthalAverage -> griddata(cubic) onto
N points -> divide by the first value. azimuthalAverage is the widely copied
radialProfile script the seed links to: radii sorted per image, rings of
integer radius summed through a cumulative sum.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.interpolate import griddata

EPSILON = 1e-8


def azimuthal_average(image: np.ndarray, center=None) -> np.ndarray:
    y, x = np.indices(image.shape)
    if not center:
        center = np.array([(x.max() - x.min()) / 2.0, (y.max() - y.min()) / 2.0])
    r = np.hypot(x - center[0], y - center[1])
    ind = np.argsort(r.flat)
    r_sorted = r.flat[ind]
    i_sorted = image.flat[ind]
    r_int = r_sorted.astype(int)
    deltar = r_int[1:] - r_int[:-1]
    rind = np.where(deltar)[0]
    nr = rind[1:] - rind[:-1]
    csim = np.cumsum(i_sorted, dtype=float)
    tbin = csim[rind[1:]] - csim[rind[:-1]]
    return tbin / nr


def spectrum_of_gray(img: np.ndarray, n: int = 80) -> np.ndarray:
    f = np.fft.fft2(img)
    fshift = np.fft.fftshift(f)
    fshift += EPSILON
    magnitude_spectrum = 20 * np.log(np.abs(fshift))
    psd1D = azimuthal_average(magnitude_spectrum)
    points = np.linspace(0, n, num=psd1D.size)
    xi = np.linspace(0, n, num=n)
    interpolated = griddata(points, psd1D, xi, method="cubic")
    interpolated /= interpolated[0]
    return interpolated


def spectrum_of_file(filename: str, n: int = 80) -> np.ndarray:
    return spectrum_of_gray(cv2.imread(filename, 0), n)
