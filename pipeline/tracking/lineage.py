"""Lineage: the data a stage read, as MLflow dataset inputs named by DVC.

A dataset's source is its DVC path (with the repository), its digest the md5
DVC gives it (dvc.lock's `md5`), so a model version in the registry leads back,
through its run, to the exact manifest, crops or features it was trained on;
`dvc get REPO PATH --rev COMMIT` fetches them.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.meta_dataset import MetaDataset

from pipeline.project import project_root


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def directory_md5(path: Path) -> str:
    """DVC 3's hash of a directory: md5 of its sorted JSON listing of (md5, relpath), plus '.dir'."""
    entries = [
        {"md5": file_md5(file), "relpath": file.relative_to(path).as_posix()}
        for file in path.rglob("*")
        if file.is_file()
    ]
    entries.sort(key=lambda entry: entry["relpath"])
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode("utf-8")).hexdigest() + ".dir"


def locked_outputs(lock_file: Path) -> dict[str, dict]:
    """Every output recorded in dvc.lock: path -> its entry (md5, size, nfiles)."""
    if not lock_file.is_file():
        return {}
    lock = yaml.safe_load(lock_file.read_text()) or {}
    return {out["path"]: out for stage in lock.get("stages", {}).values() for out in stage.get("outs", [])}


def dvc_md5(path: Path, recorded: dict | None = None, recorded_at: float = 0.0) -> str:
    """The md5 DVC gives `path`. A directory unchanged since dvc.lock recorded it (same file count and size,
    no file newer than the lock) takes the recorded hash, as DVC trusts unchanged stat data; anything else
    is hashed, as DVC does."""
    if path.is_file():
        return file_md5(path)
    if recorded:
        stats = [file.stat() for file in path.rglob("*") if file.is_file()]
        if (
            recorded.get("nfiles") == len(stats)
            and recorded.get("size") == sum(s.st_size for s in stats)
            and all(s.st_mtime <= recorded_at for s in stats)
        ):
            return recorded["md5"]
    return directory_md5(path)


def stage_data_deps(stage: str, dvc_file: Path = Path("dvc.yaml")) -> list[str]:
    """The data (under data/) that `stage` depends on in dvc.yaml; `name@key` resolves a foreach stage."""
    if not dvc_file.is_file():
        return []
    stages = (yaml.safe_load(dvc_file.read_text()) or {}).get("stages", {})
    name, _, key = stage.partition("@")
    definition = stages.get(name) or {}
    deps = definition.get("deps", [])
    if key and "foreach" in definition:
        item = definition["foreach"].get(key, {})
        deps = []
        for dep in definition["do"].get("deps", []):
            dep = dep.replace("${key}", key)
            for field_name, value in item.items() if isinstance(item, dict) else []:
                dep = dep.replace(f"${{item.{field_name}}}", str(value))
            deps.append(dep)
    return [dep for dep in deps if isinstance(dep, str) and dep.startswith("data/")]


@dataclass
class StageInput:
    """One piece of input data: its DVC path and DVC md5."""

    path: str
    md5: str


def describe_inputs(paths: list[str]) -> list[StageInput]:
    """The DVC md5 of each existing path (relative to the working copy the stage runs in)."""
    lock = Path("dvc.lock")
    recorded, recorded_at = locked_outputs(lock), (lock.stat().st_mtime if lock.exists() else 0.0)
    return [
        StageInput(path, dvc_md5(Path(path), recorded.get(path), recorded_at)) for path in paths if Path(path).exists()
    ]


def log_inputs(mlflow, inputs: list[StageInput]) -> None:
    """Each input as an MLflow dataset of the active run: DVC path as source, DVC md5 as digest."""
    for item in inputs:
        mlflow.log_input(
            MetaDataset(DvcDatasetSource(item.path, project_remote()), name=item.path, digest=item.md5), context="input"
        )


def project_remote() -> str:
    """The repository's origin URL, or its path when it has none."""
    try:
        return subprocess.run(
            ["git", "remote", "get-url", "origin"], cwd=project_root(), capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return str(project_root())


class DvcDatasetSource(DatasetSource):
    """A DVC-tracked path of a repository (`dvc get REPO PATH` fetches it at the run's commit)."""

    def __init__(self, path: str, repo: str):
        self.path, self.repo = path, repo

    @staticmethod
    def _get_source_type() -> str:
        return "dvc"

    def load(self, dst_path=None) -> str:
        return str(Path(self.path).resolve())

    @staticmethod
    def _can_resolve(raw_source) -> bool:
        return False

    @classmethod
    def _resolve(cls, raw_source):
        raise NotImplementedError

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "repo": self.repo}

    @classmethod
    def from_dict(cls, source_dict: dict) -> DvcDatasetSource:
        return cls(source_dict["path"], source_dict["repo"])
