"""DVC stage `extract-eigen`: the gender model's face features, fitted on the training faces only.

Selects the faces of the gender task (gender.datasets, adults, a face found,
a gender label) and gives each a role: `train` (fits the features and the
model), `unused` (training-split faces left out by gender.max_train or
gender.balance), `test` (held out) and `cross` (gender.cross_datasets,
evaluated only). The transformer (min-max scaling, PCA, HOG, ...) is fitted on
the `train` faces and applied to every selected face.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
from sklearn.base import clone

from pipeline.config import Config, FeaturesConfig
from pipeline.figures import eigenfaces_figure, variance_figure
from pipeline.gender.features import (
    eigen_explained_variance,
    face_features,
    feature_names,
    fit_to_sample,
    load_crops,
    sample_eigenfaces,
    shown_eigenfaces,
    transform_all,
    variance_curve,
)
from pipeline.gender.selection import gender_faces, require_both_genders, role_counts, select_training
from pipeline.io import save_model, write_parquet
from pipeline.project import (
    CROPS,
    EIGEN_FEATURES,
    EIGEN_METRICS,
    EIGEN_TRANSFORMER,
    EIGEN_VARIANCE,
    EIGEN_VARIANCE_FIGURE,
    EIGENFACES_FIGURE,
    FACES,
    require,
)
from pipeline.stages.common import StageError, log, run_stage
from pipeline.tracking.publish import publish_csv, publish_figure, publish_json
from pipeline.tracking.runs import StageRun

# `group`: the person (or image) a face belongs to; held-out intervals resample people (training.scoring).
EIGEN_LABEL_COLUMNS = ["path", "dataset", "group", "gender", "ethnicity", "age", "split", "role", "crop_index"]
CURVE_SAMPLE = 5000
EIGENFACES_SHOWN = 16


def write_figures(
    cfg: Config, features_cfg: FeaturesConfig, transformer, train_crops: np.ndarray, run: StageRun
) -> None:
    """The explained-variance curve and the first eigenfaces: the model's own when it uses eigenfaces."""
    pca = sample_eigenfaces(cfg.features, train_crops, cfg.seed, CURVE_SAMPLE)
    curve = variance_curve(pca)
    publish_csv(run, EIGEN_VARIANCE, curve)
    marked = features_cfg.eigen.n_components if "eigen" in features_cfg.blocks else None
    publish_figure(run, EIGEN_VARIANCE_FIGURE, partial(variance_figure, curve, marked))
    shown = shown_eigenfaces(transformer, pca, EIGENFACES_SHOWN)
    publish_figure(run, EIGENFACES_FIGURE, partial(eigenfaces_figure, shown))


def extract_eigen(cfg: Config, run: StageRun) -> None:
    if cfg.features is None or cfg.gender is None:
        raise StageError("params.yaml has no features or gender section: run `genrec compose`")
    faces = pd.read_parquet(require(FACES))
    rows = select_training(gender_faces(faces, cfg.gender), cfg.gender, cfg.seed)
    require_both_genders(rows, cfg.gender)
    train = rows.loc[rows["role"] == "train", "crop_index"].to_numpy()
    crops = np.load(require(CROPS), mmap_mode="r")
    size = crops.shape[1]
    train_crops = load_crops(crops, train)
    log.info("fitting %s features on %d training faces", "+".join(cfg.features.blocks), len(train))
    features_cfg = fit_to_sample(cfg.features, len(train))
    transformer = clone(face_features(features_cfg, size, cfg.seed)).fit(train_crops)
    features = transform_all(transformer, crops, rows["crop_index"].to_numpy(), cfg.compute.batch_size)
    columns = feature_names(transformer, train_crops[:1])
    table = pd.concat(
        [rows[EIGEN_LABEL_COLUMNS].reset_index(drop=True), pd.DataFrame(features, columns=columns)], axis=1
    )
    write_parquet(EIGEN_FEATURES, table)
    record = {"stage": "extract-eigen", "blocks": list(cfg.features.blocks), "input_size": size, "features": columns}
    save_model(transformer, EIGEN_TRANSFORMER, record)

    metrics = {"blocks": list(cfg.features.blocks), "n_features": len(columns), **role_counts(rows)}
    if "eigen" in cfg.features.blocks:
        metrics["n_components"] = features_cfg.eigen.n_components
        metrics["explained_variance"] = round(eigen_explained_variance(transformer), 6)
    write_figures(cfg, features_cfg, transformer, train_crops, run)
    publish_json(run, EIGEN_METRICS, metrics)
    run.log_metrics(metrics)
    log.info(
        "features %s: %d columns; faces %s; explained variance %s",
        metrics["blocks"],
        len(columns),
        metrics["faces"],
        metrics.get("explained_variance"),
    )


def main() -> None:
    run_stage("extract-eigen", ["seed", "features", "gender", "compute"], extract_eigen)


if __name__ == "__main__":
    main()
