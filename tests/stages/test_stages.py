"""Every stage's body in-process, in order, on a small real project: the mirror's sample images.

The slow suite runs the same stages as subprocesses (and under DVC) on larger data;
here each body gets the validated config and a StageRun that collects what would
go to MLflow, so a failure points at the line, not at the tail of a stage's stderr.
"""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from pipeline.config import config_from_dict
from pipeline.gender.features import fit_to_sample
from pipeline.project import STAGES as DECLARED
from pipeline.stages import evaluate_by_ethnicity as evaluate_stage
from pipeline.stages.common import StageError
from pipeline.stages.evaluate_by_ethnicity import evaluate_by_ethnicity
from pipeline.stages.extract_eigen import extract_eigen
from pipeline.stages.extract_spectrum import extract_spectrum
from pipeline.stages.filter_small_images import filter_small_images
from pipeline.stages.grid_search import grid_search
from pipeline.stages.haar_crop import haar_crop
from pipeline.tracking.runs import StageRun

from helpers import base_params

PER_DATASET = 60


def small_params() -> dict:
    params = base_params()
    params["filter"]["max_per_dataset"] = PER_DATASET
    params["compute"]["n_jobs"] = 1  # in this process: no worker start-up, and coverage sees the work
    # The cascade on smaller images (LFW's 250 px photos dominate its time): these tests check the stages'
    # bookkeeping; the detector at its own settings is tests/faces/test_detection.py's.
    params["crop"]["detect_side"] = 160
    params["crop"]["fallback"] = None  # dlib's CNN: ~0.2 s a missed face; tests/faces/test_detection.py checks it
    params["spectrum"]["max_per_source"] = 25  # per data set and split
    # A few components: randomized PCA is the slow part on tiny data (fit_to_sample is tested on its own).
    params["features"]["eigen"] |= {"n_components": 10, "curve_components": 20}
    params["features"]["hog"]["n_components"] = 10
    params["spectrum"]["videos"]["max_frames"] = 1
    params["models"]["gender"] |= {
        "cv_folds": 3,
        "search_sample": None,
        "candidates": {"svm_rbf": {"model": "svm", "grid": {"C": [1], "gamma": [0.003]}}},
    }
    params["models"]["fake"]["cv_folds"] = 3
    for candidate in params["models"]["fake"]["candidates"].values():
        candidate["grid"]["C"] = [1]
    params["evaluation"] |= {"per_cell": 4, "swap_sheet": 2, "max_frames": 1}
    return params


STAGES = [
    ("filter-small-images", filter_small_images),
    ("haar-crop", haar_crop),
    ("extract-eigen", extract_eigen),
    ("grid-search@gender", lambda cfg, run: grid_search("gender", cfg, run)),
    ("extract-spectrum", extract_spectrum),
    ("grid-search@fake", lambda cfg, run: grid_search("fake", cfg, run)),
    ("evaluate-by-ethnicity", evaluate_by_ethnicity),
]


@pytest.fixture(scope="module")
def project(raw_sample, tmp_path_factory):
    """A project directory after every stage but download, and each stage's StageRun."""
    work = tmp_path_factory.mktemp("stages")
    (work / "data" / "raw").mkdir(parents=True)
    for name in ("utkface", "lfw", "celeba", "dcgan", "videos"):
        (work / "data" / "raw" / name).symlink_to(raw_sample / name)
    cfg = config_from_dict(small_params())
    runs = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        patch.setenv("DVC_ROOT", str(work))
        # The registry lookup needs an MLflow store (~10 s to create); the slow suite covers it.
        patch.setattr(evaluate_stage, "model_version", lambda sha256: "unregistered")
        for name, body in STAGES:
            runs[name] = StageRun(name)
            body(cfg, runs[name])
    return work, runs


@pytest.mark.parametrize("stage", [name for name, _ in STAGES])
def test_every_stage_writes_what_it_declares_and_logs_its_metrics_and_plots(project, stage):
    """pipeline.project declares what dvc.yaml lists (tests/test_project.py); each metrics and plot file is
    also logged to the stage's MLflow run."""
    work, runs = project
    declared = DECLARED[stage]
    missing = [path for path in (*declared.outs, *declared.metrics, *declared.plots) if not (work / path).exists()]
    assert not missing, f"{stage} did not write {missing}"
    assert runs[stage].metrics, f"{stage} logged no metrics"
    assert all((work / path).exists() for path, _ in runs[stage].artifacts)
    logged = {path for path, _ in runs[stage].artifacts}
    assert not set(declared.metrics + declared.plots) - logged, f"{stage} did not log them to MLflow"


def test_filter_counts_every_image_and_splits_the_kept_ones(project):
    work, _ = project
    manifest = pd.read_parquet(work / "data" / "manifest.parquet")
    counts = json.loads((work / "metrics" / "filter.json").read_text())
    assert len(manifest) == 4 * PER_DATASET == sum(counts["total"].values())
    for dataset, total in counts["total"].items():  # every image in exactly one count
        assert counts["kept"][dataset] + sum(counts["dropped"].get(dataset, {}).values()) == total
    kept = manifest[manifest["split"].notna()]
    assert set(kept["split"]) == {"train", "test"}
    assert 0.1 < (kept["split"] == "test").mean() < 0.3


def test_faces_are_found_and_the_models_are_evaluated_on_their_held_out_rows(project):
    work, _ = project
    crop = json.loads((work / "metrics" / "haar_crop.json").read_text())
    assert crop["detection_rate"]["utkface"] > 0.8
    gender = json.loads((work / "metrics" / "gender.json").read_text())
    fake = json.loads((work / "metrics" / "fake.json").read_text())
    roles = pd.read_parquet(work / "data" / "features" / "eigen" / "features.parquet")["role"]
    # ~60 training faces teach the gender model little: check the bookkeeping, not the accuracy.
    assert gender["n"] == {"train": int((roles == "train").sum()), "test": int((roles == "test").sum())}
    assert 0 <= gender["test"]["accuracy"] <= 1 and "accuracy_by_group" in gender["test"]
    # Faces of three real sources against DCGAN's, a few dozen each at one working side: better than chance,
    # with a figure per source and per left-out source.
    assert fake["test"]["accuracy"] > 0.6 and set(fake["candidates"]) == {
        "svm_rbf",
        "logistic_regression",
    }
    # The real labelled clips' frames are a real source too, split by clip: three clips train, one is held out.
    assert set(fake["heldout"]) == {"celeba", "utkface", "lfw", "dcgan", "videos"}
    assert fake["heldout"]["dcgan"]["class"] == "fake" and 0 <= fake["heldout"]["lfw"]["false_alarm_rate"] <= 1
    assert fake["heldout"]["videos"]["class"] == "real" and fake["heldout"]["videos"]["n"] == 1
    assert set(fake["leave_one_out"]) == {"lfw"} and fake["leave_one_out"]["lfw"]["class"] == "real"
    spectrum = json.loads((work / "metrics" / "spectrum.json").read_text())
    assert spectrum["video_frames"]["train"]["clips"] == 3 and spectrum["video_frames"]["test"]["clips"] == 1
    # Each trained clip with a face in its frames is scored by a model fitted without it.
    assert fake["leave_one_clip_out"] and all(f["class"] == "real" for f in fake["leave_one_clip_out"].values())
    assert set(gender["heldout"]) == {"utkface", "celeba", "lfw"} and set(gender["leave_one_out"]) == {"celeba"}
    videos = json.loads((work / "metrics" / "fake_videos.json").read_text())
    assert videos["summary"]["videos"] == 9 and videos["summary"]["scored"] >= 1
    # A scene whose real clip was trained on: that clip and the fakes made from it are marked, and left out of
    # the summary's figures over unseen videos.
    marked = {v["path"].split("/")[-1] for v in videos["videos"] if v["scene_in_training"]}
    scenes = {name.split(".")[0].split("_")[0] for name in marked}
    assert len(scenes) == 3 and set(fake["leave_one_clip_out"]) <= scenes
    unseen = [v for v in videos["videos"] if not v["scene_in_training"] and v["predicted_mean"] is not None]
    assert videos["summary"]["not_in_training"]["videos"] == len(unseen) >= 1


def test_the_tables_count_every_item(project):
    work, runs = project
    evaluation = json.loads((work / "metrics" / "evaluation.json").read_text())
    for table in ("table1", "table2"):
        summary = evaluation[table]
        assert summary["items"] == summary["scored"] + summary["no_face"] + len(summary["skipped"])
    items = pd.read_parquet(work / "data" / "evaluation" / "items.parquet")
    assert set(items["table"]) == {"table1", "table2"}
    assert runs["evaluate-by-ethnicity"].tags["genrec.gender_model_version"] == "unregistered"
    assert "| ethnicity | gender |" in (work / "metrics" / "tables.md").read_text()


def test_a_stage_run_again_rewrites_the_same_bytes(project, monkeypatch):
    work, _ = project
    monkeypatch.chdir(work)
    before = hashlib.sha256((work / "data" / "manifest.parquet").read_bytes()).hexdigest()
    filter_small_images(config_from_dict(small_params()), StageRun("again"))
    assert hashlib.sha256((work / "data" / "manifest.parquet").read_bytes()).hexdigest() == before


def test_pca_components_are_capped_at_the_training_faces():
    features = config_from_dict(base_params()).features
    capped = fit_to_sample(features, 40)
    assert capped.eigen.n_components == 40 and capped.hog.n_components == 40
    assert capped.eigen.whiten == features.eigen.whiten and features.eigen.n_components == 150  # a copy
    assert fit_to_sample(features, 1000) == features


def test_an_unconfigured_task_stops_with_a_sentence(project, monkeypatch):
    work, _ = project
    monkeypatch.chdir(work)
    with pytest.raises(StageError, match="no task 'age'"):
        grid_search("age", config_from_dict(small_params()), StageRun("x"))
