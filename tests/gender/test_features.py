"""pipeline.gender.features: min-max scaling, HOG, LBP and the feature union, on real and made-up crops."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import CropConfig, FeaturesConfig, HogConfig, LbpConfig
from pipeline.faces.crops import crop_largest_faces
from pipeline.gender.features import (
    FeatureError,
    eigen_explained_variance,
    eigenfaces,
    face_features,
    feature_names,
    hog_histograms,
    lbp_histograms,
    minmax_rows,
)

SIZE = 40


@pytest.fixture(scope="module")
def crops(utk_sample) -> np.ndarray:
    """60 real 40x40 face crops, as haar-crop makes them, flattened."""
    batch = crop_largest_faces([str(p) for p in utk_sample[:60]], CropConfig(size=SIZE, detect_side=120, min_face=0.3))
    return batch.crops[batch.n_faces > 0].reshape(-1, SIZE * SIZE)


def test_minmax_scales_each_face_by_its_own_range():
    faces = np.array([[10, 20, 30, 110], [7, 7, 7, 7]], dtype=np.uint8)
    np.testing.assert_allclose(minmax_rows(faces), [[0, 0.1, 0.2, 1], [0, 0, 0, 0]])
    with pytest.raises(FeatureError, match="2x2"):
        minmax_rows(faces[:, :3], size=2)


def test_hog_and_lbp_have_the_widths_their_settings_give(crops):
    hog = hog_histograms(crops[:3], SIZE, cell=10, block=2, bins=9)
    assert hog.shape == (3, 3 * 3 * 2 * 2 * 9)  # 3x3 block positions of 2x2 cells, 9 bins each
    lbp = lbp_histograms(crops[:3], SIZE, points=8, radius=1, grid=4)
    assert lbp.shape == (3, 4 * 4 * 10)
    np.testing.assert_allclose(lbp.sum(axis=1), 1.0)  # each face's histograms are normalised together


def test_the_union_fits_on_faces_and_names_its_columns(crops):
    cfg = FeaturesConfig(blocks=("eigen", "hog", "lbp"), hog=HogConfig(n_components=5), lbp=LbpConfig(grid=2))
    cfg = cfg.model_copy(update={"eigen": cfg.eigen.model_copy(update={"n_components": 8})})
    union = face_features(cfg, SIZE, seed=0).fit(crops)
    out = union.transform(crops[:4])
    names = feature_names(union, crops)
    assert out.shape == (4, 8 + 5 + 2 * 2 * 10) == (4, len(names))
    assert names[0] == "eigen_000" and names[8] == "hog_000" and names[-1] == "lbp_039"
    assert eigenfaces(union).shape == (8, SIZE, SIZE)
    assert 0 < eigen_explained_variance(union) <= 1
    # Fitted once, the union is deterministic: the same faces give the same features.
    np.testing.assert_array_equal(out, face_features(cfg, SIZE, seed=0).fit(crops).transform(crops[:4]))


def test_without_an_eigen_block_there_are_no_eigenfaces(crops):
    union = face_features(FeaturesConfig(blocks=("lbp",), lbp=LbpConfig(grid=2)), SIZE, seed=0).fit(crops)
    assert eigenfaces(union) is None and eigen_explained_variance(union) is None


def test_rows_of_the_wrong_size_and_unknown_blocks_are_refused(crops):
    union = face_features(FeaturesConfig(blocks=("hog",), hog=HogConfig(n_components=None)), SIZE, seed=0)
    with pytest.raises(FeatureError, match="40x40"):
        union.fit(crops).transform(crops[:2, :100])
    with pytest.raises(FeatureError, match="blocks"):
        face_features(FeaturesConfig.model_construct(blocks=("surf",)), SIZE, seed=0)  # past the schema
