"""JAX's multi-process runtime for training: joining it, this process's rows of a batch, and
host copies of sharded weights.

Every process of a launch calls :func:`initialize` before any JAX computation. Under ``srun``
``jax.distributed.initialize()`` reads the SLURM environment itself (coordinator on the first
node, process id, process count); a local launch without SLURM passes them explicitly
(:data:`COORDINATOR_ENV` and friends). The mesh then spans every process's devices
(``jax.devices()``), the sharding rules stay those of :mod:`.sharding`, and each process builds
only the rows of every batch that its own devices hold (:class:`ProcessRows`). A single process
is the same code with one process.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import jax
import numpy as np

COORDINATOR_ENV = "MEDVLM_JAX_COORDINATOR"
PROCESSES_ENV = "MEDVLM_JAX_PROCESSES"
PROCESS_ID_ENV = "MEDVLM_JAX_PROCESS_ID"


def local_gpus(processes_per_node: int) -> list[int] | None:
    """This process's share of its node's visible GPUs (all of them for one process per node);
    None where no GPU is listed (the CPU, or JAX's own choice of one GPU per process)."""
    visible = [gpu for gpu in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if gpu]
    if not visible or processes_per_node > len(visible):
        return None
    share = len(visible) // processes_per_node
    local = int(os.environ.get("SLURM_LOCALID", "0"))
    return list(range(local * share, (local + 1) * share))


def initialize(processes_per_node: int = 1) -> None:
    """Join the job's JAX processes: explicitly for a local launch, else from SLURM."""
    if COORDINATOR_ENV in os.environ:
        jax.distributed.initialize(
            coordinator_address=os.environ[COORDINATOR_ENV],
            num_processes=int(os.environ[PROCESSES_ENV]),
            process_id=int(os.environ[PROCESS_ID_ENV]),
        )
    else:
        jax.distributed.initialize(local_device_ids=local_gpus(processes_per_node))


def is_main() -> bool:
    """The process that writes files (outputs, train log, the best weights so far)."""
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Wait until every process got here (nothing to wait for in a single process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def to_host(tree):
    """``tree``'s arrays as host numpy arrays, gathered from every process when they are split
    over several (a collective: every process calls it)."""
    if jax.process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    return multihost_utils.process_allgather(tree, tiled=True)


def local_rows(sharding, rows: int) -> tuple[int, int]:
    """``[start, stop)``: the rows of a ``rows``-row batch that this process's devices hold
    under ``sharding`` (split along the first axis)."""
    spans = sharding.addressable_devices_indices_map((rows,)).values()
    starts = [span[0].start or 0 for span in spans]
    stops = [rows if span[0].stop is None else span[0].stop for span in spans]
    start, stop = min(starts), max(stops)
    if stop - start != sum(b - a for a, b in set(zip(starts, stops, strict=True))):
        raise ValueError("this process's devices do not hold one contiguous block of rows")
    return start, stop


class ProcessRows:
    """A :class:`.examples.Batcher` that builds only this process's rows of each batch.

    ``batcher(uids, rows)`` is the global batch: ``uids`` padded to ``rows``. This process takes
    its block of those rows; rows past the real questions, and a block with none, get weight 0
    (the batcher repeats a real question there so every row has the compiled shape).
    """

    def __init__(self, batcher, sharding):
        self.batcher, self.sharding = batcher, sharding
        self.loader = batcher.loader

    @property
    def truncated(self) -> int:
        return self.batcher.truncated

    def __call__(self, uids: Sequence[str], rows: int) -> dict:
        start, stop = local_rows(self.sharding, rows)
        mine = list(uids[start:stop])
        batch = self.batcher(mine or [uids[0]], stop - start)
        if not mine:
            batch["weights"] = np.zeros_like(batch["weights"])
            batch["mask_loss"] = np.zeros_like(batch["mask_loss"])
        return batch
