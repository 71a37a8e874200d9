"""DVC stage `grid-search@<task>`: tune, refit with calibrated probabilities, evaluate on held-out data.

Tasks: `fake` (real vs GAN-generated, spectrum features).
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.datasets import read_dataset
from pipeline.fake_video import frame_scores, video_score
from pipeline.features.spectrum import feature_columns
from pipeline.io import write_csv, write_json
from pipeline.models import (
    calibrated_fit, confusion_counts, confusion_table, evaluate, fake_probability, roc_table, save_model,
    search_candidates,
)
from pipeline.report import confusion_figure, roc_figure
from pipeline.stages.common import FIGURES, METRICS, MODELS, PLOTS, RAW, SPECTRUM, StageError, log, require, run_stage
from pipeline.tracking import StageRun
from pipeline.video import VideoError, sample_frames

REGISTERED = {"fake": "genrec-fakeface"}
CLASSES = {"fake": ["real", "fake"]}


def fake_task_data(cfg: Config) -> tuple[pd.DataFrame, list[str], np.ndarray]:
    table = pd.read_parquet(require(SPECTRUM, "extract-spectrum"))
    columns = feature_columns(cfg.spectrum.n_points)
    labels = (table["real_fake"] == "fake").astype(int).to_numpy()
    return table, columns, labels


def score_videos(cfg: Config, model) -> dict:
    """Frame- and video-level fake scores on the labelled videos; unreadable ones are counted and named."""
    videos_cfg = cfg.spectrum.videos
    if videos_cfg.dataset not in cfg.datasets:
        raise StageError(f"spectrum.videos.dataset names {videos_cfg.dataset!r}, which datasets does not define")
    source = cfg.datasets[videos_cfg.dataset]
    videos = read_dataset(source.reader, RAW / source.name / source.root, source.name, **source.options)
    frame_detector = dataclasses.replace(
        cfg.crop, detect_side=videos_cfg.detect_side, min_face=videos_cfg.min_face, padding=0.0
    )
    results, skipped = [], {}
    for row in videos.itertuples():
        try:
            frames = sample_frames(row.path, videos_cfg.every_s, videos_cfg.max_frames)
        except VideoError as error:
            skipped[row.path] = str(error)
            log.warning("skipped video: %s", error)
            continue
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


def grid_search(task: str, cfg: Config, run: StageRun) -> None:
    if task != "fake" or cfg.fake_search is None:
        raise StageError(f"grid-search has no task {task!r} configured (models.{task})")
    search_cfg = cfg.fake_search
    table, columns, y = fake_task_data(cfg)
    train = (table["split"] == "train").to_numpy()
    test = (table["split"] == "test").to_numpy()
    X = table[columns].to_numpy()
    if len(np.unique(y[train])) < 2:
        raise StageError("the training split holds only one class: check spectrum.datasets")

    result = search_candidates(X[train], y[train], search_cfg, cfg.seed, cfg.compute.n_jobs)
    model = calibrated_fit(result.estimator(), X[train], y[train], search_cfg, cfg.seed)
    proba = fake_probability(model, X[test])
    predicted = (proba >= 0.5).astype(int)
    test_metrics = evaluate(y[test], proba)

    candidates = {}
    for name, search in result.searches.items():
        fitted = model if name == result.best_candidate else calibrated_fit(
            result.estimator(name), X[train], y[train], search_cfg, cfg.seed
        )
        candidates[name] = {
            "cv_score": float(search.best_score_),
            "test_accuracy": evaluate(y[test], fake_probability(fitted, X[test]))["accuracy"],
        }
    metrics = {
        "cv": {"best_score": result.best_score, "best_params": result.best_params, "best_candidate": result.best_candidate},
        "train": evaluate(y[train], fake_probability(model, X[train])),
        "test": test_metrics,
        "candidates": candidates,
        "n": {"train": int(train.sum()), "test": int(test.sum())},
    }
    write_json(METRICS / f"{task}.json", metrics)
    write_csv(METRICS / f"{task}_cv_results.csv", result.cv_table())
    roc = roc_table(y[test], proba)
    write_csv(PLOTS / f"{task}_roc.csv", roc)
    write_csv(PLOTS / f"{task}_confusion.csv", confusion_table(y[test], predicted, CLASSES[task]))
    roc_figure(roc, test_metrics["roc_auc"], f"{task}: held-out ROC", FIGURES / f"{task}_roc.png")
    confusion_figure(confusion_counts(y[test], predicted), CLASSES[task], f"{task}: held-out", FIGURES / f"{task}_confusion.png")
    save_model(model, MODELS / f"{task}.joblib", {
        "task": task, "features": columns, "classes": CLASSES[task], "best_params": result.best_params,
        "test_accuracy": test_metrics["accuracy"],
    })

    run.log_params({f"search.{k}": v for k, v in result.best_params.items()} | {"search.candidate": result.best_candidate})
    run.log_metrics({key: value for key, value in metrics.items() if key != "cv"} | {"cv.best_score": result.best_score})
    for path in (METRICS / f"{task}.json", METRICS / f"{task}_cv_results.csv", PLOTS / f"{task}_roc.csv",
                 FIGURES / f"{task}_roc.png", FIGURES / f"{task}_confusion.png"):
        run.log_artifact(path)
    if cfg.spectrum.videos:
        videos = score_videos(cfg, model)
        write_json(METRICS / f"{task}_videos.json", videos)
        run.log_metrics({"videos": {k: v for k, v in videos["summary"].items() if v is not None}})
        run.log_artifact(METRICS / f"{task}_videos.json")
        log.info("videos: %s", videos["summary"])
    log_model(run, model, X[train], REGISTERED[task])
    log.info("%s: CV %.4f (%s), held-out accuracy %.4f", task, result.best_score, result.best_candidate, test_metrics["accuracy"])


def main() -> None:
    task = sys.argv[1] if len(sys.argv) > 1 else "fake"
    run_stage(f"grid-search@{task}", ["seed", "models", "spectrum", "crop", "compute"], lambda cfg, run: grid_search(task, cfg, run))


if __name__ == "__main__":
    main()
