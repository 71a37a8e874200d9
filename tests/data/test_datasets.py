"""Dataset readers on the mirror's real archives, and on files written in each source's exact layout."""

from __future__ import annotations

import gzip
import os
import shutil

import cv2
import numpy as np
import pandas as pd
import pytest
from scipy.io import savemat

from pipeline.data.datasets import COLUMNS, read_dataset
from pipeline.data.datasets.fakeavceleb import read_metadata
from pipeline.data.datasets.utkface import parse_name


def check_schema(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == list(COLUMNS)
    assert frame["path"].is_unique


@pytest.mark.parametrize(
    "name, expected",
    [
        ("26_1_3_20170104235421282.jpg.chip.jpg", (26.0, "female", "Indian")),
        ("39_1_20170116174525125.jpg.chip.jpg", (39.0, "female", None)),
        ("24_0_1_20170116220224657 .jpg.chip.jpg", (24.0, "male", "Black")),
        ("55_0_0_20170116232725357jpg.chip.jpg", (55.0, "male", "White")),
        ("1_0_2_2016110708210461.jpg.chip.jpg", (1.0, "male", "Asian")),
        ("30_1_4_201701201659483718.jpg.chip.jpg", (30.0, "female", "Others")),
    ],
)
def test_utkface_names_with_the_release_quirks(name, expected):
    labels = parse_name(name)
    assert (labels["age"], labels["gender"], labels["race"]) == expected


def test_utkface_names_without_labels_are_unlabelled():
    assert parse_name("notes.jpg") is None
    assert parse_name("30_2_0_20170101.jpg.chip.jpg") is None


@pytest.mark.slow  # reads whole mirror archives
def test_utkface_reader_matches_the_mirror_counts(raw):
    frame = read_dataset("utkface", raw / "utkface" / "UTKFace", "utkface")
    check_schema(frame)
    assert len(frame) == 23707
    table = pd.crosstab(frame["gender"], frame["race"])
    assert table.loc["male"].to_dict() == {"Asian": 1575, "Black": 2317, "Indian": 2261, "Others": 760, "White": 5477}
    assert table.loc["female"].to_dict() == {"Asian": 1859, "Black": 2208, "Indian": 1714, "Others": 932, "White": 4601}
    assert frame["race"].isna().sum() == 3 and frame["gender"].notna().all()
    assert set(frame["ethnicity"].dropna()) == {"African", "Asian (East)", "Caucasian", "Indian", "Others"}


@pytest.mark.slow  # reads whole mirror archives
def test_lfw_reader_takes_gender_from_the_lists(raw):
    frame = read_dataset("lfw", raw / "lfw", "lfw")
    check_schema(frame)
    assert frame["gender"].value_counts().to_dict() == {"female": 1000, "male": 1000}
    assert frame["group"].nunique() == 2000


@pytest.mark.slow  # reads whole mirror archives
def test_celeba_reader(raw):
    frame = read_dataset("celeba", raw / "celeba", "celeba")
    check_schema(frame)
    assert frame["gender"].value_counts().to_dict() == {"female": 1127, "male": 873}
    assert all(frame["path"].map(lambda p: os.path.isfile(p)))


@pytest.mark.slow  # reads whole mirror archives
def test_image_folder_with_one_label(raw):
    frame = read_dataset("image_folder", raw / "dcgan" / "dataset_celebA", "dcgan", label="fake")
    assert len(frame) == 1000 and set(frame["real_fake"]) == {"fake"}


def test_image_folder_with_class_folders(tmp_path, utk_sample):
    for cls, images in (("real", utk_sample[:3]), ("fake", utk_sample[3:5])):
        (tmp_path / cls).mkdir()
        for image in images:
            shutil.copy(image, tmp_path / cls / image.name)
    frame = read_dataset("image_folder", tmp_path, "mixed")
    assert frame["real_fake"].value_counts().to_dict() == {"real": 3, "fake": 2}


@pytest.mark.slow  # reads whole mirror archives
def test_video_reader(raw):
    frame = read_dataset("videos", raw / "videos" / "deepfake-samples", "videos")
    check_schema(frame)
    assert frame["real_fake"].value_counts().to_dict() == {"fake": 5, "real": 4}
    assert frame["gender"].isna().sum() == 1
    assert all(frame["path"].map(lambda p: os.path.isfile(p)))


def wiki_mat(path, rows):
    """A wiki.mat with IMDB-WIKI's structure: one 1x1 struct of 1xN fields."""
    n = len(rows)
    fields = ("dob", "photo_taken", "full_path", "gender", "name", "face_location", "face_score", "second_face_score")
    dtype = [(name, "O") for name in fields]
    record = np.zeros((1, 1), dtype=dtype)
    record["dob"][0, 0] = np.array([[r[0] for r in rows]], dtype=float)
    record["photo_taken"][0, 0] = np.array([[r[1] for r in rows]], dtype=float)
    full_path = np.empty((1, n), dtype=object)
    names = np.empty((1, n), dtype=object)
    for i, r in enumerate(rows):
        full_path[0, i] = np.array([r[2]])
        names[0, i] = np.array([r[4]])
    record["full_path"][0, 0] = full_path
    record["gender"][0, 0] = np.array([[r[3] for r in rows]], dtype=float)
    record["name"][0, 0] = names
    locations = np.empty((1, n), dtype=object)
    for i in range(n):
        locations[0, i] = np.array([[1.0, 1.0, 100.0, 100.0]])
    record["face_location"][0, 0] = locations
    record["face_score"][0, 0] = np.ones((1, n))
    record["second_face_score"][0, 0] = np.full((1, n), np.nan)
    savemat(path, {"wiki": record})


def test_imdb_wiki_reader_on_a_mat_with_the_real_structure(tmp_path):
    # MATLAB datenum 723671 is 1981-05-05; photo taken 2009 -> age 28.
    wiki_mat(
        tmp_path / "wiki.mat",
        [
            (723671.0, 2009.0, "17/10000217_1981-05-05_2009.jpg", 1.0, "Sami Jauhojärvi"),
            (703186.0, 1964.0, "48/10000548_1925-04-04_1964.jpg", 0.0, "Dorothy"),
            (711677.0, 2008.0, "12/100012_1948-07-03_2008.jpg", np.nan, "Unknown"),
        ],
    )
    frame = read_dataset("imdb_wiki", tmp_path, "imdb_wiki")
    check_schema(frame)
    by_file = frame.set_index(frame["path"].str.rsplit("/", n=1).str[-1])
    assert by_file.loc["10000217_1981-05-05_2009.jpg", "age"] == 28
    assert by_file.loc["10000217_1981-05-05_2009.jpg", "gender"] == "male"
    assert by_file.loc["10000548_1925-04-04_1964.jpg", "age"] == 39
    assert by_file.loc["10000548_1925-04-04_1964.jpg", "gender"] == "female"
    assert pd.isna(by_file.loc["100012_1948-07-03_2008.jpg", "gender"])


@pytest.fixture(scope="module")
def fakeavceleb_csv(mirror, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fakeavceleb")
    (folder / "meta_data.csv").write_bytes(gzip.decompress((mirror / "fakeavceleb" / "meta_data.csv.gz").read_bytes()))
    return folder


def test_fakeavceleb_metadata_counts(fakeavceleb_csv):
    frame = read_dataset("fakeavceleb", fakeavceleb_csv, "fakeavceleb")
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == 21566
    assert frame["subset"].value_counts().to_dict() == {
        "FakeVideo-FakeAudio": 10857,
        "FakeVideo-RealAudio": 9709,
        "RealVideo-FakeAudio": 500,
        "RealVideo-RealAudio": 500,
    }
    real = frame[frame["subset"] == "RealVideo-RealAudio"]
    assert set(real.groupby(["race", "gender"]).size()) == {50}
    first = frame.iloc[0]
    assert (first["dataset"], first["gender"], first["ethnicity"]) == ("fakeavceleb", "male", "African")
    expected = fakeavceleb_csv / "FakeAVCeleb_v1.2/RealVideo-RealAudio/African/men/id00076/00109.mp4"
    assert expected.as_posix() in set(frame["path"])


def test_fakeavceleb_distributed_header_variant_reads_the_same(fakeavceleb_csv, tmp_path):
    standard = read_metadata(fakeavceleb_csv / "meta_data.csv")
    table = pd.read_csv(fakeavceleb_csv / "meta_data.csv", dtype=str, keep_default_na=False)
    variant = table[
        ["source", "target1", "target2", "method", "category", "type", "race", "gender", "filename", "path"]
    ]
    text = "source,target1,target2,method,category,type,race,gender,path,\n" + variant.to_csv(index=False, header=False)
    (tmp_path / "meta_data.csv").write_text(text)
    pd.testing.assert_frame_equal(read_metadata(tmp_path / "meta_data.csv"), standard)
    frame = read_dataset("fakeavceleb", tmp_path, "fakeavceleb", videos_root=tmp_path / "videos")
    assert (frame["path"].str.contains("/videos/FakeAVCeleb_v1.2/")).all()


def test_unknown_reader_and_missing_folder_are_clear(tmp_path):
    with pytest.raises(ValueError, match="unknown reader"):
        read_dataset("nosuch", tmp_path, "x")
    with pytest.raises(FileNotFoundError, match="run the download stage"):
        read_dataset("utkface", tmp_path / "absent", "utkface")


# ---- every reader on a tiny made-up folder in its source's layout -------------------------------------------


def write_jpeg(path, seed: int = 0):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.random.default_rng(seed).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    cv2.imwrite(str(path), image)


def test_utkface_reader_on_a_made_up_folder(tmp_path):
    for name in ("25_0_1_20170116174525125.jpg.chip.jpg", "61_1_20170109142408075.jpg.chip.jpg", "notes.jpg"):
        write_jpeg(tmp_path / name)
    frame = read_dataset("utkface", tmp_path, "utkface")
    check_schema(frame)
    rows = frame.set_index(frame["path"].str.rsplit("/", n=1).str[-1])
    assert rows.loc["25_0_1_20170116174525125.jpg.chip.jpg", ["gender", "ethnicity", "age"]].tolist() == [
        "male",
        "African",
        25.0,
    ]
    assert pd.isna(rows.loc["61_1_20170109142408075.jpg.chip.jpg", "race"])  # the release's missing race field
    assert pd.isna(rows.loc["notes.jpg", "gender"])


def test_lfw_reader_on_a_made_up_folder(tmp_path):
    write_jpeg(tmp_path / "lfw" / "Ada_Lovelace" / "Ada_Lovelace_0001.jpg")
    write_jpeg(tmp_path / "lfw" / "Alan_Turing" / "Alan_Turing_0001.jpg")
    write_jpeg(tmp_path / "lfw" / "Nobody_Listed" / "Nobody_Listed_0001.jpg")
    (tmp_path / "female_names.txt").write_text("Ada_Lovelace_0001.jpg\n\n")
    (tmp_path / "male_names.txt").write_text("Alan_Turing_0001.jpg\n")
    frame = read_dataset("lfw", tmp_path, "lfw")
    check_schema(frame)
    assert frame["gender"].tolist()[:2] == ["female", "male"] and pd.isna(frame["gender"].iloc[2])
    assert frame["group"].tolist() == ["Ada_Lovelace", "Alan_Turing", "Nobody_Listed"]
    (tmp_path / "male_names.txt").unlink()
    with pytest.raises(FileNotFoundError, match="male_names.txt"):
        read_dataset("lfw", tmp_path, "lfw")


def test_celeba_and_video_readers_on_made_up_folders(tmp_path):
    write_jpeg(tmp_path / "celeba" / "img_align_celeba" / "1_000001.jpg")
    (tmp_path / "celeba" / "labels.csv").write_text(
        "file,celeb_id,celeba_image,gender\n1_000001.jpg,1,000001.jpg,female\n2_000002.jpg,2,000002.jpg,unknown\n"
    )
    celeba = read_dataset("celeba", tmp_path / "celeba", "celeba")
    check_schema(celeba)
    assert celeba["gender"].tolist()[0] == "female" and pd.isna(celeba["gender"].iloc[1])

    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "labels.csv").write_text(
        "path,label,gender,source\nreal/001.mp4,REAL,male,ff++\nfake/001_002.mp4,fake,,dfdc\n"
    )
    videos = read_dataset("videos", tmp_path / "videos", "videos")
    check_schema(videos)
    assert videos["real_fake"].tolist() == ["fake", "real"]  # sorted by path
    assert videos["group"].tolist() == ["001", "001"] and videos["media"].unique().tolist() == ["video"]


def test_fairface_reader_maps_races_and_age_buckets(tmp_path):
    (tmp_path / "labels.csv").write_text(
        "file,gender,race,age\n1.jpg,male,East Asian,3-9\n2.jpg,female,Black,20-29\n"
        "3.jpg,female,Latino_Hispanic,more than 70\n4.jpg,unknown,White,50-59\n"
    )
    frame = read_dataset("fairface", tmp_path, "fairface")
    assert list(frame.columns) == list(COLUMNS)
    assert frame["ethnicity"].tolist() == ["Asian (East)", "African", "Latino Hispanic", "Caucasian"]
    assert frame["age"].tolist() == [3.0, 20.0, 70.0, 50.0]  # a bucket's lower bound: 18+ keeps 20-29 and up
    assert frame["gender"].tolist()[:3] == ["male", "female", "female"] and pd.isna(frame["gender"].iloc[3])
    assert frame["group"].tolist() == ["1.jpg", "2.jpg", "3.jpg", "4.jpg"]  # no identities: one image, one group


@pytest.mark.slow
def test_fairface_reader_on_the_mirror(mirror, tmp_path):
    import tarfile

    with tarfile.open(mirror / "fairface" / "fairface-val-2739.tar.gz") as tar:
        tar.extractall(tmp_path, filter="data")
    frame = read_dataset("fairface", tmp_path / "fairface_val", "fairface")
    # The mirror's README says 1,059 are under 20; its labels.csv has 49 + 353 + 330 = 732 (0-2, 3-9, 10-19).
    assert len(frame) == 2739 and (frame["age"] < 20).sum() == 732
    assert frame["gender"].value_counts().to_dict() == {"male": 1424, "female": 1315}
    assert frame["race"].value_counts()["White"] == 525
