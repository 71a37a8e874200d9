"""Benchmark: genrec's search of the paper's SVM grid against the paper's naive GridSearchCV.

Both run in this process, one after the other, on the same data: the
seed_paper experiment's training faces (a seeded sample of 5,500 adult
UTKFace faces of the training split, 50 eigenfaces of min-max scaled crops).

- naive: GridSearchCV(SVC(), the paper's 168-point grid), stratified 5-fold, one core
  (the paper's call: coef0 is searched for rbf too, where it does nothing);
- genrec: pipeline.training.search.search_candidates with conf/models/gender/paper.yaml
  (126 distinct candidates, all cores), once per strategy: grid (every candidate on every fold), race
  (pipeline.training.racing: every candidate on fold 1, then only those within 3 standard errors of the leader,
  longest fits first), and optionally halving (HalvingGridSearchCV).

Prints each time, best parameters and CV score, and the speed-up over naive.
Needs haar-crop's outputs (`dvc repro haar-crop`). Run: python benchmarks/grid_search.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.svm import SVC

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config import compose, config_from_dict  # noqa: E402
from pipeline.gender.features import face_features, load_crops  # noqa: E402
from pipeline.gender.selection import gender_faces, select_training  # noqa: E402
from pipeline.training.search import TrainingRows, search_candidates  # noqa: E402

PAPER_GRID = {  # as the paper wrote it: 7 x 2 x 6 x 2 = 168 points
    "C": [1, 10, 20, 30, 40, 50, 100],
    "kernel": ["rbf", "poly"],
    "gamma": [0.1, 0.05, 0.01, 0.001, 0.002, 0.005],
    "coef0": [0, 1],
}


def seed_paper_data(cfg) -> tuple[np.ndarray, np.ndarray]:
    faces = pd.read_parquet(ROOT / "data" / "crops" / "faces.parquet")
    rows = select_training(gender_faces(faces, cfg.gender), cfg.gender, cfg.seed)
    train = rows[rows["role"] == "train"]
    crops = np.load(ROOT / "data" / "crops" / "crops.npy", mmap_mode="r")
    pixels = load_crops(crops, train["crop_index"].to_numpy())
    X = face_features(cfg.features, crops.shape[1], cfg.seed).fit_transform(pixels)
    return X, (train["gender"] == "male").astype(int).to_numpy()


def naive_search(X, y, seed: int):
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    return GridSearchCV(SVC(), PAPER_GRID, cv=folds, scoring="accuracy").fit(X, y)


def full_cv_score(X, y, estimator, seed: int) -> float:
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    return float(cross_val_score(estimator, X, y, cv=folds, scoring="accuracy", n_jobs=-1).mean())


def timed(work):
    start = time.perf_counter()
    result = work()
    return result, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategies", nargs="+", default=["grid", "race"], choices=["grid", "race", "halving"])
    args = parser.parse_args()

    cfg = config_from_dict(compose(["experiment=seed_paper"], conf_dir=ROOT / "conf"))
    X, y = seed_paper_data(cfg)
    print(f"data: {len(y)} training faces x {X.shape[1]} eigenfaces (seed_paper), {y.mean():.1%} male")

    naive, naive_s = timed(lambda: naive_search(X, y, cfg.seed))
    naive_params = {
        k: v for k, v in naive.best_params_.items() if k != "coef0" or naive.best_params_["kernel"] == "poly"
    }
    print(f"naive GridSearchCV, 168 points, 1 core: {naive_s:8.1f} s  best {naive_params} CV {naive.best_score_:.4f}")
    rows = TrainingRows(X, y)  # every strategy searches the same rows
    for strategy in args.strategies:
        search = cfg.gender_search.model_copy(update={"strategy": strategy})
        result, seconds = timed(lambda search=search: search_candidates(rows, search, cfg.seed, n_jobs=-1))
        # Halving scores its last round on its own resources: re-score the winner on the naive search's folds.
        score = full_cv_score(X, y, result.estimator(), cfg.seed)
        same = result.best_params == naive_params
        verdict = (
            "same best parameters" if same else ("better CV score" if score >= naive.best_score_ else "WORSE CV score")
        )
        print(
            f"genrec {strategy:7s} 126 candidates, all cores: {seconds:8.1f} s  best {result.best_params} "
            f"CV {score:.4f}  speed-up {naive_s / seconds:5.2f}x  ({verdict})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
