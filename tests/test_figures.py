"""pipeline.figures: plot data and figures, written atomically and byte for byte the same from the same data."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from pipeline import figures


def png(path) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, f"{path} is not a readable image"
    return image


def test_size_histogram_table_counts_shorter_sides_per_bin_and_data_set():
    sizes = pd.DataFrame({"dataset": ["a", "a", "a", "b"], "width": [64, 69, 200, 30], "height": [100, 61, 55, 90]})
    table = figures.size_histogram_table(sizes)
    assert table.to_dict("records") == [
        {"dataset": "a", "shorter_side": 50, "images": 1},
        {"dataset": "a", "shorter_side": 60, "images": 2},
        {"dataset": "b", "shorter_side": 30, "images": 1},
    ]


FIGURES = {
    "size_histogram": lambda path: figures.size_histogram_figure(
        pd.DataFrame({"dataset": ["a", "b"], "shorter_side": [50, 60], "images": [3, 4]}), 60, path
    ),
    "spectrum": lambda path: figures.spectrum_figure(
        pd.DataFrame(
            {
                "class": ["real"] * 3 + ["fake"] * 3,
                "frequency": [0, 1, 2] * 2,
                "mean": [1, 0.8, 0.5, 1, 0.9, 0.7],
                "std": [0.1] * 6,
            }
        ),
        path,
    ),
    "roc": lambda path: figures.roc_figure(pd.DataFrame({"fpr": [0, 0.2, 1], "tpr": [0, 0.9, 1]}), 0.93, "ROC", path),
    "confusion": lambda path: figures.confusion_figure(np.array([[5, 1], [2, 7]]), ["real", "fake"], "held-out", path),
    "variance": lambda path: figures.variance_figure(
        pd.DataFrame({"components": [1, 2, 3], "explained_variance": [0.5, 0.7, 0.8]}), 2, path
    ),
    "confidence": lambda path: figures.confidence_figure(
        pd.DataFrame(
            {
                "table": ["table1", "table2"],
                "cell": ["African men"] * 2,
                "confidence_mean": [75.0, 70.0],
                "confidence_std": [5.0, None],
            }
        ),
        {"table1": "real", "table2": "fake"},
        path,
    ),
}


@pytest.mark.parametrize("name", FIGURES)
def test_each_figure_is_a_png_and_the_same_bytes_twice(tmp_path, name):
    first, second = tmp_path / "first" / f"{name}.png", tmp_path / "second" / f"{name}.png"
    FIGURES[name](first)
    FIGURES[name](second)
    assert png(first).shape[0] > 100
    assert first.read_bytes() == second.read_bytes()  # DVC sees no change when nothing changed


def test_image_sheets_tile_faces_eigenfaces_and_swaps(tmp_path):
    rng = np.random.default_rng(0)
    grays = [rng.integers(0, 255, (120, 90), dtype=np.uint8) for _ in range(5)]
    crops = [rng.integers(0, 255, (100, 100), dtype=np.uint8) for _ in range(5)]
    figures.face_sheet(grays, [(10, 10, 50, 50)] * 5, crops, tmp_path / "faces.png", per_row=4, side=80)
    assert png(tmp_path / "faces.png").shape == (2 * 80, 4 * (2 * 80 + 8), 3)  # 5 tiles: two rows of four
    figures.face_sheet([], [], [], tmp_path / "none.png")  # no face found anywhere: still a sheet
    assert png(tmp_path / "none.png").shape[0] > 0

    figures.eigenfaces_figure(rng.normal(size=(3, 20, 20)), tmp_path / "eigen.png", per_row=2, side=30)
    assert png(tmp_path / "eigen.png").shape == (2 * 34, 2 * 34, 3)

    colour = [rng.integers(0, 255, (200, 200, 3), dtype=np.uint8) for _ in range(3)]
    figures.swap_sheet([tuple(colour)] * 2, tmp_path / "swaps.png", side=50)
    assert png(tmp_path / "swaps.png").shape == (24 + 2 * 50, 3 * 50, 3)
