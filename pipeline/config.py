"""params.yaml -> typed config: the one place the pipeline reads its configuration."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import GenrecError

PARAMS_FILE = "params.yaml"
CONF_DIR = "conf"
CONF_NAME = "config"


class ConfigError(GenrecError, ValueError):
    """A missing or invalid configuration value."""


@dataclass(frozen=True)
class Source:
    """Where one data set's archive comes from."""

    name: str
    reader: str
    archive: str
    sha256: str
    url: str | None = None
    homepage: str | None = None
    root: str = "."
    # Extra arguments for the reader (e.g. {label: fake} for an image folder).
    options: dict = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class DownloadConfig:
    mirror: str | None = None
    timeout_s: float = 60
    retries: int = 3


@dataclass(frozen=True)
class FilterConfig:
    datasets: tuple[str, ...]
    min_size: int = 60
    max_pixels: int = 40_000_000
    test_size: float = 0.2
    max_per_dataset: int | None = None


@dataclass(frozen=True)
class CropConfig:
    cascade: str = "haarcascade_frontalface_default.xml"
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_face: float = 0.15
    padding: float = 0.25
    detect_side: int | None = None
    size: int = 100
    sample_sheet: int = 16


@dataclass(frozen=True)
class VideoConfig:
    dataset: str
    every_s: float = 1.0
    max_frames: int = 20
    face_scale: float = 1.6
    detect_side: int | None = 640
    min_face: float = 0.08


@dataclass(frozen=True)
class SpectrumConfig:
    datasets: tuple[str, ...]
    input: str = "image"
    n_points: int = 80
    max_per_class: int | None = None
    videos: VideoConfig | None = None


@dataclass(frozen=True)
class EigenConfig:
    n_components: int = 50
    whiten: bool = False
    standardize: bool = False
    svd_solver: str = "randomized"
    # Components of the explained-variance curve (the paper's Figure 1).
    curve_components: int = 200


@dataclass(frozen=True)
class HogConfig:
    cell: int = 10
    block: int = 2
    bins: int = 9
    n_components: int | None = 200


@dataclass(frozen=True)
class LbpConfig:
    points: int = 8
    radius: int = 1
    grid: int = 5


@dataclass(frozen=True)
class FeaturesConfig:
    """The gender model's face features (extract-eigen): which blocks, and each block's settings."""

    blocks: tuple[str, ...]
    eigen: EigenConfig = EigenConfig()
    hog: HogConfig = HogConfig()
    lbp: LbpConfig = LbpConfig()


@dataclass(frozen=True)
class GenderConfig:
    """Which faces train, test and cross-check the gender model."""

    datasets: tuple[str, ...]
    cross_datasets: tuple[str, ...] = ()
    min_age: int | None = 18
    max_train: int | None = None
    balance: str = "none"
    # Face detection in photos and video frames (genrec predict, videos, the web app).
    detect_side: int | None = 640
    min_face: float = 0.08
    padding: float = 0.1


BALANCE = ("none", "gender", "ethnicity", "ethnicity_gender")


@dataclass(frozen=True)
class SearchConfig:
    """One task's model search: named candidates, each a model family and its grid (or list of grids)."""

    candidates: dict
    cv_folds: int = 5
    calibration: str = "sigmoid"
    # grid: every candidate on every fold; halving: successive halving (HalvingGridSearchCV).
    strategy: str = "grid"
    halving_factor: int = 3
    # Search on a stratified seeded subsample of this many training rows, then refit on all (null: all).
    search_sample: int | None = None
    # Standardize features before the classifier (the paper feeds raw eigenface coordinates).
    standardize: bool = True


@dataclass(frozen=True)
class TableSource:
    """The evaluation set behind one table: utkface_heldout, utkface_swaps or fakeavceleb (with its type)."""

    source: str
    type: str | None = None


EVALUATION_SOURCES = ("utkface_heldout", "utkface_swaps", "fakeavceleb")


@dataclass(frozen=True)
class EvaluationConfig:
    """evaluate-by-ethnicity: the sets behind Tables 1 and 2, and how they are sampled."""

    table1: TableSource
    table2: TableSource
    ethnicities: tuple[str, ...]
    per_cell: int | None = 25
    # Folder holding FakeAVCeleb's meta_data.csv and its FakeAVCeleb_v1.2/ tree (relative: from the repo root).
    fakeavceleb_root: str = "data/raw/fakeavceleb"
    # Labelled video data set scored per video (null: none).
    videos: str | None = None
    every_s: float = 1.0
    max_frames: int = 20
    swap_sheet: int = 6


@dataclass(frozen=True)
class ServeConfig:
    """GEN_REC, the web app."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    max_upload_mb: float = 50
    every_s: float = 1.0
    max_frames: int = 20
    max_seconds: float = 60
    upload_dir: str | None = None
    gender_model: str = "data/models/gender.joblib"
    fake_model: str = "data/models/fake.joblib"
    max_analysis_s: float = 10.0
    max_analysis_mb: int = 768
    max_rss_mb: int = 1024
    working_side: int = 1024
    max_pixels: int = 40_000_000
    max_frame_pixels: int = 8_912_896
    header_timeout_s: int = 5
    sweep_every_s: float = 60.0


@dataclass(frozen=True)
class ComputeConfig:
    backend: str = "loky"
    n_jobs: int = -1
    scheduler_address: str | None = None
    batch_size: int = 256


@dataclass(frozen=True)
class Config:
    seed: int
    experiment_name: str
    datasets: dict[str, Source]
    download: DownloadConfig
    filter: FilterConfig
    crop: CropConfig
    compute: ComputeConfig
    raw: dict[str, Any]
    spectrum: SpectrumConfig | None = None
    fake_search: SearchConfig | None = None
    features: FeaturesConfig | None = None
    gender: GenderConfig | None = None
    gender_search: SearchConfig | None = None
    evaluation: EvaluationConfig | None = None
    serve: ServeConfig | None = None

    def section(self, name: str) -> dict[str, Any]:
        """The raw params of one top-level section, for logging."""
        return self.raw.get(name, {})


def _build(cls, values: Any, where: str):
    """Build dataclass `cls` from a mapping, refusing unknown or missing keys."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a mapping, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{where} has unknown keys {unknown}; allowed: {sorted(fields)}")
    missing = [
        name
        for name, f in fields.items()
        if name not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where} is missing {missing}")
    return cls(**values)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _validate(cfg: Config) -> None:
    for source in cfg.datasets.values():
        _check(
            isinstance(source.sha256, str) and len(source.sha256) == 64,
            f"datasets.{source.name}.sha256 must be a 64-character hex digest",
        )
    for name in cfg.filter.datasets:
        _check(name in cfg.datasets, f"filter.datasets names {name!r}, which datasets does not define")
    _check(0 < cfg.filter.test_size < 1, "filter.test_size must be between 0 and 1")
    _check(cfg.filter.min_size >= 1, "filter.min_size must be at least 1")
    _check(cfg.crop.scale_factor > 1, "crop.scale_factor must be greater than 1")
    _check(0 < cfg.crop.min_face <= 1, "crop.min_face must be a fraction in (0, 1]")
    _check(cfg.crop.padding >= 0, "crop.padding must not be negative")
    _check(cfg.crop.size >= 8, "crop.size must be at least 8")
    _check(
        cfg.compute.backend in ("loky", "dask"),
        f"compute.backend must be 'loky' or 'dask', got {cfg.compute.backend!r}",
    )
    _check(cfg.compute.batch_size >= 1, "compute.batch_size must be at least 1")
    if cfg.spectrum:
        _check(cfg.spectrum.input in ("image", "crop"), "spectrum.input must be 'image' or 'crop'")
        _check(cfg.spectrum.n_points >= 4, "spectrum.n_points must be at least 4")
        videos = cfg.spectrum.videos
        if videos:
            _check(videos.every_s > 0 and videos.max_frames >= 1, "spectrum.videos needs every_s > 0 and max_frames >= 1")
    for task, search in (("fake", cfg.fake_search), ("gender", cfg.gender_search)):
        if search:
            _check(search.cv_folds >= 2, f"models.{task}.cv_folds must be at least 2")
            _check(search.calibration in ("sigmoid", "isotonic"), f"models.{task}.calibration must be sigmoid or isotonic")
            _check(search.strategy in ("grid", "halving"), f"models.{task}.strategy must be grid or halving")
            _check(search.halving_factor >= 2, f"models.{task}.halving_factor must be at least 2")
            _check(search.search_sample is None or search.search_sample >= 10 * search.cv_folds,
                   f"models.{task}.search_sample must be null or at least 10 rows per fold")
    if cfg.features:
        _check(len(cfg.features.blocks) > 0, "features.blocks must name at least one block")
        _check(cfg.features.eigen.n_components >= 1, "features.eigen.n_components must be at least 1")
    if cfg.evaluation:
        for table in (cfg.evaluation.table1, cfg.evaluation.table2):
            _check(table.source in EVALUATION_SOURCES,
                   f"evaluation tables take a source among {list(EVALUATION_SOURCES)}, got {table.source!r}")
        _check(cfg.evaluation.per_cell is None or cfg.evaluation.per_cell >= 1, "evaluation.per_cell must be null or >= 1")
        _check(len(cfg.evaluation.ethnicities) > 0, "evaluation.ethnicities must name at least one group")
    if cfg.serve:
        _check(cfg.serve.workers >= 1, "serve.workers must be at least 1")
        _check(cfg.serve.max_upload_mb > 0, "serve.max_upload_mb must be positive")
        _check(cfg.serve.every_s > 0 and cfg.serve.max_frames >= 1 and cfg.serve.max_seconds > 0,
               "serve needs every_s > 0, max_frames >= 1 and max_seconds > 0")
        _check(cfg.serve.max_analysis_s > 0, "serve.max_analysis_s must be positive")
        _check(cfg.serve.max_analysis_mb >= 64, "serve.max_analysis_mb must be at least 64")
        _check(cfg.serve.max_rss_mb >= cfg.serve.max_analysis_mb,
               "serve.max_rss_mb must be at least serve.max_analysis_mb")
        _check(cfg.serve.working_side >= 64, "serve.working_side must be at least 64")
        _check(cfg.serve.max_pixels >= 1 and cfg.serve.max_frame_pixels >= 1,
               "serve.max_pixels and serve.max_frame_pixels must be positive")
        _check(cfg.serve.header_timeout_s >= 1, "serve.header_timeout_s must be at least 1")
        _check(cfg.serve.sweep_every_s > 0, "serve.sweep_every_s must be positive")
    if cfg.gender:
        _check(len(cfg.gender.datasets) > 0, "gender.datasets must name at least one data set")
        _check(cfg.gender.balance in BALANCE, f"gender.balance must be one of {list(BALANCE)}")
        _check(cfg.gender.max_train is None or cfg.gender.max_train >= 10, "gender.max_train must be null or at least 10")


def _features(values: dict) -> FeaturesConfig:
    values = dict(values)
    values["blocks"] = tuple(values.get("blocks") or ())
    for name, cls in (("eigen", EigenConfig), ("hog", HogConfig), ("lbp", LbpConfig)):
        if name in values:
            values[name] = _build(cls, values[name] or {}, f"features.{name}")
    return _build(FeaturesConfig, values, "features")


def _gender(values: dict) -> GenderConfig:
    values = dict(values)
    for key in ("datasets", "cross_datasets"):
        values[key] = tuple(values.get(key) or ())
    return _build(GenderConfig, values, "gender")


def _evaluation(values: dict) -> EvaluationConfig:
    values = dict(values)
    for table in ("table1", "table2"):
        if table in values:
            values[table] = _build(TableSource, values[table] or {}, f"evaluation.{table}")
    values["ethnicities"] = tuple(values.get("ethnicities") or ())
    return _build(EvaluationConfig, values, "evaluation")


def config_from_dict(raw: dict[str, Any]) -> Config:
    """Typed, validated config from the composed parameters."""
    try:
        datasets = {
            name: _build(Source, {"name": name, **values}, f"datasets.{name}")
            for name, values in (raw.get("datasets") or {}).items()
        }
        filter_values = dict(raw.get("filter") or {})
        filter_values["datasets"] = tuple(filter_values.get("datasets") or ())
        spectrum = None
        if raw.get("spectrum"):
            spectrum_values = {**raw["spectrum"], "datasets": tuple(raw["spectrum"].get("datasets") or ())}
            if spectrum_values.get("videos"):
                spectrum_values["videos"] = _build(VideoConfig, spectrum_values["videos"], "spectrum.videos")
            spectrum = _build(SpectrumConfig, spectrum_values, "spectrum")
        fake = (raw.get("models") or {}).get("fake")
        gender_search = (raw.get("models") or {}).get("gender")
        cfg = Config(
            seed=int(raw["seed"]),
            experiment_name=str(raw.get("experiment_name", "default")),
            datasets=datasets,
            download=_build(DownloadConfig, raw.get("download") or {}, "download"),
            filter=_build(FilterConfig, filter_values, "filter"),
            crop=_build(CropConfig, raw.get("crop") or {}, "crop"),
            compute=_build(ComputeConfig, raw.get("compute") or {}, "compute"),
            raw=raw,
            spectrum=spectrum,
            fake_search=_build(SearchConfig, fake, "models.fake") if fake else None,
            features=_features(raw["features"]) if raw.get("features") else None,
            gender=_gender(raw["gender"]) if raw.get("gender") else None,
            gender_search=_build(SearchConfig, gender_search, "models.gender") if gender_search else None,
            evaluation=_evaluation(raw["evaluation"]) if raw.get("evaluation") else None,
            serve=_build(ServeConfig, raw["serve"], "serve") if raw.get("serve") else None,
        )
    except KeyError as missing:
        raise ConfigError(f"params are missing the key {missing}") from None
    except TypeError as error:
        raise ConfigError(f"invalid params: {error}") from None
    _validate(cfg)
    return cfg


def params_path() -> Path:
    """params.yaml of the current run ($GENREC_PARAMS overrides, for tests and tools)."""
    return Path(os.environ.get("GENREC_PARAMS", PARAMS_FILE))


def load_config(path: str | Path | None = None) -> Config:
    path = Path(path) if path else params_path()
    if not path.is_file():
        raise ConfigError(f"{path} not found: run `genrec compose` in the repository root to create it")
    with open(path, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle) or {}
    return config_from_dict(raw)


def compose(overrides: list[str] | None = None, conf_dir: str | Path = CONF_DIR) -> dict[str, Any]:
    """Compose conf/ with Hydra, exactly as DVC does for `dvc exp run`."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(str(Path(conf_dir).resolve()), version_base=None):
        cfg = hydra_compose(config_name=CONF_NAME, overrides=list(overrides or []))
    OmegaConf.resolve(cfg)
    return OmegaConf.to_container(cfg)


def write_params(overrides: list[str] | None = None, output: str | Path = PARAMS_FILE) -> Path:
    """Compose conf/ into params.yaml with DVC's own function, so the bytes match `dvc exp run`."""
    from dvc.utils.hydra import compose_and_dump

    output = Path(output)
    compose_and_dump(output, str(Path(CONF_DIR).resolve()), None, CONF_NAME, "", list(overrides or []))
    return output
