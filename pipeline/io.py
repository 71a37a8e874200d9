"""Atomic writes (a file is either absent, the old version, or complete), and model files verified by their sha256."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from pipeline.errors import ModelError


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: str | Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def write_parquet(path: str | Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def write_csv(path: str | Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n")


def write_with(path: str | Path, writer: Callable[[Path], Any]) -> None:
    """Atomically write `path` with `writer(temporary_path)`."""
    with atomic_path(path) as tmp:
        writer(tmp)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_model(model, path: Path, info: dict[str, Any]) -> dict[str, Any]:
    """joblib file plus <name>.json recording its sha256, so loaders can verify it."""
    write_with(path, lambda tmp: joblib.dump(model, tmp))
    record = {**info, "file": path.name, "sha256": sha256_of(path)}
    write_json(path.with_suffix(".json"), record)
    return record


def load_verified(path: Path) -> tuple[Any, dict[str, Any]]:
    """A model saved by save_model, after checking its sha256 against the record beside it."""
    path = Path(path)
    record_path = path.with_suffix(".json")
    if not path.is_file() or not record_path.is_file():
        raise ModelError(f"no trained model at {path}: run `dvc repro` to build it")
    record = json.loads(record_path.read_text(encoding="utf-8"))
    if sha256_of(path) != record.get("sha256"):
        raise ModelError(
            f"{path} does not match the sha256 recorded in {record_path.name}: "
            "it changed after the pipeline wrote it; run `dvc repro` (or `dvc checkout`)"
        )
    return joblib.load(path), record
