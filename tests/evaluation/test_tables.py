"""pipeline.evaluation.tables: the per-cell tables, their gaps and the markdown, on small hand-made results."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from pipeline.evaluation.tables import (
    TABLE_COLUMNS,
    cell_table,
    evaluate_items,
    item_result,
    largest_gaps,
    sample_per_cell,
    table_summary,
    tables_markdown,
    video_result,
)
from pipeline.gender.model import FacePrediction

ETHNICITIES = ["African", "Caucasian"]
GENDERS = ["male", "female"]


def results(rows: list[tuple]) -> pd.DataFrame:
    """(ethnicity, gender, status, predicted, confidence) rows as evaluate_items returns them."""
    return pd.DataFrame(rows, columns=["ethnicity", "gender", "status", "predicted", "confidence"]).assign(
        path=[f"item{i}.jpg" for i in range(len(rows))], reason=None
    )


@pytest.fixture()
def scored() -> pd.DataFrame:
    return results(
        [
            ("African", "male", "ok", "male", 80.0),
            ("African", "male", "ok", "female", 60.0),
            ("African", "male", "no_face", None, None),  # not scored: left out of every figure
            ("African", "female", "ok", "female", 90.0),
            ("Caucasian", "male", "ok", "male", 70.0),
            ("Caucasian", "male", "ok", "male", 74.0),
            ("Caucasian", "male", "skipped", None, None),
            ("Asian (East)", "male", "ok", "male", 99.0),  # a group not asked for
        ]
    )


def test_cell_table_counts_means_sample_std_and_accuracy_per_cell(scored):
    table = cell_table(scored, ETHNICITIES, GENDERS)
    assert list(table.columns) == TABLE_COLUMNS
    assert list(zip(table["ethnicity"], table["gender"], strict=True)) == [
        ("African", "male"),
        ("African", "female"),
        ("Caucasian", "male"),
        ("Caucasian", "female"),
    ]
    african_men = table.iloc[0]
    assert african_men["n"] == 2 and african_men["confidence_mean"] == 70.0
    assert african_men["confidence_std"] == pytest.approx(math.sqrt(200), abs=1e-4)  # n-1: (10^2 + 10^2) / 1
    assert african_men["accuracy"] == 0.5
    african_women = table.iloc[1]
    assert african_women["n"] == 1 and african_women["confidence_mean"] == 90.0
    assert african_women["confidence_std"] is None or pd.isna(african_women["confidence_std"])  # one item: no std
    empty = table.iloc[3]
    assert empty["n"] == 0 and pd.isna(empty["confidence_mean"]) and pd.isna(empty["accuracy"])


def test_largest_gaps_name_the_highest_and_lowest_cells(scored):
    gaps = largest_gaps(cell_table(scored, ETHNICITIES, GENDERS))
    assert gaps["confidence_mean"] == {"gap": 20.0, "highest": "African women", "lowest": "African men"}
    assert gaps["accuracy"] == {"gap": 0.5, "highest": "African women", "lowest": "African men"}


def test_largest_gaps_need_two_known_cells():
    one = cell_table(results([("African", "male", "ok", "male", 80.0)]), ETHNICITIES, GENDERS)
    assert largest_gaps(one) == {"confidence_mean": None, "accuracy": None}


def test_table_summary_counts_every_item_and_names_the_skipped(scored):
    scored.loc[6, "reason"] = "cannot read image item6.jpg"
    summary = table_summary(scored, cell_table(scored, ETHNICITIES, GENDERS))
    assert summary["items"] == 8 and summary["scored"] == 6 and summary["no_face"] == 1
    assert summary["skipped"] == {"item6.jpg": "cannot read image item6.jpg"}
    assert summary["cells"]["African/men"]["n"] == 2
    json.dumps(summary)  # evaluation.json takes it as it is


def test_tables_markdown_puts_the_papers_numbers_beside_ours(scored):
    table = cell_table(scored, ETHNICITIES, GENDERS)
    text = tables_markdown({"table1": table}, {"table1": "Table 1: real faces"})
    assert "## Table 1: real faces" in text
    assert "| African | men | 2 | 70.00 | 14.14 | 0.500 | 70.84 | 7.78 |" in text
    assert "| Caucasian | women | 0 | - | - | - | 78.74 | 9.96 |" in text  # empty cell: dashes, paper still shown


def test_sample_per_cell_is_seeded_and_capped():
    items = pd.DataFrame(
        {
            "path": [f"{i:03d}.jpg" for i in range(40)],
            "ethnicity": ["African", "Caucasian"] * 20,
            "gender": ["male"] * 20 + ["female"] * 20,
        }
    )
    sample = sample_per_cell(items, 3, seed=7)
    assert sample.groupby(["ethnicity", "gender"]).size().tolist() == [3, 3, 3, 3]
    assert sample["path"].tolist() == sample_per_cell(items, 3, seed=7)["path"].tolist()
    assert sample["path"].tolist() == sorted(sample["path"])
    assert sample_per_cell(items, None, seed=7) is items


def test_item_and_video_results():
    faces = [FacePrediction((0, 0, 50, 50), "female", 88.5), FacePrediction((60, 0, 20, 20), "male", 70.0)]
    result = item_result(faces)
    assert result["status"] == "ok" and result["predicted"] == "female" and result["faces"] == 2
    assert json.loads(result["face_predictions"])[1] == {"box": [60, 0, 20, 20], "gender": "male", "confidence": 70.0}
    assert item_result([])["status"] == "no_face"
    video = video_result({"gender": "male", "confidence": 77.0, "frames": 5, "frames_with_face": 4})
    assert video == {"status": "ok", "faces": 4, "predicted": "male", "confidence": 77.0, "frames": 5}
    assert video_result({"gender": None, "frames": 3})["status"] == "no_face"


def test_evaluate_items_records_a_failing_item_as_skipped_with_its_reason():
    items = pd.DataFrame({"path": ["a.jpg", "b.jpg"], "ethnicity": ["African"] * 2, "gender": ["male"] * 2})

    def predict(item):
        if item["path"] == "b.jpg":
            raise ValueError("cannot read image b.jpg")
        return item_result([FacePrediction((0, 0, 10, 10), "male", 75.0)])

    out = evaluate_items(items, predict)
    assert out["status"].tolist() == ["ok", "skipped"]
    assert out.loc[1, "reason"] == "cannot read image b.jpg" and out.loc[0, "confidence"] == 75.0
    assert {"frames", "face_predictions"} <= set(out.columns)


def test_evaluate_items_on_two_workers_keeps_the_items_order():
    items = pd.DataFrame(
        {"path": [f"{i}.jpg" for i in range(21)], "ethnicity": ["African"] * 21, "gender": ["male"] * 21}
    )

    def predict(item):
        index = int(item["path"].split(".")[0])
        if index % 5 == 4:
            raise ValueError(f"cannot read image {item['path']}")
        return item_result([FacePrediction((0, 0, 10, 10), "male", 50.0 + index)])

    alone, shared = evaluate_items(items, predict), evaluate_items(items, predict, n_jobs=2)
    pd.testing.assert_frame_equal(alone, shared)
    assert shared["confidence"].tolist()[:4] == [50.0, 51.0, 52.0, 53.0] and shared.loc[4, "status"] == "skipped"
