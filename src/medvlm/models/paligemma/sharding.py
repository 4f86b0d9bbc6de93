"""Data parallelism + FSDP over all local devices (the rule big_vision's recipes use).

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
    """Arrays of a batch onto the mesh, split along their first (batch) axis."""
    if any(len(v) % mesh.devices.size for v in batch.values() if v is not None):
        raise ValueError(f"batch size must be a multiple of the {mesh.devices.size} devices")
    sharding = batch_sharding(mesh)
    return {k: None if v is None else jax.device_put(v, sharding) for k, v in batch.items()}
