"""DVC stage `grid-search@<task>`: tune, refit with calibrated probabilities, evaluate on held-out data.

Tasks: `gender` (female vs male, face features from extract-eigen) and
`fake` (real vs GAN-generated, spectrum features). Every held-out figure is
given per source, beside leave-one-source-out figures.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from pipeline.config import Config, SearchConfig
from pipeline.datasets import read_dataset
from pipeline.faces import to_gray
from pipeline.fake_video import FakeDetector, frame_scores, video_score
from pipeline.features.spectrum import feature_columns
from pipeline.gender import GenderModel, video_gender
from pipeline.gender_data import detection_rates
from pipeline.io import write_csv, write_json
from pipeline.leave_one_out import fake_without, gender_without
from pipeline.models import (
    calibrated_fit, confusion_counts, confusion_table, evaluate, fake_probability, load_verified, repeated_holdout,
    roc_table, save_model, search_candidates,
)
from pipeline.registry import review_challenger
from pipeline.report import confusion_figure, roc_figure
from pipeline.scoring import accuracy_by, fake_by_source, gap, gender_by_source, source_weights
from pipeline.stages.common import (
    CROPS, EIGEN_FEATURES, EIGEN_TRANSFORMER, FACES, FIGURES, METRICS, MODELS, PLOTS, RAW, SPECTRUM, StageError, log,
    require, run_stage,
)
from pipeline.tracking import StageRun
from pipeline.video import VideoError, sample_frames

REGISTERED = {"fake": "genrec-fakeface", "gender": "genrec-gender"}
CLASSES = {"fake": ["real", "fake"], "gender": ["female", "male"]}


@dataclass
class TaskData:
    """One task's features, labels and roles, as grid-search needs them."""

    table: pd.DataFrame
    columns: list[str]
    y: np.ndarray
    train: np.ndarray
    test: np.ndarray
    search: SearchConfig
    weight: np.ndarray | None = None  # per training row


def fake_task(cfg: Config) -> TaskData:
    """The spectra with an input (a face found, a readable image); sources weighted equally within a class."""
    table = pd.read_parquet(require(SPECTRUM, "extract-spectrum"))
    table = table[table["has_input"]].reset_index(drop=True)
    columns = feature_columns(cfg.spectrum.n_points)
    y = (table["real_fake"] == "fake").astype(int).to_numpy()
    train, test = (table["split"] == "train").to_numpy(), (table["split"] == "test").to_numpy()
    weight = source_weights(table.loc[train, "dataset"], y[train])
    return TaskData(table, columns, y, train, test, cfg.fake_search, weight)


def gender_task(cfg: Config) -> TaskData:
    table = pd.read_parquet(require(EIGEN_FEATURES, "extract-eigen"))
    columns = load_verified(require(EIGEN_TRANSFORMER, "extract-eigen"))[1]["features"]
    y = (table["gender"] == CLASSES["gender"][1]).astype(int).to_numpy()
    role = table["role"]
    return TaskData(table, columns, y, (role == "train").to_numpy(), (role == "test").to_numpy(), cfg.gender_search)


def labelled_videos(cfg: Config) -> pd.DataFrame:
    """The labelled video set named by spectrum.videos.dataset."""
    source = cfg.datasets[cfg.spectrum.videos.dataset]
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


def _share(flags: list[bool]) -> float | None:
    return round(float(np.mean(flags)), 6) if flags else None


def score_videos(cfg: Config, model) -> dict:
    """Frame- and video-level fake scores on the labelled videos; unreadable ones are counted and named."""
    videos = labelled_videos(cfg)
    detector = FakeDetector(model, cfg.spectrum)
    results, skipped = [], {}
    for row, frames in sampled_frames(videos, cfg, skipped):
        scores = frame_scores(frames, detector, cfg.crop)
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
        "real_videos_called_fake": sum(r["predicted_mean"] == "fake" for r in scored if r["label"] == "real"),
        "real_videos": sum(r["label"] == "real" for r in scored),
    }
    return {"summary": summary, "videos": results, "skipped": skipped}


def gender_videos(cfg: Config, predictor: GenderModel) -> dict:
    """The gender model on the labelled videos: each video's gender and mean confidence."""
    videos = labelled_videos(cfg)
    results, skipped = [], {}
    for row, frames in sampled_frames(videos, cfg, skipped):
        faces = [predictor.faces(to_gray(f.image), largest_only=True) for f in frames]
        label = None if pd.isna(row.gender) else row.gender
        results.append({"path": row.path, "label": label, "real_fake": row.real_fake,
                        **video_gender(faces, predictor.classes)})
    scored = [r for r in results if r["gender"] is not None and r["label"] is not None]
    summary = {"videos": len(videos), "scored": len(scored), "skipped": len(skipped),
               "without_face": sum(r["gender"] is None for r in results),
               "accuracy": _share([r["gender"] == r["label"] for r in scored])}
    return {"summary": summary, "videos": results, "skipped": skipped}


def gender_extras(cfg: Config, data: TaskData, model, estimator) -> dict:
    """Per-source held-out figures with detection rates, the ethnic gaps, leave-one-source-out accuracies."""
    test = data.table[data.test]
    predicted = model.predict(test[data.columns].to_numpy())
    detection = detection_rates(pd.read_parquet(require(FACES, "haar-crop")), cfg.gender)
    by_ethnicity = accuracy_by(test, "ethnicity", data.y[data.test], predicted)
    extras = {
        "test": {"accuracy_by_group": by_ethnicity, "accuracy_gap": gap(by_ethnicity),
                 "accuracy_by_gender": accuracy_by(test, "gender", data.y[data.test], predicted)},
        "heldout": gender_by_source(test, data.y[data.test], predicted, detection),
        "cross_dataset": {}, "leave_one_out": {},
    }
    cross = data.table[data.table["role"] == "cross"]
    for dataset, rows in cross.groupby("dataset", sort=True):
        y = (rows["gender"] == CLASSES["gender"][1]).astype(int).to_numpy()
        extras["cross_dataset"][str(dataset)] = {**evaluate(y, model.predict_proba(rows[data.columns].to_numpy())[:, 1]),
                                                 "n": int(len(rows)), **detection.get(str(dataset), {})}
    crops = np.load(require(CROPS, "haar-crop"), mmap_mode="r")
    for source in cfg.gender.leave_one_out:
        log.info("leave-one-out: refitting without %s", source)
        extras["leave_one_out"][source] = gender_without(source, data.table, crops, cfg.features, estimator,
                                                         cfg.seed, cfg.compute.batch_size)
    return extras


def fake_extras(cfg: Config, data: TaskData, proba: np.ndarray, estimator, X: np.ndarray) -> dict:
    """Per-source false alarms and detections, leave-one-source-out, and Durall's repeated splits."""
    extras = {"heldout": fake_by_source(data.table[data.test], proba), "leave_one_out": {}}
    for source in cfg.spectrum.leave_one_out:
        extras["leave_one_out"][source] = fake_without(source, data.table, X, data.y, data.train, data.test,
                                                       estimator, weighted=True)
    if data.search.repeated_splits:
        extras["repeated_splits"] = repeated_holdout(estimator, X, data.y, data.search.repeated_splits, cfg.seed)
    return extras


def class_profiles(X: np.ndarray, y: np.ndarray, classes: list[str]) -> dict:
    """Mean and standard deviation of the feature rows of each class (the seed's spectrum picture)."""
    return {name: {"mean": np.round(X[y == label].mean(axis=0), 5).tolist(),
                   "std": np.round(X[y == label].std(axis=0), 5).tolist()}
            for label, name in enumerate(classes) if (y == label).any()}


def crops_of(rows: pd.DataFrame) -> np.ndarray:
    """The flattened face crops of these rows (the gender model's input)."""
    crops = np.load(require(CROPS, "haar-crop"), mmap_mode="r")
    return np.asarray(crops[rows["crop_index"].to_numpy()]).reshape(len(rows), -1)


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
    result = search_candidates(X[train], y[train], search_cfg, cfg.seed, n_jobs, data.weight)
    log.info("%s: CV %.4f with %s %s; refitting on %d rows", task, result.best_score, result.best_candidate,
             result.best_params, int(train.sum()))
    model = calibrated_fit(result.estimator(), X[train], y[train], search_cfg, cfg.seed, n_jobs, data.weight)
    proba = fake_probability(model, X[test])
    predicted = (proba >= 0.5).astype(int)
    test_metrics = evaluate(y[test], proba)

    candidates = {}
    for name, search in result.searches.items():
        fitted = model if name == result.best_candidate else calibrated_fit(
            result.estimator(name), X[train], y[train], search_cfg, cfg.seed, n_jobs, data.weight
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
        extras = gender_extras(cfg, data, model, result.estimator())
        metrics["test"].update(extras.pop("test"))
    else:
        extras = fake_extras(cfg, data, proba, result.estimator(), X)
    metrics.update(extras)
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
        info |= {"input": "face crop", "input_size": record["input_size"], "features": record["blocks"],
                 "crop": cfg.section_dump("crop")}
        example = crops_of(data.table[train].head(20))
    else:
        served, example = model, X[train][:20]
        # What a person is told travels with the model: the held-out figures and the training classes' spectra.
        info |= {"input": "spectrum", "features": data.columns, "spectrum": cfg.section_dump("spectrum"),
                 "validation": {"heldout": metrics["heldout"], "roc_auc": test_metrics.get("roc_auc")},
                 "profiles": class_profiles(X[train], y[train], CLASSES[task])}
    saved = save_model(served, MODELS / f"{task}.joblib", info)
    run.tags["genrec.model_sha256"] = saved["sha256"]  # finds the registry version of this very file

    run.log_params({f"search.{k}": v for k, v in result.best_params.items()} | {"search.candidate": result.best_candidate})
    run.log_metrics({key: value for key, value in metrics.items() if key != "cv"} | {"cv.best_score": result.best_score})
    for path in (METRICS / f"{task}.json", METRICS / f"{task}_cv_results.csv", PLOTS / f"{task}_roc.csv",
                 PLOTS / f"{task}_confusion.csv", FIGURES / f"{task}_roc.png", FIGURES / f"{task}_confusion.png"):
        run.log_artifact(path)
    if cfg.spectrum and cfg.spectrum.videos:
        if task == "gender":
            videos = gender_videos(cfg, GenderModel(served, CLASSES[task], cfg.crop))
        else:
            videos = score_videos(cfg, model)
        write_json(METRICS / f"{task}_videos.json", videos)
        run.log_metrics({"videos": {k: v for k, v in videos["summary"].items() if v is not None}})
        run.log_artifact(METRICS / f"{task}_videos.json")
        log.info("videos: %s", videos["summary"])
    log_model(run, served, example, REGISTERED[task])
    run.in_run(lambda: review_challenger(REGISTERED[task]))  # aliases challenger/champion (pipeline.registry)
    log.info("%s: CV %.4f (%s), held-out accuracy %.4f", task, result.best_score, result.best_candidate, test_metrics["accuracy"])


def main() -> None:
    task = sys.argv[1] if len(sys.argv) > 1 else "fake"
    sections = ["seed", "models", "spectrum", "crop", "compute", *(["features", "gender"] if task == "gender" else [])]
    run_stage(f"grid-search@{task}", sections, lambda cfg, run: grid_search(task, cfg, run))


if __name__ == "__main__":
    main()
