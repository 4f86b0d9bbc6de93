"""Check a SLURM profile against the cluster this machine submits to; nothing is submitted.

Runs Snakemake with the profile and config up to the moment it would submit its first job,
then compares every job's request (partition, runtime, memory, CPUs, GPUs) with what
`scontrol` says the cluster has, and prints the cluster, notes (accounting, status command)
and one line per mismatch with the profile line to edit. The same check runs by itself at the
start of every SLURM run. Exit status: 0 all fits, 1 mismatches, 2 Snakemake failed first.

  medvlm check-cluster --profile profiles/slurm --configfile config/flare25.yaml
  medvlm check-cluster --profile profiles/slurm -- --forceall     # every job, even done ones
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from medvlm.slurm.hook import CHECK_ONLY_ENV
from medvlm.slurm.preflight import Report
from medvlm.slurm.profile import resolve_profile

NAME = "check-cluster"
HELP = "check a SLURM profile's requests against this cluster (submits nothing)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile", required=True, help="the Snakemake profile, e.g. profiles/slurm"
    )
    parser.add_argument(
        "--configfile", nargs="+", default=[], help="workflow config file(s), as for snakemake"
    )
    parser.add_argument(
        "snakemake_args",
        nargs=argparse.REMAINDER,
        help="after `--`: more snakemake arguments (--forceall, --directory, --snakefile, ...)",
    )


def snakemake_command() -> str:
    beside = Path(sys.executable).parent / "snakemake"
    return str(beside) if beside.exists() else (shutil.which("snakemake") or "snakemake")


def hooks_disabled(profile: Path, extra: list[str]) -> bool:
    """The check runs in Snakemake's onstart hook: with hooks off, the run would go ahead."""
    settings = yaml.safe_load(profile.read_text(encoding="utf-8"))
    return "--no-hooks" in extra or (isinstance(settings, dict) and bool(settings.get("no-hooks")))


def print_report(report: Report) -> None:
    print(f"Checked {report.jobs} job(s). {report.cluster_text()}")
    for note in report.notes:
        print(f"note: {note}")
    print(report.problems_text() if report.problems else "Every request fits this cluster.")


def run(args: argparse.Namespace) -> int:
    extra = list(args.snakemake_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    profile = resolve_profile(args.profile)
    if profile is None:
        print(f"error: no Snakemake profile found at {args.profile}", file=sys.stderr)
        return 2
    if hooks_disabled(profile, extra):
        print("error: the check runs in the onstart hook; drop no-hooks", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "report.json"
        command = [snakemake_command(), "--profile", args.profile, "--nolock"]
        if args.configfile:
            command += ["--configfile", *args.configfile]
        result = subprocess.run(
            command + extra,
            capture_output=True,
            text=True,
            env={**os.environ, CHECK_ONLY_ENV: str(report_path)},
            check=False,
        )
        if report_path.exists():
            report = Report.from_dict(json.loads(report_path.read_text(encoding="utf-8")))
            print_report(report)
            return 1 if report.problems else 0
    output = result.stdout + result.stderr
    if result.returncode == 0 and "Nothing to be done" in output:
        print(
            "Nothing to submit: every output is up to date. To check every job anyway: "
            f"medvlm check-cluster --profile {args.profile} ... -- --forceall"
        )
        return 0
    print("Snakemake stopped before the check could report:", file=sys.stderr)
    print("\n".join(output.splitlines()[-40:]), file=sys.stderr)
    return 2
