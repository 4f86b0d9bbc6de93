"""Say why a SLURM job is still pending, once it has pended longer than a set time.

The SLURM plugin only polls a job's state; a job that pends forever (a time limit above the
partition's MaxTime, a drained node, a full queue) leaves Snakemake's log silent. A background
thread asks ``squeue`` for this run's pending jobs (the plugin names every job after the run's
id) and logs SLURM's reason for each job pending longer than the threshold, again whenever the
reason changes.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

# Environment variable holding the threshold in minutes (a float; default below).
THRESHOLD_ENV = "MEDVLM_SLURM_PENDING_MINUTES"
DEFAULT_THRESHOLD_MIN = 10.0

# What the common reasons mean for someone running this workflow (squeue's %r).
REASONS = {
    "PartitionTimeLimit": "the job's runtime is above the partition's MaxTime; it will never "
    "start: lower this rule's runtime in the profile",
    "PartitionNodeLimit": "the job asks for more nodes than the partition allows",
    "PartitionDown": "the partition is down",
    "PartitionInactive": "the partition is inactive",
    "ReqNodeNotAvail": "the nodes it needs are down, drained or reserved",
    "Resources": "waiting for free CPUs, memory or GPUs",
    "Priority": "jobs with a higher priority are ahead in the queue",
    "BadConstraints": "no node has what it asks for (constraint, GRES or memory)",
    "QOSMaxWallDurationPerJobLimit": "the runtime is above the QOS's limit: lower it",
    "AssocGrpGRES": "the account's GPU quota is in use",
    "JobHeldUser": "held by the user (scontrol release)",
    "JobHeldAdmin": "held by an administrator",
}


@dataclass(frozen=True)
class PendingJob:
    job_id: str
    comment: str  # the plugin's "rule_<rule>[_wildcards_<wildcards>]"
    reason: str
    submitted: float  # epoch seconds


def parse_squeue(text: str) -> list[PendingJob]:
    """``squeue --noheader --format=%i|%k|%r|%V`` lines → pending jobs."""
    jobs = []
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 4:
            continue
        job_id, comment, reason, submitted = parts
        try:
            when = datetime.fromisoformat(submitted).timestamp()
        except ValueError:
            continue
        jobs.append(PendingJob(job_id, comment, reason, when))
    return jobs


def describe(job: PendingJob, pending_s: float) -> str:
    rule, _, wildcards = job.comment.removeprefix("rule_").partition("_wildcards_")
    what = f"rule {rule}" + (f", {wildcards}" if wildcards else "")
    meaning = REASONS.get(job.reason)
    return (
        f"SLURM job {job.job_id} ({what}) has been pending for {pending_s / 60:.1f} min; "
        f"SLURM's reason: {job.reason}" + (f" ({meaning})" if meaning else "")
    )


class PendingReporter(threading.Thread):
    """Polls squeue for pending jobs named ``run_id`` until :meth:`stop`."""

    def __init__(
        self,
        run_id: str,
        threshold_s: float,
        log: logging.Logger,
        clock: Callable[[], float] = time.time,
    ):
        super().__init__(name="slurm-pending-reporter", daemon=True)
        self.run_id = run_id
        self.threshold_s = threshold_s
        self.poll_s = min(60.0, max(1.0, threshold_s / 2))
        self.log = log
        self.clock = clock
        self.reported: dict[str, str] = {}  # job id → the reason last reported
        self._stop = threading.Event()

    def poll(self) -> None:
        try:
            result = subprocess.run(
                [
                    "squeue",
                    "--noheader",
                    "--states=PENDING",
                    "--format=%i|%k|%r|%V",
                    f"--name={self.run_id}",
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return
        if result.returncode != 0:
            return
        now = self.clock()
        for job in parse_squeue(result.stdout):
            pending_s = now - job.submitted
            if pending_s >= self.threshold_s and self.reported.get(job.job_id) != job.reason:
                self.reported[job.job_id] = job.reason
                self.log.warning(describe(job, pending_s))

    def run(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.poll()

    def stop(self) -> None:
        self._stop.set()
