"""The items behind Tables 1 and 2, and how the gender model scores each one.

Table sources (config group `evaluation`):
- utkface_heldout / fairface_heldout: UTKFace's or FairFace's held-out adults (extract-eigen's `test`
  faces), real;
- utkface_swaps: the same targets, each wearing the inner face of another held-out
  face of the same race and gender (pipeline.evaluation.faceswap), fake;
- fakeavceleb: FakeAVCeleb's metadata and videos, one `type` per table.
A seeded sample of `per_cell` items per ethnicity x gender cell. A video item
goes through pipeline.gender.videos, as grid-search's labelled videos do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import EvaluationConfig, TableSource
from pipeline.data.datasets.fakeavceleb import read as read_fakeavceleb
from pipeline.data.images import read_image
from pipeline.data.video import VideoError, sample_frames
from pipeline.errors import StageError
from pipeline.evaluation.faceswap import pair_sources, swap_face
from pipeline.evaluation.tables import (
    GENDER_WORDS,
    cell_table,
    evaluate_items,
    item_result,
    sample_per_cell,
    table_summary,
    video_result,
)
from pipeline.gender.model import GenderModel
from pipeline.gender.videos import gender_of_frames

GENDERS = ["male", "female"]
TITLES = {"table1": "Table 1: real faces", "table2": "Table 2: fake faces"}
ITEM_COLUMNS = [
    "table",
    "path",
    "source",
    "media",
    "ethnicity",
    "gender",
    "status",
    "faces",
    "frames",
    "predicted",
    "confidence",
    "reason",
    "face_predictions",
]
log = logging.getLogger("genrec")
VIDEO_FIELDS = ("path", "gender", "real_fake", "status", "predicted", "confidence", "frames", "reason")


def image_at(path: str) -> np.ndarray:
    """The item's photo (pipeline.data.images.read_image); an undecodable one fails the item (a counted skip)."""
    image = read_image(path)
    if image is None:
        raise ValueError(f"cannot read image {path}")
    return image


def heldout_faces(features: pd.DataFrame, dataset: str, ethnicities) -> pd.DataFrame:
    """A source's held-out adults (the gender model's test faces) in the configured groups."""
    test = features[
        (features["role"] == "test") & (features["dataset"] == dataset) & features["ethnicity"].isin(ethnicities)
    ]
    return test[["path", "ethnicity", "gender"]].astype(object).reset_index(drop=True)


def fakeavceleb_items(root: Path, source: TableSource, evaluation: EvaluationConfig, seed: int) -> pd.DataFrame:
    if not (root / "meta_data.csv").is_file():
        raise StageError(
            f"FakeAVCeleb's meta_data.csv is not in {root}: set evaluation.fakeavceleb_root "
            "(the videos are released on request by the data set's authors)"
        )
    rows = read_fakeavceleb(root)
    rows = rows[
        (rows["subset"] == source.type) & rows["ethnicity"].isin(evaluation.ethnicities) & rows["gender"].notna()
    ]
    items = rows[["path", "ethnicity", "gender"]].astype(object).reset_index(drop=True)
    return sample_per_cell(items, evaluation.per_cell, seed).assign(media="video", source=None)


def table_items(
    source: TableSource,
    evaluation: EvaluationConfig,
    seed: int,
    features: Callable[[], pd.DataFrame],
    fakeavceleb_root: Callable[[], Path],
) -> pd.DataFrame:
    """One table's items: `features()` gives extract-eigen's table, `fakeavceleb_root()` FakeAVCeleb's folder."""
    if source.source == "fakeavceleb":
        return fakeavceleb_items(fakeavceleb_root(), source, evaluation, seed)
    heldout = heldout_faces(features(), source.source.split("_")[0], evaluation.ethnicities)
    targets = sample_per_cell(heldout, evaluation.per_cell, seed)
    if source.source.endswith("_heldout"):
        return targets.assign(media="image", source=None)
    sources = pair_sources(targets, heldout, ["ethnicity", "gender"], seed)
    return targets.assign(media="swap", source=sources.to_numpy())


def item_predictor(model: GenderModel, every_s: float, max_frames: int) -> Callable[[pd.Series], dict]:
    """One item -> its result: an image, a face swap made on the fly, or a video's sampled frames."""

    def predict(item: pd.Series) -> dict:
        if item["media"] == "video":
            try:
                frames = sample_frames(item["path"], every_s, max_frames)
            except VideoError as error:
                raise ValueError(str(error)) from None
            return video_result(gender_of_frames(frames, model))
        image = image_at(item["path"])
        if item["media"] == "swap":
            if not isinstance(item["source"], str):
                raise ValueError(f"no other face of the same race and gender to swap into {item['path']}")
            image = swap_face(image_at(item["source"]), image)
        return item_result(model.faces(image))

    return predict


def video_evaluation(videos: pd.DataFrame, model: GenderModel, every_s: float, max_frames: int) -> dict:
    """Per-video gender and confidence on labelled real/fake videos (evaluation.json's `videos`)."""
    items = videos[["path", "gender", "real_fake"]].astype(object).assign(media="video", source=None, ethnicity=None)
    results = evaluate_items(items, item_predictor(model, every_s, max_frames))
    scored = results[(results["status"] == "ok") & results["gender"].notna()]
    return {
        "videos": [
            {k: (None if pd.isna(v) else v) for k, v in row.items() if k in VIDEO_FIELDS}
            for row in results.to_dict("records")
        ],
        "accuracy": round(float((scored["predicted"] == scored["gender"]).mean()), 4) if len(scored) else None,
        "confidence_mean": {
            label: round(float(rows["confidence"].astype(float).mean()), 2)
            for label, rows in scored.groupby("real_fake", sort=True)
        },
    }


def confidence_bars(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every cell of both tables, named for the bar plot (`African women`)."""
    return pd.concat(
        [
            table.assign(table=name, cell=table["ethnicity"] + " " + table["gender"].map(GENDER_WORDS))
            for name, table in tables.items()
        ],
        ignore_index=True,
    )


def swap_examples(swaps: pd.DataFrame) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(source, target, swapped) images of these swap items, for the sample sheet."""
    return [
        (image_at(r.source), image_at(r.path), swap_face(image_at(r.source), image_at(r.path)))
        for r in swaps.itertuples()
    ]


def score_table(
    name: str,
    source: TableSource,
    items: pd.DataFrame,
    predict: Callable[[pd.Series], dict],
    ethnicities,
    n_jobs: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """One table's per-item results (scored by n_jobs workers), its per-cell table and its part of
    evaluation.json."""
    results = evaluate_items(items, predict, n_jobs).assign(table=name)
    table = cell_table(results, list(ethnicities), GENDERS)
    summary = {"source": source.source, "type": source.type, **table_summary(results, table)}
    log.info(
        "%s (%s): %d items, %d scored, %d without a face, %d skipped",
        name,
        source.source,
        len(results),
        summary["scored"],
        summary["no_face"],
        len(summary["skipped"]),
    )
    return results, table, summary


def cell_metrics(summaries: dict[str, dict]) -> dict[str, float]:
    """One MLflow metric per table, cell and figure (`table2/African/women/confidence_mean`)."""
    return {
        f"{name}/{cell}/{key}": value
        for name, summary in summaries.items()
        for cell, values in summary["cells"].items()
        for key, value in values.items()
        if value is not None
    }
