# The two commands of the README. Each sets itself up (virtual environment + installs) and is safe
# to rerun: the install step reruns only when pyproject.toml changes.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
STAMP := $(VENV)/.installed

CHROMIUM ?= chromium

.PHONY: demo test lint dag report-screenshot readme demo-check learn

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

## readme: put the demo's test summary (results/tables/test/summary.md) into README.md
readme: $(STAMP)
	$(VENV)/bin/python -m medvlm.generated --block demo-summary \
	  --source results/tables/test/summary.md --into README.md

## demo-check: the demo, then fail unless README's table is exactly its summary (CI)
demo-check: demo
	$(VENV)/bin/python -m medvlm.generated --check --block demo-summary \
	  --source results/tables/test/summary.md --into README.md

## learn: the learnability benchmark (config/learnability.yaml) from scratch: larger tiny models
## of both families on a bigger synthetic tree, trained vs untrained for every task type; writes
## its table into BENCHMARKS.md (at most 40 min on 2 cores; not part of CI)
learn: $(STAMP)
	start=$$(date +%s) && \
	$(VENV)/bin/snakemake --cores $(CORES) --configfile config/learnability.yaml --forceall && \
	$(VENV)/bin/python benchmarks/learning.py --config config/learnability.yaml \
	  --seconds $$(( $$(date +%s) - start )) --write BENCHMARKS.md --block learnability

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
