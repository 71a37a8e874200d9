"""Haar detection and cropping on real faces."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import CropConfig, load_config
from pipeline.data.images import read_gray, read_image
from pipeline.faces.crops import crop_largest_faces
from pipeline.faces.detection import CascadeError, detect_faces, load_cascade, load_mmod, mmod_faces

from helpers import REPO, extract_sample

FAST = CropConfig(min_face=0.3, padding=0.25, detect_side=120)
FULL = CropConfig(min_face=0.15, padding=0.25, detect_side=None)


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


def test_padding_lets_the_cascade_find_utkface_chips(utk_sample):
    sample = [str(p) for p in utk_sample[::4]]  # 50 chips
    padded = crop_largest_faces(sample, FAST)
    bare = crop_largest_faces(sample, FAST.model_copy(update={"padding": 0.0}))
    assert (padded.n_faces > 0).mean() >= 0.9
    assert (padded.n_faces > 0).mean() > (bare.n_faces > 0).mean()


def test_fast_detection_finds_the_same_faces_as_full_resolution(utk_sample):
    agree = []
    for path in utk_sample[::10]:
        gray = read_gray(str(path))
        fast, full = detect_faces(gray, FAST), detect_faces(gray, FULL)
        if len(fast) and len(full):
            agree.append(iou(fast[0], full[0]))
    assert len(agree) >= 20 and np.median(agree) > 0.7


def test_a_missing_cascade_is_a_clear_error():
    with pytest.raises(CascadeError, match="opencv-python-headless"):
        load_cascade("no_such_cascade.xml")


# The served detector: the cascade as params.yaml sets it, then dlib's CNN where the cascade finds nothing.
SERVED = load_config(REPO / "params.yaml").crop
CASCADE_ALONE = SERVED.model_copy(update={"fallback": None})


@pytest.fixture(scope="module")
def fairface_photos(tmp_path_factory, mirror) -> list[Path]:
    """Every 40th FairFace photo (69): tight, often turned, in-the-wild faces, where the cascade misses most."""
    root = tmp_path_factory.mktemp("fairface")
    extract_sample(mirror / "fairface" / "fairface-val-2739.tar.gz", root, 40)
    return sorted(root.rglob("*.jpg"))


def fallback_findings(photos: list[str], chips: list[str]) -> dict:
    """What the fallback tests check, computed where dlib's CNN may run: see the fixture."""
    missed = [p for p in photos if len(detect_faces(read_image(p), CASCADE_ALONE)) == 0]
    overlaps = []
    for path in photos[:12]:
        image = read_image(path)
        cascade, cnn = detect_faces(image, CASCADE_ALONE), mmod_faces(image, SERVED.fallback_side)
        if len(cascade) == 1 and len(cnn) == 1:
            overlaps.append(iou(cascade[0], cnn[0]))
    unchanged = []
    for path in chips:
        image = read_image(path)
        cascade = detect_faces(image, CASCADE_ALONE)
        if len(cascade):
            unchanged.append(bool(np.array_equal(detect_faces(image, SERVED), cascade)))
    first = read_image(missed[0]) if missed else None
    before = detect_faces(first, SERVED) if missed else None
    # 1024x16 passes the upload checks; shrunk to 192 px it is 192x3, on which dlib's CNN raises.
    sliver = len(mmod_faces(np.full((16, 1024, 3), 128, np.uint8), SERVED.fallback_side))
    return {
        "missed": len(missed),
        "found": [len(detect_faces(read_image(p), SERVED)) > 0 for p in missed],
        "overlaps": overlaps,
        "unchanged": unchanged,
        "sliver": sliver,
        "same_after_sliver": bool(missed) and np.array_equal(detect_faces(first, SERVED), before),
        "blank": len(detect_faces(np.full((192, 192, 3), 128, np.uint8), SERVED)),
    }


@pytest.fixture(scope="module")
def fallback(fairface_photos, utk_sample) -> dict:
    """fallback_findings, run in a spawned process. dlib's thread pool does not survive a fork: the web app's
    tests fork analysis children from this pytest process, and a child forked from a process that ran the
    CNN hangs in it (pipeline.faces.detection guards against it with an error), so the CNN never runs in this one."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        job = pool.submit(fallback_findings, [str(p) for p in fairface_photos], [str(p) for p in utk_sample[:12]])
        return job.result(timeout=300)


@pytest.mark.slow  # a spawned process runs the CNN on 69 FairFace photos (~12 s)
def test_the_cnn_fallback_finds_faces_the_cascade_misses(fallback):
    assert fallback["missed"] >= 5  # the cascade alone finds about 78% of FairFace's faces
    found = fallback["found"]
    assert np.mean(found) >= 0.75, f"the fallback found {sum(found)} of {len(found)} missed faces"


@pytest.mark.slow  # a spawned process runs the CNN on 69 FairFace photos (~12 s)
def test_the_fallbacks_boxes_frame_a_face_as_the_cascades_do(fallback):
    overlaps = fallback["overlaps"]
    assert len(overlaps) >= 5 and np.median(overlaps) > 0.7, overlaps


@pytest.mark.slow  # a spawned process runs the CNN on 69 FairFace photos (~12 s)
def test_the_fallback_leaves_faces_the_cascade_found_as_they_were(fallback):
    assert len(fallback["unchanged"]) >= 8 and all(fallback["unchanged"])


@pytest.mark.slow  # a spawned process runs the CNN on 69 FairFace photos (~12 s)
def test_a_sliver_is_not_searched_and_leaves_the_cnn_sound(fallback):
    assert fallback["sliver"] == 0 and fallback["same_after_sliver"] and fallback["blank"] == 0


def test_a_missing_cnn_model_is_a_clear_error(monkeypatch):
    load_mmod.cache_clear()
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    try:
        with pytest.raises(CascadeError, match="face-recognition-models"):
            load_mmod()
    finally:
        load_mmod.cache_clear()


def test_a_process_forked_after_running_the_cnn_skips_it_rather_than_hang(monkeypatch, caplog):
    import pipeline.faces.detection

    monkeypatch.setattr(
        pipeline.faces.detection, "_mmod_ran_in", os.getpid() + 1
    )  # as in a child of a process that ran it
    assert len(mmod_faces(np.full((192, 192, 3), 128, np.uint8), SERVED.fallback_side)) == 0
    assert "before it forked" in caplog.text
