"""Per-image loops through joblib, so the backend can be swapped by config.

`compute.backend=loky` runs local worker processes; `compute.backend=dask`
runs the same tasks on a Dask cluster (`compute.scheduler_address`).
Work is cut into batches so that a task carries enough images to outweigh
its scheduling cost, and results stream back in order as they finish.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import joblib
from tqdm import tqdm

from pipeline.config import ComputeConfig, ConfigError


@contextmanager
def compute_backend(compute: ComputeConfig) -> Iterator[None]:
    """Make `compute.backend` joblib's backend for the enclosed block."""
    if compute.backend != "dask":
        with joblib.parallel_config(backend=compute.backend, n_jobs=compute.n_jobs):
            yield
        return
    if not compute.scheduler_address:
        raise ConfigError("compute.backend=dask needs compute.scheduler_address (e.g. tcp://127.0.0.1:8786)")
    from distributed import Client

    try:
        client = Client(compute.scheduler_address, timeout=10)
    except OSError as error:
        raise ConfigError(
            f"no Dask scheduler answers at {compute.scheduler_address} ({error}); "
            "start one with `dask scheduler` or set compute.backend=loky"
        ) from None
    try:
        with joblib.parallel_config(backend="dask", n_jobs=compute.n_jobs):
            yield
    finally:
        client.close()


def absolute_paths(paths: Sequence[str]) -> list[str]:
    """Paths that mean the same file on any worker, whatever its working directory."""
    return [os.path.abspath(path) for path in paths]


def batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def map_batches(
    func: Callable[[Sequence[Any]], Any], items: Sequence[Any], batch_size: int, desc: str
) -> Iterator[Any]:
    """func(batch) for consecutive batches of `items`, in order, on the active backend."""
    parts = batches(items, batch_size)
    results = joblib.Parallel(return_as="generator")(joblib.delayed(func)(part) for part in parts)
    progress = tqdm(total=len(items), desc=desc, unit="img", disable=not sys.stderr.isatty())
    with progress:
        for part, result in zip(parts, results, strict=True):
            progress.update(len(part))
            yield result
