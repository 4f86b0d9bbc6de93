"""The SLURM profile on a real single-node SLURM cluster (started by .ci/slurm-up).

Runs the data part of the DAG with ``--profile profiles/slurm`` plus overrides that fit the local
test cluster (no accounting database: squeue status checks; small memory requests), then checks
that every job went through sbatch and that the outputs are right.
"""

import json
import os
import re
import shutil
import subprocess

import pytest

from medvlm.records import read_records
from tests.support.snakemake_runner import (
    REPO,
    run_snakemake,
    small_synthetic_config,
    tiny_runs_config,
)

pytestmark = pytest.mark.slurm


def cluster_is_up() -> bool:
    if not shutil.which("sinfo"):
        return False
    result = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return result.returncode == 0 and bool(re.search(r"idle|mix|alloc", result.stdout))


@pytest.fixture(scope="module")
def slurm():
    if not cluster_is_up():
        if os.environ.get("CI"):
            pytest.fail("CI must start SLURM with .ci/slurm-up before the tests")
        pytest.skip("no SLURM cluster here (start one with .ci/slurm-up)")


# The profile as a user has it, plus what this one-node test cluster needs: no accounting
# database (squeue status checks), and no more worker threads than the machine's 2 cores.
LOCAL_CLUSTER_OVERRIDES = (
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--slurm-no-account",
    "--seconds-between-status-checks",
    "2",
    "--set-threads",
    "shards=1",
    "train=2",
    "predict=2",
    "--verbose",
)


def slurm_run(workdir, config):
    result = run_snakemake(
        workdir, config, "--profile", str(REPO / "profiles" / "slurm"), *LOCAL_CLUSTER_OVERRIDES
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]
    return log


def submitted(log: str) -> dict[str, str]:
    """Snakemake job id → SLURM job id, for every job that went through sbatch."""
    return dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log))


def sbatch_calls(log: str, rule: str) -> list[str]:
    return [call for call in re.findall(r"sbatch call: (.*)", log) if f"rule_{rule}" in call]


def test_data_dag_runs_through_sbatch(slurm, tmp_path):
    config = small_synthetic_config(tmp_path, train_images_per_dataset=3, val_images_per_dataset=1)
    log = slurm_run(tmp_path, config)
    # synthetic_data, merge, split and three shards jobs, each with its own SLURM job id
    assert len(set(submitted(log).values())) == 6, log[-3000:]
    data = tmp_path / "results" / "data"
    train = read_records(data / "splits" / "train.jsonl")
    assert len({r.dataset for r in train}) == 19
    for split in ("train", "val", "test"):
        assert (data / "shards" / split / "32" / "images.npy").stat().st_size > 0


@pytest.mark.slow
def test_one_tiny_run_per_family_trains_predicts_and_scores_on_gpu_nodes(slurm, tmp_path):
    config = tiny_runs_config(tmp_path)
    del config["runs"]["mg_zero_shot"]
    log = slurm_run(tmp_path, config)
    jobs = submitted(log)
    assert len(set(jobs.values())) == len(jobs) >= 20, log[-3000:]
    for rule in ("train", "predict"):
        calls = sbatch_calls(log, rule)
        assert len(calls) == 2, log[-3000:]
        assert all("-p gpu" in call and "--gres=gpu:1" in call for call in calls), calls
    assert all("-p cpu" in call for call in sbatch_calls(log, "score"))
    results = tmp_path / "results"
    for run in ("pg", "mg"):
        scores = json.loads((results / "scores" / run / "test.json").read_text())
        assert scores["profiles"]["default"]["classification"]["n"] > 0
    assert (results / "tables" / "test" / "summary.csv").stat().st_size > 0
