"""pipeline.fake.detector: a video's score from its frames, and the face region the spectrum model sees."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import SpectrumConfig
from pipeline.fake.detector import FakeDetector, video_score
from pipeline.fake.spectrum import detector_input, face_region, spectra_of_inputs


def frames(*probabilities) -> list[dict]:
    return [
        {"frame": i, "time_s": float(i), "face": p is not None, "fake_probability": p}
        for i, p in enumerate(probabilities)
    ]


def test_video_score_is_the_mean_and_the_majority_of_the_frames_with_a_face():
    score = video_score(frames(0.9, 0.8, None, 0.2), threshold=0.5)
    assert score["frames"] == 4 and score["frames_with_face"] == 3
    assert score["fake_probability_mean"] == pytest.approx(0.633333, abs=1e-6)
    assert score["fake_vote_share"] == pytest.approx(2 / 3, abs=1e-6)
    assert score["predicted_mean"] == "fake" and score["predicted_vote"] == "fake"


def test_a_tied_vote_is_real_and_a_faceless_video_has_no_score():
    tied = video_score(frames(0.6, 0.3), threshold=0.5)
    assert tied["fake_vote_share"] == 0.5 and tied["predicted_vote"] == "real" and tied["predicted_mean"] == "real"
    faceless = video_score(frames(None, None), threshold=0.5)
    assert faceless["frames"] == 2 and faceless["frames_with_face"] == 0
    assert faceless["fake_probability_mean"] is None and faceless["predicted_vote"] is None
    assert faceless["fake_verdict"] == "cannot_tell"


def test_a_video_is_called_fake_above_the_models_threshold_not_at_one_half():
    # A model whose validated threshold is 0.9: frames at 0.8 are no traces, however far above 0.5.
    score = video_score(frames(0.8, 0.85, 0.95), threshold=0.9)
    assert score["predicted_mean"] == "real" and score["predicted_vote"] == "real"
    assert video_score(frames(0.95, 0.97, 0.5), threshold=0.9)["predicted_vote"] == "fake"


def test_the_face_region_is_a_square_kept_inside_the_image():
    gray = np.arange(100 * 200, dtype=np.uint8).reshape(100, 200)
    region = face_region(gray, (80, 30, 40, 40), scale=1.5)  # centre (100, 50), side 60
    assert region.shape == (60, 60) and region[0, 0] == gray[20, 70]
    shifted = face_region(gray, (0, 0, 40, 40), scale=2.0)  # side 80 at the corner: shifted inside, not cut
    assert shifted.shape == (80, 80) and shifted[0, 0] == gray[0, 0]
    shrunk = face_region(gray, (50, 10, 80, 80), scale=2.0)  # side 160 > the image's 100 rows: 100
    assert shrunk.shape == (100, 100)
    assert face_region(gray[:6, :6], (0, 0, 4, 4), scale=1.0) is None  # under 8 px


def test_the_detector_input_is_the_region_at_the_working_side():
    gray = (np.random.default_rng(0).random((300, 400)) * 255).astype(np.uint8)
    spectrum = SpectrumConfig(datasets=("x",), input="face", face_scale=1.5, side=64)
    assert detector_input(gray, (100, 100, 80, 80), spectrum).shape == (64, 64)
    whole = spectrum.model_copy(update={"input": "image", "side": None})
    assert detector_input(gray, None, whole) is gray


def test_the_fake_detector_scores_each_box_with_the_fitted_model():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    spectrum = SpectrumConfig(datasets=("x",), input="face", side=32, n_points=10)
    smooth = [np.full((40, 40), 100, np.uint8) + (rng.random((40, 40)) * 4).astype(np.uint8) for _ in range(8)]
    noisy = [(rng.random((40, 40)) * 255).astype(np.uint8) for _ in range(8)]
    X = spectra_of_inputs([detector_input(g, (0, 0, 40, 40), spectrum) for g in smooth + noisy], spectrum)
    model = LogisticRegression().fit(X, [0] * 8 + [1] * 8)
    detector = FakeDetector(model, spectrum)
    probabilities = detector.probabilities(noisy[0], [(0, 0, 40, 40), (-50, -50, 4, 4)])
    assert probabilities[0] == pytest.approx(model.predict_proba(X[8:9])[0, 1], abs=1e-6)
    assert probabilities[1] is None  # no region inside the image


def test_the_detector_reads_the_quadrant_beside_the_profile_and_draws_the_profile_alone():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(2)
    spectrum = SpectrumConfig(datasets=("x",), input="patch", side=32, n_points=10, quadrant_pool=2)
    images = [(rng.random((48, 48)) * 255).astype(np.uint8) for _ in range(6)]
    X = spectra_of_inputs([detector_input(g, (8, 8, 32, 32), spectrum) for g in images], spectrum)
    assert X.shape == (6, 10 + 2 * 16 + 8 * 8)
    model = LogisticRegression().fit(X, [0, 1] * 3)
    ((probability, profile),) = FakeDetector(model, spectrum).scores(images[1], [(8, 8, 32, 32)])
    assert probability == pytest.approx(model.predict_proba(X[1:2])[0, 1], abs=1e-6)
    np.testing.assert_allclose(profile, X[1, :10])
