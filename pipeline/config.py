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
class SearchConfig:
    """One task's model search: named candidates, each a model family and its grid."""

    candidates: dict
    cv_folds: int = 5
    calibration: str = "sigmoid"


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
    if cfg.fake_search:
        _check(cfg.fake_search.cv_folds >= 2, "models.fake.cv_folds must be at least 2")
        _check(cfg.fake_search.calibration in ("sigmoid", "isotonic"), "models.fake.calibration must be sigmoid or isotonic")


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
