"""Data parallelism + FSDP over every device of every process (the rule big_vision's recipes
use).

The batch is split over the ``data`` axis. A parameter (or optimizer state tensor) larger than
``min_bytes`` is split along its largest dimension divisible by the device count; smaller ones
are replicated.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "data"


def data_mesh(devices=None) -> Mesh:
    return Mesh(np.asarray(devices if devices is not None else jax.devices()), (AXIS,))


def fsdp_spec(shape: tuple[int, ...], nbytes: int, devices: int, min_bytes: float) -> PartitionSpec:
    if devices == 1 or nbytes <= min_bytes:
        return PartitionSpec()
    divisible = [(size, dim) for dim, size in enumerate(shape) if size % devices == 0]
    if not divisible:
        return PartitionSpec()
    _, dim = max(divisible)
    return PartitionSpec(*([None] * dim), AXIS)


def fsdp_shardings(tree, mesh: Mesh, min_bytes: float):
    """A NamedSharding for every array leaf of ``tree`` (arrays or ShapeDtypeStructs)."""
    devices = mesh.devices.size

    def rule(leaf):
        nbytes = int(np.prod(leaf.shape)) * np.dtype(leaf.dtype).itemsize
        return NamedSharding(mesh, fsdp_spec(tuple(leaf.shape), nbytes, devices, min_bytes))

    return jax.tree.map(rule, tree)


def batch_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec(AXIS))


def put_batch(batch: dict, mesh: Mesh) -> dict:
    """This process's rows of a batch onto the mesh: with the other processes' rows, one batch
    split along its first (batch) axis (each process holds an equal block of rows)."""
    rows = {len(v) for v in batch.values() if v is not None}
    total = rows.pop() * jax.process_count() if len(rows) == 1 else None
    if total is None or total % mesh.devices.size:
        raise ValueError(f"batch size must be a multiple of the {mesh.devices.size} devices")
    sharding = batch_sharding(mesh)
    return {
        k: None
        if v is None
        else jax.make_array_from_process_local_data(sharding, v, (total, *np.shape(v)[1:]))
        for k, v in batch.items()
    }
