"""Data-parallel training: a run with ``train.processes > 1`` is trained by torchrun workers.

The family's ``train`` (:class:`medvlm.models.medgemma.family.MedGemmaFamily`), called in a
plain process with ``processes: N``, calls :func:`launch_workers`: it writes the run and its
paths to ``<resume_dir>.workers/launch.json`` and starts ``python -m torch.distributed.run
--standalone --nproc_per_node N -m medvlm.models.medgemma.launch <launch.json>``. Each worker
reads the JSON and calls :func:`medvlm.models.medgemma.train.train`; the trainer joins the
process group (gloo on the CPU, nccl on GPUs, one GPU per worker), each worker reads its share
of every batch, and rank 0 alone writes the outputs and resume markers. Already inside
``torchrun`` or ``accelerate launch``, the family never relaunches.

On a cluster, one job per run: ask the scheduler for N GPUs (e.g. SLURM ``gres: gpu:N``) and set
``train.processes: N``. Worker logs go to ``<resume_dir>.workers/``; they are kept when a worker
fails and removed after a successful run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from medvlm.io import write_json
from medvlm.models.base import SplitData

WORKERS_SUFFIX = ".workers"
SPEC_FILE = "launch.json"


def in_worker() -> bool:
    """Whether this process was started by a distributed launcher (torchrun, accelerate)."""
    return "LOCAL_RANK" in os.environ or int(os.environ.get("WORLD_SIZE", "1")) > 1


def workers_dir(resume_dir: Path) -> Path:
    """Where a launch keeps its spec and worker logs: beside ``resume_dir``, which rank 0 may
    clear when the run changed."""
    return resume_dir.with_name(resume_dir.name + WORKERS_SUFFIX)


def launch_command(processes: int, spec: Path, log_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={processes}",
        f"--log-dir={log_dir}",
        "--tee=3",  # each worker's stdout and stderr to a file and to this process's console
        "-m",
        __name__,
        str(spec),
    ]


def launch_workers(
    run: dict,
    processes: int,
    train_data: SplitData,
    val_data: SplitData,
    out_dir: Path,
    resume_dir: Path,
) -> None:
    """Train ``run`` in ``processes`` torchrun workers; raise if any of them fails."""
    folder = workers_dir(Path(resume_dir))
    if folder.exists():
        shutil.rmtree(folder)
    spec = folder / SPEC_FILE
    write_json(
        spec,
        {
            "run": run,
            "train": [str(train_data.records_path), str(train_data.shard_dir)],
            "val": [str(val_data.records_path), str(val_data.shard_dir)],
            "out_dir": str(out_dir),
            "resume_dir": str(resume_dir),
        },
    )
    result = subprocess.run(launch_command(processes, spec, folder / "logs"), check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"data-parallel training of {out_dir} failed: torchrun with {processes} workers "
            f"exited with code {result.returncode}; worker logs under {folder / 'logs'}"
        )
    shutil.rmtree(folder)


def read_spec(path: Path) -> tuple[dict, SplitData, SplitData, Path, Path]:
    """The arguments of ``train`` from a launch spec (JSON only, so nothing in it runs)."""
    try:
        spec = json.loads(Path(path).read_text("utf-8"))
        return (
            spec["run"],
            SplitData(*map(Path, spec["train"])),
            SplitData(*map(Path, spec["val"])),
            Path(spec["out_dir"]),
            Path(spec["resume_dir"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a valid launch spec ({error})") from error


def main(argv: list[str]) -> None:
    from medvlm.logs import setup_logging
    from medvlm.models.medgemma.train import train

    if len(argv) != 1:
        raise SystemExit(f"usage: python -m {__name__} <{SPEC_FILE}>")
    setup_logging(None)
    train(*read_spec(Path(argv[0])))


if __name__ == "__main__":
    main(sys.argv[1:])
