"""DVC stage `grid-search@<task>`: tune, refit with calibrated probabilities, evaluate on held-out data.

Tasks: `gender` (female vs male, face features from extract-eigen) and
`fake` (real vs GAN-generated, spectrum features).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from pipeline.config import Config, SearchConfig
from pipeline.datasets import read_dataset
from pipeline.fake_video import frame_scores, video_score
from pipeline.gender import GenderModel, photo_detector, video_gender
from pipeline.features.spectrum import feature_columns
from pipeline.io import write_csv, write_json
from pipeline.models import (
    calibrated_fit, confusion_counts, confusion_table, evaluate, fake_probability, load_verified, roc_table,
    save_model, search_candidates,
)
from pipeline.registry import review_challenger
from pipeline.report import confusion_figure, roc_figure
from pipeline.stages.common import (
    CROPS, EIGEN_FEATURES, EIGEN_TRANSFORMER, FIGURES, METRICS, MODELS, PLOTS, RAW, SPECTRUM, StageError, log, require,
    run_stage,
)
from pipeline.tracking import StageRun
from pipeline.video import VideoError, sample_frames

REGISTERED = {"fake": "genrec-fakeface", "gender": "genrec-gender"}
CLASSES = {"fake": ["real", "fake"], "gender": ["female", "male"]}


def fake_task_data(cfg: Config) -> tuple[pd.DataFrame, list[str], np.ndarray]:
    table = pd.read_parquet(require(SPECTRUM, "extract-spectrum"))
    columns = feature_columns(cfg.spectrum.n_points)
    labels = (table["real_fake"] == "fake").astype(int).to_numpy()
    return table, columns, labels


def labelled_videos(cfg: Config) -> pd.DataFrame:
    """The labelled video set named by spectrum.videos.dataset."""
    name = cfg.spectrum.videos.dataset
    if name not in cfg.datasets:
        raise StageError(f"spectrum.videos.dataset names {name!r}, which datasets does not define")
    source = cfg.datasets[name]
    return read_dataset(source.reader, RAW / source.name / source.root, source.name, **source.options)


def sampled_frames(videos: pd.DataFrame, cfg: Config, skipped: dict) -> Iterator[tuple[Any, list]]:
    """Each readable video's row with its sampled frames, one video at a time; unreadable ones go to `skipped`."""
    videos_cfg = cfg.spectrum.videos
    for row in videos.itertuples():
        try:
            frames = sample_frames(row.path, videos_cfg.every_s, videos_cfg.max_frames)
        except VideoError as error:
            skipped[row.path] = str(error)
            log.warning("skipped video: %s", error)
            continue
        yield row, frames


def score_videos(cfg: Config, model) -> dict:
    """Frame- and video-level fake scores on the labelled videos; unreadable ones are counted and named."""
    videos_cfg = cfg.spectrum.videos
    videos = labelled_videos(cfg)
    frame_detector = dataclasses.replace(
        cfg.crop, detect_side=videos_cfg.detect_side, min_face=videos_cfg.min_face, padding=0.0
    )
    results, skipped = [], {}
    for row, frames in sampled_frames(videos, cfg, skipped):
        scores = frame_scores(frames, model, frame_detector, cfg.spectrum.n_points, videos_cfg.face_scale)
        gender = None if pd.isna(row.gender) else row.gender
        results.append({"path": row.path, "label": row.real_fake, "gender": gender, **video_score(scores),
                        "frame_scores": scores})
    scored = [r for r in results if r["predicted_mean"] is not None]
    frames = [(s["fake_probability"] >= 0.5, r["label"] == "fake") for r in scored for s in r["frame_scores"]
              if s["fake_probability"] is not None]
    summary = {
        "videos": len(videos), "scored": len(scored), "skipped": len(skipped),
        "without_face": len(results) - len(scored),
        "accuracy_mean": _share([r["predicted_mean"] == r["label"] for r in scored]),
        "accuracy_vote": _share([r["predicted_vote"] == r["label"] for r in scored]),
        "frame_accuracy": _share([predicted == actual for predicted, actual in frames]),
    }
    return {"summary": summary, "videos": results, "skipped": skipped}


def _share(flags: list[bool]) -> float | None:
    return round(float(np.mean(flags)), 6) if flags else None


def log_model(run: StageRun, model, X: np.ndarray, name: str) -> None:
    """Log the model with its signature and an input example, and register it."""
    def callback() -> None:
        import mlflow
        from mlflow.models import infer_signature
        from skops.io import dumps, get_untrusted_types

        signature = infer_signature(X[:20], model.predict_proba(X[:20]))
        # MLflow stores sklearn models with skops: trust the types of the model we just built.
        trusted = get_untrusted_types(data=dumps(model))
        mlflow.sklearn.log_model(
            model, name="model", signature=signature, input_example=X[:2],
            registered_model_name=name, skops_trusted_types=trusted,
        )
    run.in_run(callback)


@dataclass
class TaskData:
    """One task's features, labels and roles, as grid-search needs them."""

    table: pd.DataFrame
    columns: list[str]
    y: np.ndarray
    train: np.ndarray
    test: np.ndarray
    search: SearchConfig


def fake_task(cfg: Config) -> TaskData:
    table, columns, y = fake_task_data(cfg)
    split = table["split"]
    return TaskData(table, columns, y, (split == "train").to_numpy(), (split == "test").to_numpy(), cfg.fake_search)


def gender_task(cfg: Config) -> TaskData:
    table = pd.read_parquet(require(EIGEN_FEATURES, "extract-eigen"))
    columns = load_verified(require(EIGEN_TRANSFORMER, "extract-eigen"))[1]["features"]
    y = (table["gender"] == CLASSES["gender"][1]).astype(int).to_numpy()
    role = table["role"]
    return TaskData(table, columns, y, (role == "train").to_numpy(), (role == "test").to_numpy(), cfg.gender_search)


def accuracy_by(table: pd.DataFrame, column: str, y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Accuracy per value of `column` (rows without a value are left out)."""
    correct = pd.Series(y == predicted, index=table.index)
    known = table[column].notna()
    return {str(value): round(float(correct[members.index].mean()), 6)
            for value, members in table[known].groupby(column, sort=True)}


def gender_extras(cfg: Config, data: TaskData, model) -> dict:
    """Per-group test accuracy, the gap between ethnic groups, and the cross-dataset accuracy."""
    test = data.table[data.test]
    predicted = model.predict(test[data.columns].to_numpy())
    by_ethnicity = accuracy_by(test, "ethnicity", data.y[data.test], predicted)
    extras = {
        "test": {
            "accuracy_by_group": by_ethnicity,
            "accuracy_gap": round(max(by_ethnicity.values()) - min(by_ethnicity.values()), 6) if by_ethnicity else None,
            "accuracy_by_gender": accuracy_by(test, "gender", data.y[data.test], predicted),
        },
        "cross_dataset": {},
    }
    cross = data.table[data.table["role"] == "cross"]
    for dataset, rows in cross.groupby("dataset", sort=True):
        y = (rows["gender"] == CLASSES["gender"][1]).astype(int).to_numpy()
        extras["cross_dataset"][str(dataset)] = {**evaluate(y, model.predict_proba(rows[data.columns].to_numpy())[:, 1]),
                                                 "n": int(len(rows))}
    return extras


def gender_videos(cfg: Config, predictor: GenderModel) -> dict:
    """The gender model on the labelled videos: each video's gender and mean confidence."""
    videos = labelled_videos(cfg)
    results, skipped = [], {}
    for row, frames in sampled_frames(videos, cfg, skipped):
        faces = [predictor.faces(cv2.cvtColor(f.image, cv2.COLOR_BGR2GRAY), largest_only=True) for f in frames]
        label = None if pd.isna(row.gender) else row.gender
        results.append({"path": row.path, "label": label, "real_fake": row.real_fake,
                        **video_gender(faces, predictor.classes)})
    scored = [r for r in results if r["gender"] is not None and r["label"] is not None]
    summary = {"videos": len(videos), "scored": len(scored), "skipped": len(skipped),
               "without_face": sum(r["gender"] is None for r in results),
               "accuracy": _share([r["gender"] == r["label"] for r in scored])}
    return {"summary": summary, "videos": results, "skipped": skipped}


def grid_search(task: str, cfg: Config, run: StageRun) -> None:
    loaders = {"fake": (fake_task, cfg.fake_search), "gender": (gender_task, cfg.gender_search)}
    if task not in loaders or loaders[task][1] is None:
        raise StageError(f"grid-search has no task {task!r} configured (models.{task})")
    data = loaders[task][0](cfg)
    search_cfg, y, train, test = data.search, data.y, data.train, data.test
    X = data.table[data.columns].to_numpy()
    if len(np.unique(y[train])) < 2:
        raise StageError(f"the {task} training rows hold only one class: check the task's datasets")

    n_jobs = cfg.compute.n_jobs
    result = search_candidates(X[train], y[train], search_cfg, cfg.seed, n_jobs)
    log.info("%s: CV %.4f with %s %s; refitting on %d rows", task, result.best_score, result.best_candidate,
             result.best_params, int(train.sum()))
    model = calibrated_fit(result.estimator(), X[train], y[train], search_cfg, cfg.seed, n_jobs)
    proba = fake_probability(model, X[test])
    predicted = (proba >= 0.5).astype(int)
    test_metrics = evaluate(y[test], proba)

    candidates = {}
    for name, search in result.searches.items():
        fitted = model if name == result.best_candidate else calibrated_fit(
            result.estimator(name), X[train], y[train], search_cfg, cfg.seed, n_jobs
        )
        candidates[name] = {
            "cv_score": float(search.best_score_),
            "test_accuracy": evaluate(y[test], fake_probability(fitted, X[test]))["accuracy"],
        }
    metrics = {
        "cv": {"best_score": result.best_score, "best_params": result.best_params, "best_candidate": result.best_candidate,
               "searched_rows": result.searched_rows, "strategy": search_cfg.strategy},
        "train": evaluate(y[train], fake_probability(model, X[train])),
        "test": test_metrics,
        "candidates": candidates,
        "n": {"train": int(train.sum()), "test": int(test.sum())},
    }
    if task == "gender":
        extras = gender_extras(cfg, data, model)
        metrics["test"].update(extras["test"])
        metrics["cross_dataset"] = extras["cross_dataset"]
    write_json(METRICS / f"{task}.json", metrics)
    write_csv(METRICS / f"{task}_cv_results.csv", result.cv_table())
    roc = roc_table(y[test], proba)
    write_csv(PLOTS / f"{task}_roc.csv", roc)
    write_csv(PLOTS / f"{task}_confusion.csv", confusion_table(y[test], predicted, CLASSES[task]))
    roc_figure(roc, test_metrics["roc_auc"], f"{task}: held-out ROC", FIGURES / f"{task}_roc.png")
    confusion_figure(confusion_counts(y[test], predicted), CLASSES[task], f"{task}: held-out", FIGURES / f"{task}_confusion.png")

    info = {"task": task, "classes": CLASSES[task], "best_params": result.best_params,
            "test_accuracy": test_metrics["accuracy"]}
    if task == "gender":
        # The served model starts from the face crop: the fitted features, then the classifier.
        transformer, record = load_verified(EIGEN_TRANSFORMER)
        served = Pipeline([("features", transformer), ("classifier", model)])
        info |= {"input": "face crop", "input_size": record["input_size"], "features": record["blocks"]}
        example = crops_of(data.table[train].head(20))
    else:
        served, example = model, X[train][:20]
        info |= {"input": "spectrum", "features": data.columns}
    saved = save_model(served, MODELS / f"{task}.joblib", info)
    run.tags["genrec.model_sha256"] = saved["sha256"]  # finds the registry version of this very file

    run.log_params({f"search.{k}": v for k, v in result.best_params.items()} | {"search.candidate": result.best_candidate})
    run.log_metrics({key: value for key, value in metrics.items() if key != "cv"} | {"cv.best_score": result.best_score})
    for path in (METRICS / f"{task}.json", METRICS / f"{task}_cv_results.csv", PLOTS / f"{task}_roc.csv",
                 FIGURES / f"{task}_roc.png", FIGURES / f"{task}_confusion.png"):
        run.log_artifact(path)
    if cfg.spectrum and cfg.spectrum.videos:
        if task == "gender":
            predictor = GenderModel(served, CLASSES[task], info["input_size"], photo_detector(cfg.crop, cfg.gender))
            videos = gender_videos(cfg, predictor)
        else:
            videos = score_videos(cfg, model)
        write_json(METRICS / f"{task}_videos.json", videos)
        run.log_metrics({"videos": {k: v for k, v in videos["summary"].items() if v is not None}})
        run.log_artifact(METRICS / f"{task}_videos.json")
        log.info("videos: %s", videos["summary"])
    log_model(run, served, example, REGISTERED[task])
    run.in_run(lambda: review_challenger(REGISTERED[task]))  # aliases challenger/champion (pipeline.registry)
    log.info("%s: CV %.4f (%s), held-out accuracy %.4f", task, result.best_score, result.best_candidate, test_metrics["accuracy"])


def crops_of(rows: pd.DataFrame) -> np.ndarray:
    """The flattened face crops of these rows (the gender model's input)."""
    crops = np.load(require(CROPS, "haar-crop"), mmap_mode="r")
    return np.asarray(crops[rows["crop_index"].to_numpy()]).reshape(len(rows), -1)


def main() -> None:
    task = sys.argv[1] if len(sys.argv) > 1 else "fake"
    sections = ["seed", "models", "spectrum", "crop", "compute", *(["features", "gender"] if task == "gender" else [])]
    run_stage(f"grid-search@{task}", sections, lambda cfg, run: grid_search(task, cfg, run))


if __name__ == "__main__":
    main()
