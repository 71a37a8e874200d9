"""pipeline.config: conf/ composes to params.yaml, and one schema refuses every bad value with one sentence."""

from __future__ import annotations

import copy
import pickle
import re

import pytest
import yaml
from pydantic import ValidationError

from pipeline.config import (
    BLOCKS,
    READERS,
    ConfigError,
    CropConfig,
    FeaturesConfig,
    ServeConfig,
    compose,
    config_from_dict,
    load_config,
    write_params,
)

from helpers import REPO, run_stage

EXPERIMENTS = sorted(path.stem for path in (REPO / "conf" / "experiment").glob("*.yaml"))
GROUP_CHOICES = [
    f"{group}={path.stem}"
    for group in ("features", "evaluation", "compute", "models/gender")
    for path in sorted((REPO / "conf" / group).glob("*.yaml"))
]


@pytest.fixture(scope="module")
def default_params() -> dict:
    return compose(conf_dir=REPO / "conf")


def with_value(params: dict, path: str, value) -> dict:
    """A deep copy of params with the dotted `path` set to `value`."""
    changed = copy.deepcopy(params)
    *parents, last = path.split(".")
    node = changed
    for key in parents:
        node = node[key]
    node[last] = value
    return changed


def assert_one_sentence_naming(message: str, field: str) -> None:
    assert message.startswith(f"{field}: "), message
    assert "\n" not in message and len(message) < 400, message
    assert not re.search(r"[.!?;]\s+[A-Z]", message), f"more than one sentence: {message}"


def test_committed_params_equal_the_composition_of_conf():
    committed = yaml.safe_load((REPO / "params.yaml").read_text())
    assert committed == compose(conf_dir=REPO / "conf"), "params.yaml is stale: run `genrec compose`"


def test_genrec_compose_rewrites_params_yaml_byte_for_byte(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    out = write_params([], tmp_path / "params.yaml")
    assert out.read_bytes() == (REPO / "params.yaml").read_bytes()


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_to_a_valid_config(experiment):
    cfg = config_from_dict(compose([f"experiment={experiment}"], conf_dir=REPO / "conf"))
    assert cfg.experiment_name == experiment


@pytest.mark.parametrize("choice", GROUP_CHOICES)
def test_every_config_group_option_composes_to_a_valid_config(choice):
    cfg = config_from_dict(compose([choice], conf_dir=REPO / "conf"))
    assert cfg.crop.size == 100


def test_required_experiments_exist():
    assert {"seed_paper", "smoke"} <= set(EXPERIMENTS)


def test_compose_writes_what_dvc_writes(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    out = write_params(["experiment=smoke", "crop.padding=0.3"], tmp_path / "params.yaml")
    written = yaml.safe_load(out.read_text())
    assert written["crop"]["padding"] == 0.3
    assert written["filter"]["max_per_dataset"] == 200


BAD_VALUES = [
    # (dotted path, bad value, the field path the sentence must start with, words it must hold)
    ("download.timeout_s", "sixty", "download.timeout_s", "must be a number"),
    ("download.subset", {"images": 0}, "download.subset.images", "must be at least 1, got 0"),
    ("download.subset", {"images": "300"}, "download.subset.images", "must be an integer"),
    ("download.subset", {"images": 300, "seed": 4.2}, "download.subset.seed", "must be an integer"),
    ("download.subset", {"images": 300, "sample": 1}, "download.subset.sample", "not a setting of download.subset"),
    ("download.subset", {"seed": 1}, "download.subset.images", "is required"),
    ("download.subset", 300, "download.subset", "mapping"),
    ("serve.port", "eighty", "serve.port", "must be an integer"),
    ("serve.port", 70000, "serve.port", "at most 65535"),
    ("crop.min_neighbors", 2.5, "crop.min_neighbors", "must be an integer"),
    ("crop.size", "big", "crop.size", "must be an integer, got 'big'"),
    ("crop.scale_factor", 1.0, "crop.scale_factor", "greater than 1"),
    ("crop.colour", "red", "crop.colour", "is not a setting of crop"),
    ("crop.fallback", "dlib", "crop.fallback", "'mmod'"),
    ("crop.fallback_side", 32, "crop.fallback_side", "at least 64"),
    ("features.blocks", ["eigen", "surf"], "features.blocks[1]", "'surf'"),
    ("features.blocks", [], "features.blocks", "at least 1"),
    ("features.eigen.whiten", "yes", "features.eigen.whiten", "true or false"),
    ("features.hog.cell", 7, "features.hog", "do not tile"),
    ("gender.datasets", ["nosuch"], "gender.datasets", "'nosuch'"),
    ("gender.balance", "race", "gender.balance", "must be one of"),
    ("spectrum.videos.dataset", "nosuch", "spectrum.videos.dataset", "'nosuch'"),
    ("spectrum.input", "video", "spectrum.input", "'image' or 'crop'"),
    ("spectrum.quadrant_windows", ["hann", "hann"], "spectrum.quadrant_windows", "names a window twice"),
    ("spectrum.quadrant_windows", ["blackman"], "spectrum.quadrant_windows[0]", "'blackman'"),
    ("spectrum.quadrant_windows", [], "spectrum.quadrant_windows", "at least 1"),
    ("spectrum.video_frames", "yes", "spectrum.video_frames", "true or false"),
    ("spectrum.video_held_out", 1.0, "spectrum.video_held_out", "less than 1"),
    ("spectrum.videos", None, "spectrum.video_frames", "needs spectrum.videos"),
    ("spectrum.leave_one_out", ["fakeavceleb"], "spectrum.leave_one_out", "'fakeavceleb'"),
    ("compute.n_jobs", 0, "compute.n_jobs", "must not be 0"),
    ("compute.backend", "spark", "compute.backend", "'loky' or 'dask'"),
    ("models.fake.candidates.svm_rbf.model", "xgboost", "models.fake.candidates.svm_rbf.model", "'xgboost'"),
    (
        "models.gender.candidates.svm_rbf.grid",
        {"kernel": "rbf"},
        "models.gender.candidates.svm_rbf.grid.kernel",
        "list",
    ),
    (
        "models.gender.candidates.svm_rbf.grid",
        {"gama": [0.1]},
        "models.gender.candidates.svm_rbf.grid.gama",
        "not a parameter of svm",
    ),
    ("models.gender.search_sample", 20, "models.gender.search_sample", "10 rows per fold"),
    ("models.gender.cv_folds", 1, "models.gender.cv_folds", "at least 2"),
    ("filter.datasets", "utkface", "filter.datasets", "must be a list, got 'utkface'"),
    ("filter.datasets", ["nosuch"], "filter.datasets", "'nosuch'"),
    ("filter.test_size", 1.5, "filter.test_size", "less than 1"),
    ("evaluation.videos", "nosuch", "evaluation.videos", "'nosuch'"),
    ("evaluation.table1", {"source": "imagenet"}, "evaluation.table1.source", "'imagenet'"),
    ("evaluation.table2", {"source": "fakeavceleb"}, "evaluation.table2.type", "needs a type"),
    ("evaluation.ethnicities", ["Caucasion"], "evaluation.ethnicities", "'Caucasion'"),
    ("datasets.lfw.sha256", "abc123", "datasets.lfw.sha256", "64-character"),
    ("datasets.lfw.reader", "flickr", "datasets.lfw.reader", "'flickr'"),
    ("serve", 5, "serve", "mapping"),
    ("seed", "forty-two", "seed", "must be an integer"),
]


@pytest.mark.parametrize("path, value, field, words", BAD_VALUES, ids=[f"{p}={v!r}" for p, v, *_ in BAD_VALUES])
def test_a_bad_value_stops_with_one_sentence_naming_the_field(default_params, path, value, field, words):
    with pytest.raises(ConfigError) as caught:
        config_from_dict(with_value(default_params, path, value))
    message = str(caught.value)
    assert_one_sentence_naming(message, field)
    assert words in message


def test_a_missing_required_setting_is_named(default_params):
    params = copy.deepcopy(default_params)
    del params["filter"]["datasets"]
    with pytest.raises(ConfigError, match=r"^filter\.datasets: is required"):
        config_from_dict(params)


@pytest.mark.parametrize(
    "override, message",
    [
        ("compute.backend=spark", "compute.backend"),
        ("filter.test_size=1.5", "test_size"),
        ("crop.scale_factor=1.0", "scale_factor"),
        ("+crop.colour=red", "crop.colour: is not a setting"),
        ("filter.datasets=[nosuch]", "nosuch"),
        ("compute=dask", None),  # valid: it names a scheduler address
    ],
)
def test_hydra_overrides_are_validated_too(override, message):
    params = compose([override], conf_dir=REPO / "conf")
    if message is None:
        assert config_from_dict(params).compute.backend == "dask"
        return
    with pytest.raises(ConfigError, match=message):
        config_from_dict(params)


def test_the_validated_config_is_typed_frozen_and_keeps_the_raw_params(default_params):
    cfg = config_from_dict(default_params)
    assert cfg.raw is default_params and cfg.section("crop") == default_params["crop"]
    assert cfg.fake_search is cfg.models.fake and cfg.gender_search is cfg.models.gender
    assert cfg.gender.datasets == ("utkface", "celeba", "lfw", "fairface") and cfg.datasets["lfw"].name == "lfw"
    assert cfg.download.timeout_s == 60.0 and isinstance(cfg.download.timeout_s, float)
    # Grid values stay exactly as written: the CV table's JSON must keep C=1, not C=1.0.
    assert cfg.models.fake.candidates["svm_rbf"]["grid"]["C"] == [3, 10]
    assert all(isinstance(c, int) for c in cfg.models.fake.candidates["svm_rbf"]["grid"]["C"])
    with pytest.raises(ValidationError):
        cfg.crop.size = 50
    copied = cfg.crop.model_copy(update={"padding": 0.0})
    assert copied.padding == 0.0 and cfg.crop.padding == 0.25
    assert pickle.loads(pickle.dumps(cfg.crop)) == cfg.crop  # joblib ships it to workers


def test_mlflow_gets_the_validated_sections(default_params):
    params = copy.deepcopy(default_params)
    del params["crop"]["sample_sheet"]  # a default: filled in by the schema
    cfg = config_from_dict(params)
    assert cfg.section_dump("crop")["sample_sheet"] == CropConfig().sample_sheet
    assert cfg.section_dump("seed") == 42
    assert cfg.section_dump("gender")["datasets"] == ["utkface", "celeba", "lfw", "fairface"]


def test_section_classes_have_defaults_where_code_relies_on_them():
    assert ServeConfig().port == 8000 and CropConfig().size == 100


def test_every_reader_and_block_the_schema_allows_exists_in_the_code():
    from pipeline.data.datasets import READERS as CODE_READERS
    from pipeline.gender.features import face_features

    assert set(READERS) == set(CODE_READERS)
    for block in BLOCKS:  # each block the schema accepts builds (the builder is keyed by block name)
        union = face_features(FeaturesConfig(blocks=(block,)), size=100, seed=0)
        assert [name for name, _ in union.transformer_list] == [block]


def test_load_config_reports_a_missing_file_and_broken_yaml(tmp_path, monkeypatch):
    monkeypatch.setenv("GENREC_PARAMS", str(tmp_path / "absent.yaml"))
    with pytest.raises(ConfigError, match="absent.yaml not found"):
        load_config()
    broken = tmp_path / "params.yaml"
    broken.write_text("crop: {size: [100\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(broken)
    with pytest.raises(ConfigError, match="mapping"):
        config_from_dict(["a", "list"])


def test_a_stage_given_a_bad_params_yaml_exits_1_with_the_sentence_and_no_traceback(tmp_path, default_params):
    result = run_stage("download", tmp_path, with_value(default_params, "crop.size", "big"))
    assert result.returncode == 1
    assert "crop.size: must be an integer, got 'big'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()  # stopped before doing anything
