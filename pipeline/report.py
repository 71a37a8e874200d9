"""Figures and plot data: the size histogram, face sample sheets."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline.faces import pad_to_contain  # noqa: E402
from pipeline.io import write_with  # noqa: E402

PNG_METADATA = {"Software": None}  # no version string: the bytes depend on the data only


def save_figure(fig, path: str | Path) -> None:
    write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100, metadata=PNG_METADATA))
    plt.close(fig)


def size_histogram_table(sizes: pd.DataFrame, bin_width: int = 10) -> pd.DataFrame:
    """Counts of images per shorter-side bin and data set (DVC plot data)."""
    shorter = np.minimum(sizes["width"], sizes["height"]).astype(int)
    bins = (shorter // bin_width) * bin_width
    table = (
        pd.DataFrame({"dataset": sizes["dataset"].astype(str), "shorter_side": bins})
        .value_counts().rename("images").reset_index()
        .sort_values(["dataset", "shorter_side"]).reset_index(drop=True)
    )
    return table


def size_histogram_figure(table: pd.DataFrame, min_size: int, path: str | Path) -> None:
    """The paper's Figure 2: image sizes, with the min_size cut."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for dataset, rows in table.groupby("dataset", sort=True):
        ax.bar(rows["shorter_side"], rows["images"], width=9, alpha=0.6, label=str(dataset), align="edge")
    ax.axvline(min_size, color="red", linestyle="--", label=f"min_size = {min_size} px")
    ax.set_xlabel("shorter side (px)")
    ax.set_ylabel("images")
    ax.set_title("Image size histogram")
    ax.legend()
    save_figure(fig, path)


def _thumbnail(gray: np.ndarray, side: int) -> np.ndarray:
    scale = side / max(gray.shape[:2])
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((side, side, 3), 255, dtype=np.uint8)
    canvas[: small.shape[0], : small.shape[1]] = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)
    return canvas


def face_sheet(images: Sequence[np.ndarray], boxes: Sequence[Sequence[int]], crops: Sequence[np.ndarray],
               path: str | Path, per_row: int = 4, side: int = 160) -> None:
    """The paper's Figure 4: each image with its detected box, beside the crop."""
    tiles = []
    for gray, box, crop in zip(images, boxes, crops):
        x, y, w, h = (int(v) for v in box)
        shown, pad = pad_to_contain(gray, box)
        left = _thumbnail(shown, side)
        scale = side / max(shown.shape[:2])
        top_left = (int((x + pad) * scale), int((y + pad) * scale))
        bottom_right = (int((x + pad + w) * scale), int((y + pad + h) * scale))
        cv2.rectangle(left, top_left, bottom_right, (0, 200, 0), 2)
        right = _thumbnail(crop, side)
        tiles.append(np.hstack([left, right, np.full((side, 8, 3), 255, np.uint8)]))
    if not tiles:
        tiles = [np.full((side, 2 * side + 8, 3), 255, np.uint8)]
    while len(tiles) % per_row:
        tiles.append(np.full_like(tiles[0], 255))
    rows = [np.hstack(tiles[i : i + per_row]) for i in range(0, len(tiles), per_row)]
    sheet = np.vstack(rows)
    write_with(path, lambda tmp: cv2.imwrite(str(tmp), sheet))


def spectrum_figure(profiles: pd.DataFrame, path: str | Path) -> None:
    """The seed's figure: mean +/- std of the 1D power spectrum, real vs fake."""
    colours = {"fake": "red", "real": "blue"}
    fig, ax = plt.subplots(figsize=(10, 6))
    for label, rows in profiles.groupby("class", sort=True):
        colour = colours.get(str(label), None)
        ax.plot(rows["frequency"], rows["mean"], color=colour, label=str(label).capitalize(), linewidth=2, alpha=0.6)
        ax.fill_between(rows["frequency"], rows["mean"] - rows["std"], rows["mean"] + rows["std"], color=colour, alpha=0.2)
    ax.set_xlabel("Spatial frequency")
    ax.set_ylabel("Power spectrum (normalised)")
    ax.set_title("Azimuthally averaged 1D power spectrum")
    ax.legend(loc="best")
    save_figure(fig, path)


def roc_figure(roc: pd.DataFrame, auc: float, title: str, path: str | Path) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot(roc["fpr"], roc["tpr"], linewidth=2, label=f"AUC = {auc:.4f}")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.legend(loc="lower right")
    save_figure(fig, path)


def confusion_figure(counts: np.ndarray, labels: Sequence[str], title: str, path: str | Path) -> None:
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(counts, cmap="Blues")
    for (row, column), value in np.ndenumerate(counts):
        ax.text(column, row, str(value), ha="center", va="center",
                color="white" if value > counts.max() / 2 else "black", fontsize=14)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title)
    save_figure(fig, path)
