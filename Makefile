# The two commands of the README. Each sets itself up (virtual environment + installs) and is safe
# to rerun: the install step reruns only when pyproject.toml changes.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
STAMP := $(VENV)/.installed

.PHONY: demo test lint dag

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: the whole workflow on the embedded synthetic demo (config/config.yaml)
demo: $(STAMP)
	$(VENV)/bin/snakemake --cores $(CORES)

## test: linters, then the whole test suite
test: lint
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/snakefmt --check Snakefile workflow/rules
	$(VENV)/bin/snakemake --lint --quiet

## dag: draw the rule graph of the demo (needs graphviz's `dot`)
dag: $(STAMP)
	$(VENV)/bin/snakemake --rulegraph dot | dot -Tsvg > results/rulegraph.svg
