"""Face features for the gender model, built as one scikit-learn transformer.

Input rows are flattened size x size uint8 face crops (haar-crop's output).
Blocks, concatenated in the configured order:
- eigen: per-image min-max scaling to [0, 1] (the paper's normalisation),
  optionally standardized per pixel, then PCA (the eigenfaces);
- hog: OpenCV's histograms of oriented gradients, reduced by PCA;
- lbp: uniform local binary pattern histograms on a grid of cells.
Everything is fitted on the training faces only (extract-eigen) and travels
with the classifier in the saved model, so serving applies the same chain.
"""

from __future__ import annotations

import cv2
import numpy as np
from sklearn.decomposition import PCA
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from pipeline.config import FeaturesConfig
from pipeline.errors import GenrecError

BLOCKS = ("eigen", "hog", "lbp")


class FeatureError(GenrecError, ValueError):
    """Face features that cannot be built from the configuration or the input."""


def as_images(X: np.ndarray, size: int) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != size * size:
        raise FeatureError(f"expected rows of {size}x{size} = {size * size} pixels, got shape {X.shape}")
    return X.reshape(len(X), size, size)


def minmax_rows(X: np.ndarray, size: int | None = None) -> np.ndarray:
    """Each face scaled to [0, 1] by its own darkest and brightest pixel (a flat face becomes 0)."""
    if size is not None:
        as_images(X, size)  # refuse rows that are not size x size crops
    X = np.asarray(X, dtype=np.float64)
    low = X.min(axis=1, keepdims=True)
    span = X.max(axis=1, keepdims=True) - low
    return (X - low) / np.where(span > 0, span, 1.0)


def hog_histograms(X: np.ndarray, size: int, cell: int, block: int, bins: int) -> np.ndarray:
    """OpenCV HOG of every face: blocks of block x block cells, stride one cell."""
    images = as_images(X, size).astype(np.uint8, copy=False)
    descriptor = cv2.HOGDescriptor((size, size), (cell * block, cell * block), (cell, cell), (cell, cell), bins)
    return np.stack([descriptor.compute(image).ravel() for image in images]).astype(np.float64)


def lbp_histograms(X: np.ndarray, size: int, points: int, radius: int, grid: int) -> np.ndarray:
    """Normalised histograms of uniform LBP codes in each cell of a grid x grid layout."""
    from skimage.feature import local_binary_pattern

    images = as_images(X, size).astype(np.uint8, copy=False)
    n_codes = points + 2  # uniform patterns plus one bin for all others
    edges = np.linspace(0, size, grid + 1).astype(int)
    rows = []
    for image in images:
        codes = local_binary_pattern(image, points, radius, method="uniform").astype(np.int64)
        cells = [
            np.bincount(codes[top:bottom, left:right].ravel(), minlength=n_codes)
            for top, bottom in zip(edges[:-1], edges[1:])
            for left, right in zip(edges[:-1], edges[1:])
        ]
        histogram = np.concatenate(cells).astype(np.float64)
        rows.append(histogram / histogram.sum())
    return np.stack(rows)


def eigen_block(cfg: FeaturesConfig, size: int, seed: int) -> Pipeline:
    return Pipeline([
        ("minmax", FunctionTransformer(minmax_rows, kw_args={"size": size})),
        ("standardize", StandardScaler() if cfg.eigen.standardize else "passthrough"),
        ("pca", PCA(cfg.eigen.n_components, whiten=cfg.eigen.whiten, svd_solver=cfg.eigen.svd_solver,
                    random_state=seed)),
    ])


def hog_block(cfg: FeaturesConfig, size: int, seed: int) -> Pipeline:
    hog = cfg.hog
    steps = [("hog", FunctionTransformer(hog_histograms, kw_args={
        "size": size, "cell": hog.cell, "block": hog.block, "bins": hog.bins}))]
    if hog.n_components:
        steps.append(("pca", PCA(hog.n_components, whiten=True, svd_solver="randomized", random_state=seed)))
    return Pipeline(steps)


def lbp_block(cfg: FeaturesConfig, size: int) -> Pipeline:
    lbp = cfg.lbp
    return Pipeline([("lbp", FunctionTransformer(lbp_histograms, kw_args={
        "size": size, "points": lbp.points, "radius": lbp.radius, "grid": lbp.grid}))])


def face_features(cfg: FeaturesConfig, size: int, seed: int) -> FeatureUnion:
    """The unfitted transformer: crops (n, size*size) -> features, blocks in config order."""
    unknown = [block for block in cfg.blocks if block not in BLOCKS]
    if unknown or not cfg.blocks:
        raise FeatureError(f"features.blocks must name some of {list(BLOCKS)}, got {list(cfg.blocks)}")
    builders = {
        "eigen": lambda: eigen_block(cfg, size, seed),
        "hog": lambda: hog_block(cfg, size, seed),
        "lbp": lambda: lbp_block(cfg, size),
    }
    return FeatureUnion([(block, builders[block]()) for block in cfg.blocks])


def feature_names(union: FeatureUnion, sample: np.ndarray) -> list[str]:
    """Column names of a fitted transformer's output (eigen_000, hog_000, ...), widths read off `sample` rows."""
    names = []
    for block, transformer in union.transformer_list:
        width = transformer.transform(sample[:1]).shape[1]
        names += [f"{block}_{index:03d}" for index in range(width)]
    return names


def eigenfaces(union: FeatureUnion) -> np.ndarray | None:
    """The fitted eigen block's components, as (n, size, size) images; None without an eigen block."""
    blocks = dict(union.transformer_list)
    if "eigen" not in blocks:
        return None
    components = blocks["eigen"].named_steps["pca"].components_
    size = int(round(np.sqrt(components.shape[1])))
    return components.reshape(len(components), size, size)


def eigen_explained_variance(union: FeatureUnion) -> float | None:
    blocks = dict(union.transformer_list)
    if "eigen" not in blocks:
        return None
    return float(blocks["eigen"].named_steps["pca"].explained_variance_ratio_.sum())
