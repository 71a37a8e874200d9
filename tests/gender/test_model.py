"""The gender model on real UTKFace and LFW faces: selection, features, the stages, predict."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import joblib
import numpy as np
import pandas as pd
import pytest

from pipeline.config import FeaturesConfig, GenderConfig, HogConfig, LbpConfig
from pipeline.gender.features import FeatureError, face_features, feature_names, minmax_rows
from pipeline.gender.selection import (
    GenderDataError,
    detection_rates,
    gender_faces,
    require_both_genders,
    select_training,
)

from helpers import UTK_SAMPLE, run_of_stage, run_stage, runs, trained_params


def test_minmax_scales_each_face_by_its_own_range():
    faces = np.array([[10, 20, 30, 110], [7, 7, 7, 7]], dtype=np.uint8)
    scaled = minmax_rows(faces)
    np.testing.assert_allclose(scaled[0], [0, 0.1, 0.2, 1])
    np.testing.assert_array_equal(scaled[1], 0)  # a flat face has no range: all zeros, no division by zero


@pytest.mark.slow  # the trained project
def test_feature_blocks_have_the_configured_widths(real_crops):
    X = real_crops["X"][:300]
    cfg = FeaturesConfig(blocks=("eigen", "hog", "lbp"), hog=HogConfig(n_components=20), lbp=LbpConfig(grid=4))
    union = face_features(cfg, 100, seed=0).fit(X)
    names = feature_names(union, X)
    assert union.transform(X[:5]).shape == (5, 50 + 20 + 4 * 4 * 10)
    assert names[0] == "eigen_000" and names[50] == "hog_000" and names[-1] == "lbp_159"
    with pytest.raises(FeatureError, match="blocks"):
        face_features(FeaturesConfig.model_construct(blocks=("surf",)), 100, seed=0)  # past the schema
    with pytest.raises(FeatureError, match="100x100"):
        union.transform(X[:2, :500])


def faces_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dataset": ["utk"] * 8 + ["lfw", "lfw"],
            "face_found": [True] * 7 + [False, True, True],
            "gender": ["male", "female", "male", "female", "male", "male", None, "male", "female", "male"],
            "ethnicity": [
                "African",
                "Asian (East)",
                "African",
                "African",
                "Caucasian",
                "Caucasian",
                "African",
                "African",
                None,
                None,
            ],
            "age": [30, 40, 17, 25, 50, 60, 30, 30, None, None],
            "split": ["train", "train", "train", "test", "train", "train", "train", "train", "train", "test"],
            "crop_index": range(10),
        }
    )


def test_gender_faces_roles_keep_adults_with_a_face_and_a_label():
    rows = gender_faces(faces_table(), GenderConfig(datasets=("utk",), cross_datasets=("lfw",), min_age=18))
    roles = dict(zip(rows["crop_index"], rows["role"], strict=True))
    # 2 is a minor, 6 has no gender, 7 no face: left out; LFW is cross whatever its split.
    assert roles == {0: "train", 1: "train", 3: "test", 4: "train", 5: "train", 8: "cross", 9: "cross"}


def test_detection_rates_count_the_held_out_images_of_each_source():
    rates = detection_rates(faces_table(), GenderConfig(datasets=("utk",), cross_datasets=("lfw",), min_age=18))
    # utk's held-out adult (3) was found; every LFW image counts (a cross source is evaluated whole).
    assert rates == {
        "lfw": {"images": 2, "faces_found": 2, "detection_rate": 1.0},
        "utk": {"images": 1, "faces_found": 1, "detection_rate": 1.0},
    }


def test_a_cap_per_source_keeps_every_source_in_training():
    rows = gender_faces(faces_table(), GenderConfig(datasets=("utk", "lfw"), min_age=18))
    capped = select_training(rows, GenderConfig(datasets=("utk", "lfw"), max_train_per_source=10), seed=1)
    assert capped.loc[capped["role"] == "train", "dataset"].value_counts().to_dict() == {"utk": 4, "lfw": 1}
    one_each = select_training(rows, GenderConfig(datasets=("utk", "lfw"), max_train_per_source=1), seed=1)
    with pytest.raises(GenderDataError, match="both genders"):
        require_both_genders(rows.assign(gender="male"), GenderConfig(datasets=("utk", "lfw")))
    assert one_each.loc[one_each["role"] == "train", "dataset"].value_counts().to_dict() == {"utk": 1, "lfw": 1}


def test_balancing_and_max_train_mark_dropped_training_faces_unused():
    rows = gender_faces(faces_table(), GenderConfig(datasets=("utk",), min_age=18))
    by_gender = select_training(rows, GenderConfig(datasets=("utk",), balance="gender"), seed=1)
    kept = by_gender[by_gender["role"] == "train"]
    assert kept["gender"].value_counts().to_dict() == {"female": 1, "male": 1}
    assert (by_gender["role"] == "unused").sum() == 2 and (by_gender["role"] == "test").sum() == 1
    # max_train=3 is under the schema's floor of 10; this table is tiny.
    sampled = select_training(rows, GenderConfig.model_construct(datasets=("utk",), max_train=3), seed=1)
    assert (sampled["role"] == "train").sum() == 3


def test_faces_without_an_ethnicity_do_not_shrink_the_ethnic_balance():
    # Two training faces per ethnic group and one without a race (as in UTKFace): the unlabelled
    # face is left out, and the groups keep two faces each rather than being cut to its group of one.
    rows = pd.DataFrame(
        {
            "gender": ["male", "female"] * 3 + ["female"],
            "ethnicity": ["African"] * 2 + ["Caucasian"] * 2 + ["Indian"] * 2 + [None],
            "role": ["train"] * 7,
            "crop_index": range(7),
        }
    )
    for balance in ("ethnicity", "ethnicity_gender"):
        kept = select_training(rows, GenderConfig(datasets=("utk",), balance=balance), seed=1)
        assert kept.loc[kept["role"] == "train", "crop_index"].tolist() == [0, 1, 2, 3, 4, 5], balance
        assert kept.loc[6, "role"] == "unused"


@pytest.fixture(scope="module")
def real_crops(trained):
    faces = pd.read_parquet(trained / "data" / "crops" / "faces.parquet")
    crops = np.load(trained / "data" / "crops" / "crops.npy")
    found = faces[faces["face_found"]]
    return {"X": crops[found["crop_index"].to_numpy()].reshape(len(found), -1), "faces": found}


@pytest.mark.slow  # the trained project
def test_pca_is_fitted_on_the_training_faces_only(trained):
    table = pd.read_parquet(trained / "data" / "features" / "eigen" / "features.parquet")
    transformer = joblib.load(trained / "data" / "features" / "eigen" / "transformer.joblib")
    crops = np.load(trained / "data" / "crops" / "crops.npy")
    pixels = crops.reshape(len(crops), -1)
    train = table[table["role"] == "train"]
    assert set(table["role"]) == {"train", "test", "cross"} and (table["age"].dropna() >= 18).all()
    assert set(table.loc[table["role"] == "train", "split"]) == {"train"}
    # Refitting on exactly the training faces gives the same eigenfaces: no test face took part.
    from sklearn.base import clone

    refit = clone(transformer).fit(pixels[train["crop_index"].to_numpy()])
    np.testing.assert_allclose(
        refit.transformer_list[0][1].named_steps["pca"].components_,
        transformer.transformer_list[0][1].named_steps["pca"].components_,
        atol=1e-10,
    )
    test = table[table["role"] == "test"]
    columns = [c for c in table if c.startswith(("eigen_", "hog_", "lbp_"))]
    np.testing.assert_allclose(
        test[columns].to_numpy(), transformer.transform(pixels[test["crop_index"].to_numpy()]), atol=1e-8
    )
    eigen = json.loads((trained / "metrics" / "eigen.json").read_text())
    assert eigen["faces"]["train"] == len(train) and 0.5 < eigen["explained_variance"] <= 1
    assert (trained / "metrics" / "figures" / "eigenfaces.png").stat().st_size > 0


@pytest.mark.slow  # the trained project
def test_features_without_eigenfaces_still_write_every_declared_output(trained, tmp_path):
    # dvc.yaml declares the variance curve and eigenfaces sheet whatever the blocks: a HOG-only
    # experiment (`features=hog`) must write them too, or `dvc exp run` fails after the stage.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "crops").symlink_to(trained / "data" / "crops")
    params = trained_params()
    params["features"] = {"blocks": ["hog"], "hog": {**params["features"]["hog"], "n_components": 50}}
    result = run_stage("extract_eigen", tmp_path, params)
    assert result.returncode == 0, result.stderr[-3000:]
    eigen = json.loads((tmp_path / "metrics" / "eigen.json").read_text())
    assert eigen["blocks"] == ["hog"] and eigen["n_features"] == 50 and "explained_variance" not in eigen
    curve = pd.read_csv(tmp_path / "metrics" / "plots" / "eigen_variance.csv")
    assert len(curve) > 100 and curve["explained_variance"].is_monotonic_increasing
    for figure in ("eigen_variance.png", "eigenfaces.png"):
        assert cv2.imread(str(tmp_path / "metrics" / "figures" / figure)) is not None


@pytest.mark.slow  # the trained project
def test_grid_search_gender_reports_the_required_metrics(trained):
    metrics = json.loads((trained / "metrics" / "gender.json").read_text())
    assert set(metrics["cv"]["best_params"]) == {"C", "gamma", "kernel"}
    assert 0.5 < metrics["cv"]["best_score"] <= 1
    for key in ("accuracy", "balanced_accuracy", "roc_auc"):
        assert 0 <= metrics["test"][key] <= 1
    # ~1,000 adult training faces: well above chance, and every ethnic group reported.
    assert metrics["test"]["accuracy"] >= 0.8, metrics["test"]
    assert set(metrics["test"]["accuracy_by_group"]) == {"African", "Asian (East)", "Caucasian", "Indian", "Others"}
    # LFW is evaluated whole (every sampled photo, none held back for training): nearly all have a face.
    lfw = metrics["cross_dataset"]["lfw"]
    assert lfw["n"] > 0.95 * UTK_SAMPLE and 0.5 < lfw["accuracy"] <= 1, lfw
    # Every training source has its own held-out figures, over the faces found, with the detection rate.
    heldout = metrics["heldout"]
    assert set(heldout) == {"utkface", "celeba"}
    for source in heldout.values():
        assert source["n"] == source["faces_found"] <= source["images"] and 0.9 <= source["detection_rate"] <= 1
        assert 0.6 <= source["accuracy"] <= 1 and 0.5 <= source["balanced_accuracy"] <= 1
    assert set(heldout["utkface"]["accuracy_by_group"]) == {"African", "Asian (East)", "Caucasian", "Indian", "Others"}
    assert heldout["utkface"]["n"] + heldout["celeba"]["n"] == metrics["n"]["test"]
    # Trained without CelebA, scored on CelebA's held-out people.
    loo = metrics["leave_one_out"]["celeba"]
    assert loo["n"] == heldout["celeba"]["n"] and 0.5 <= loo["accuracy"] <= 1
    cv = pd.read_csv(trained / "metrics" / "gender_cv_results.csv")
    assert len(cv) == 2 and cv["rank_test_score"].min() == 1


def predict(trained, *args):
    env = {**__import__("os").environ, "GENREC_PARAMS": str(trained / "params.yaml")}
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "predict", *map(str, args)],
        cwd=trained,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def photos(trained, raw, tmp_path_factory):
    """A photo of a man and a woman side by side (UTKFace), a photo with no face, and a text file."""
    folder = tmp_path_factory.mktemp("photos")
    chips = sorted((raw / "utkface" / "UTKFace").glob("*.jpg"))
    man = next(p for p in chips if p.name.split("_")[1] == "0" and int(p.name.split("_")[0]) == 35)
    woman = next(p for p in chips if p.name.split("_")[1] == "1" and int(p.name.split("_")[0]) == 35)
    canvas = np.full((300, 700, 3), 200, np.uint8)
    canvas[50:250, 50:250] = cv2.imread(str(man))
    canvas[50:250, 450:650] = cv2.imread(str(woman))
    cv2.imwrite(str(folder / "two.jpg"), canvas)
    wall = cv2.imread(str(sorted((raw / "lfw").rglob("*.jpg"))[0]))[:50, :50]
    cv2.imwrite(str(folder / "wall.jpg"), cv2.resize(wall, (240, 240)))
    (folder / "notes.jpg").write_text("not an image\n")
    return folder


@pytest.mark.slow  # the trained project
def test_predict_reports_every_face_a_faceless_photo_and_a_non_image(trained, photos):
    result = predict(trained, "--json", photos / "two.jpg", photos / "wall.jpg", photos / "notes.jpg")
    assert result.returncode == 1, result.stderr  # one file was skipped
    two, wall, notes = json.loads(result.stdout)
    assert two["status"] == "ok" and len(two["faces"]) == 2
    left, right = sorted(two["faces"], key=lambda face: face["box"][0])
    assert left["box"][0] < 250 < 450 < right["box"][0] + right["box"][2]
    assert all(50 <= face["confidence"] <= 100 and face["gender"] in ("female", "male") for face in two["faces"])
    assert wall == {"path": str(photos / "wall.jpg"), "status": "no_face", "faces": []}
    assert notes["status"] == "skipped" and notes["reason"] == "not an image"
    text = predict(trained, photos / "two.jpg").stdout
    assert "2 face(s)" in text and "face 2:" in text and "%" in text


@pytest.mark.slow  # the trained project
def test_predict_refuses_a_model_that_changed_after_the_pipeline_wrote_it(trained, photos, tmp_path):
    model = trained / "data" / "models" / "gender.joblib"
    copy = tmp_path / "gender.joblib"
    copy.write_bytes(model.read_bytes() + b"\0")
    (tmp_path / "gender.json").write_text((model.with_suffix(".json")).read_text())
    result = predict(trained, "--model", copy, photos / "two.jpg")
    assert result.returncode == 2 and "sha256" in result.stderr
    missing = predict(trained, "--model", tmp_path / "none.joblib", photos / "two.jpg")
    assert missing.returncode == 2 and "dvc repro" in missing.stderr


# --- evaluate-by-ethnicity -------------------------------------------------------------------------------------

RACES = {"1": "African", "2": "Asian (East)", "0": "Caucasian (American)"}  # UTKFace race code -> FakeAVCeleb race
GENDER_CODES = {"0": "men", "1": "women"}
HEADER = "source,target1,target2,method,category,type,race,gender,path,\n"  # the header as distributed


def write_clip(path, chip, seconds=2, fps=10):
    """A short mp4 of one face chip on a grey 320x240 frame."""
    frame = np.full((240, 320, 3), 128, np.uint8)
    frame[20:220, 60:260] = chip
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (320, 240))
    for _ in range(seconds * fps):
        writer.write(frame)
    writer.release()


@pytest.fixture(scope="module")
def fakeavceleb_tree(tmp_path_factory, raw):
    """FakeAVCeleb's layout and metadata format, with clips made from real UTKFace faces of known race and gender:
    2 RealVideo-RealAudio and 2 FakeVideo-FakeAudio clips per race x gender cell, plus a row whose clip is
    missing and a clip that is not a video."""
    root = tmp_path_factory.mktemp("fakeavceleb")
    chips = sorted((raw / "utkface" / "UTKFace").glob("*.jpg"))
    lines, expected = [HEADER], {}
    for code, race in RACES.items():
        for gender_code, gender in GENDER_CODES.items():
            cell = [
                p
                for p in chips
                if p.name.split("_")[1:3] == [gender_code, code] and 25 <= int(p.name.split("_")[0]) <= 45
            ]
            for number, kind in enumerate(["RealVideo-RealAudio"] * 2 + ["FakeVideo-FakeAudio"] * 2):
                person = f"id{code}{gender_code}{number:03d}"
                folder = f"FakeAVCeleb_v1.2/{kind}/{race}/{gender}/{person}"
                write_clip(root / folder / "00001.mp4", cv2.imread(str(cell[number])))
                method = "real" if kind.startswith("Real") else "faceswap"
                lines.append(f"{person},-,-,{method},A,{kind},{race},{gender},00001.mp4,{folder}\n")
                expected[(kind, race, gender)] = expected.get((kind, race, gender), 0) + 1
    lines.append(
        "id99999,-,-,real,A,RealVideo-RealAudio,African,men,00002.mp4,FakeAVCeleb_v1.2/RealVideo-RealAudio/African/men/id99999\n"
    )
    broken = root / "FakeAVCeleb_v1.2/FakeVideo-FakeAudio/African/women/id99998/00003.mp4"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"this is not a video")
    lines.append(
        f"id99998,-,-,faceswap,C,FakeVideo-FakeAudio,African,women,00003.mp4,{broken.parent.relative_to(root)}\n"
    )
    (root / "meta_data.csv").write_text("".join(lines))
    return root


def evaluate(trained, evaluation: dict):
    params = trained_params()
    params["evaluation"] = {**params["evaluation"], **evaluation}
    result = run_stage("evaluate_by_ethnicity", trained, params)
    assert result.returncode == 0, result.stderr
    tables = {name: pd.read_csv(trained / "metrics" / f"{name}.csv") for name in ("table1", "table2")}
    return (
        tables,
        json.loads((trained / "metrics" / "evaluation.json").read_text()),
        pd.read_parquet(trained / "data" / "evaluation" / "items.parquet"),
    )


@pytest.mark.slow  # the trained project
def test_fakeavceleb_tables_from_a_tree_in_its_exact_layout(trained, fakeavceleb_tree):
    tables, summary, items = evaluate(
        trained,
        {
            "table1": {"source": "fakeavceleb", "type": "RealVideo-RealAudio"},
            "table2": {"source": "fakeavceleb", "type": "FakeVideo-FakeAudio"},
            "ethnicities": ["African", "Asian (East)", "Caucasian"],
            "per_cell": 25,
            "fakeavceleb_root": str(fakeavceleb_tree),
            "videos": None,
            "max_frames": 4,
        },
    )
    table1, table2 = tables["table1"], tables["table2"]
    assert list(table1.columns) == ["ethnicity", "gender", "n", "confidence_mean", "confidence_std", "accuracy"]
    assert list(zip(table1["ethnicity"], table1["gender"], strict=True)) == [
        (e, g) for e in ("African", "Asian (East)", "Caucasian") for g in ("male", "female")
    ]
    # Two readable clips per cell; the missing clip (African men) and the broken one (African women) are named.
    assert table1["n"].tolist() == [2] * 6 and table2["n"].tolist() == [2] * 6
    clips = fakeavceleb_tree / "FakeAVCeleb_v1.2"
    assert set(summary["table1"]["skipped"]) == {str(clips / "RealVideo-RealAudio/African/men/id99999/00002.mp4")}
    assert list(summary["table2"]["skipped"]) == [str(clips / "FakeVideo-FakeAudio/African/women/id99998/00003.mp4")]
    scored = items[items["status"] == "ok"]
    assert (scored["frames"] == 2).all()  # 2 s clips sampled at one frame a second
    for name, table in tables.items():
        for row in table.itertuples():
            cell = scored[
                (scored["table"] == name) & (scored["ethnicity"] == row.ethnicity) & (scored["gender"] == row.gender)
            ]
            assert row.confidence_mean == pytest.approx(cell["confidence"].mean(), abs=1e-3)
            assert row.confidence_std == pytest.approx(cell["confidence"].std(ddof=1), abs=1e-3)
            assert row.accuracy == pytest.approx((cell["predicted"] == row.gender).mean(), abs=1e-3)
            assert (cell["confidence"].between(50, 100)).all()
    recorded = json.loads((trained / "data" / "models" / "gender.json").read_text())
    assert summary["model"] == {"sha256": recorded["sha256"]}
    evaluation_run = run_of_stage(runs(trained)[1], "evaluate-by-ethnicity")
    assert evaluation_run.data.tags["genrec.gender_model_version"] == "1"


@pytest.mark.slow  # the trained project
def test_utkface_tables_real_and_swapped_faces_of_the_same_targets(trained):
    tables, summary, items = evaluate(trained, {"per_cell": 5, "videos": None, "swap_sheet": 3})
    real, swaps = items[items["table"] == "table1"], items[items["table"] == "table2"]
    assert sorted(real["path"]) == sorted(swaps["path"])  # the same targets, real then swapped
    assert swaps["source"].notna().all() and (swaps["source"] != swaps["path"]).all()
    faces = pd.read_parquet(trained / "data" / "features" / "eigen" / "features.parquet").set_index("path")
    for row in swaps.itertuples():  # each source is another held-out face of the same race and gender
        source = faces.loc[row.source]
        assert (source["role"], source["ethnicity"], source["gender"]) == ("test", row.ethnicity, row.gender)
    assert tables["table1"]["n"].sum() == summary["table1"]["scored"] > 0
    for row in real[real["status"] == "ok"].itertuples():  # every face found, with its gender and confidence
        faces = json.loads(row.face_predictions)
        assert len(faces) == row.faces and faces[0]["confidence"] == row.confidence
    assert (trained / "metrics" / "figures" / "face_swaps.png").stat().st_size > 0
    assert "| African | men |" in (trained / "metrics" / "tables.md").read_text()


def test_a_mirror_averaged_model_answers_a_face_and_its_mirror_alike(utk_sample):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from pipeline.config import CropConfig
    from pipeline.faces.crops import crop_largest_faces
    from pipeline.gender.model import MirrorAveraged

    chips = [str(p) for p in utk_sample[:80]]
    batch = crop_largest_faces(chips, CropConfig(min_face=0.3, padding=0.25, detect_side=120))
    found = batch.n_faces > 0
    X = batch.crops[found].reshape(int(found.sum()), -1)
    y = np.array([int(p.name.split("_")[1]) for p in np.array(utk_sample[:80])[found]])  # UTKFace: 0 male, 1 female
    features = FeaturesConfig(blocks=("hog",), hog=HogConfig(n_components=20))
    plain = Pipeline([("features", face_features(features, 100, 0)), ("clf", LogisticRegression(max_iter=500))])
    plain.fit(X, y)
    model = MirrorAveraged(plain, 100)
    mirrored = batch.crops[found][:, :, ::-1].reshape(len(X), -1)

    np.testing.assert_allclose(model.predict_proba(X), model.predict_proba(mirrored))
    np.testing.assert_allclose(model.predict_proba(X), (plain.predict_proba(X) + plain.predict_proba(mirrored)) / 2)
    assert not np.allclose(plain.predict_proba(X), plain.predict_proba(mirrored))  # the plain model is not symmetric
    np.testing.assert_array_equal(model.predict(X), model.classes_[model.predict_proba(X).argmax(axis=1)])
