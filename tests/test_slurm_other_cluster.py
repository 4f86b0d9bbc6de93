"""The SLURM profile on a cluster that is not ours (.ci/slurm-up other), as a new user meets it.

That cluster has other partition names (batch, a100), typed GPUs (gpu:a100:2), 6 CPUs and
64,000 MB per node, MaxTime 12:00:00 on the GPU partition and no accounting database. The
unchanged profile must be stopped before any sbatch with messages naming rule, resource,
requested value, limit and profile line; after README's example edits the reduced DAG (one tiny
run per family) must complete through sbatch. The module puts the CI layout back afterwards.
"""

import os
import re

import pytest
import yaml

from tests.support.slurm import (
    PROFILE,
    assert_tiny_runs_went_through_sbatch,
    check_cluster,
    one_tiny_run_per_family,
    probe_job_id,
    require_cluster,
    sbatch_calls,
    slurm_run,
    slurm_up,
    submitted,
    write_profile,
)
from tests.support.snakemake_runner import REPO, run_snakemake

pytestmark = pytest.mark.slurm

PROFILE_FILE = PROFILE / "config.yaml"


@pytest.fixture(scope="module")
def other_cluster():
    require_cluster("ci")
    if os.geteuid() != 0:
        pytest.skip("reconfiguring the test cluster needs root")
    slurm_up("other")
    yield
    slurm_up("ci")


def profile_line(text: str) -> int:
    """The 1-based line of the profile that starts with ``text`` (after indentation)."""
    lines = PROFILE_FILE.read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.strip().startswith(text))


def set_resources_line(rule: str, key: str) -> int:
    lines = PROFILE_FILE.read_text().splitlines()
    start = next(n for n, line in enumerate(lines, 1) if line == f"  {rule}:")
    return next(
        n for n, line in enumerate(lines, 1) if n > start and line.startswith(f"    {key}:")
    )


def readme_example_edits() -> dict:
    """The YAML block README's SLURM section gives for this very cluster."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("<!-- example edits: .ci/slurm-up other -->", 1)[1]
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.DOTALL)[1])


def merged(base: dict, edits: dict) -> dict:
    out = dict(base)
    for key, value in edits.items():
        out[key] = merged(base.get(key, {}), value) if isinstance(value, dict) else value
    return out


def edited_profile(folder, *more_edits: dict):
    settings = merged(yaml.safe_load(PROFILE_FILE.read_text()), readme_example_edits())
    for edits in more_edits:
        settings = merged(settings, edits)
    return write_profile(folder, settings)


def test_unchanged_profile_is_stopped_before_any_sbatch(other_cluster, tmp_path):
    before = probe_job_id()
    result = run_snakemake(tmp_path, one_tiny_run_per_family(tmp_path), "--profile", str(PROFILE))
    assert probe_job_id() == before + 1  # no job between the two probes
    log = result.stdout + result.stderr
    assert result.returncode != 0
    assert "nothing was submitted" in log and not submitted(log), log[-4000:]
    profile = str(PROFILE_FILE)  # Snakemake ran in tmp_path: the path is shown whole
    expected = [
        # partitions: every CPU rule from default-resources, the GPU rules from their own lines
        "slurm_partition 'cpu' — no such partition; partitions here: batch (default), a100\n"
        f"    edit {profile} line {profile_line('slurm_partition: cpu')} "
        "(default-resources: slurm_partition)",
        "rule train: slurm_partition 'gpu' — no such partition",
        f"line {set_resources_line('train', 'slurm_partition')} "
        "(set-resources: train: slurm_partition)",
        # memory: 96000 MB fits no node of this cluster
        "rule train: mem_mb 96000 MB — no partition here fits it: the largest node of partition "
        f"batch has 64000 MB\n    edit {profile} line {set_resources_line('train', 'mem_mb')} "
        "(set-resources: train: mem_mb)",
        # CPUs: 8 threads per shards/train/predict job, 6 CPUs per node
        "rule train: CPUs (threads) 8 — no partition here fits it: the largest node of partition "
        f"batch has 6 CPUs\n    edit {profile} line {profile_line('train: 8')} "
        "(set-threads: train)",
        "rule shards: CPUs (threads) 8",
        # no accounting: the status command
        "status checks switched from sacct to squeue for this run; to set it yourself: "
        f"{profile} line {profile_line('# slurm-status-command')} "
        "(uncomment slurm-status-command)",
    ]
    for text in expected:
        assert text in log, text + "\n----\n" + log[-5000:]
    assert "rules demo_model, merge, " in log  # one line for every rule sharing the default


def test_check_cluster_names_maxtime_and_gpu_type_it_cannot_meet(other_cluster, tmp_path):
    # README's edits, but training keeps 24 h and asks for a GPU type the cluster lacks.
    train = {"set-resources": {"train": {"runtime": 1440, "gres": "gpu:h100:1"}}}
    profile = edited_profile(tmp_path / "profile", train)
    before = probe_job_id()
    result = check_cluster(tmp_path, one_tiny_run_per_family(tmp_path), profile)
    assert probe_job_id() == before + 1
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "Checked 22 job(s)." in out  # the reduced DAG: 23 jobs less the local rule `all`
    assert (
        "rule train: runtime 1440 min — above MaxTime 720 min (12:00:00) of partition a100: "
        "the job would pend forever (PartitionTimeLimit)"
    ) in out
    assert (
        "rule train: gres gpu:h100:1 — no node of partition a100 has it; the nodes have gpu:a100:2"
    ) in out
    assert "rule predict" not in out  # predict's edited request fits
    assert "2 problem(s)" in out


@pytest.mark.slow
def test_readme_edits_run_one_tiny_run_per_family_through_sbatch(other_cluster, tmp_path):
    profile = edited_profile(tmp_path / "profile")
    check = check_cluster(tmp_path, one_tiny_run_per_family(tmp_path), profile)
    assert check.returncode == 0 and "Every request fits" in check.stdout, check.stdout
    log = slurm_run(tmp_path, one_tiny_run_per_family(tmp_path), profile)
    results = tmp_path / "results"
    assert_tiny_runs_went_through_sbatch(log, results, cpu="batch", gpu="a100", gres="gpu:a100:1")
    assert "-t 720" in sbatch_calls(log, "train")[0]
