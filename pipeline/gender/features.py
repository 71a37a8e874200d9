"""Face features for the gender model, built as one scikit-learn transformer.

Input rows are flattened size x size uint8 face crops (haar-crop's output).
Blocks, concatenated in the configured order:
- eigen: per-image min-max scaling to [0, 1] (the paper's normalisation),
  optionally standardized per pixel, then PCA (the eigenfaces);
- hog: OpenCV's histograms of oriented gradients, reduced by PCA;
- lbp: uniform local binary pattern histograms on a grid of cells;
- sift: OpenCV SIFT descriptors at a fixed grid of keypoints (dense SIFT), reduced by PCA;
- pca_sift: the PCA-SIFT idea (Ke and Sukthankar): each keypoint's descriptor projected
  onto the principal components of the training faces' descriptors, concatenated.
Everything is fitted on the training faces only (extract-eigen) and travels
with the classifier in the saved model, so serving applies the same chain.
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from pipeline.config import BLOCKS, FeaturesConfig
from pipeline.errors import GenrecError


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
            for top, bottom in zip(edges[:-1], edges[1:], strict=True)
            for left, right in zip(edges[:-1], edges[1:], strict=True)
        ]
        histogram = np.concatenate(cells).astype(np.float64)
        rows.append(histogram / histogram.sum())
    return np.stack(rows)


def grid_keypoints(size: int, grid: int, diameter: float) -> list:
    """grid x grid keypoints of one diameter, evenly spread over the face (cell centres)."""
    centres = (np.arange(grid) + 0.5) * size / grid
    return [cv2.KeyPoint(float(x), float(y), float(diameter)) for y in centres for x in centres]


def dense_sift(X: np.ndarray, size: int, grid: int, diameter: float) -> np.ndarray:
    """(n, grid*grid, 128) SIFT descriptors of every face at the fixed keypoints (no detection)."""
    images = as_images(X, size).astype(np.uint8, copy=False)
    sift = cv2.SIFT_create()
    keypoints = grid_keypoints(size, grid, diameter)
    out = np.empty((len(images), len(keypoints), 128), dtype=np.float64)
    for index, image in enumerate(images):
        found, descriptors = sift.compute(image, keypoints)
        if descriptors is None or len(found) != len(keypoints):
            raise FeatureError("SIFT dropped a grid keypoint: lower features.sift.size or grid")
        out[index] = descriptors
    return out


def sift_rows(X: np.ndarray, size: int, grid: int, diameter: float) -> np.ndarray:
    """Dense SIFT, one row per face (the keypoints' descriptors side by side)."""
    return dense_sift(X, size, grid, diameter).reshape(len(X), -1)


class PcaSift(TransformerMixin, BaseEstimator):
    """PCA-SIFT: one PCA fitted on all training descriptors (every face, every keypoint); each keypoint's
    descriptor is projected onto it and the projections are concatenated."""

    def __init__(self, size: int = 100, grid: int = 4, diameter: float = 24.0, n_components: int = 20, seed: int = 0):
        self.size, self.grid, self.diameter, self.n_components, self.seed = size, grid, diameter, n_components, seed

    def fit(self, X, y=None):
        descriptors = dense_sift(X, self.size, self.grid, self.diameter).reshape(-1, 128)
        self.pca_ = PCA(self.n_components, svd_solver="randomized", random_state=self.seed).fit(descriptors)
        return self

    def transform(self, X):
        descriptors = dense_sift(X, self.size, self.grid, self.diameter)
        projected = self.pca_.transform(descriptors.reshape(-1, 128))
        return projected.reshape(len(X), -1)


def eigen_block(cfg: FeaturesConfig, size: int, seed: int) -> Pipeline:
    return Pipeline(
        [
            ("minmax", FunctionTransformer(minmax_rows, kw_args={"size": size})),
            ("standardize", StandardScaler() if cfg.eigen.standardize else "passthrough"),
            (
                "pca",
                PCA(
                    cfg.eigen.n_components, whiten=cfg.eigen.whiten, svd_solver=cfg.eigen.svd_solver, random_state=seed
                ),
            ),
        ]
    )


def hog_block(cfg: FeaturesConfig, size: int, seed: int) -> Pipeline:
    hog = cfg.hog
    steps = [
        (
            "hog",
            FunctionTransformer(
                hog_histograms, kw_args={"size": size, "cell": hog.cell, "block": hog.block, "bins": hog.bins}
            ),
        )
    ]
    if hog.n_components:
        steps.append(("pca", PCA(hog.n_components, whiten=True, svd_solver="randomized", random_state=seed)))
    return Pipeline(steps)


def lbp_block(cfg: FeaturesConfig, size: int) -> Pipeline:
    lbp = cfg.lbp
    return Pipeline(
        [
            (
                "lbp",
                FunctionTransformer(
                    lbp_histograms, kw_args={"size": size, "points": lbp.points, "radius": lbp.radius, "grid": lbp.grid}
                ),
            )
        ]
    )


def sift_block(cfg: FeaturesConfig, size: int, seed: int) -> Pipeline:
    sift = cfg.sift
    steps = [("sift", FunctionTransformer(sift_rows, kw_args={"size": size, "grid": sift.grid, "diameter": sift.size}))]
    if sift.n_components:
        steps.append(("pca", PCA(sift.n_components, whiten=True, svd_solver="randomized", random_state=seed)))
    return Pipeline(steps)


def pca_sift_block(cfg: FeaturesConfig, size: int, seed: int) -> Pipeline:
    sift = cfg.sift
    return Pipeline(
        [
            ("pca_sift", PcaSift(size, sift.grid, sift.size, sift.pca_components, seed)),
            ("standardize", StandardScaler()),
        ]
    )


def face_features(cfg: FeaturesConfig, size: int, seed: int) -> FeatureUnion:
    """The unfitted transformer: crops (n, size*size) -> features, blocks in config order."""
    unknown = [block for block in cfg.blocks if block not in BLOCKS]
    if unknown or not cfg.blocks:
        raise FeatureError(f"features.blocks must name some of {list(BLOCKS)}, got {list(cfg.blocks)}")
    builders = {
        "eigen": lambda: eigen_block(cfg, size, seed),
        "hog": lambda: hog_block(cfg, size, seed),
        "lbp": lambda: lbp_block(cfg, size),
        "sift": lambda: sift_block(cfg, size, seed),
        "pca_sift": lambda: pca_sift_block(cfg, size, seed),
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


def fit_to_sample(features: FeaturesConfig, n_train: int) -> FeaturesConfig:
    """PCA cannot have more components than training faces: cap them (small experiments), saying so."""
    import logging

    log = logging.getLogger("genrec")
    updates = {}
    for block, key in (("eigen", "n_components"), ("hog", "n_components"), ("sift", "n_components")):
        settings = getattr(features, block)
        wanted = getattr(settings, key)
        if block in features.blocks and wanted and wanted > n_train:
            log.warning(
                "features.%s.%s=%d exceeds the %d training faces: using %d", block, key, wanted, n_train, n_train
            )
            updates[block] = settings.model_copy(update={key: n_train})
    return features.model_copy(update=updates)


def load_crops(crops: np.ndarray, indices: np.ndarray, mirror: bool = False) -> np.ndarray:
    """The crops at `indices` (or their mirror images), flattened to one row of pixels each."""
    chosen = np.asarray(crops[np.asarray(indices)])
    return (chosen[:, :, ::-1] if mirror else chosen).reshape(len(indices), -1)


def transform_all(
    transformer, crops: np.ndarray, indices: np.ndarray, batch_size: int, mirror: bool = False
) -> np.ndarray:
    """Features of every listed crop (or of its mirror image), a batch at a time so memory stays flat."""
    indices = np.asarray(indices)
    parts = [
        transformer.transform(load_crops(crops, indices[start : start + batch_size], mirror))
        for start in range(0, len(indices), batch_size)
    ]
    return np.concatenate(parts)


def sample_eigenfaces(features: FeaturesConfig, train_crops: np.ndarray, seed: int, sample_size: int = 5000) -> PCA:
    """PCA of up to curve_components eigenfaces on a seeded training sample (the paper's Figures 1 and 5).

    Fitted whatever the feature blocks, so HOG- or LBP-only experiments keep the figures to compare.
    """
    rng = np.random.default_rng(seed)
    sample = train_crops[np.sort(rng.permutation(len(train_crops))[:sample_size])]
    block = eigen_block(features, int(np.sqrt(sample.shape[1])), seed)
    n = min(max(features.eigen.curve_components, features.eigen.n_components), *sample.shape)
    block.set_params(pca=PCA(n, svd_solver="randomized", random_state=seed))
    return block.fit(sample).named_steps["pca"]


def variance_curve(pca: PCA) -> pd.DataFrame:
    """Cumulative explained variance by number of eigenfaces."""
    ratio = np.cumsum(pca.explained_variance_ratio_)
    return pd.DataFrame({"components": np.arange(1, len(ratio) + 1), "explained_variance": ratio.round(6)})


def shown_eigenfaces(transformer: FeatureUnion, pca: PCA, count: int) -> np.ndarray:
    """The first `count` eigenfaces as images: the model's own when it uses eigenfaces, else the sample's."""
    shown = eigenfaces(transformer)
    if shown is None:
        size = int(np.sqrt(pca.components_.shape[1]))
        shown = pca.components_.reshape(-1, size, size)
    return shown[:count]
