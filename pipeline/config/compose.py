"""params.yaml from conf/ (Hydra, as DVC composes it for `dvc exp run`), and back into the typed Config."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pipeline.config.messages import sentence, shown
from pipeline.config.schema import Config, ConfigError

PARAMS_FILE = "params.yaml"
CONF_DIR = "conf"
CONF_NAME = "config"


def config_from_dict(raw: dict[str, Any]) -> Config:
    """Typed, validated config from the composed parameters; ConfigError (one sentence) if anything is wrong."""
    if not isinstance(raw, dict):
        raise ConfigError(f"params must be a mapping of sections, got {shown(raw)}")
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(sentence(error.errors()[0])) from None
    cfg._raw = raw
    return cfg


def params_path() -> Path:
    """params.yaml of the current run ($GENREC_PARAMS overrides, for tests and tools)."""
    return Path(os.environ.get("GENREC_PARAMS", PARAMS_FILE))


def load_config(path: str | Path | None = None) -> Config:
    path = Path(path) if path else params_path()
    if not path.is_file():
        raise ConfigError(f"{path} not found: run `genrec compose` in the repository root to create it")
    try:
        with open(path, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle) or {}
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise ConfigError(f"{path} is not valid YAML{line}: run `genrec compose` to rewrite it") from None
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
