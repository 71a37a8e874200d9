# One command to set up and run the pipeline, one to set up and run the tests.
#   make repro   creates .venv, installs genrec, runs `dvc repro`
#   make test    creates .venv, installs genrec with its test tools, runs pytest
VENV ?= .venv
PYTHON ?= python3
BIN := $(abspath $(VENV))/bin

# Stages run `python -m ...`: the venv's python must come first on PATH.
export PATH := $(BIN):$(PATH)
export MLFLOW_DISABLE_TELEMETRY := true

.PHONY: setup repro test ui bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

setup: $(VENV)/.installed

repro: setup
	dvc repro

test: setup
	python -m pytest

ui: setup
	mlflow ui

bench: setup
	python benchmarks/haar_crop.py
