"""DVC stage `evaluate-by-ethnicity`: the paper's Tables 1 and 2 from any labelled evaluation set.

The sets and how each item is scored are in pipeline.evaluation.sets; the
tables in pipeline.evaluation.tables. Unreadable or missing items are counted and
named, and the stage completes.
"""

from __future__ import annotations

from functools import partial

import pandas as pd

from pipeline.config import Config
from pipeline.data.datasets import read_videos
from pipeline.evaluation.sets import (
    ITEM_COLUMNS,
    TITLES,
    cell_metrics,
    confidence_bars,
    item_predictor,
    score_table,
    swap_examples,
    table_items,
    video_evaluation,
)
from pipeline.evaluation.tables import tables_markdown
from pipeline.figures import confidence_figure, swap_sheet
from pipeline.io import write_parquet
from pipeline.project import (
    CONFIDENCE_BY_CELL,
    CONFIDENCE_FIGURE,
    EIGEN_FEATURES,
    EVALUATION_METRICS,
    GENDER,
    ITEMS,
    RAW,
    SWAPS_FIGURE,
    TABLE_FILES,
    TABLES_MARKDOWN,
    TaskFiles,
    require,
    resolve_from_root,
)
from pipeline.serving.model_store import load_gender_model
from pipeline.stages.common import StageError, run_stage
from pipeline.tracking.publish import publish_csv, publish_figure, publish_json, publish_text
from pipeline.tracking.registry import version_of
from pipeline.tracking.runs import StageRun

FEATURE_COLUMNS = ["path", "dataset", "ethnicity", "gender", "role"]


def model_version(sha256: str) -> str:
    """The genrec-gender registry version whose run logged this model file, or 'unregistered'."""
    return version_of(GENDER.registered, sha256)


def evaluate_by_ethnicity(cfg: Config, run: StageRun) -> None:
    if cfg.evaluation is None or cfg.gender is None:
        raise StageError("params.yaml has no evaluation or gender section: run `genrec compose`")
    evaluation = cfg.evaluation
    # One detector and face normalization for every input; classes and input size from the model's record.
    model, record = load_gender_model(str(require(TaskFiles.of("gender").model)), cfg.crop)
    predict = item_predictor(model, evaluation.every_s, evaluation.max_frames)
    features = partial(pd.read_parquet, require(EIGEN_FEATURES), columns=FEATURE_COLUMNS)
    fakeavceleb_root = partial(resolve_from_root, evaluation.fakeavceleb_root)

    tables, summaries, all_results = {}, {}, []
    for name, source in (("table1", evaluation.table1), ("table2", evaluation.table2)):
        items = table_items(source, evaluation, cfg.seed, features, fakeavceleb_root)
        results, tables[name], summaries[name] = score_table(
            name, source, items, predict, evaluation.ethnicities, cfg.compute.n_jobs
        )
        all_results.append(results)

    items = pd.concat(all_results, ignore_index=True).reindex(columns=ITEM_COLUMNS)
    write_parquet(ITEMS, items.astype({"path": str}))
    for name, table in tables.items():
        publish_csv(run, TABLE_FILES[name], table)
    publish_text(run, TABLES_MARKDOWN, tables_markdown(tables, TITLES))
    bars = confidence_bars(tables)
    publish_csv(run, CONFIDENCE_BY_CELL, bars[["table", "cell", "confidence_mean", "confidence_std", "n"]])
    publish_figure(run, CONFIDENCE_FIGURE, partial(confidence_figure, bars, TITLES))
    swaps = items[(items["media"] == "swap") & (items["status"] != "skipped")].head(evaluation.swap_sheet)
    if len(swaps):
        publish_figure(run, SWAPS_FIGURE, partial(swap_sheet, swap_examples(swaps)))

    # The registry version depends on the MLflow store, so it goes to the run's tags, not to the DVC output:
    # evaluation.json stays byte-identical on every machine that rebuilds it.
    metrics = {**summaries, "model": {"sha256": record["sha256"]}}
    if evaluation.videos:
        videos = read_videos(cfg.datasets[evaluation.videos], RAW)
        metrics["videos"] = video_evaluation(videos, model, evaluation.every_s, evaluation.max_frames)
    publish_json(run, EVALUATION_METRICS, metrics)

    run.tags["genrec.gender_model_version"] = model_version(record["sha256"])
    run.tags["genrec.gender_model_sha256"] = record["sha256"]
    run.log_metrics(cell_metrics(summaries))


def main() -> None:
    run_stage("evaluate-by-ethnicity", ["seed", "evaluation", "gender", "crop"], evaluate_by_ethnicity)


if __name__ == "__main__":
    main()
