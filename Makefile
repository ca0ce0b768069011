# Fresh machine: `make demo` sets everything up and runs the quickstart sweep; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
# Installed first so no other package drags in another build; GPU users pass e.g.
#   make demo TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.xstilts-setup
DEMO_NAME ?= quickstart-$(shell date +%Y%m%d-%H%M%S)
# The image the cluster files name: xstilts' version and its Ray's (docs/cluster.md says where to push it).
REGISTRY ?= your-registry
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
RAY_VERSION := $(shell sed -n 's/^ray==//p' constraints.txt)
IMAGE ?= $(REGISTRY)/xstilts:$(VERSION)-ray$(RAY_VERSION)

.PHONY: setup demo test test-all lint clean image image-name

# constraints.txt: the tested versions, the same in the image and on every cluster node
$(STAMP): pyproject.toml Makefile constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,trackers]"
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

# Needs Docker; the wheel is built here so that the image holds exactly what `pip install xstilts` would.
image: setup
	rm -rf dist
	$(BIN)/python -m pip wheel --quiet --no-deps -w dist .
	docker build --build-arg RAY_VERSION=$(RAY_VERSION) -t $(IMAGE) .
	@echo "built $(IMAGE); push it with: docker push $(IMAGE)"

image-name:
	@echo $(IMAGE)

clean:
	rm -rf $(VENV) sweeps
