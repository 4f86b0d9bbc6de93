# The two commands of the README. Each sets itself up (virtual environment + installs) and is safe
# to rerun: the install step reruns only when pyproject.toml changes.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
STAMP := $(VENV)/.installed

CHROMIUM ?= chromium

# Pinned CPU numerics for everything below (the demo, the tests, make learn): every library's
# instruction set capped at AVX2, so any x86-64 CPU computes with the same kernels
# (src/medvlm/numerics.py says why; it prints NAME=VALUE lines with the standard library alone).
$(foreach setting,$(shell $(PYTHON) src/medvlm/numerics.py),$(eval export $(setting)))
# The demo and make learn also run on two CPUs with two threads, whatever the machine has: the
# thread count changes the order of the sums too (numerics.py says more)
ON_PINNED_CPUS := $(PYTHON) src/medvlm/numerics.py --run

.PHONY: demo test lint dag report-screenshot readme demo-check demo-learning learn learn-tasks learn-levers learn-instances lock

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

## lock: write every installed package's version into constraints.txt (the lock that `make`
## installs with: the numerics of the demo depend on more than the direct pins); torch without
## its local build label, so that a GPU node's pip takes its CUDA build of the same release
lock: $(STAMP)
	{ echo "# The lock: every package of the environment at one version (made by make lock)."; \
	  $(VENV)/bin/pip freeze --exclude-editable | sed -e 's/+cpu$$//' | grep -v '^medvlm'; \
	} > constraints.txt

## demo: the whole workflow on the embedded synthetic demo (config/config.yaml), then the
## HTML report (results/report.html)
demo: $(STAMP)
	$(ON_PINNED_CPUS) $(VENV)/bin/snakemake --cores $(CORES)
	$(VENV)/bin/snakemake --report results/report.html

## readme: put the demo's test summary (results/tables/test/summary.md) into README.md, with
## the CPU, pin and library versions it was made with
readme: $(STAMP)
	$(VENV)/bin/medvlm generated --block demo-summary \
	  --source results/tables/test/summary.md --into README.md
	$(ON_PINNED_CPUS) $(VENV)/bin/python src/medvlm/numerics.py --provenance \
	  > results/tables/test/provenance.md
	$(VENV)/bin/medvlm generated --block demo-provenance \
	  --source results/tables/test/provenance.md --into README.md

## settings-reference: rewrite what is generated from the settings models: the schema's
## train/decode definitions, config/README.md's key tables, MedGemma's SFTConfig field list
.PHONY: settings-reference
settings-reference: $(STAMP)
	$(VENV)/bin/medvlm settings-reference

## demo-check: the demo, then fail unless README's table is exactly its summary (on the CPU that
## made it; elsewhere unless every fine-tuned run beats its untrained self), and unless
## BENCHMARKS.md's demo-learning block is exactly what the demo's runs give (on that CPU) (CI)
DEMO_LEARNING := --config config/config.yaml --targets '{}' --block demo-learning \
	  --write BENCHMARKS.md --out benchmarks/out/demo-learning.json
demo-check: demo
	$(ON_PINNED_CPUS) $(VENV)/bin/medvlm demo-check --readme README.md --tables results/tables/test \
	  --config config/config.yaml
	$(ON_PINNED_CPUS) $(VENV)/bin/python benchmarks/learning.py $(DEMO_LEARNING) --check README.md

## demo-learning: the demo, then its trained-vs-untrained comparison into BENCHMARKS.md
demo-learning: demo
	$(VENV)/bin/python benchmarks/learning.py $(DEMO_LEARNING)

## learn: the learnability benchmark from scratch, its three parts writing their tables into
## BENCHMARKS.md (not part of CI): config/learnability.yaml, larger tiny models of both families
## on a bigger synthetic tree, trained vs untrained for every task type; config/levers.yaml,
## the levers of issue 21 (data mixture, per-task experts, instance detection) on an unbalanced
## tree, each against its baseline on the same budget; config/instances.yaml, instance
## detection on the chromosome data set alone, and a linear probe of the ids in its image tokens
LEVERS := [{"lever": "mixture T=3", "run": "pg_mixture", "baseline": "pg_uniform", "skip_datasets": ["chromosome"]}, {"lever": "experts", "run": "mg_experts", "baseline": "mg_lora"}, {"lever": "instance detection", "run": "pg_uniform", "baseline": "pg_untrained", "datasets": ["chromosome"]}]
learn: learn-tasks learn-levers learn-instances

learn-tasks: $(STAMP)
	start=$$(date +%s) && \
	$(ON_PINNED_CPUS) $(VENV)/bin/snakemake --cores $(CORES) \
	  --configfile config/learnability.yaml --forceall && \
	$(ON_PINNED_CPUS) $(VENV)/bin/python benchmarks/learning.py --config config/learnability.yaml \
	  --seconds $$(( $$(date +%s) - start )) --write BENCHMARKS.md --block learnability

learn-levers: $(STAMP)
	start=$$(date +%s) && \
	$(ON_PINNED_CPUS) $(VENV)/bin/snakemake --cores $(CORES) \
	  --configfile config/levers.yaml --forceall && \
	$(ON_PINNED_CPUS) $(VENV)/bin/python benchmarks/learning.py --config config/levers.yaml --levers '$(LEVERS)' \
	  --targets '{"instance_detection": {"paligemma": 0.3}}' --seconds $$(( $$(date +%s) - start )) --write BENCHMARKS.md --block levers \
	  --out benchmarks/out/levers.json

learn-instances: $(STAMP)
	start=$$(date +%s) && \
	$(ON_PINNED_CPUS) $(VENV)/bin/snakemake --cores $(CORES) \
	  --configfile config/instances.yaml --forceall && \
	$(ON_PINNED_CPUS) $(VENV)/bin/python benchmarks/learning.py --config config/instances.yaml \
	  --seconds $$(( $$(date +%s) - start )) --write BENCHMARKS.md --block instances \
	  --out benchmarks/out/instances.json
	$(ON_PINNED_CPUS) $(VENV)/bin/python benchmarks/instance_probe.py --config config/instances.yaml \
	  --run pg_trained --write BENCHMARKS.md --block instance-probe

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

## gpu-bench: both families at their real sizes with random weights on one H100/H200 (at most
## 8 min; benchmarks/gpu_bench.py): train-step throughput, MFU, peak memory beside the memory
## plan's estimate, constrained decoding answers/s; writes the gpu-bench block of BENCHMARKS.md.
## Needs GPU_PYTHON with a CUDA JAX, a CUDA torch, transformers, peft, trl, flax, optax,
## sentencepiece, protobuf and llguidance; the pinned ones missing there come from .whl/
## (make gpu-wheels), installed into GPU_SITE first
GPU_PYTHON ?= python3
GPU_SITE ?= /tmp/medvlm-gpu-site
GPU_WHEELS ?= transformers==5.24.0 tokenizers==0.23.3 peft==0.21.2 trl==1.16.0 \
  llguidance==1.9.1 flax==0.12.8 optax==0.2.8
.PHONY: gpu-bench gpu-wheels
gpu-bench:
	if [ -d .whl ]; then $(GPU_PYTHON) -m pip install -q --no-index --no-deps --no-compile \
	  --no-cache-dir --upgrade --target $(GPU_SITE) .whl/*.whl; fi
	PYTHONPATH=src:$(GPU_SITE)$${PYTHONPATH:+:$$PYTHONPATH} $(GPU_PYTHON) benchmarks/gpu_bench.py \
	  --write BENCHMARKS.md --out benchmarks/out/gpu_bench.json

## gpu-wheels: download GPU_WHEELS for CPython 3.12 on x86-64 Linux into .whl/ (for a GPU
## machine without network: carry .whl/ there, then make gpu-bench)
gpu-wheels:
	$(PYTHON) -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
	  --implementation cp --platform manylinux_2_31_x86_64 --platform manylinux_2_28_x86_64 \
	  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl $(GPU_WHEELS)
