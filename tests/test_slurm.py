"""The SLURM profile on a real single-node SLURM cluster (.ci/slurm-up, CI layout).

Runs the workflow with ``--profile profiles/slurm`` plus what a 2-core test machine needs
(tests/support/slurm.py), then checks that every job went through sbatch, that the outputs are
right, that the preflight switched the status command on this cluster without accounting, and
that a job held up in the queue shows SLURM's reason in Snakemake's log.
"""

import subprocess

import pytest

from medvlm.records import read_records
from tests.support.slurm import (
    assert_tiny_runs_went_through_sbatch,
    check_cluster,
    one_tiny_run_per_family,
    require_cluster,
    slurm_run,
    submitted,
)
from tests.support.snakemake_runner import small_synthetic_config, tiny_runs_config

pytestmark = pytest.mark.slurm


@pytest.fixture(scope="module")
def slurm():
    require_cluster("ci")


def test_data_dag_runs_through_sbatch_and_a_pending_job_says_why(slurm, tmp_path):
    # A job holding every CPU of the node for 20 s: the workflow's first job pends behind it
    # with reason Resources, longer than the 3 s (0.05 min) after which the reason is logged.
    blocker = subprocess.run(
        ["sbatch", "--parsable", "-p", "cpu", "--cpus-per-task=16", "--output=/dev/null"]
        + ["--wrap", "sleep 20"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    config = small_synthetic_config(tmp_path, train_images_per_dataset=3, val_images_per_dataset=1)
    try:
        log = slurm_run(tmp_path, config, env={"MEDVLM_SLURM_PENDING_MINUTES": "0.05"})
    finally:
        subprocess.run(["scancel", blocker], check=False)
    assert "SLURM preflight: the 6 job(s) to submit fit this cluster" in log, log[-3000:]
    assert "status checks switched from sacct to squeue" in log
    assert "(rule synthetic_data) has been pending for" in log, log[-3000:]
    assert "SLURM's reason: Resources (waiting for free CPUs, memory or GPUs)" in log
    (log_file,) = (tmp_path / ".snakemake" / "log").glob("*.snakemake.log")
    assert "(rule synthetic_data) has been pending for" in log_file.read_text()
    # synthetic_data, merge, split and three shards jobs, each with its own SLURM job id
    assert len(set(submitted(log).values())) == 6, log[-3000:]
    data = tmp_path / "results" / "data"
    train = read_records(data / "splits" / "train.jsonl")
    assert len({r.dataset for r in train}) == 19
    for split in ("train", "val", "test"):
        assert (data / "shards" / split / "32" / "images.npy").stat().st_size > 0


def test_check_cluster_finds_the_unchanged_profile_fits_the_ci_cluster(slurm, tmp_path):
    result = check_cluster(tmp_path, tiny_runs_config(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Every request fits this cluster." in result.stdout
    assert "cpu (default): state UP, MaxTime UNLIMITED" in result.stdout
    assert "gpu: state UP" in result.stdout and "GRES gpu:fake:2" in result.stdout
    assert "note: no accounting database here" in result.stdout
    assert not (tmp_path / ".snakemake" / "slurm_logs").exists()  # nothing was submitted


@pytest.mark.slow
def test_one_tiny_run_per_family_trains_predicts_and_scores_on_gpu_nodes(slurm, tmp_path):
    log = slurm_run(tmp_path, one_tiny_run_per_family(tmp_path))
    results = tmp_path / "results"
    assert_tiny_runs_went_through_sbatch(log, results, cpu="cpu", gpu="gpu", gres="gpu:1")
    assert (results / "tables" / "test" / "summary.csv").stat().st_size > 0
