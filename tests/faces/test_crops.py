"""pipeline.faces.crops: the one face normalization (square, margin, edge repeated, alignment) and haar-crop's batch."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.config import CropConfig
from pipeline.data.images import read_gray
from pipeline.faces.crops import crop_face, crop_largest_faces
from pipeline.faces.detection import detect_faces

FAST = CropConfig(min_face=0.3, padding=0.25, detect_side=120)  # as tests/faces/test_detection.py's


def test_crops_repeat_the_edge_past_it_never_a_black_border(utk_sample):
    gray = read_gray(str(utk_sample[0]))
    crop = crop_face(gray, (-20, -20, 120, 120), 100)
    assert crop.shape == (100, 100) and crop.dtype == np.uint8
    # The corner past both edges repeats the image's corner pixel: no constant border as a framing cue.
    assert np.abs(crop[:10, :10].astype(int) - int(gray[0, 0])).max() <= 2 and crop[50:, 50:].std() > 5


def test_margin_frames_a_larger_square_around_the_same_centre(utk_sample):
    gray = read_gray(str(utk_sample[0]))
    tight = crop_face(gray, (50, 50, 100, 100), 100, margin=1.0)
    wide = crop_face(gray, (25, 25, 150, 150), 100, margin=1.0)
    np.testing.assert_array_equal(crop_face(gray, (50, 50, 100, 100), 100, margin=1.5), wide)
    assert not np.array_equal(tight, wide)


def test_no_face_and_unreadable_files(tmp_path):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200), 128, np.uint8))
    broken = tmp_path / "broken.jpg"
    broken.write_text("not an image")
    result = crop_largest_faces([str(blank), str(broken)], FAST)
    assert result.n_faces.tolist() == [0, -1]
    assert (result.boxes == -1).all() and result.crops.max() == 0


def test_largest_face_comes_first(raw_sample):
    lfw = sorted((raw_sample / "lfw" / "lfw").rglob("*.jpg"))
    for path in lfw[:300]:
        boxes = detect_faces(read_gray(str(path)), FAST)
        if len(boxes) > 1:
            areas = boxes[:, 2] * boxes[:, 3]
            assert (np.diff(areas) <= 0).all()
            return
    pytest.fail("no LFW photo with several faces among the first 300")


def test_eye_alignment_measures_a_faces_tilt_and_levels_it(utk_sample):
    from pipeline.faces.crops import aligned_face, eye_tilt

    crop = CropConfig(min_face=0.15, padding=0.25, margin=1.2, align=True)
    measured = []
    for path in utk_sample[::8]:
        gray = read_gray(str(path))
        height, width = gray.shape
        # Turn the face 12 degrees counter-clockwise: its right eye rises, the tilt reads about -12.
        turned = cv2.warpAffine(
            gray,
            cv2.getRotationMatrix2D((width / 2, height / 2), 12, 1.0),
            (width, height),
            borderMode=cv2.BORDER_REPLICATE,
        )
        boxes = detect_faces(turned, crop)
        tilt = eye_tilt(turned, boxes[0], crop.max_tilt) if len(boxes) else None
        if tilt is None:
            continue
        level = aligned_face(turned, boxes[0], 100, 1.2, tilt)
        again = eye_tilt(level, (0, 0, 100, 100), crop.max_tilt)
        measured.append((tilt, again))
    assert len(measured) >= 10
    tilts = np.array([t for t, _ in measured])
    assert np.median(tilts) == pytest.approx(-12, abs=3)
    after = np.array([a for _, a in measured if a is not None])
    assert len(after) >= 5 and np.median(np.abs(after)) < 4
    assert eye_tilt(np.full((100, 100), 128, np.uint8), (10, 10, 80, 80), 20) is None  # no eyes: no tilt
