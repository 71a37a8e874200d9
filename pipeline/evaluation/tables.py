"""The paper's Tables 1 and 2: confidence of the gender model per ethnicity x gender cell.

An evaluation set is a table of items (images or videos) with ethnicity and
gender labels. Each item is run through the gender model (a video: its sampled
frames' largest faces); each cell reports n, the mean and standard deviation of
the confidence (%), and the accuracy.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import cv2
import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from pipeline.gender.model import FacePrediction

TABLE_COLUMNS = ["ethnicity", "gender", "n", "confidence_mean", "confidence_std", "accuracy"]
GENDER_WORDS = {"male": "men", "female": "women"}

# The seed paper's numbers (FakeAVCeleb, 25 clips per cell): (mean, std) of the confidence, cell by cell.
PAPER_CELLS = [
    (ethnicity, gender) for ethnicity in ("African", "Asian (East)", "Caucasian") for gender in ("male", "female")
]
PAPER = {
    table: dict(zip(PAPER_CELLS, values, strict=True))
    for table, values in (
        ("table1", [(70.84, 7.78), (76.21, 10.30), (72.56, 9.99), (82.42, 12.95), (75.35, 7.68), (78.74, 9.96)]),
        ("table2", [(67.51, 8.75), (72.93, 12.89), (68.66, 8.27), (81.27, 12.80), (78.50, 11.04), (76.58, 11.17)]),
    )
}


def sample_per_cell(items: pd.DataFrame, per_cell: int | None, seed: int) -> pd.DataFrame:
    """A seeded sample of at most `per_cell` items per ethnicity x gender cell (all when None)."""
    if not per_cell:
        return items
    parts = [
        cell.sample(n=min(per_cell, len(cell)), random_state=seed)
        for _, cell in items.groupby(["ethnicity", "gender"], sort=True)
    ]
    return pd.concat(parts).sort_values("path", kind="stable") if parts else items.iloc[:0]


def item_result(faces: list[FacePrediction]) -> dict:
    """An image's result from its faces (largest first): the largest face's gender and confidence."""
    if not faces:
        return {"status": "no_face", "faces": 0, "predicted": None, "confidence": None, "face_predictions": "[]"}
    return {
        "status": "ok",
        "faces": len(faces),
        "predicted": faces[0].gender,
        "confidence": faces[0].confidence,
        "face_predictions": json.dumps([face.as_dict() for face in faces]),
    }


def video_result(summary: dict) -> dict:
    """A video's result from its summary (pipeline.gender.videos.gender_of_frames)."""
    if summary["gender"] is None:
        return {"status": "no_face", "faces": 0, "predicted": None, "confidence": None, "frames": summary["frames"]}
    return {
        "status": "ok",
        "faces": summary["frames_with_face"],
        "predicted": summary["gender"],
        "confidence": summary["confidence"],
        "frames": summary["frames"],
    }


def item_results(items: pd.DataFrame, predict: Callable[[pd.Series], dict]) -> list[dict]:
    """Each item's row and result, in order; an item `predict` cannot read is skipped with the reason."""
    results = []
    for _, item in items.iterrows():
        try:
            result = predict(item)
        except (OSError, ValueError, RuntimeError) as error:
            result = {"status": "skipped", "faces": 0, "predicted": None, "confidence": None, "reason": str(error)}
        results.append({**item.to_dict(), **result})
    return results


def worker_item_results(items: pd.DataFrame, predict: Callable[[pd.Series], dict]) -> list[dict]:
    """item_results in a joblib worker: parallelism comes from the workers, not from OpenCV's threads (set
    here, so the calling process keeps its own OpenCV threading)."""
    cv2.setNumThreads(1)
    return item_results(items, predict)


def evaluate_items(items: pd.DataFrame, predict: Callable[[pd.Series], dict], n_jobs: int = 1) -> pd.DataFrame:
    """Each item's result; `predict` raises OSError/ValueError-like errors for unreadable items,
    which are recorded as skipped with the reason, never fatal. With n_jobs != 1 the items are
    scored in contiguous chunks by joblib's workers; the rows keep the items' order."""
    if n_jobs == 1 or len(items) < 2:
        results = item_results(items, predict)
    else:
        chunks = [items.iloc[rows] for rows in np.array_split(np.arange(len(items)), 8) if len(rows)]
        parts = Parallel(n_jobs=n_jobs)(delayed(worker_item_results)(chunk, predict) for chunk in chunks)
        results = [row for part in parts for row in part]
    columns = ["status", "faces", "predicted", "confidence", "frames", "reason", "face_predictions"]
    frame = pd.DataFrame(results)
    for column in columns:
        if column not in frame:
            frame[column] = None
    return frame


def cell_table(results: pd.DataFrame, ethnicities: list[str], genders: list[str]) -> pd.DataFrame:
    """n, mean and sample standard deviation of the confidence, and accuracy, per cell (scored items only)."""
    rows = []
    for ethnicity in ethnicities:
        for gender in genders:
            cell = results[
                (results["ethnicity"] == ethnicity) & (results["gender"] == gender) & (results["status"] == "ok")
            ]
            confidence = cell["confidence"].astype(float)
            rows.append(
                {
                    "ethnicity": ethnicity,
                    "gender": gender,
                    "n": int(len(cell)),
                    "confidence_mean": round(float(confidence.mean()), 4) if len(cell) else None,
                    "confidence_std": round(float(confidence.std(ddof=1)), 4) if len(cell) > 1 else None,
                    "accuracy": round(float((cell["predicted"] == gender).mean()), 4) if len(cell) else None,
                }
            )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def largest_gaps(table: pd.DataFrame) -> dict:
    """The largest difference between two cells, in mean confidence and in accuracy, and which cells."""
    gaps = {}
    for column in ("confidence_mean", "accuracy"):
        known = table.dropna(subset=[column])
        if len(known) < 2:
            gaps[column] = None
            continue
        high, low = known.loc[known[column].idxmax()], known.loc[known[column].idxmin()]
        gaps[column] = {
            "gap": round(float(high[column] - low[column]), 4),
            "highest": f"{high['ethnicity']} {GENDER_WORDS[high['gender']]}",
            "lowest": f"{low['ethnicity']} {GENDER_WORDS[low['gender']]}",
        }
    return gaps


def table_summary(results: pd.DataFrame, table: pd.DataFrame) -> dict:
    """evaluation.json's part for one table: cells, gaps, and counts of items not scored."""
    skipped = results[results["status"] == "skipped"]
    return {
        "cells": {
            f"{row.ethnicity}/{GENDER_WORDS[row.gender]}": {
                "n": row.n,
                "confidence_mean": row.confidence_mean,
                "confidence_std": row.confidence_std,
                "accuracy": row.accuracy,
            }
            for row in table.itertuples()
        },
        "largest_gap": largest_gaps(table),
        "items": int(len(results)),
        "scored": int((results["status"] == "ok").sum()),
        "no_face": int((results["status"] == "no_face").sum()),
        "skipped": {str(row.path): str(row.reason) for row in skipped.itertuples()},
    }


def _cell(value, digits: int = 2) -> str:
    return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"


def tables_markdown(tables: dict[str, pd.DataFrame], titles: dict[str, str]) -> str:
    """Both tables in the paper's layout, the paper's numbers beside ours."""
    lines = [
        "# Confidence of the gender model per ethnicity x gender",
        "",
        "Mean and standard deviation of the confidence (%) of the predicted gender, as in the paper's",
        "Tables 1 and 2 (paper: FakeAVCeleb, 25 clips per cell); accuracy and n are ours only.",
        "",
    ]
    for name, table in tables.items():
        lines += [
            f"## {titles[name]}",
            "",
            "| ethnicity | gender | n | mean | std | accuracy | paper mean | paper std |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for row in table.itertuples():
            paper = PAPER.get(name, {}).get((row.ethnicity, row.gender))
            lines.append(
                f"| {row.ethnicity} | {GENDER_WORDS[row.gender]} | {row.n} | {_cell(row.confidence_mean)} | "
                f"{_cell(row.confidence_std)} | {_cell(row.accuracy, 3)} | "
                f"{_cell(paper[0] if paper else None)} | {_cell(paper[1] if paper else None)} |"
            )
        lines.append("")
    return "\n".join(lines)
