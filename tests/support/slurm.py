"""The single-node SLURM of .ci/slurm-up, as the SLURM tests use it: its layouts, runs of the
real workflow through ``--profile``, and what the runs' logs say about sbatch."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.snakemake_runner import REPO, run_snakemake, tiny_runs_config

PROFILE = REPO / "profiles" / "slurm"
MEDVLM = Path(sys.executable).parent / "medvlm"

# What this one-node test cluster needs beyond a profile: no more worker threads than the
# machine's 2 cores, no account, and quick status checks (the plugin keeps squeue only while
# MinJobAge, 300 s here, is at least 3 × the first check's delay). The status command is left
# to the preflight: the cluster has no accounting database.
LOCAL_CLUSTER_OVERRIDES = (
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


def running_layout() -> str | None:
    """The layout (.ci/slurm-up LAYOUT) of the running cluster, None when none is up."""
    if not shutil.which("sinfo"):
        return None
    states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    if states.returncode != 0 or not re.search(r"idle|mix|alloc", states.stdout):
        return None
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True)
    match = re.search(r"^ClusterName\s*=\s*medvlm-(\S+)", config.stdout, re.MULTILINE)
    return match[1] if match else None


def require_cluster(layout: str = "ci") -> None:
    """Skip (fail in CI) unless the cluster runs ``layout``; start it when root may."""
    if running_layout() == layout:
        return
    if running_layout() is not None and os.geteuid() == 0:
        slurm_up(layout)
        return
    if os.environ.get("CI"):
        pytest.fail("CI must start SLURM with .ci/slurm-up before the tests")
    pytest.skip("no SLURM cluster here (start one with .ci/slurm-up)")


def slurm_up(layout: str) -> None:
    result = subprocess.run(
        ["bash", str(REPO / ".ci" / "slurm-up"), layout], capture_output=True, text=True
    )
    assert result.returncode == 0 and running_layout() == layout, result.stdout + result.stderr


def write_profile(folder, settings: dict):
    """A profile folder holding ``settings`` as its config.yaml."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    return folder


def slurm_run(workdir, config, profile=PROFILE, *extra, env=None):
    """Run the workflow through ``profile`` plus the local overrides; the full log."""
    result = run_snakemake(
        workdir, config, "--profile", str(profile), *LOCAL_CLUSTER_OVERRIDES, *extra, env=env
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]
    return log


def check_cluster(workdir: Path, config: dict, profile: Path = PROFILE):
    """``medvlm check-cluster`` on the repository's workflow, run from ``workdir``."""
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return subprocess.run(
        [str(MEDVLM), "check-cluster", "--profile", str(profile), "--configfile", str(config_path)]
        + ["--", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir)],
        capture_output=True,
        text=True,
        cwd=workdir,
        timeout=600,
    )


def submitted(log: str) -> dict[str, str]:
    """Snakemake job id → SLURM job id, for every job that went through sbatch."""
    return dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log))


def sbatch_calls(log: str, rule: str) -> list[str]:
    return [call for call in re.findall(r"sbatch call: (.*)", log) if f"rule_{rule}" in call]


def probe_job_id() -> int:
    """The id of a held probe job, cancelled at once. SLURM numbers jobs one after the other,
    so two probes one id apart mean that nothing was submitted between them."""
    job = subprocess.run(
        ["sbatch", "--parsable", "--hold", "--output=/dev/null", "--wrap", "true"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run(["scancel", job], check=True)
    return int(job.split(";")[0])


def one_tiny_run_per_family(workdir: Path) -> dict:
    """The reduced DAG: one tiny trained run per family (no zero-shot baseline)."""
    config = tiny_runs_config(workdir)
    del config["runs"]["mg_zero_shot"]
    return config


def assert_tiny_runs_went_through_sbatch(log: str, results: Path, cpu: str, gpu: str, gres: str):
    """Every job of :func:`one_tiny_run_per_family` had its own SLURM job, the GPU rules went to
    partition ``gpu`` asking for ``gres``, scoring to ``cpu``, and both runs were scored."""
    jobs = submitted(log)
    assert len(set(jobs.values())) == len(jobs) >= 20, log[-3000:]
    for rule in ("train", "predict"):
        calls = sbatch_calls(log, rule)
        assert len(calls) == 2, log[-3000:]
        assert all(f"-p {gpu}" in c and f"--gres={gres}" in c for c in calls), calls
    assert all(f"-p {cpu}" in call for call in sbatch_calls(log, "score"))
    for run in ("pg", "mg"):
        scores = json.loads((results / "scores" / run / "test.json").read_text())
        assert scores["profiles"]["default"]["classification"]["n"] > 0
