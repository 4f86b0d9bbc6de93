# The two commands of the README. Each sets itself up (virtual environment + installs) and is safe
# to rerun: the install step reruns only when pyproject.toml changes.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
STAMP := $(VENV)/.installed

CHROMIUM ?= chromium

.PHONY: demo test lint dag report-screenshot

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: the whole workflow on the embedded synthetic demo (config/config.yaml), then the
## HTML report (results/report.html)
demo: $(STAMP)
	$(VENV)/bin/snakemake --cores $(CORES)
	$(VENV)/bin/snakemake --report results/report.html

## test: linters, then the whole test suite
test: lint
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/snakefmt --check Snakefile workflow/rules
	$(VENV)/bin/snakemake --lint --quiet

## dag: draw the demo's rule graph and job DAG into docs/ (needs graphviz's `dot`)
dag: $(STAMP)
	mkdir -p docs
	$(VENV)/bin/snakemake --rulegraph dot | dot -Tsvg > docs/rulegraph.svg
	$(VENV)/bin/snakemake --dag dot | dot -Tsvg > docs/dag.svg

## report-screenshot: open the demo's report in headless Chromium and save what it shows
report-screenshot: results/report.html
	mkdir -p docs
	$(CHROMIUM) --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	  --disable-background-networking --disable-component-update --disable-sync \
	  --user-data-dir="$$(mktemp -d)" --window-size=1400,1000 --virtual-time-budget=8000 \
	  --screenshot="$(CURDIR)/docs/report.png" "file://$(CURDIR)/results/report.html"
