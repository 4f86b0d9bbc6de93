"""What one job asks SLURM for, worked out from its Snakemake resources as the SLURM plugin does.

snakemake-executor-plugin-slurm 2.8.0 builds the ``sbatch`` call from these resources:
``slurm_partition`` → ``-p`` (absent: the cluster's default partition); ``runtime`` (minutes) →
``-t``; ``mem_mb`` → ``--mem`` or ``mem_mb_per_cpu`` → ``--mem-per-cpu``; ``cpus_per_task``,
else ``cpus_per_gpu`` for a GPU job, else the job's threads → ``--cpus-per-task`` /
``--cpus-per-gpu``, times ``tasks`` for a CPU job; ``gres`` → ``--gres``; ``gpu`` (with
``gpu_model``) → ``--gpus=[model:]N``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from medvlm.slurm.cluster import Gres, parse_gres_item


@dataclass(frozen=True)
class GresRequest:
    gres: Gres
    keys: tuple[str, ...]  # the resource keys it comes from: ("gres",) or ("gpu", "gpu_model")


@dataclass(frozen=True)
class JobRequest:
    rule: str
    partition: str | None  # None: the cluster's default partition
    runtime_minutes: int | None
    memory_mb: int | None  # per node, whichever key it comes from
    memory_key: str  # "mem_mb" or "mem_mb_per_cpu"
    cpus: int | None  # per node; None when the job asks for no CPU count
    cpus_key: str  # "threads", "cpus_per_task" or "cpus_per_gpu"
    gres: tuple[GresRequest, ...]


def _int(value) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _gres_requests(resources: Mapping) -> tuple[GresRequest, ...]:
    requests = []
    if resources.get("gres"):
        for item in str(resources["gres"]).split(","):
            requests.append(GresRequest(parse_gres_item(item), ("gres",)))
    model = resources.get("gpu_model")
    count = _int(resources.get("gpu")) or (1 if model else 0)
    if count:
        keys = ("gpu", "gpu_model") if model else ("gpu",)
        requests.append(GresRequest(Gres("gpu", str(model) if model else None, count), keys))
    return tuple(requests)


def job_request(rule: str, resources: Mapping, threads: int) -> JobRequest:
    """The sbatch request of one job of ``rule`` with these (evaluated) resources."""
    gres = _gres_requests(resources)
    gpus = sum(r.gres.count for r in gres if r.gres.name == "gpu")
    cpus_per_task = _int(resources.get("cpus_per_task"))
    cpus_per_gpu = _int(resources.get("cpus_per_gpu"))
    if cpus_per_task is not None:
        cpus, cpus_key = (max(1, cpus_per_task) if cpus_per_task >= 0 else None), "cpus_per_task"
    elif gpus and cpus_per_gpu:
        cpus, cpus_key = (cpus_per_gpu * gpus if cpus_per_gpu > 0 else None), "cpus_per_gpu"
    else:
        cpus, cpus_key = threads, "threads"
    if cpus is not None and not gpus:
        cpus *= _int(resources.get("tasks")) or 1
    per_cpu = _int(resources.get("mem_mb_per_cpu"))
    if per_cpu:
        memory, memory_key = per_cpu * (cpus or 1), "mem_mb_per_cpu"
    else:
        memory, memory_key = _int(resources.get("mem_mb")), "mem_mb"
    partition = resources.get("slurm_partition")
    return JobRequest(
        rule=rule,
        partition=str(partition) if partition else None,
        runtime_minutes=_int(resources.get("runtime")),
        memory_mb=memory,
        memory_key=memory_key,
        cpus=cpus,
        cpus_key=cpus_key,
        gres=gres,
    )
