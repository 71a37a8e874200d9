"""pipeline.fake.training_set: which images the fake detector learns from, their spectra, the class profiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.config import config_from_dict
from pipeline.errors import StageError
from pipeline.fake.training_set import (
    SPECTRUM_LABEL_COLUMNS,
    processed_region,
    profile_plot_data,
    sample_rows,
    spectra_of_rows,
    spectrum_counts,
    spectrum_table,
    with_processing,
)

from helpers import base_params


def rows(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "path": [f"img{i}.png" for i in range(n)],
            "dataset": ["celeba", "dcgan"] * (n // 2),
            "real_fake": ["real", "fake"] * (n // 2),
            "gender": None,
            "ethnicity": None,
            "group": None,
            "split": ["train"] * n,
            "processing": "",
            "face_found": [True] * (n - 1) + [False],
            "crop_index": np.arange(n),
        }
    )


def config(**spectrum):
    params = base_params()
    params["spectrum"] |= {"datasets": ["celeba", "dcgan"], "leave_one_out": [], "n_points": 8, **spectrum}
    params["compute"]["n_jobs"] = 1
    return config_from_dict(params)


def test_rows_are_sampled_per_source_and_refused_when_none_is_labelled():
    picked = sample_rows(rows(8).iloc[::-1], config(max_per_source=2))
    assert list(picked["path"]) == sorted(picked["path"]) and len(picked) == 4
    assert picked.groupby("dataset").size().to_dict() == {"celeba": 2, "dcgan": 2}
    with pytest.raises(StageError, match="no labelled real/fake images"):
        sample_rows(rows().assign(dataset="lfw"), config())


def test_crop_spectra_are_taken_where_a_face_was_found(tmp_path):
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (6, 32, 32), dtype=np.uint8)
    np.save(tmp_path / "crops.npy", crops)
    features = spectra_of_rows(
        rows(),
        config(input="crop", quadrant_pool=None, video_frames=False, augment=None, robustness=None),
        tmp_path / "crops.npy",
    )
    assert features.shape == (6, 8)
    assert np.isnan(features[5]).all() and np.isfinite(features[:5]).all()
    assert np.allclose(features[:5, 0], 1.0)  # divided by the first value


def test_the_table_marks_rows_without_input_and_profiles_each_class():
    features = np.array([[1.0, 0.5], [1.0, 0.7], [1.0, 0.2], [np.nan, np.nan]])
    table = spectrum_table(rows(4), features, ["f0", "f1"])
    assert list(table.columns) == [*SPECTRUM_LABEL_COLUMNS, "has_input", "f0", "f1"]
    assert table["has_input"].tolist() == [True, True, True, False]
    profiles = profile_plot_data(table[table["has_input"]], ["f0", "f1"])
    fake = profiles[profiles["class"] == "fake"]
    assert fake["mean"].tolist() == [1.0, 0.7] and fake["std"].tolist() == [0.0, 0.0]
    real = profiles[profiles["class"] == "real"]
    assert real["mean"].tolist() == [1.0, 0.35] and real["frequency"].tolist() == [0, 1]
    assert spectrum_counts(table) == {"images": {"fake": 2, "real": 2}, "without_input": {"celeba": 0, "dcgan": 1}}


def test_training_rows_of_both_classes_are_processed_and_held_out_rows_copied_under_each_step():
    sampled = pd.concat([rows(200).assign(split="train"), rows(40).assign(split="test", path=lambda r: "t" + r.path)])
    cfg = config(
        augment={"share": 0.5},
        robustness={"steps": ["jpeg75", "half"], "max_per_source": 5},
        quadrant_pool=None,
        video_frames=False,
    )
    table, chains = with_processing(sampled.drop(columns="processing"), cfg)
    assert len(table) == len(chains) == 240 + 2 * 10
    train = table[table["split"] == "train"]
    processed = train[train["processing"] != ""]
    # Both classes alike: about half of each.
    assert processed.groupby("real_fake").size().between(30, 70).all()
    assert (table.loc[table["split"] == "test", "processing"] == "").all()
    steps = table[table["split"] == "robustness"]
    assert steps.groupby("processing").size().to_dict() == {"half": 10, "jpeg75": 10}
    # The same held-out rows (5 per source) under every step.
    by_step = steps.groupby("processing")["path"].apply(set)
    assert by_step["half"] == by_step["jpeg75"]
    assert set(steps["path"]) <= set(sampled.loc[sampled["split"] == "test", "path"])
    halves = [str(chain[0]) for chain, step in zip(chains, table["processing"], strict=True) if step == "half"]
    assert halves == ["resize(0.5,area)"] * 10
    counts = spectrum_counts(table.assign(has_input=True))
    assert counts["images"] == {"fake": 120, "real": 120}  # the robustness copies are not counted as images


def test_a_processed_face_is_cut_where_the_box_moved(utk_sample):
    import cv2

    from pipeline.fake.processing import NAMED
    from pipeline.fake.spectrum import detector_input

    spectrum = config(quadrant_pool=None, video_frames=False, side=64).spectrum
    path, box = str(utk_sample[0]), (50, 50, 100, 100)
    assert np.array_equal(
        processed_region(path, box, (), spectrum),
        detector_input(cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2GRAY), box, spectrum),
    )
    half = processed_region(path, box, NAMED["half"], spectrum)
    assert half.shape == (64, 64)  # the 100 x 100 image holds the 64 px patch at the moved box's centre
    assert processed_region(path, box, NAMED["half"] + NAMED["half"], spectrum) is None  # 50 px: no patch
    assert processed_region(str(utk_sample[0]) + ".missing", box, (), spectrum) is None


def test_the_real_clips_frames_join_the_real_class_split_by_clip(raw_sample):
    from pipeline.data.datasets import read_videos
    from pipeline.fake.spectrum import detector_columns
    from pipeline.fake.training_set import real_clip_split, trained_scenes, video_frame_counts, video_frame_table

    cfg = config(video_frames=True, videos={"dataset": "videos", "every_s": 2.0, "max_frames": 2})
    table, skipped = video_frame_table(cfg, raw_sample, detector_columns(cfg.spectrum))
    videos = read_videos(cfg.datasets["videos"], raw_sample)
    real = videos[videos["real_fake"] == "real"]
    assert skipped == {} and len(real) == 4
    assert set(table["real_fake"]) == {"real"} and set(table["dataset"]) == {"videos"}
    assert set(table["group"]) == set(real["group"]) and len(table) == 8  # two frames of each real clip
    assert table["path"].str.contains("#frame=").all()
    # Split by scene (a FaceForensics++ original and the fakes made from it): every frame of a clip on one
    # side; one of the three FaceForensics++ originals held out, seeded; DFDC's single real clip trains.
    assert (table.groupby("group")["split"].nunique() == 1).all()
    held_out = table.loc[table["split"] == "test", "path"].str.split("#").str[0].unique()
    assert len(held_out) == 1 and "original_sequences" in held_out[0]
    assert real_clip_split(videos, cfg).equals(real_clip_split(videos, cfg))
    scenes = trained_scenes(videos, cfg)
    assert len(scenes) == 3 and set(table.loc[table["split"] == "train", "group"]) == scenes
    # The fakes made from a trained original share its scene.
    fakes_of_trained = videos[(videos["real_fake"] == "fake") & videos["group"].isin(scenes)]
    assert len(fakes_of_trained) >= 1
    assert trained_scenes(videos, config(video_frames=False)) == frozenset()
    features = table[detector_columns(cfg.spectrum)].to_numpy()
    assert np.isfinite(features[table["has_input"]]).all() and table["has_input"].sum() >= 6
    counts = video_frame_counts(table, "videos", skipped)
    assert counts["test"]["clips"] == 1 and counts["train"]["clips"] == 3 and counts["skipped"] == {}
