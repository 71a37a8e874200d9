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

from pipeline.data.images import pad_to_contain
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
        .value_counts()
        .rename("images")
        .reset_index()
        .sort_values(["dataset", "shorter_side"])
        .reset_index(drop=True)
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


def face_sheet(
    images: Sequence[np.ndarray],
    boxes: Sequence[Sequence[int]],
    crops: Sequence[np.ndarray],
    path: str | Path,
    per_row: int = 4,
    side: int = 160,
) -> None:
    """The paper's Figure 4: each image with its detected box, beside the crop."""
    tiles = []
    for gray, box, crop in zip(images, boxes, crops, strict=True):
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
        ax.fill_between(
            rows["frequency"], rows["mean"] - rows["std"], rows["mean"] + rows["std"], color=colour, alpha=0.2
        )
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
        ax.text(
            column,
            row,
            str(value),
            ha="center",
            va="center",
            color="white" if value > counts.max() / 2 else "black",
            fontsize=14,
        )
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title)
    save_figure(fig, path)


def variance_figure(curve: pd.DataFrame, chosen: int | None, path: str | Path) -> None:
    """The paper's Figure 1: cumulative explained variance against the number of eigenfaces."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(curve["components"], curve["explained_variance"], linewidth=2)
    at_chosen = curve.loc[curve["components"] == chosen, "explained_variance"]
    if len(at_chosen):
        ax.axvline(chosen, color="red", linestyle="--", label=f"{chosen} components: {float(at_chosen.iloc[0]):.1%}")
        ax.legend(loc="lower right")
    ax.set_xlabel("number of components")
    ax.set_ylabel("cumulative explained variance")
    ax.set_ylim(0, 1)
    ax.set_title("Eigenfaces: explained variance")
    save_figure(fig, path)


def eigenfaces_figure(components: np.ndarray, path: str | Path, per_row: int = 8, side: int = 100) -> None:
    """The paper's Figure 5: the first eigenfaces, each stretched to the full grey range."""
    tiles = []
    for component in components:
        low, high = component.min(), component.max()
        scaled = np.zeros_like(component) if high == low else (component - low) / (high - low)
        tile = cv2.resize((scaled * 255).astype(np.uint8), (side, side), interpolation=cv2.INTER_AREA)
        tiles.append(np.pad(tile, 2, constant_values=255))
    while len(tiles) % per_row:
        tiles.append(np.full_like(tiles[0], 255))
    sheet = np.vstack([np.hstack(tiles[i : i + per_row]) for i in range(0, len(tiles), per_row)])
    write_with(path, lambda tmp: cv2.imwrite(str(tmp), sheet))


def confidence_figure(bars: pd.DataFrame, titles: dict[str, str], path: str | Path) -> None:
    """Grouped bars: mean +/- std confidence per ethnicity x gender cell, one colour per table."""
    cells = list(dict.fromkeys(bars["cell"]))
    tables = list(dict.fromkeys(bars["table"]))
    width = 0.8 / max(len(tables), 1)
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(cells)), 4.5))
    for offset, table in enumerate(tables):
        rows = bars[bars["table"] == table].set_index("cell").reindex(cells)
        positions = np.arange(len(cells)) + (offset - (len(tables) - 1) / 2) * width
        ax.bar(
            positions,
            rows["confidence_mean"].astype(float),
            width,
            yerr=rows["confidence_std"].astype(float),
            capsize=3,
            label=titles.get(table, table),
            alpha=0.8,
        )
    ax.set_xticks(range(len(cells)), cells, rotation=30, ha="right")
    ax.set_ylim(50, 100)
    ax.set_ylabel("confidence (%)")
    ax.set_title("Gender confidence per ethnicity x gender (mean +/- std)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    save_figure(fig, path)


def swap_sheet(triples: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], path: str | Path, side: int = 160) -> None:
    """Face swaps for a reader to judge: each row source | target | swap."""
    rows = [
        np.hstack([cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA) for image in triple])
        for triple in triples
    ]
    header = np.full((24, 3 * side, 3), 255, np.uint8)
    for column, label in enumerate(("source", "target", "swap")):
        cv2.putText(header, label, (column * side + 8, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    write_with(path, lambda tmp: cv2.imwrite(str(tmp), np.vstack([header, *rows])))
