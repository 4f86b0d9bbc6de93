"""Training in several JAX processes: ``train.nodes`` × ``train.processes`` of them.

:class:`medvlm.models.paligemma.family.PaliGemmaFamily` calls :func:`launch_workers` from the
workflow's plain process; each worker runs ``python -m medvlm.models.paligemma.launch
<launch.json>``, which joins JAX's distributed runtime (:func:`.distributed.initialize`) and
runs :func:`.train.train_run` as one process of the job. On SLURM the workers are the
tasks of ``srun`` in the training job's allocation (one per GPU: ``processes`` per node); JAX
finds the coordinator (the allocation's first node), its process id and the process count in
the SLURM environment. Without SLURM, on one machine, the workers are local processes with a
coordinator on this host (how the CPU tests run two processes).
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import jax

from medvlm.logs import setup_logging
from medvlm.models.base import SplitData
from medvlm.models.launch import (
    LOGS,
    SPEC_FILE,
    in_slurm_job,
    read_spec,
    run_workers,
    srun,
    workers_dir,
    write_spec,
)
from medvlm.models.paligemma.distributed import (
    COORDINATOR_ENV,
    PROCESS_ID_ENV,
    PROCESSES_ENV,
    initialize,
)
from medvlm.models.paligemma.settings import PaliGemmaRun
from medvlm.models.paligemma.train import train_run


def worker_command(spec: Path) -> list[str]:
    return [sys.executable, "-m", __name__, str(spec)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def launch_workers(
    run: dict,
    nodes: int,
    processes: int,
    train: SplitData,
    val: SplitData,
    out_dir: Path,
    resume_dir: Path,
    curves_dir: Path | None = None,
) -> None:
    """Train ``run`` in ``nodes`` × ``processes`` JAX processes; raise if one of them fails."""
    spec = write_spec(run, train, val, out_dir, resume_dir, curves_dir)
    what = f"training {out_dir} in {nodes} × {processes} JAX processes"
    if in_slurm_job():
        run_workers([srun(nodes * processes, worker_command(spec))], resume_dir, what)
        return
    if nodes > 1:
        raise ValueError(
            f"run.train.nodes is {nodes}: training on several nodes starts its processes "
            "through srun, inside a SLURM job (snakemake --profile profiles/slurm)"
        )
    coordinator = f"localhost:{_free_port()}"
    env = [
        {COORDINATOR_ENV: coordinator, PROCESSES_ENV: str(processes), PROCESS_ID_ENV: str(i)}
        for i in range(processes)
    ]
    run_workers([worker_command(spec)] * processes, resume_dir, what, env)


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit(f"usage: python -m {__name__} <{SPEC_FILE}>")
    run, train, val, out_dir, resume_dir, curves_dir = read_spec(Path(argv[0]))
    initialize(PaliGemmaRun.from_run(run).train.processes)
    logs = workers_dir(resume_dir) / LOGS
    setup_logging(logs / f"process-{jax.process_index()}.log")
    train_run(run, train, val, out_dir, resume_dir, curves_dir)


if __name__ == "__main__":
    main(sys.argv[1:])
