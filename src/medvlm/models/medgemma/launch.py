"""Data-parallel training: a run with ``train.nodes`` × ``train.processes`` above one is trained
by torchrun workers.

The family's ``train`` (:class:`medvlm.models.medgemma.family.MedGemmaFamily`), called in the
workflow's plain process, calls :func:`launch_workers`: it writes the run and its paths to
``<resume_dir>.workers/launch.json`` (:mod:`medvlm.models.launch`) and starts torchrun, whose
workers each run ``-m medvlm.models.medgemma.launch <launch.json>`` and with it
:func:`medvlm.models.medgemma.train.train`. The trainer joins the process group from torchrun's
environment (gloo on the CPU, nccl on GPUs, one GPU per worker), each worker reads its share of
every batch, and rank 0 alone writes the outputs and resume markers.

- One node: ``torchrun --standalone --nproc-per-node <processes>``.
- Several nodes (SLURM): ``srun --ntasks <nodes>`` starts one torchrun per node of the training
  job's allocation, each with ``--nnodes <nodes> --nproc-per-node <processes>`` and a c10d
  rendezvous on the allocation's first node (the port from the job id). torchrun rather than
  ``accelerate launch``: the trainer already reads torchrun's environment (accelerate's launcher
  would start torchrun underneath with one more config layer), and c10d needs no fixed master
  rank, so the agents may start in any order.

Worker logs go to ``<resume_dir>.workers/logs/``; they are kept when a worker fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

from medvlm.models.base import SplitData
from medvlm.models.launch import (
    LOGS,
    SPEC_FILE,
    in_slurm_job,
    read_spec,
    run_workers,
    slurm_first_node,
    slurm_port,
    srun,
    workers_dir,
    write_spec,
)


def launch_command(nodes: int, processes: int, spec: Path, log_dir: Path) -> list[str]:
    """The torchrun command of a launch (under srun for several nodes)."""
    if nodes == 1:
        placement = ["--standalone"]
    else:
        endpoint = f"{slurm_first_node()}:{slurm_port()}"
        placement = [
            f"--nnodes={nodes}",
            "--rdzv-backend=c10d",
            f"--rdzv-endpoint={endpoint}",
            f"--rdzv-id=medvlm-{spec.parent.name}",
        ]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        *placement,
        f"--nproc-per-node={processes}",
        f"--log-dir={log_dir}",
        "--tee=3",  # each worker's stdout and stderr to a file and to this process's console
        "-m",
        __name__,
        str(spec),
    ]
    return srun(nodes, command) if nodes > 1 else command


def launch_workers(
    run: dict,
    nodes: int,
    processes: int,
    train_data: SplitData,
    val_data: SplitData,
    out_dir: Path,
    resume_dir: Path,
    curves_dir: Path | None = None,
) -> None:
    """Train ``run`` in ``nodes`` × ``processes`` torchrun workers; raise if one of them fails."""
    if nodes > 1 and not in_slurm_job():
        raise ValueError(
            f"run.train.nodes is {nodes}: training on several nodes starts torchrun on each "
            "through srun, inside a SLURM job (snakemake --profile profiles/slurm)"
        )
    spec = write_spec(run, train_data, val_data, out_dir, resume_dir, curves_dir)
    logs = workers_dir(resume_dir) / LOGS
    what = f"data-parallel training of {out_dir} ({nodes} × {processes} torchrun workers)"
    run_workers([launch_command(nodes, processes, spec, logs)], resume_dir, what)


def main(argv: list[str]) -> None:
    from medvlm.logs import setup_logging
    from medvlm.models.medgemma.train import train

    if len(argv) != 1:
        raise SystemExit(f"usage: python -m {__name__} <{SPEC_FILE}>")
    setup_logging(None)
    train(*read_spec(Path(argv[0])))


if __name__ == "__main__":
    main(sys.argv[1:])
