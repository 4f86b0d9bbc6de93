"""LoRA: low-rank factors ``A @ B`` added to the LLM's einsum weights; the base stays frozen.

Each targeted leaf keeps its layer axis L and is seen as a matrix [input side] x [output side]
per layer, the model width D being the input of q/kv/qkv/gating and the output of
attn_vec/linear. Factors live in one flat dict beside the parameter names:
``<name>/lora_a`` (L, in, rank) and ``<name>/lora_b`` (L, rank, out).
"""

from __future__ import annotations

import math
import re

import jax.numpy as jnp
import numpy as np

# Leaf kind (the name's tail) -> (input axes, output axes) of the leaf, the layer axis 0 aside.
LAYOUTS = {
    "attn/q_einsum/w": ((2,), (1, 3)),  # L, N, D, H
    "attn/kv_einsum/w": ((3,), (1, 2, 4)),  # L, 2, K, D, H
    "attn/qkv_einsum/w": ((3,), (1, 2, 4)),  # L, 3, N, D, H
    "attn/attn_vec_einsum/w": ((1, 2), (3,)),  # L, N, H, D
    "mlp/gating_einsum": ((2,), (1, 3)),  # L, 2, D, F
    "mlp/linear": ((1,), (2,)),  # L, F, D
}
A_SUFFIX, B_SUFFIX = "/lora_a", "/lora_b"


def layout(name: str, shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The input and output axes of leaf ``name``; an unsupported leaf raises naming it."""
    for tail, (inputs, outputs) in LAYOUTS.items():
        if name.endswith(tail) and len(shape) == 1 + len(inputs) + len(outputs):
            return inputs, outputs
    raise ValueError(
        f"train.lora_targets: {name!r} {tuple(shape)} is not a LoRA-able leaf "
        f"(one of {', '.join(LAYOUTS)}, layer axis first)"
    )


def targeted(flat_params: dict, targets: str) -> list[str]:
    """Names matched fully by the regex ``targets``, in order; none raises."""
    pattern = re.compile(targets)
    names = [name for name in flat_params if pattern.fullmatch(name)]
    if not names:
        raise ValueError(f"train.lora_targets: {targets!r} matches no parameter name")
    return names


def init_lora(flat_params: dict, targets: str, rank: int, seed: int | list[int]) -> dict:
    """Factors for every leaf matched by ``targets``: A ~ N(0, 1/in), B = 0, so the merged
    weights start equal to the base weights."""
    rng = np.random.default_rng(seed)
    factors = {}
    for name in targeted(flat_params, targets):
        shape = tuple(flat_params[name].shape)
        inputs, outputs = layout(name, shape)
        size_in = math.prod(shape[i] for i in inputs)
        size_out = math.prod(shape[i] for i in outputs)
        a = rng.standard_normal((shape[0], size_in, rank)) / math.sqrt(size_in)
        factors[name + A_SUFFIX] = a.astype(np.float32)
        factors[name + B_SUFFIX] = np.zeros((shape[0], rank, size_out), np.float32)
    return factors


def merge(flat_params: dict, factors: dict, alpha: float, rank: int) -> dict:
    """``flat_params`` with ``W + alpha/rank * A @ B`` (back in the leaf's layout) at each leaf
    that has factors; the sum is in the wider of the two dtypes. Works inside ``jit``."""
    merged = dict(flat_params)
    for key in factors:
        if not key.endswith(A_SUFFIX):
            continue
        name = key[: -len(A_SUFFIX)]
        base = flat_params[name]
        inputs, outputs = layout(name, base.shape)
        delta = jnp.matmul(factors[key], factors[name + B_SUFFIX])
        delta = delta.reshape((base.shape[0], *(base.shape[i] for i in inputs + outputs)))
        # delta's axes are (0, *inputs, *outputs); put each back where the leaf has it.
        delta = jnp.transpose(delta, np.argsort((0, *inputs, *outputs)))
        dtype = jnp.result_type(base.dtype, delta.dtype)
        merged[name] = base.astype(dtype) + (alpha / rank) * delta.astype(dtype)
    return merged


def init_adapters(flat_params: dict, targets: str, rank: int, seed: int, adapters) -> dict:
    """Factors of several named adapters (``train.experts``): adapter ``i``'s
    :func:`init_lora` factors, drawn from ``(seed, i)``, under ``<adapter>/<name>/lora_a|b``."""
    return {
        f"{adapter}/{key}": value
        for i, adapter in enumerate(adapters)
        for key, value in init_lora(flat_params, targets, rank, [seed, i]).items()
    }


def factors_of(factors: dict, adapters) -> dict:
    """The factors of the named ``adapters`` in ``factors`` (see :func:`init_adapters`), under
    their full names."""
    prefixes = tuple(f"{adapter}/" for adapter in adapters)
    return {key: value for key, value in factors.items() if key.startswith(prefixes)}


def adapter_factors(factors: dict, adapter: str) -> dict:
    """The factors of one named adapter in ``factors`` (see :func:`init_adapters`), under the
    plain names :func:`merge` takes."""
    prefix = f"{adapter}/"
    return {key[len(prefix) :]: value for key, value in factors.items() if key.startswith(prefix)}


def merge_adapters(flat_params: dict, factors: dict, adapters, alpha: float, rank: int) -> dict:
    """``flat_params`` with each of ``adapters``' factors merged in, in that order."""
    for adapter in adapters:
        flat_params = merge(flat_params, adapter_factors(factors, adapter), alpha, rank)
    return flat_params
