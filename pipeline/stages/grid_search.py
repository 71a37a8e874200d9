"""DVC stage `grid-search@<task>`: tune, refit with calibrated probabilities, evaluate on held-out data.

Tasks (pipeline.gender.task, pipeline.fake.task): `gender` (female vs male, face features from extract-eigen) and
`fake` (real vs GAN-generated, spectrum features). Every held-out figure is
given per source, beside leave-one-source-out figures.
"""

from __future__ import annotations

import sys
from functools import partial

import numpy as np

from pipeline.config import Config
from pipeline.fake.task import TASK as FAKE_TASK
from pipeline.figures import confusion_figure, roc_figure
from pipeline.gender.task import TASK as GENDER_TASK
from pipeline.io import save_model
from pipeline.project import TaskFiles
from pipeline.stages.common import StageError, log, run_stage
from pipeline.tracking.publish import publish_csv, publish_figure, publish_json
from pipeline.tracking.registry import review_challenger
from pipeline.tracking.runs import StageRun
from pipeline.training.metrics import confusion_counts, confusion_table, roc_table
from pipeline.training.tasks import COMMON_SECTIONS, Served, tune

TASKS = {task.name: task for task in (GENDER_TASK, FAKE_TASK)}


def log_model(run: StageRun, served: Served, name: str) -> None:
    """Log the model with its signature, an input example and its record as metadata, and register it."""
    model, X = served.model, served.example

    def callback() -> None:
        import mlflow
        from mlflow.models import infer_signature
        from skops.io import dumps, get_untrusted_types

        signature = infer_signature(X[:20], model.predict_proba(X[:20]))
        # MLflow stores sklearn models with skops: trust the types of the model we just built.
        trusted = get_untrusted_types(data=dumps(model))
        mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature,
            input_example=X[:2],
            registered_model_name=name,
            skops_trusted_types=trusted,
            metadata=served.info,
        )

    run.in_run(callback)


def grid_search(task: str, cfg: Config, run: StageRun) -> None:
    spec = TASKS.get(task)
    if spec is None or spec.search(cfg) is None:
        raise StageError(f"grid-search has no task {task!r} configured (models.{task})")
    data = spec.data(cfg)
    y, train, test = data.y, data.train, data.test
    X = data.features()
    if len(np.unique(y[train])) < 2:
        raise StageError(f"the {task} training rows hold only one class: check the task's datasets")

    tuned = tune(task, data, X, cfg.seed, cfg.compute.n_jobs)
    result, metrics, proba = tuned.result, tuned.metrics, tuned.proba
    predicted = (proba >= 0.5).astype(int)
    extras = spec.extras(cfg, data, tuned, X)
    metrics["test"].update(extras.pop("test", {}))
    metrics.update(extras)
    files, classes = TaskFiles.of(task), list(spec.classes)
    publish_json(run, files.metrics, metrics)
    publish_csv(run, files.cv_results, result.cv_table())
    roc = roc_table(y[test], proba)
    publish_csv(run, files.roc, roc)
    publish_csv(run, files.confusion, confusion_table(y[test], predicted, classes))
    publish_figure(run, files.roc_figure, partial(roc_figure, roc, metrics["test"]["roc_auc"], f"{task}: held-out ROC"))
    publish_figure(
        run,
        files.confusion_figure,
        partial(confusion_figure, confusion_counts(y[test], predicted), classes, f"{task}: held-out"),
    )

    info = {
        "task": task,
        "classes": classes,
        "best_params": result.best_params,
        "test_accuracy": metrics["test"]["accuracy"],
    }
    served = spec.served(cfg, data, tuned, X, info)
    saved = save_model(served.model, files.model, served.info)
    run.tags["genrec.model_sha256"] = saved["sha256"]  # finds the registry version of this very file

    run.log_params(
        {f"search.{k}": v for k, v in result.best_params.items()} | {"search.candidate": result.best_candidate}
    )
    run.log_metrics(
        {key: value for key, value in metrics.items() if key != "cv"} | {"cv.best_score": result.best_score}
    )
    if cfg.spectrum and cfg.spectrum.videos:
        videos = spec.videos(cfg, served)
        publish_json(run, files.videos, videos)
        run.log_metrics({"videos": {k: v for k, v in videos["summary"].items() if v is not None}})
        log.info("videos: %s", videos["summary"])
    log_model(run, served, spec.registered)
    run.in_run(lambda: review_challenger(spec.registered))  # aliases challenger/champion (pipeline.tracking.registry)
    log.info(
        "%s: CV %.4f (%s), held-out accuracy %.4f",
        task,
        result.best_score,
        result.best_candidate,
        metrics["test"]["accuracy"],
    )


def main() -> None:
    task = sys.argv[1] if len(sys.argv) > 1 else "fake"
    sections = list(TASKS[task].sections if task in TASKS else COMMON_SECTIONS)
    run_stage(f"grid-search@{task}", sections, lambda cfg, run: grid_search(task, cfg, run))


if __name__ == "__main__":
    main()
