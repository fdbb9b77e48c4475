# The two commands: `make demo` and `make test`. Everything they need is installed here.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
EXTRAS := --extra postgres --extra s3 --extra sklearn --extra redis --extra lightgbm --extra onnx --extra ray
# PyTorch comes from a local CPU wheel when the machine has one (PyPI's is a multi-GB CUDA build);
# `uv sync --inexact` below leaves it installed.
TORCH_WHEELS := /opt/wheels
TORCH_WHEEL := $(TORCH_WHEELS)/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl

# uv installs into .venv with the machine's Python and never downloads an interpreter.
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_PYTHON := $(shell $(PYTHON) -c 'import sys; print(sys.executable)')
export UV_PYTHON_DOWNLOADS := never
# Write .pyc files at install time: where PYTHONDONTWRITEBYTECODE is set (as on our CI machines)
# every import would otherwise compile from source, and `import loopline` would take seconds.
export UV_COMPILE_BYTECODE := 1

.PHONY: help install services lint test demo bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

install: $(UV) ## Create .venv and install Loopline with its locked dependencies
	$(UV) sync --frozen --inexact $(EXTRAS)
	if [ -f $(TORCH_WHEEL) ] && ! $(BIN)/python -c 'import torch' 2>/dev/null; then \
		$(UV) pip install --python $(BIN)/python --find-links $(TORCH_WHEELS) torch==2.13.0; fi
	$(BIN)/python -m compileall -q src

services: install ## Make sure PostgreSQL is running for the tests (starts or installs it)
	bash scripts/services.sh

lint: install ## ruff, mypy --strict, import-linter
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint services ## Lint, start what the tests need, run every test
	set -a && source .services/env && set +a && $(BIN)/pytest -n 2

demo: install ## Run the main job on the embedded default and print what it did
	$(BIN)/python examples/demo.py

bench: install ## Run the benchmarks (slow; see benchmarks/RESULTS.md)
	$(BIN)/python benchmarks/blobs.py
	$(BIN)/python benchmarks/tracking.py
	$(BIN)/python benchmarks/datasets.py
	$(BIN)/python benchmarks/registry.py
	$(BIN)/python benchmarks/ui.py
	$(BIN)/python benchmarks/features.py
	$(BIN)/python benchmarks/pipelines.py
	$(BIN)/python benchmarks/serving.py
	$(BIN)/python benchmarks/agents.py
	$(BIN)/python benchmarks/drift.py

clean: ## Remove the virtual environments and caches
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
