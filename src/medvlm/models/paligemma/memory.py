"""Peak memory of a PaliGemma training step per device, from XLA's ahead-of-time compile.

The run's real update (:class:`medvlm.models.paligemma.step.TrainStep`: the shardings, optimizer
and jitted function training uses) is lowered on ``jax.ShapeDtypeStruct`` inputs, so no weight is
read or allocated, and compiled by XLA for the CPU over meshes of 1, 2, 4 and 8 host devices
(forced with ``jax_num_cpu_devices`` in a child process), with and without rematerialisation.
XLA's memory analysis of the compiled program gives what one device holds: its arguments
(weights, optimizer state, its slice of the batch), the outputs not aliased to donated arguments,
and the peak of its temporaries (gradients, saved activations, all-gathered weights, logits).

A run with per-task experts (``train.experts``) holds every adapter's factors and their
optimizer state in the compiled update, as its training does (:class:`.step.TrainStep` with the
experts, compiled for one group: the shared adapter and that group's are merged and trained, the
others pass through), so the compiled program's arguments count them all.

It is an estimate for a GPU: XLA's GPU compiler fuses and schedules differently from its CPU
compiler, and a GPU process adds the CUDA context and the allocator's fragmentation.
``tests/test_memory_plan.py`` checks the compiled peak against the measured peak of a real step.

A run's architecture comes from the checkpoint when it is here (``config.json`` beside it, else
the shapes in its ``.npz`` headers), else from a variant name in its path
(``paligemma2-3b-pt-224`` → ``paligemma2-3b-224``).
"""

from __future__ import annotations

import json
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from medvlm.memory_plan import PlanInput
from medvlm.models.experts import Experts, planned_experts
from medvlm.models.paligemma.config import PaliGemmaConfig, variant
from medvlm.models.paligemma.settings import PaliGemmaRun, TrainSettings

# JAX preallocates 75 % of a GPU's memory by default; XLA_PYTHON_CLIENT_MEM_FRACTION raises it.
USABLE = 0.75
_VARIANT = re.compile(r"(paligemma2?-\d+b)(?:-[a-z]+)?(?:-(\d{3}))?", re.IGNORECASE)


def architecture(run: PaliGemmaRun) -> tuple[PaliGemmaConfig, str]:
    """The run's model config and where it came from."""
    from medvlm.models.paligemma.checkpoint import checkpoint_files, read_npz_shapes
    from medvlm.models.paligemma.hf_layout import read_config
    from medvlm.models.paligemma.params import infer_config

    path = Path(run.checkpoint)
    softcap = run.train.final_softcap
    if path.exists():
        npz, _, config_json = checkpoint_files(path)
        if config_json is not None:  # ours or a transformers folder's
            return read_config(config_json).replace(final_softcap=softcap), str(config_json)
        return infer_config(read_npz_shapes(npz), softcap), f"{npz} (array shapes)"
    for match in _VARIANT.finditer(path.name if path.name else str(path)):
        name = f"{match[1].lower()}-{match[2] or run.image_size}"
        try:
            config = variant(name)
        except ValueError:
            continue
        return config.replace(final_softcap=softcap), f"{name} (named in the path)"
    raise ValueError(
        f"{path}: not here, and its name names no known PaliGemma variant (e.g. "
        "paligemma2-3b-pt-224); give the checkpoint's folder with its config.json"
    )


# The training settings that shape the compiled step's memory (not the schedule, the intervals,
# the prompt); rematerialisation is estimated both ways.
MEMORY_KEYS = (
    "batch_size",
    "seqlen",
    "multi_image",
    "optimizer",
    "momentum",
    "max_grad_norm",
    "trainable",
    "frozen_dtype",
    "trainable_dtype",
    "lora_rank",
    "lora_targets",
    "fsdp_min_mib",
)


def spec(run: PaliGemmaRun, config: PaliGemmaConfig, experts: Experts | None = None) -> dict:
    """What the estimate depends on, as JSON: the architecture, the training settings and, with
    ``experts``, how many groups' adapters there are and whether a shared one is beside them."""
    train = run.train.model_dump()
    return {
        "config": config.to_json(),
        "train": {key: train[key] for key in MEMORY_KEYS},
        "experts": {"groups": len(experts.names), "shared": experts.shared} if experts else None,
    }


def spec_experts(spec_: dict) -> Experts | None:
    """Stand-in experts of the spec's shape: groups ``expert0``, ``expert1``, ... of one task
    type name each (only their number and the shared adapter shape memory)."""
    experts = spec_.get("experts")
    if not experts:
        return None
    groups = {f"expert{i}": (f"expert{i}",) for i in range(experts["groups"])}
    return Experts(groups, experts["shared"])


def describe(config: PaliGemmaConfig) -> str:
    llm, img = config.llm, config.img
    return (
        f"Gemma {llm.width}×{llm.depth} layers + SigLIP {img.width}×{img.depth} layers at "
        f"{img.image_size} px"
    )


def plan_input(run: dict, text_tokens: int, data: dict | None = None) -> PlanInput:
    """The plan's view of a run (``text_tokens`` is unused: ``train.seqlen`` fixes the text);
    ``data`` (the config's ``data:``) gives an expert run's groups."""
    settings = PaliGemmaRun.from_run(run)
    config, source = architecture(settings)
    ts = settings.train
    experts, adapters = planned_experts(ts, data)
    return PlanInput(
        spec=spec(settings, config, experts),
        model=f"{describe(config)}, from {source}",
        batch=f"{ts.batch_size} per update, split over the devices",
        tokens=f"{config.img.num_tokens} image + {ts.seqlen} text",
        remat=ts.activation_checkpointing,
        devices=ts.nodes * ts.processes,
        usable=USABLE,
        adapters=adapters,
    )


def batch_shapes(config: PaliGemmaConfig, settings: TrainSettings, sharding) -> dict:
    """The abstract batch of one update (one view per question when views are concatenated)."""
    import jax
    import jax.numpy as jnp

    rows, size, text = settings.batch_size, config.img.image_size, settings.seqlen
    image = (rows, size, size, 3) if settings.multi_image == "tile" else (rows, 1, size, size, 3)
    shapes = {
        "images": (image, jnp.uint8),
        "tokens": ((rows, text), jnp.int32),
        "mask_ar": ((rows, text), jnp.int32),
        "mask_loss": ((rows, text), jnp.int32),
        "mask_input": ((rows, text), jnp.bool_),
        "weights": ((rows,), jnp.float32),
    }
    if settings.multi_image == "concat":
        shapes["image_mask"] = ((rows, 1), jnp.bool_)
    return {
        key: jax.ShapeDtypeStruct(shape, dtype, sharding=sharding)
        for key, (shape, dtype) in shapes.items()
    }


def device_bytes(tree, shardings) -> int:
    """Bytes of ``tree``'s leaves that one device holds under ``shardings``."""
    import math

    import jax
    import numpy as np

    leaves = jax.tree.leaves(tree)
    placed = jax.tree.leaves(shardings)
    return sum(
        math.prod(sharding.shard_shape(leaf.shape)) * np.dtype(leaf.dtype).itemsize
        for leaf, sharding in zip(leaves, placed, strict=True)
    )


def weight_shapes(
    config: PaliGemmaConfig, settings: TrainSettings, experts: Experts | None = None
) -> tuple[dict, dict]:
    """``(trainable, frozen)`` flat dicts of ``jax.ShapeDtypeStruct`` in the trained dtypes
    (with ``experts``, every adapter's factors)."""
    import jax
    import jax.numpy as jnp

    from medvlm.models.paligemma.optim import trainable_and_frozen
    from medvlm.models.paligemma.params import param_shapes

    flat = {
        name: jax.ShapeDtypeStruct(shape, jnp.float32)
        for name, shape in param_shapes(config).items()
    }
    trainable, frozen = trainable_and_frozen(flat, settings, experts=experts)
    return (
        {k: jax.ShapeDtypeStruct(v.shape, settings.trainable_dtype) for k, v in trainable.items()},
        {k: jax.ShapeDtypeStruct(v.shape, settings.frozen_dtype) for k, v in frozen.items()},
    )


def lowered_step(
    config: PaliGemmaConfig,
    settings: TrainSettings,
    weights: tuple,
    devices: int,
    remat: bool,
    experts: Experts | None = None,
):
    """``(lowered update, per-device bytes of weights, gradients, optimizer state)`` for the
    ``(trainable, frozen)`` shapes ``weights``; with ``experts``, the update of the first group
    (every adapter's factors and optimizer state are its arguments; the gradients counted are
    those of the adapters it trains)."""
    import jax

    from medvlm.models.paligemma.lora import factors_of
    from medvlm.models.paligemma.model import PaliGemma
    from medvlm.models.paligemma.sharding import batch_sharding, data_mesh
    from medvlm.models.paligemma.step import TrainStep

    trainable, frozen = weights
    mesh = data_mesh(jax.devices()[:devices])
    step = TrainStep(PaliGemma(config, remat=remat), settings, mesh, trainable, frozen, experts)

    def placed(tree, shardings):
        return jax.tree.map(
            lambda leaf, sharding: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=sharding),
            tree,
            shardings,
        )

    group = {"group": experts.names[0]} if experts else {}
    lowered = step.update.lower(
        placed(trainable, step.param_shardings),
        placed(step.opt_shapes, step.opt_shardings),
        placed(frozen, step.frozen_shardings),
        batch_shapes(config, settings, batch_sharding(mesh)),
        **group,
    )
    factors = device_bytes(trainable, step.param_shardings)
    weights = factors + device_bytes(frozen, step.frozen_shardings)
    grads = factors
    if experts:  # the step's adapters' factors
        trained = factors_of(trainable, experts.adapters(experts.names[0]))
        grads = device_bytes(trained, {k: step.param_shardings[k] for k in trained})
    optimizer = device_bytes(step.opt_shapes, step.opt_shardings)
    return lowered, {"weights": weights, "gradients": grads, "optimizer": optimizer}


# LLVM's code generation is most of a CPU compile; buffer assignment (what the memory analysis
# reports) happens before it on the optimised HLO, which these options leave alone.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def compiled_peak(lowered) -> int:
    """Bytes one device holds at the compiled program's peak: arguments, outputs not aliased
    to donated arguments, temporaries."""
    stats = lowered.compile(FAST_COMPILE).memory_analysis()
    return (
        stats.argument_size_in_bytes
        + stats.output_size_in_bytes
        - stats.alias_size_in_bytes
        + stats.temp_size_in_bytes
    )


def estimate(spec_: dict, device_counts=(1, 2, 4, 8), threads: int | None = None) -> dict:
    """Per-device bytes of one update, with and without rematerialisation; a device count the
    batch does not split over gets a row with ``peak`` None and the reason."""
    config = PaliGemmaConfig.from_json(spec_["config"])
    settings = TrainSettings(**spec_["train"])
    experts = spec_experts(spec_)
    weights = weight_shapes(config, settings, experts)
    trained = sum(v.size for v in weights[0].values())
    frozen = sum(v.size for v in weights[1].values())  # with LoRA: every weight of the model
    counts = {
        "params": frozen if settings.lora_rank else frozen + trained,
        "trainable_params": trained,
    }
    jobs, rows = [], []
    for devices in device_counts:
        for remat in (False, True):
            row = {"devices": devices, "remat": remat}
            if settings.batch_size % devices:
                rows.append(
                    {
                        **row,
                        "peak": None,
                        "why": f"batch {settings.batch_size} does not split over {devices} devices",
                    }
                )
                continue
            lowered, parts = lowered_step(config, settings, weights, devices, remat, experts)
            jobs.append((row | parts, lowered))
            rows.append(row)
    with ThreadPoolExecutor(threads) as pool:  # XLA compiles outside the GIL
        peaks = list(pool.map(compiled_peak, [lowered for _, lowered in jobs]))
    done = iter(zip(jobs, peaks, strict=True))
    for i, row in enumerate(rows):
        if "why" in row:
            continue
        (full, _), peak = next(done)
        fixed = full["weights"] + full["gradients"] + full["optimizer"]
        rows[i] = full | {"activations": peak - fixed, "peak": peak}
    return {"rows": rows, **counts}


def main() -> None:
    """Child process: specs (a JSON list) on stdin, estimates (a JSON list) on stdout."""
    import os

    import jax

    jax.config.update("jax_platforms", "cpu")
    jax.config.update("jax_num_cpu_devices", 8)
    specs = json.load(sys.stdin)
    threads = int(os.environ.get("MEDVLM_PLAN_THREADS", "0")) or os.cpu_count()
    json.dump([estimate(s, threads=threads) for s in specs], sys.stdout)


if __name__ == "__main__":
    main()
