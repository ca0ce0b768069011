# Fresh machine: `make demo` sets everything up and runs the quickstart sweep; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
# Installed first so no other package drags in another build; GPU users pass e.g.
#   make demo TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.xstilts-setup
DEMO_NAME ?= quickstart-$(shell date +%Y%m%d-%H%M%S)

.PHONY: setup demo test test-all lint clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@echo "compiling DeepSpeed's CPU ops once (about a minute on a fresh machine)"
	$(BIN)/python -m trainers.warmup
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/sweep launch configs/quickstart.yaml --storage sweeps --name $(DEMO_NAME)
	$(BIN)/sweep query sweeps/$(DEMO_NAME) --pivot

test: setup
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

test-all: setup
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -m ""

lint: setup
	$(BIN)/ruff check sweep trainers cluster search_spaces tests bench

clean:
	rm -rf $(VENV) sweeps
