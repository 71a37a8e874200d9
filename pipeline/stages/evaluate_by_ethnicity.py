"""DVC stage `evaluate-by-ethnicity`: the paper's Tables 1 and 2 from any labelled evaluation set.

Table sources (config group `evaluation`):
- utkface_heldout / fairface_heldout: UTKFace's or FairFace's held-out adults (extract-eigen's `test`
  faces), real;
- utkface_swaps: the same targets, each wearing the inner face of another held-out
  face of the same race and gender (pipeline.faceswap), fake;
- fakeavceleb: FakeAVCeleb's metadata and videos, one `type` per table.
A seeded sample of `per_cell` items per ethnicity x gender cell; unreadable or
missing items are counted and named, and the stage completes.
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from pipeline.config import Config, TableSource
from pipeline.datasets import read_dataset
from pipeline.datasets.fakeavceleb import read as read_fakeavceleb
from pipeline.evaluation import (
    GENDER_WORDS,
    cell_table,
    evaluate_items,
    item_result,
    sample_per_cell,
    table_summary,
    tables_markdown,
    video_result,
)
from pipeline.faceswap import pair_sources, swap_face
from pipeline.faces import to_gray
from pipeline.gender import GenderModel, video_gender
from pipeline.io import write_csv, write_json, write_parquet, write_with
from pipeline.report import confidence_figure, swap_sheet
from pipeline.stages.common import (
    DATA,
    EIGEN_FEATURES,
    FIGURES,
    METRICS,
    MODELS,
    PLOTS,
    RAW,
    StageError,
    log,
    require,
    resolve_from_root,
    run_stage,
)
from pipeline.tracking import StageRun
from pipeline.video import VideoError, sample_frames

ITEMS = DATA / "evaluation" / "items.parquet"
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


def read_image(path: str) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot read image {path}")
    return image


def heldout_faces(cfg: Config, dataset: str) -> pd.DataFrame:
    """A source's held-out adults (the gender model's test faces) in the configured groups."""
    table = pd.read_parquet(
        require(EIGEN_FEATURES, "extract-eigen"), columns=["path", "dataset", "ethnicity", "gender", "role"]
    )
    test = table[
        (table["role"] == "test") & (table["dataset"] == dataset) & table["ethnicity"].isin(cfg.evaluation.ethnicities)
    ]
    return test[["path", "ethnicity", "gender"]].astype(object).reset_index(drop=True)


def fakeavceleb_items(cfg: Config, source: TableSource) -> pd.DataFrame:
    root = resolve_from_root(cfg.evaluation.fakeavceleb_root)
    if not (root / "meta_data.csv").is_file():
        raise StageError(
            f"FakeAVCeleb's meta_data.csv is not in {root}: set evaluation.fakeavceleb_root "
            "(the videos are released on request by the data set's authors)"
        )
    rows = read_fakeavceleb(root)
    rows = rows[
        (rows["subset"] == source.type) & rows["ethnicity"].isin(cfg.evaluation.ethnicities) & rows["gender"].notna()
    ]
    items = rows[["path", "ethnicity", "gender"]].astype(object).reset_index(drop=True)
    return sample_per_cell(items, cfg.evaluation.per_cell, cfg.seed).assign(media="video", source=None)


def table_items(cfg: Config, source: TableSource) -> pd.DataFrame:
    if source.source == "fakeavceleb":
        return fakeavceleb_items(cfg, source)
    heldout = heldout_faces(cfg, source.source.split("_")[0])
    targets = sample_per_cell(heldout, cfg.evaluation.per_cell, cfg.seed)
    if source.source.endswith("_heldout"):
        return targets.assign(media="image", source=None)
    sources = pair_sources(targets, heldout, ["ethnicity", "gender"], cfg.seed)
    return targets.assign(media="swap", source=sources.to_numpy())


def predictor_for(cfg: Config, model: GenderModel):
    """One item -> its result: an image, a face swap made on the fly, or a video's sampled frames."""

    def predict(item: pd.Series) -> dict:
        if item["media"] == "video":
            try:
                frames = sample_frames(item["path"], cfg.evaluation.every_s, cfg.evaluation.max_frames)
            except VideoError as error:
                raise ValueError(str(error)) from None
            faces = [model.faces(to_gray(f.image), largest_only=True) for f in frames]
            return video_result(video_gender(faces, model.classes))
        image = read_image(item["path"])
        if item["media"] == "swap":
            if not isinstance(item["source"], str):
                raise ValueError(f"no other face of the same race and gender to swap into {item['path']}")
            image = swap_face(read_image(item["source"]), image)
        return item_result(model.faces(to_gray(image)))

    return predict


def labelled_videos(cfg: Config, model: GenderModel) -> dict:
    """Per-video gender and confidence on the labelled real/fake videos."""
    source = cfg.datasets[cfg.evaluation.videos]
    videos = read_dataset(source.reader, RAW / source.name / source.root, source.name, **source.options)
    items = videos[["path", "gender", "real_fake"]].astype(object).assign(media="video", source=None, ethnicity=None)
    results = evaluate_items(items, predictor_for(cfg, model))
    scored = results[(results["status"] == "ok") & results["gender"].notna()]
    return {
        "videos": [
            {
                k: (None if pd.isna(v) else v)
                for k, v in row.items()
                if k in ("path", "gender", "real_fake", "status", "predicted", "confidence", "frames", "reason")
            }
            for row in results.to_dict("records")
        ],
        "accuracy": round(float((scored["predicted"] == scored["gender"]).mean()), 4) if len(scored) else None,
        "confidence_mean": {
            label: round(float(rows["confidence"].astype(float).mean()), 2)
            for label, rows in scored.groupby("real_fake", sort=True)
        },
    }


def model_version(sha256: str) -> str:
    """The genrec-gender registry version whose run logged this model file, or 'unregistered'."""
    import mlflow

    from pipeline.tracking import tracking_uri

    mlflow.set_tracking_uri(tracking_uri())
    client = mlflow.MlflowClient()
    for version in client.search_model_versions("name='genrec-gender'"):
        if client.get_run(version.run_id).data.tags.get("genrec.model_sha256") == sha256:
            return str(version.version)
    return "unregistered"


def evaluate_by_ethnicity(cfg: Config, run: StageRun) -> None:
    if cfg.evaluation is None or cfg.gender is None:
        raise StageError("params.yaml has no evaluation or gender section: run `genrec compose`")
    model_path = require(MODELS / "gender.joblib", "grid-search@gender")
    model = GenderModel.load(model_path, cfg.crop)  # one detector and face normalization for every input
    record = pd.read_json(model_path.with_suffix(".json"), typ="series")

    tables, summaries, all_results = {}, {}, []
    for name, source in (("table1", cfg.evaluation.table1), ("table2", cfg.evaluation.table2)):
        items = table_items(cfg, source)
        results = evaluate_items(items, predictor_for(cfg, model)).assign(table=name)
        tables[name] = cell_table(results, list(cfg.evaluation.ethnicities), GENDERS)
        summaries[name] = {"source": source.source, "type": source.type, **table_summary(results, tables[name])}
        all_results.append(results)
        log.info(
            "%s (%s): %d items, %d scored, %d without a face, %d skipped",
            name,
            source.source,
            len(results),
            summaries[name]["scored"],
            summaries[name]["no_face"],
            len(summaries[name]["skipped"]),
        )

    items = pd.concat(all_results, ignore_index=True).reindex(columns=ITEM_COLUMNS)
    write_parquet(ITEMS, items.astype({"path": str}))
    for name, table in tables.items():
        write_csv(METRICS / f"{name}.csv", table)
    write_with(METRICS / "tables.md", lambda tmp: tmp.write_text(tables_markdown(tables, TITLES), encoding="utf-8"))
    bars = pd.concat(
        [
            table.assign(table=name, cell=table["ethnicity"] + " " + table["gender"].map(GENDER_WORDS))
            for name, table in tables.items()
        ],
        ignore_index=True,
    )
    write_csv(PLOTS / "confidence_by_cell.csv", bars[["table", "cell", "confidence_mean", "confidence_std", "n"]])
    confidence_figure(bars, TITLES, FIGURES / "confidence_by_cell.png")
    swaps = items[(items["media"] == "swap") & (items["status"] != "skipped")].head(cfg.evaluation.swap_sheet)
    if len(swaps):
        swap_sheet(
            [
                (read_image(r.source), read_image(r.path), swap_face(read_image(r.source), read_image(r.path)))
                for r in swaps.itertuples()
            ],
            FIGURES / "face_swaps.png",
        )

    # The registry version depends on the MLflow store, so it goes to the run's tags, not to the DVC output:
    # evaluation.json stays byte-identical on every machine that rebuilds it.
    evaluation = {**summaries, "model": {"sha256": record["sha256"]}}
    if cfg.evaluation.videos:
        evaluation["videos"] = labelled_videos(cfg, model)
    write_json(METRICS / "evaluation.json", evaluation)

    run.tags["genrec.gender_model_version"] = model_version(record["sha256"])
    run.tags["genrec.gender_model_sha256"] = record["sha256"]
    run.log_metrics(
        {
            f"{name}/{cell}/{key}": value
            for name, summary in summaries.items()
            for cell, values in summary["cells"].items()
            for key, value in values.items()
            if value is not None
        }
    )
    for path in (
        METRICS / "table1.csv",
        METRICS / "table2.csv",
        METRICS / "tables.md",
        METRICS / "evaluation.json",
        FIGURES / "confidence_by_cell.png",
        PLOTS / "confidence_by_cell.csv",
    ):
        run.log_artifact(path)
    if len(swaps):
        run.log_artifact(FIGURES / "face_swaps.png")


def main() -> None:
    run_stage("evaluate-by-ethnicity", ["seed", "evaluation", "gender", "crop"], evaluate_by_ethnicity)


if __name__ == "__main__":
    main()
