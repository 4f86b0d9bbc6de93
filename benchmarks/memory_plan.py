"""The memory plan checked against real training steps on the CPU, and its own run time.

    .venv/bin/python benchmarks/memory_plan.py --out benchmarks/out/memory_plan.json \
        --write BENCHMARKS.md --block memory-plan-check
    .venv/bin/python benchmarks/memory_plan.py --parts plan     # only time `medvlm plan`

``check``: for each family, rematerialisation off and on, a mid-size model's training step is
estimated the way ``medvlm plan`` estimates it (PaliGemma: XLA's memory analysis of the compiled
step on abstract shapes; MedGemma: the fake-tensor trace at depths 1 and 2, extrapolated, in
fp32 as the CPU trains), then run for real in a fresh process. Measured: how far the resident
set grows during one step beyond what was resident before it (weights, optimizer state, the
batch): ``VmHWM`` after resetting it through ``/proc/self/clear_refs``, with freed heap memory
handed back (``malloc_trim``) first and glibc's mmap threshold fixed (``MALLOC``) so that freed
blocks leave the resident set; the largest of three steps. Estimated: the same growth, i.e. the
peak less what is resident before the step.

``plan``: ``medvlm plan config/flare25.yaml`` without its cache, wall time and the CPU time of
the command and its children.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from medvlm.generated import write_block

REPO = Path(__file__).resolve().parents[1]
STEPS = 3
# Every allocation of 64 KiB or more its own mapping, returned when freed: without it glibc raises
# its mmap threshold after the first large free and serves later blocks from a fragmenting heap,
# which adds 50-130 MiB of noise to a step's growth.
MALLOC = {"MALLOC_MMAP_THRESHOLD_": "65536"}

# PaliGemma: a ~30 M parameter model, every weight trained with Adam in fp32.
PALIGEMMA = {
    "model": {"vocab_size": 16000, "image_size": 224, "width": 256, "depth": 4, "patch": 14},
    "train": {
        "batch_size": 8,
        "seqlen": 64,
        "optimizer": "adam",
        "trainable": "full",
        "frozen_dtype": "float32",
    },
}
# MedGemma: a small Gemma 3 + SigLIP (64 image tokens) with the recipe's LoRA on all linears.
MEDGEMMA = {
    "config": {
        "model_type": "gemma3",
        "boi_token_index": 31997,
        "eoi_token_index": 31998,
        "image_token_index": 31999,
        "mm_tokens_per_image": 64,
        "text_config": {
            "model_type": "gemma3_text",
            "hidden_size": 256,
            "intermediate_size": 1024,
            "num_hidden_layers": 4,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 64,
            "query_pre_attn_scalar": 64,
            "sliding_window": 512,
            "vocab_size": 32000,
        },
        "vision_config": {
            "model_type": "siglip_vision_model",
            "hidden_size": 128,
            "intermediate_size": 512,
            "num_hidden_layers": 3,
            "num_attention_heads": 4,
            "image_size": 224,
            "patch_size": 14,
            "vision_use_head": False,
        },
    },
    "batch_size": 2,
    "tokens": 192,
    "image_tokens": 64,
    "lora_rank": 16,
    "lora_alpha": 16,
    "lora_dropout": 0.05,
    "lora_targets": "all-linear",
    "attn_implementation": "eager",
    "precision": "cpu",
}


def resident(key: str) -> int:
    """``VmRSS`` or ``VmHWM`` of this process, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def step_growth(step) -> int:
    """The most the resident set grew during one call of ``step`` (of ``STEPS`` calls)."""
    import ctypes

    libc = ctypes.CDLL("libc.so.6")
    growth = 0
    for _ in range(STEPS):
        libc.malloc_trim(0)
        before = resident("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        step()
        growth = max(growth, resident("VmHWM") - before)
    return growth


def paligemma_settings(remat: bool, batch: int):
    from medvlm.models.paligemma.config import tiny
    from medvlm.models.paligemma.settings import TrainSettings

    train = {**PALIGEMMA["train"], "batch_size": batch, "activation_checkpointing": remat}
    return tiny(**PALIGEMMA["model"]), TrainSettings(**train)


def paligemma_estimate(remat: bool, batch: int) -> int:
    from medvlm.models.paligemma.memory import FAST_COMPILE, lowered_step, weight_shapes

    config, settings = paligemma_settings(remat, batch)
    lowered, _ = lowered_step(config, settings, weight_shapes(config, settings), 1, remat)
    stats = lowered.compile(FAST_COMPILE).memory_analysis()
    return stats.output_size_in_bytes - stats.alias_size_in_bytes + stats.temp_size_in_bytes


def paligemma_measure(remat: bool, batch: int) -> int:
    import jax
    import numpy as np

    from medvlm.models.paligemma.model import PaliGemma
    from medvlm.models.paligemma.params import init_params
    from medvlm.models.paligemma.train import Trainer

    config, settings = paligemma_settings(remat, batch)
    trainer = Trainer(PaliGemma(config, remat=remat), jax.device_get(init_params(config)), settings)
    rows, text, size = settings.batch_size, settings.seqlen, config.img.image_size
    rng = np.random.default_rng(0)
    half = [[0] * (text // 2) + [1] * (text - text // 2)] * rows
    batch = {
        "images": rng.integers(0, 256, (rows, size, size, 3), dtype=np.uint8),
        "tokens": rng.integers(3, config.llm.vocab_size, (rows, text)).astype(np.int32),
        "mask_ar": np.array(half, np.int32),
        "mask_loss": np.array(half, np.int32),
        "mask_input": np.ones((rows, text), bool),
        "weights": np.ones(rows, np.float32),
    }
    state = list(trainer.init_state())
    placed = trainer._put(batch)

    def step():
        state[0], state[1], loss, _ = trainer.fns.update(state[0], state[1], trainer.frozen, placed)
        loss.block_until_ready()

    step()  # compile
    return step_growth(step)


def medgemma_estimate(remat: bool, batch: int) -> int:
    from medvlm.models.medgemma.memory import _depths, extrapolate, trace

    spec = {**MEDGEMMA, "batch_size": batch}
    samples = {d: trace(spec, remat, *d) for d in ((1, 1), (2, 1), (1, 2))}
    full = extrapolate(samples, *_depths(spec["config"]))
    return max(full["peaks"].values()) - full["weights"] - full["inputs"] - full["after_step"]


def medgemma_measure(remat: bool, batch: int) -> int:
    from medvlm.models.medgemma.memory import _depths, train_step, training_setup

    spec = {**MEDGEMMA, "batch_size": batch}
    layers = _depths(spec["config"])
    with training_setup(spec, remat, *layers, fake=False) as (model, optimizer, inputs):

        def step():
            train_step(model, optimizer, inputs, spec["precision"])

        step()  # AdamW's moments exist from here on
        return step_growth(step)


def child(function: str, remat: bool, batch: int) -> int:
    """``function(remat, batch)`` in a fresh process: no other work shares its resident set."""
    code = (
        "import json, sys, warnings; warnings.filterwarnings('ignore'); "
        f"sys.path.insert(0, {str(REPO / 'benchmarks')!r}); import memory_plan; "
        f"print(json.dumps(memory_plan.{function}({remat}, {batch})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "JAX_PLATFORMS": "cpu", **MALLOC},
    )
    if done.returncode != 0:
        raise RuntimeError(f"{function}({remat}, {batch}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# (family, rematerialisation, batch) checked: both settings, and MedGemma at a second batch size
# to separate what grows with the batch from what the CPU runtime holds whatever the batch.
CHECKS = (
    ("paligemma", False, 8),
    ("paligemma", True, 8),
    ("medgemma", False, 2),
    ("medgemma", True, 2),
    ("medgemma", False, 4),
)


def check() -> list[dict]:
    rows = []
    for family, remat, batch in CHECKS:
        estimate = child(f"{family}_estimate", remat, batch)
        measured = child(f"{family}_measure", remat, batch)
        rows.append(
            {
                "family": family,
                "remat": remat,
                "batch": batch,
                "estimated_mib": round(estimate / 2**20, 1),
                "measured_mib": round(measured / 2**20, 1),
                "measured_over_estimated": round(measured / estimate, 3),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def time_plan(config: Path) -> dict:
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "medvlm"), "plan", str(config), "--no-cache"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    row = {
        "config": str(config),
        "wall_s": round(time.perf_counter() - start, 1),
        "cpu_s": round(cpu, 1),
        "cores": os.cpu_count(),
        "load_1min": round(os.getloadavg()[0], 1),
    }
    print(json.dumps(row), flush=True)
    return row


def markdown(result: dict) -> str:
    """The check as a Markdown table, and the plan's time as a sentence."""
    lines = []
    if "check" in result:
        lines += [
            "| family | remat | batch | estimated growth (MiB) | measured growth (MiB) | "
            "measured ÷ estimated |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for row in result["check"]:
            lines.append(
                f"| {row['family']} | {'on' if row['remat'] else 'off'} | {row['batch']} | "
                f"{row['estimated_mib']:.1f} | {row['measured_mib']:.1f} | "
                f"{row['measured_over_estimated']:.3f} |"
            )
    if "plan" in result:
        plan = result["plan"]
        lines += [
            "",
            f"`medvlm plan {Path(plan['config']).relative_to(REPO)} --no-cache`: "
            f"{plan['wall_s']:.0f} s wall, {plan['cpu_s']:.0f} s CPU on {plan['cores']} cores "
            f"(1-minute load {plan['load_1min']} at the end).",
        ]
    return "\n".join(lines).strip("\n") + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", nargs="+", default=["check", "plan"], choices=["check", "plan"])
    parser.add_argument("--config", type=Path, default=REPO / "config" / "flare25.yaml")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--write", help="a Markdown file holding the generated block")
    parser.add_argument("--block", default="memory-plan-check")
    args = parser.parse_args()
    result = {}
    if "check" in args.parts:
        result["check"] = check()
    if "plan" in args.parts:
        result["plan"] = time_plan(args.config)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    text = markdown(result)
    print(text, end="")
    if args.write:
        write_block(args.write, args.block, text)


if __name__ == "__main__":
    main()
