"""Training in several processes, on one node or many: the part both families share.

A run with ``train.nodes`` × ``train.processes`` above one is trained by worker processes that
the family's ``train`` starts from the workflow's plain process: it writes the run and its paths
to ``<resume_dir>.workers/launch.json`` (:func:`write_spec`) and runs its framework's launcher
(:func:`run_workers`); each worker reads the spec (:func:`read_spec`), joins its framework's own
distributed runtime and trains, never relaunching. Worker logs go to
``<resume_dir>.workers/logs/``: kept when a worker fails, removed with the spec after a success.

On SLURM the train rule's job asks for the run's nodes, tasks and GPUs (:func:`slurm_resources`;
the ``mpi`` resource makes the job run the family's ``train`` once, in the batch step) and the
workers start through ``srun`` inside that allocation (:func:`srun`). Nothing here imports a
framework.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from medvlm.io import write_json
from medvlm.models.base import SplitData

WORKERS_SUFFIX = ".workers"
SPEC_FILE = "launch.json"
LOGS = "logs"
# Set in every worker's environment by the launch, so a worker never launches again.
WORKER_ENV = "MEDVLM_WORKER"
# srun tasks per node: one JAX process per GPU (PaliGemma); one torchrun agent (MedGemma).
TASKS_PER_NODE = {"paligemma": "processes", "medgemma": 1}


def workers_dir(resume_dir: Path) -> Path:
    """Where a launch keeps its spec and worker logs: beside ``resume_dir``, which the first
    worker may clear when the run changed."""
    resume_dir = Path(resume_dir)
    return resume_dir.with_name(resume_dir.name + WORKERS_SUFFIX)


def in_worker() -> bool:
    """Whether this process is a worker of a launch (ours, torchrun's or accelerate's)."""
    return (
        WORKER_ENV in os.environ
        or "LOCAL_RANK" in os.environ
        or int(os.environ.get("WORLD_SIZE", "1")) > 1
    )


def write_spec(
    run: dict,
    train: SplitData,
    val: SplitData,
    out_dir: Path,
    resume_dir: Path,
    curves_dir: Path | None = None,
) -> Path:
    """A fresh ``<resume_dir>.workers/`` holding the launch spec; returns the spec's path."""
    folder = workers_dir(resume_dir)
    if folder.exists():
        shutil.rmtree(folder)
    spec = folder / SPEC_FILE
    write_json(
        spec,
        {
            "run": run,
            "train": [str(train.records_path), str(train.shard_dir)],
            "val": [str(val.records_path), str(val.shard_dir)],
            "out_dir": str(out_dir),
            "resume_dir": str(resume_dir),
            "curves_dir": None if curves_dir is None else str(curves_dir),
        },
    )
    return spec


def read_spec(path: Path) -> tuple[dict, SplitData, SplitData, Path, Path, Path | None]:
    """The arguments of the family's ``train`` from a launch spec (JSON only: nothing in it
    runs)."""
    try:
        spec = json.loads(Path(path).read_text("utf-8"))
        return (
            spec["run"],
            SplitData(*map(Path, spec["train"])),
            SplitData(*map(Path, spec["val"])),
            Path(spec["out_dir"]),
            Path(spec["resume_dir"]),
            None if spec["curves_dir"] is None else Path(spec["curves_dir"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a valid launch spec ({error})") from error


def in_slurm_job() -> bool:
    """Whether this process runs inside a SLURM allocation (a job, or ``salloc``)."""
    return "SLURM_JOB_ID" in os.environ


def slurm_first_node() -> str:
    """The first host of this SLURM allocation (``scontrol show hostnames``). The node list
    comes from ``squeue`` where the environment lacks it: Snakemake's jobstep plugin keeps only
    ``SLURM_JOB_ID`` and a few more in the environment of a job's command."""
    nodelist = os.environ.get("SLURM_JOB_NODELIST")
    if not nodelist:
        job = os.environ["SLURM_JOB_ID"]
        listed = subprocess.run(
            ["squeue", "-h", "-j", job, "-o", "%N"], capture_output=True, text=True, check=True
        )
        nodelist = listed.stdout.strip()
    done = subprocess.run(
        ["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, check=True
    )
    return done.stdout.split()[0]


def slurm_port() -> int:
    """A port for this allocation's rendezvous, from its job id (as JAX picks its own)."""
    return 61440 + int(os.environ["SLURM_JOB_ID"]) % 4096


def srun(tasks: int, command: Sequence[str]) -> list[str]:
    """``command`` as ``tasks`` tasks of this allocation; one failing task ends them all."""
    return ["srun", f"--ntasks={tasks}", "--kill-on-bad-exit=1", *command]


def run_workers(
    commands: Sequence[Sequence[str]], resume_dir: Path, what: str, env: Sequence[dict] = ()
) -> None:
    """Run the launch ``commands`` (each with its extra environment ``env``) at once and wait;
    raise naming ``what`` and the logs when any fails (the others are killed), else remove the
    launch folder."""
    folder = workers_dir(resume_dir)
    extra = list(env) or [{}] * len(commands)
    children = [
        subprocess.Popen(list(command), env={**os.environ, WORKER_ENV: "1", **more})
        for command, more in zip(commands, extra, strict=True)
    ]
    failed = None
    for child in children:
        code = child.wait()
        if code != 0 and failed is None:
            failed = code
            for other in children:
                if other.poll() is None:
                    other.kill()  # JAX's preemption notifier catches SIGTERM
    if failed is not None:
        raise RuntimeError(
            f"{what} failed: a worker exited with code {failed}; worker logs under {folder / LOGS}"
        )
    shutil.rmtree(folder)


def slurm_resources(family: str, nodes: int, processes: int) -> dict:
    """The SLURM resources of a run's training job (snakemake-executor-plugin-slurm 2.8.0):
    ``nodes``, GPUs per node (``gres: gpu:<processes>``, one per process), and for a job of
    several tasks the ``mpi`` marker with the task layout: ``tasks_per_node`` (``sbatch
    --ntasks-per-node``), or ``tasks`` with ``tasks_per_gpu: 0`` where there is one task per
    node (the plugin accepts ``tasks_per_node`` only above 1, and would turn a GPU job's
    ``tasks`` into ``--ntasks-per-gpu``)."""
    per_node = processes if TASKS_PER_NODE[family] == "processes" else TASKS_PER_NODE[family]
    resources = {"nodes": nodes, "gres": f"gpu:{processes}"}
    if nodes * per_node > 1:
        resources["mpi"] = "srun"
        if per_node > 1:
            resources["tasks_per_node"] = per_node
        else:
            resources["tasks"] = nodes
            resources["tasks_per_gpu"] = 0
    return resources
