"""filter-small-images and haar-crop, run as real stages on good and bad files."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from pipeline.data import images

from helpers import base_params, copy_images, run_stage


def png_declaring(path: Path, width: int, height: int) -> Path:
    """A tiny PNG file whose header claims width x height pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory, utk_sample) -> Path:
    """data/raw/mixed/images: three good face images and one of every kind of bad file."""
    work = tmp_path_factory.mktemp("mixed")
    folder = work / "data" / "raw" / "mixed" / "images"
    good = copy_images(utk_sample[100:103], folder)
    face = cv2.imread(str(good[0]))
    cv2.imwrite(str(folder / "grayscale.png"), cv2.cvtColor(face, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(folder / "rgba.png"), cv2.cvtColor(face, cv2.COLOR_BGR2BGRA))
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(good[1].read_bytes()[: good[1].stat().st_size // 2])
    (folder / "text.jpg").write_text("this is not an image\n")
    png_declaring(folder / "bomb.png", 50000, 50000)
    cv2.imwrite(str(folder / "tiny.jpg"), cv2.resize(face, (40, 40)))
    return work


def mixed_params() -> dict:
    params = base_params()
    params["datasets"] = {
        **params["datasets"],
        "mixed": {
            "reader": "image_folder",
            "archive": "mixed.tar.gz",
            "sha256": "0" * 64,
            "root": "images",
            "options": {"label": "real"},
        },
    }
    params["filter"] = {**params["filter"], "datasets": ["mixed"], "max_per_dataset": None}
    return params


EXPECTED_DROPS = {
    "empty": images.EMPTY,
    "truncated": images.TRUNCATED,
    "text": images.NOT_AN_IMAGE,
    "bomb": images.TOO_MANY_PIXELS,
    "tiny": images.TOO_SMALL,
}


@pytest.fixture(scope="module")
def staged(bad_folder) -> Path:
    params = mixed_params()
    for module in ("filter_small_images", "haar_crop"):
        result = run_stage(module, bad_folder, params)
        assert result.returncode == 0, result.stderr
    return bad_folder


@pytest.mark.slow  # runs stages as subprocesses
def test_bad_files_are_counted_by_reason_and_good_ones_kept(staged):
    metrics = json.loads((staged / "metrics" / "filter.json").read_text())
    assert metrics["kept"] == {"mixed": 5}
    assert metrics["dropped"] == {"mixed": {reason: 1 for reason in EXPECTED_DROPS.values()}}
    assert metrics["total"] == {"mixed": 10}
    manifest = pd.read_parquet(staged / "data" / "manifest.parquet")
    status = dict(zip(manifest["path"].map(lambda p: Path(p).stem), manifest["status"], strict=True))
    for stem, reason in EXPECTED_DROPS.items():
        assert status[stem] == reason
    assert manifest.loc[manifest["status"] == "kept", "split"].notna().all()
    assert manifest.loc[manifest["status"] != "kept", "split"].isna().all()


@pytest.mark.slow
def test_haar_crop_crops_the_good_images_including_grayscale_and_rgba(staged):
    faces = pd.read_parquet(staged / "data" / "crops" / "faces.parquet")
    crops = np.load(staged / "data" / "crops" / "crops.npy")
    assert len(faces) == 5 and crops.shape == (5, 100, 100) and crops.dtype == np.uint8
    found = faces.set_index(faces["path"].map(lambda p: Path(p).name))["face_found"]
    assert found["grayscale.png"] and found["rgba.png"]
    for row in faces[faces["face_found"]].itertuples():
        assert crops[row.crop_index].std() > 10  # a real face, not an empty square
    metrics = json.loads((staged / "metrics" / "haar_crop.json").read_text())
    assert metrics["detection_rate"]["mixed"] == round(faces["face_found"].mean(), 4)
    assert (staged / "metrics" / "figures" / "face_crops.png").stat().st_size > 1000


def test_inspect_image_reasons(bad_folder):
    folder = bad_folder / "data" / "raw" / "mixed" / "images"
    assert images.inspect_image(str(folder / "missing.jpg"), 10**7)[2] == images.MISSING
    assert images.inspect_image(str(folder / "bomb.png"), 10**7)[2] == images.TOO_MANY_PIXELS
    width, height, status = images.inspect_image(str(folder / "rgba.png"), 10**7)
    assert (width, height, status) == (200, 200, images.OK)


@pytest.mark.slow  # the failed run is logged to a new MLflow store (~15 s)
def test_a_stage_without_its_input_fails_with_one_sentence(tmp_path):
    result = run_stage("haar_crop", tmp_path, base_params())
    assert result.returncode == 1
    assert "data/manifest.parquet is missing: run `dvc repro filter-small-images` first" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_extract_spectrum_on_face_crops(staged):
    """spectrum.input=crop: the feature of every found face crop, as the library computes it."""
    from pipeline.fake.spectrum import feature_columns, spectra_of_images

    params = mixed_params()
    params["spectrum"] = {
        **params["spectrum"],
        "input": "crop",
        "video_frames": False,  # a frame's input is its face's patch, not a haar-crop crop
        "quadrant_pool": None,  # the seed's 1D profile alone, which the oracle below computes
        "datasets": ["mixed"],
        "max_per_class": None,
        "max_per_source": None,
        "leave_one_out": [],
        "augment": None,  # processing acts on the image before a face input is cut: none for crops
        "robustness": None,
    }
    result = run_stage("extract_spectrum", staged, params)
    assert result.returncode == 0, result.stderr
    table = pd.read_parquet(staged / "data" / "features" / "spectrum.parquet")
    # Images without a face stay in the table, marked, so that held-out figures can count them.
    assert table.loc[~table["has_input"], "s000"].isna().all()
    table = table[table["has_input"]]
    faces = pd.read_parquet(staged / "data" / "crops" / "faces.parquet")
    found = faces[faces["face_found"]]
    assert sorted(table["path"]) == sorted(found["path"])
    crops = np.load(staged / "data" / "crops" / "crops.npy")
    expected = spectra_of_images([crops[i] for i in found.sort_values("path")["crop_index"]], 80)
    columns = feature_columns(80)
    np.testing.assert_allclose(table.sort_values("path")[columns].to_numpy(), expected, atol=1e-12)
