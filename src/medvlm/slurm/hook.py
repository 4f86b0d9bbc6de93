"""The workflow's ``onstart`` hook for SLURM runs: check, then watch.

Snakemake calls ``onstart`` after it has built the DAG and set up the executor, and before it
submits the first job (and never inside a job: jobs run with ``--no-hooks``). With the SLURM
executor the hook reads the cluster, checks every job that will be submitted, stops the run
with one message per mismatch, switches status checks to ``squeue`` where the cluster keeps no
accounting, and starts :class:`~medvlm.slurm.pending.PendingReporter`.

``medvlm check-cluster`` runs Snakemake with :data:`CHECK_ONLY_ENV` set to a file: the hook
writes its report there and stops the run before anything is submitted, whatever the executor.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger as log

from medvlm.slurm.cluster import ClusterError, read_cluster
from medvlm.slurm.pending import DEFAULT_THRESHOLD_MIN, THRESHOLD_ENV, PendingReporter
from medvlm.slurm.preflight import Report, check_requests, status_command_notes
from medvlm.slurm.profile import ProfileLines, profile_from_argv
from medvlm.slurm.requests import JobRequest, job_request

CHECK_ONLY_ENV = "MEDVLM_CLUSTER_CHECK_REPORT"
CHECK_ONLY_STOP = "medvlm check-cluster: check done, stopping before anything is submitted"


def submitted_requests(workflow) -> list[JobRequest]:
    """The request of every job this run will hand to the executor (local jobs excluded)."""
    return [
        job_request(job.rule.name, dict(job.resources.items()), job.threads)
        for job in workflow.dag.needrun_jobs()
        if not job.is_local
    ]


def pending_threshold_s() -> float:
    text = os.environ.get(THRESHOLD_ENV, str(DEFAULT_THRESHOLD_MIN))
    try:
        minutes = float(text)
    except ValueError:
        raise WorkflowError(f"{THRESHOLD_ENV}={text!r} is not a number of minutes") from None
    return minutes * 60


def on_start(workflow) -> None:
    report_path = os.environ.get(CHECK_ONLY_ENV)
    executor = workflow.executor_plugin.name
    if executor != "slurm" and not report_path:
        return
    threshold_s = pending_threshold_s()
    profile = ProfileLines.read(profile_from_argv())
    try:
        cluster = read_cluster()
    except ClusterError as error:
        raise WorkflowError(f"SLURM preflight: cannot read the cluster: {error}") from None
    requests = submitted_requests(workflow)
    problems = check_requests(requests, cluster, profile)
    if executor == "slurm":
        settings = workflow.executor_settings
        status_command, notes, status_problems = status_command_notes(
            cluster, settings.status_command, settings.init_seconds_before_status_checks, profile
        )
        problems += status_problems
    else:
        notes = [f"the executor is {executor}, not slurm: this run would submit nothing to SLURM"]
    report = Report(len(requests), cluster.summary(), notes, problems)
    if report_path:
        Path(report_path).write_text(json.dumps(report.to_dict(), indent=1), encoding="utf-8")
        raise WorkflowError(CHECK_ONLY_STOP)
    for note in notes:
        log.warning(f"SLURM preflight: {note}")
    if problems:
        raise WorkflowError(f"{report.problems_text()}\n{report.cluster_text()}")
    settings.status_command = status_command
    log.info(f"SLURM preflight: the {len(requests)} job(s) to submit fit this cluster")
    # The plugin names every job of this run after its run id (sbatch --job-name).
    run_id = getattr(getattr(workflow.scheduler, "_executor", None), "run_uuid", None)
    if run_id:
        PendingReporter(run_id, threshold_s, log).start()
