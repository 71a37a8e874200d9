from __future__ import annotations

import pytest
import yaml

from conftest import REPO
from pipeline.config import ConfigError, compose, config_from_dict, write_params

EXPERIMENTS = sorted(path.stem for path in (REPO / "conf" / "experiment").glob("*.yaml"))


def test_committed_params_equal_the_composition_of_conf():
    committed = yaml.safe_load((REPO / "params.yaml").read_text())
    assert committed == compose(conf_dir=REPO / "conf"), "params.yaml is stale: run `genrec compose`"


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_to_a_valid_config(experiment):
    cfg = config_from_dict(compose([f"experiment={experiment}"], conf_dir=REPO / "conf"))
    assert cfg.experiment_name == experiment


def test_required_experiments_exist():
    assert {"seed_paper", "smoke"} <= set(EXPERIMENTS)


def test_compose_writes_what_dvc_writes(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    out = write_params(["experiment=smoke", "crop.padding=0.3"], tmp_path / "params.yaml")
    written = yaml.safe_load(out.read_text())
    assert written["crop"]["padding"] == 0.3
    assert written["filter"]["max_per_dataset"] == 200


@pytest.mark.parametrize(
    "override, message",
    [
        ("compute.backend=spark", "compute.backend"),
        ("filter.test_size=1.5", "test_size"),
        ("crop.scale_factor=1.0", "scale_factor"),
        ("+crop.colour=red", "unknown keys"),
        ("filter.datasets=[nosuch]", "nosuch"),
    ],
)
def test_bad_values_are_refused_with_a_clear_sentence(override, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(compose([override], conf_dir=REPO / "conf"))
