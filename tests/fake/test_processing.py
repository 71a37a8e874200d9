"""pipeline.fake.processing: the everyday steps, the box moving with the pixels, and the seeded random chain."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.config import PROCESSING_STEPS, AugmentConfig
from pipeline.fake.processing import NAMED, Applied, apply_chain, chain_text, jpeg, random_chain, resize


@pytest.fixture(scope="module")
def photo(utk_sample) -> np.ndarray:
    return cv2.imread(str(utk_sample[0]))


def test_every_configurable_step_is_defined_and_no_other():
    assert set(NAMED) == set(PROCESSING_STEPS)


def test_jpeg_loses_more_at_lower_quality_and_keeps_the_size(photo):
    # Resampled first, so the mirror's own JPEG blocks no longer line up with the new encoding's.
    pristine = cv2.resize(photo, (287, 287), interpolation=cv2.INTER_CUBIC)
    errors = {}
    for quality in (95, 75, 50):
        encoded, box = jpeg(pristine, (1, 2, 3, 4), quality)
        assert encoded.shape == pristine.shape and box == (1, 2, 3, 4)
        errors[quality] = float(np.abs(encoded.astype(int) - pristine).mean())
    assert 0 < errors[95] < errors[75] < errors[50]


def test_resizing_moves_the_box_with_the_pixels():
    image = np.zeros((200, 300, 3), np.uint8)
    image[40:100, 60:120] = 255  # a white 60 px square at x=60, y=40
    for factor, interpolation in [(0.5, "area"), (1.5, "cubic"), (2.0, "lanczos")]:
        resized, (x, y, w, h) = resize(image, (60, 40, 60, 60), factor, interpolation)
        assert resized.shape[:2] == (round(200 * factor), round(300 * factor))
        ys, xs = np.nonzero(resized[..., 0] > 128)
        assert (xs.min(), ys.min()) == pytest.approx((x, y), abs=1.5)
        assert (xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()) == pytest.approx((w, h), abs=1.5)


def test_a_resize_that_would_leave_nothing_or_a_bomb_is_not_done():
    tiny = np.zeros((12, 12, 3), np.uint8)
    assert resize(tiny, (0, 0, 12, 12), 0.5, "area")[0] is tiny
    assert resize(tiny, (0, 0, 12, 12), 1000.0, "cubic")[0] is tiny


def test_a_rows_chain_depends_on_the_seed_and_its_path_only():
    augment = AugmentConfig()
    paths = [f"data/raw/celeba/{i:06d}.jpg" for i in range(400)]
    chains = [random_chain(42, path, augment) for path in paths]
    assert chains == [random_chain(42, path, augment) for path in paths]  # the same draw every time
    assert chains != [random_chain(7, path, augment) for path in paths]
    processed = [chain for chain in chains if chain]
    assert 0.4 < len(processed) / len(paths) < 0.6  # augment.share 0.5
    assert {len(chain) for chain in processed} == {1, 2, 3}
    assert {step.kind for chain in processed for step in chain} == set(augment.kinds)
    for step in (step for chain in processed for step in chain):
        if step.kind == "jpeg":
            assert 50 <= step.value <= 95
        if step.kind == "resize":
            assert 0.5 <= step.value <= 2.0 and step.interpolation in ("linear", "cubic", "area", "lanczos")


def test_no_share_means_no_processing_and_a_full_share_processes_every_row():
    assert all(random_chain(1, f"p{i}", AugmentConfig(share=0.0)) == () for i in range(50))
    assert all(random_chain(1, f"p{i}", AugmentConfig(share=1.0)) for i in range(50))


def test_a_chain_is_written_as_its_steps_and_applied_in_order(photo):
    chain = (Applied("resize", 0.5, "area"), Applied("jpeg", 75))
    assert chain_text(chain) == "resize(0.5,area)+jpeg(75)" and chain_text(()) == ""
    image, box = apply_chain(photo, (50.0, 50.0, 100.0, 100.0), chain)
    assert image.shape[:2] == (100, 100) and box == (25.0, 25.0, 50.0, 50.0)
    expected = jpeg(resize(photo, (0, 0, 1, 1), 0.5, "area")[0], (0, 0, 1, 1), 75)[0]
    assert np.array_equal(image, expected)
