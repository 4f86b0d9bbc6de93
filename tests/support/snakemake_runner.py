"""Run the real workflow with Snakemake in a subprocess, as a user would from the shell."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from medvlm.records import TASK_TYPES

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def run_snakemake(
    workdir: Path, config: dict, *args: str, timeout: int = 1200, env: dict | None = None
):
    """Write ``config`` to ``workdir/config.yaml`` and run the repository's Snakefile there
    (``env``: variables added to this process's environment)."""
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return subprocess.run(
        [
            str(SNAKEMAKE),
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(workdir),
            "--configfile",
            str(config_path),
            *args,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        timeout=timeout,
        cwd=workdir,
    )


def planned_jobs(result) -> dict[str, int]:
    """Rule name → job count from a dry run's "Job stats" table ({} when nothing is to do)."""
    assert result.returncode == 0, result.stderr + result.stdout
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.MULTILINE)}


def small_synthetic_config(workdir: Path, **synthetic) -> dict:
    """A demo-like config on a small synthetic tree under ``workdir``."""
    return {
        "results": str(workdir / "results"),
        "data": {
            "root": str(workdir / "results" / "synthetic"),
            "synthetic": {
                "seed": 1,
                "train_images_per_dataset": 6,
                "val_images_per_dataset": 2,
                "fault_rate": 0.05,
                **synthetic,
            },
        },
        "split": {"val_fraction": 0.2},
        "shards": {"image_sizes": [32], "threads": 2},
    }


def tiny_runs_config(workdir: Path) -> dict:
    """A small synthetic tree plus one tiny trained run per family and a zero-shot baseline:
    the whole DAG (train → predict → score → tables → plots) in a few minutes on 2 cores."""
    config = small_synthetic_config(workdir, train_images_per_dataset=4, val_images_per_dataset=2)
    short = {task: 6 for task in TASK_TYPES}
    config["shards"]["image_sizes"] = []
    config["demo_models"] = {
        "paligemma": {"image_size": 32, "patch": 16, "width": 32, "depth": 1, "vocab_size": 500},
        "medgemma": {"image_size": 32, "patch_size": 8, "mm_tokens_per_image": 4},
    }
    config["runs"] = {
        "pg": {
            "family": "paligemma",
            "image_size": 32,
            "train": {
                "steps": 4,
                "batch_size": 4,
                "val_every": 2,
                "save_every": 2,
                "log_every": 1,
                "val_examples": 8,
                "learning_rate": 0.001,
            },
            "decode": {"max_new_tokens": short, "batch_size": 32},
        },
        "mg": {
            "family": "medgemma",
            "image_size": 32,
            "train": {
                "steps": 3,
                "batch_size": 2,
                "grad_accum": 1,
                "val_every": 2,
                "save_every": 2,
                "log_every": 1,
                "val_examples": 8,
            },
            "decode": {"max_new_tokens": short, "batch_size": 32},
        },
        "mg_zero_shot": {
            "family": "medgemma",
            "image_size": 32,
            "zero_shot": True,
            "decode": {"max_new_tokens": short, "batch_size": 32},
        },
    }
    config["evaluate"] = {"bootstrap": 20}
    return config
