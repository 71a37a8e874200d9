"""The fast spectrum feature against the seed's per-image code (tests/reference), on real images."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.fake.spectrum import CACHE_BATCH, ring_operator, spectra_of_batch, spectra_of_files, spectra_of_images

from reference.spectrum_reference import azimuthal_average, spectrum_of_file, spectrum_of_gray

SHAPES = [(218, 178), (128, 128), (100, 100), (101, 77), (77, 101), (99, 99), (64, 90), (250, 250)]


@pytest.fixture(scope="module")
def photos(raw_sample) -> list[np.ndarray]:
    celeba = sorted((raw_sample / "celeba" / "img_align_celeba").glob("*.jpg"))[:20]
    dcgan = sorted((raw_sample / "dcgan" / "dataset_celebA").glob("*.jpg"))[:10]
    lfw = sorted((raw_sample / "lfw" / "lfw").rglob("*.jpg"))[:10]
    return [cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) for path in celeba + dcgan + lfw]


def test_real_images_of_their_own_sizes_match_the_oracle(photos):
    fast = spectra_of_images(photos, 80)
    reference = np.array([spectrum_of_gray(gray) for gray in photos])
    assert {gray.shape for gray in photos} == {(218, 178), (128, 128), (250, 250)}
    np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-6)


def test_reused_arrays_carry_nothing_from_one_batch_to_the_next(photos):
    """Sizes alternating, partial batches, a batch larger than the reused workspace: each row is its own image's."""
    mixed = photos[::-1] + photos[::3]
    np.testing.assert_allclose(
        spectra_of_images(mixed, 80), [spectrum_of_gray(gray) for gray in mixed], rtol=0, atol=1e-6
    )
    celeba = photos[: 2 * CACHE_BATCH + 1]
    np.testing.assert_allclose(
        spectra_of_batch(np.stack(celeba), 80), [spectrum_of_gray(gray) for gray in celeba], rtol=0, atol=1e-6
    )


@pytest.mark.parametrize("shape", SHAPES)
def test_square_odd_and_even_sizes_match_the_oracle(photos, shape):
    grays = [cv2.resize(gray, shape[::-1], interpolation=cv2.INTER_AREA) for gray in photos[::4]]
    fast = spectra_of_images(grays, 80)
    reference = np.array([spectrum_of_gray(gray) for gray in grays])
    np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-6)


@pytest.mark.parametrize("n_points", [40, 80, 120])
def test_other_feature_lengths_match_the_oracle(photos, n_points):
    np.testing.assert_allclose(
        spectra_of_images(photos[:5], n_points), [spectrum_of_gray(g, n_points) for g in photos[:5]], atol=1e-6
    )


def test_ring_operator_averages_the_seeds_rings(photos):
    """Applied to the centred log-magnitude directly, the ring matrix gives azimuthalAverage's profile."""
    gray = photos[0].astype(float)
    magnitude = 20 * np.log(np.abs(np.fft.rfft2(gray) + 1e-8))
    profile = magnitude.reshape(-1) @ ring_operator(gray.shape)
    centred = 20 * np.log(np.abs(np.fft.fftshift(np.fft.fft2(gray) + 1e-8)))
    np.testing.assert_allclose(profile, azimuthal_average(centred), atol=1e-9)


def test_files_unreadable_ones_are_marked_not_fatal(raw_sample, tmp_path):
    good = sorted((raw_sample / "celeba" / "img_align_celeba").glob("*.jpg"))[:3]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(good[0].read_bytes()[:100])
    text = tmp_path / "text.jpg"
    text.write_text("not an image")
    paths = [str(good[0]), str(broken), str(good[1]), str(text), str(good[2])]
    features, readable = spectra_of_files(paths, 80)
    assert readable.tolist() == [True, False, True, False, True]
    assert np.isnan(features[~readable]).all()
    np.testing.assert_allclose(features[readable], [spectrum_of_file(str(p)) for p in good], atol=1e-6)


def test_the_quadrant_is_the_same_for_a_mirrored_face_and_finds_a_checkerboard_on_the_axes():
    from pipeline.fake.spectrum import quadrant_size, quadrant_spectra

    rng = np.random.default_rng(3)
    faces = rng.random((3, 32, 32)) * 255
    features = quadrant_spectra(faces, 4)
    assert features.shape == (3, quadrant_size(32, 4)) == (3, 16 + 16 + 16)
    np.testing.assert_allclose(quadrant_spectra(faces[:, :, ::-1], 4), features, atol=1e-9)
    np.testing.assert_allclose(quadrant_spectra(faces[:, ::-1, :], 4), features, atol=1e-9)
    # An upsampler's checkerboard: a peak at the Nyquist frequency of the horizontal axis (its last value).
    stripes = np.tile([0.0, 255.0], (32, 16))[None] + rng.random((1, 32, 32))
    horizontal = quadrant_spectra(stripes, 4)[0, :16]
    assert horizontal.argmax() == 15


def test_the_hann_quadrant_keeps_the_mirror_symmetry_and_the_peaks_but_not_the_edges_leak():
    from pipeline.fake.spectrum import quadrant_spectra

    rng = np.random.default_rng(4)
    faces = rng.random((2, 32, 32)) * 255
    windowed = quadrant_spectra(faces, 4, "hann")
    assert windowed.shape == quadrant_spectra(faces, 4).shape
    assert not np.allclose(windowed, quadrant_spectra(faces, 4))
    np.testing.assert_allclose(quadrant_spectra(faces[:, :, ::-1], 4, "hann"), windowed, atol=1e-9)
    # A left-to-right ramp: as a periodic signal it jumps from 255 back to 0 at the edge, which leaks along
    # the whole horizontal axis; tapered, that leak falls by tens of dB at high frequencies.
    ramp = np.tile(np.linspace(0, 255, 32), (32, 1))[None] + rng.random((1, 32, 32))
    plain, tapered = quadrant_spectra(ramp, 4)[0, 8:16], quadrant_spectra(ramp, 4, "hann")[0, 8:16]
    assert (plain - tapered).min() > 20
    # A checkerboard's peak at the horizontal Nyquist frequency stays where it was.
    stripes = np.tile([0.0, 255.0], (32, 16))[None] + rng.random((1, 32, 32))
    assert quadrant_spectra(stripes, 4, "hann")[0, :16].argmax() == 15


def test_the_detector_reads_one_quadrant_per_window_in_order():
    from pipeline.config import SpectrumConfig
    from pipeline.fake.spectrum import detector_columns, detector_width, quadrant_spectra, spectra_of_inputs

    spectrum = SpectrumConfig(
        datasets=("x",), input="patch", side=32, n_points=10, quadrant_pool=4, quadrant_windows=("none", "hann")
    )
    columns = detector_columns(spectrum)
    assert len(columns) == detector_width(spectrum) == 10 + 2 * 48
    assert columns[10] == "q0000" and columns[58] == "h0000" and len(set(columns)) == len(columns)
    patch = (np.random.default_rng(5).random((32, 32)) * 255).astype(np.uint8)
    features = spectra_of_inputs([patch, None], spectrum)
    np.testing.assert_allclose(features[0, 58:], quadrant_spectra(patch[None].astype(float), 4, "hann")[0])
    assert np.isnan(features[1]).all()
    one = spectrum.model_copy(update={"quadrant_windows": ("hann",)})
    np.testing.assert_allclose(spectra_of_inputs([patch], one)[0, 10:], features[0, 58:])
