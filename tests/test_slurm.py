"""The SLURM profile on a real single-node SLURM cluster (started by .ci/slurm-up).

Runs the data part of the DAG with ``--profile profiles/slurm`` plus overrides that fit the local
test cluster (no accounting database: squeue status checks; small memory requests), then checks
that every job went through sbatch and that the outputs are right.
"""

import os
import re
import shutil
import subprocess

import pytest

from medvlm.records import read_records
from tests.support.snakemake_runner import REPO, run_snakemake, small_synthetic_config

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


LOCAL_CLUSTER_OVERRIDES = (
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--slurm-no-account",
    "--default-resources",
    "slurm_partition=cpu",
    "mem_mb=1000",
    "runtime=30",
    "--set-resources",
    "shards:mem_mb=1000",
    "--set-threads",
    "shards=1",
    "--seconds-between-status-checks",
    "2",
)


def test_data_dag_runs_through_sbatch(slurm, tmp_path):
    config = small_synthetic_config(tmp_path, train_images_per_dataset=3, val_images_per_dataset=1)
    result = run_snakemake(
        tmp_path, config, "--profile", str(REPO / "profiles" / "slurm"), *LOCAL_CLUSTER_OVERRIDES
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-5000:]
    slurm_ids = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+)", log)
    # synthetic_data, merge, split and three shards jobs, each with its own SLURM job id
    assert len(set(slurm_ids)) == 6, log[-3000:]
    data = tmp_path / "results" / "data"
    train = read_records(data / "splits" / "train.jsonl")
    assert len({r.dataset for r in train}) == 19
    for split in ("train", "val", "test"):
        assert (data / "shards" / split / "32" / "images.npy").stat().st_size > 0
