"""The joblib backend is swappable: a real Dask cluster gives byte-identical stage outputs; batches keep order."""

from __future__ import annotations

import os
import shutil

import pytest
from pydantic import ValidationError

from pipeline.config import ComputeConfig, ConfigError
from pipeline.parallel import absolute_paths, batches, compute_backend, map_batches

from helpers import base_params, copy_images, run_stage

OUTPUTS = ("data/manifest.parquet", "data/crops/crops.npy", "data/crops/faces.parquet", "metrics/haar_crop.json")


def test_batches_cover_every_item_once_in_order():
    assert batches(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert batches([], 3) == []


def test_map_batches_returns_results_in_order_on_local_processes():
    with compute_backend(ComputeConfig(backend="loky", n_jobs=2)):
        parts = list(map_batches(sum, list(range(10)), 4, "sum"))
    assert parts == [0 + 1 + 2 + 3, 4 + 5 + 6 + 7, 8 + 9]


def test_paths_are_made_absolute_for_remote_workers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert absolute_paths(["a/b.jpg"]) == [str(tmp_path / "a" / "b.jpg")]


def test_dask_without_a_scheduler_address_is_a_config_error():
    # The schema refuses this config; the backend still says so itself if handed one built without it.
    with pytest.raises(ValidationError, match="scheduler_address"):
        ComputeConfig(backend="dask")
    with pytest.raises(ConfigError, match="compute.scheduler_address"):
        with compute_backend(ComputeConfig.model_construct(backend="dask", n_jobs=1, scheduler_address=None)):
            pass


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two worker processes whose working directory is not the stage's, as on another machine."""
    from distributed import LocalCluster

    elsewhere = tmp_path_factory.mktemp("workers")
    before = os.getcwd()
    os.chdir(elsewhere)
    try:
        local = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    finally:
        os.chdir(before)
    with local:
        yield local


def run_both_stages(workdir, compute):
    params = base_params(compute=compute)
    params["filter"] = {**params["filter"], "datasets": ["utkface"], "max_per_dataset": None}
    params["compute"]["batch_size"] = 16
    for module in ("filter_small_images", "haar_crop"):
        result = run_stage(module, workdir, params)
        assert result.returncode == 0, result.stderr
    return {name: (workdir / name).read_bytes() for name in OUTPUTS}


@pytest.mark.slow  # a Dask cluster and stages as subprocesses
def test_dask_cluster_and_loky_give_byte_identical_outputs(tmp_path, utk_images, cluster):
    copy_images(utk_images[::300], tmp_path / "data" / "raw" / "utkface" / "UTKFace")  # 80 images
    loky = run_both_stages(tmp_path, {"backend": "loky", "n_jobs": 2, "scheduler_address": None, "batch_size": 16})
    shutil.rmtree(tmp_path / "data" / "crops")
    (tmp_path / "data" / "manifest.parquet").unlink()
    dask = run_both_stages(
        tmp_path, {"backend": "dask", "n_jobs": -1, "scheduler_address": cluster.scheduler_address, "batch_size": 16}
    )
    assert len(loky["data/crops/crops.npy"]) > 80 * 100 * 100
    for name in OUTPUTS:
        assert dask[name] == loky[name], name
    # Both stages' per-image work really went through the cluster's scheduler.
    prefixes = " ".join(cluster.scheduler.task_prefixes)
    assert "inspect_images" in prefixes and "crop_largest_faces" in prefixes


@pytest.mark.slow
def test_an_absent_scheduler_is_a_clear_error(tmp_path, utk_images):
    copy_images(utk_images[:5], tmp_path / "data" / "raw" / "utkface" / "UTKFace")
    params = base_params(
        compute={"backend": "dask", "n_jobs": -1, "scheduler_address": "tcp://127.0.0.1:9", "batch_size": 16}
    )
    params["filter"] = {**params["filter"], "datasets": ["utkface"]}
    result = run_stage("filter_small_images", tmp_path, params)
    assert result.returncode == 1
    assert "no Dask scheduler answers at tcp://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr
