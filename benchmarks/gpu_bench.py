"""One GPU benchmark of both families at their real sizes, random weights, on one GPU.

    make gpu-bench                                        # one H100/H200: at most 8 minutes
    python benchmarks/gpu_bench.py --tiny --write FILE    # tiny sizes on the CPU (CI, < 1 min)

Measured, each part in a fresh process (so every peak is its own, and JAX and torch never share
the GPU):

- PaliGemma2-3B at 224 and 448 px (``variant("paligemma2-3b-224")`` / ``-448``): the train step
  of ``benchmarks/paligemma_step.py`` (full fine-tuning, Adam, bf16, activation checkpointing):
  tokens/s, model FLOPs utilisation against the card's dense bf16 peak (:data:`PEAK_TFLOPS`),
  the JAX allocator's peak (``peak_bytes_in_use``);
- MedGemma-4B (the architecture of ``google/medgemma-4b-it``, ``memory.MEDGEMMA_4B``): the LoRA
  step of ``benchmarks/medgemma_step.py`` (r=16 all-linear, activation checkpointing, AdamW,
  bf16): samples/s, torch's peak (``max_memory_allocated``);
- batched constrained decoding of the demo questions of every task type through each family's
  decoder (``benchmarks/constrained_decoding.py``): answers/s. PaliGemma decodes with a
  real-size sentencepiece vocabulary (257,152 pieces, ``benchmarks/vocab_mask_cost.py``);
  MedGemma's logits are the real 262,208 wide, its tokenizer the demo's (no download);
- ``medvlm plan``'s estimate of each training step's peak (one device, rematerialisation on),
  computed the way the plan computes it (PaliGemma: XLA's CPU compile on abstract shapes, in its
  own CPU-only process while the GPU parts run; MedGemma: the fake-tensor trace), beside the
  measured peak.

It needs a Python with a CUDA build of JAX (``jax`` + ``jax-cuda13-plugin``), a CUDA torch,
transformers, peft, trl, flax, optax, sentencepiece, protobuf and llguidance, and ``src`` on
``PYTHONPATH`` (``make gpu-bench`` sets it); BENCHMARKS.md says how to bring the pinned
packages to a machine without network (``make gpu-wheels``). The blocks go into ``--write``'s
``gpu-bench`` block (:mod:`medvlm.generated`) with the device's name.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BLOCK = "gpu-bench"
GiB = 2**30

# Dense (no sparsity) bf16 tensor-core peaks, TFLOP/s, matched in this order against the device
# name. Sources: NVIDIA's datasheets, which print the with-sparsity figure (twice these): H100
# Tensor Core GPU datasheet (SXM 1,979; PCIe 1,513; NVL 1,671), H200 Tensor Core GPU product
# brief (SXM 1,979; NVL 1,671), A100 datasheet (624, SXM and PCIe alike).
PEAK_TFLOPS = (
    ("H200 NVL", 835.5),
    ("H200", 989.5),
    ("H100 NVL", 835.5),
    ("H100 PCIe", 756.5),
    ("H100", 989.5),  # SXM5: "NVIDIA H100 80GB HBM3"
    ("A100", 312.0),
)


def peak_tflops(device: str) -> float | None:
    for name, tflops in PEAK_TFLOPS:
        if name.lower() in device.lower():
            return tflops
    return None


# The tiny mode decodes the short-answer tasks only, one question each: it checks the path runs.
TINY_TASKS = ("classification", "counting", "regression")


def bench_records(tiny: bool) -> dict:
    """The demo questions decoded: 8 per task type, or the tiny mode's few."""
    from constrained_decoding import demo_records

    records = demo_records(1 if tiny else 8)
    return {task: rows for task, rows in records.items() if not tiny or task in TINY_TASKS}


# --- PaliGemma ------------------------------------------------------------------------------


def paligemma_setup(size: int, tiny: bool):
    """``(config, train settings)`` of one PaliGemma measurement."""
    from medvlm.models.paligemma.config import tiny as tiny_config
    from medvlm.models.paligemma.config import variant
    from medvlm.models.paligemma.settings import TrainSettings

    if tiny:
        config = tiny_config(1024, image_size=size // 7, width=32, depth=2, patch=8)
        return config, TrainSettings(
            batch_size=2, seqlen=32, trainable="full", activation_checkpointing=True
        )
    settings = TrainSettings(
        batch_size=8,
        seqlen=128,
        trainable="full",
        optimizer="adam",
        frozen_dtype="bfloat16",
        trainable_dtype="bfloat16",
        activation_checkpointing=True,
    )
    return variant(f"paligemma2-3b-{size}"), settings


def model_flops_per_example(config, seqlen: int) -> float:
    """Training FLOPs of one example, 6 per weight per token it multiplies (forward and
    backward): the SigLIP weights over the image tokens, Gemma's layers over every token, the
    tied embedding over the text tokens (the logits); attention scores not counted."""
    from medvlm.models.paligemma.params import param_shapes

    image, text = config.img.num_tokens, seqlen
    weights = {"img": 0, "layers": 0, "embed": 0}
    for name, shape in param_shapes(config).items():
        kind = "img" if name.startswith("img/") else "embed" if "embedder" in name else "layers"
        weights[kind] += int(np.prod(shape))
    return 6.0 * (
        weights["img"] * image + weights["layers"] * (image + text) + weights["embed"] * text
    )


def jax_peak_bytes() -> int | None:
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    return stats.get("peak_bytes_in_use")


def part_paligemma(size: int, tiny: bool, steps: int, decode: bool) -> dict:
    import jax
    from paligemma_step import time_train

    device = jax.devices()[0]
    if not tiny and device.platform != "gpu":
        raise SystemExit(f"gpu-bench needs a CUDA build of JAX; JAX sees {jax.devices()}")
    config, settings = paligemma_setup(size, tiny)
    rng = np.random.default_rng(0)
    step = time_train(config, settings, steps, rng)
    tokens = config.img.num_tokens + settings.seqlen
    out = {
        "model": f"tiny PaliGemma, {config.img.image_size} px" if tiny else f"PaliGemma2-3B-{size}",
        "dtype": settings.trainable_dtype,
        "device": device.device_kind,
        "jax": jax.__version__,
        "batch": settings.batch_size,
        "image_tokens": config.img.num_tokens,
        "text_tokens": settings.seqlen,
        "step_s": step,
        "tokens_per_s": settings.batch_size * tokens / step,
        "flops_per_s": model_flops_per_example(config, settings.seqlen)
        * settings.batch_size
        / step,
        "peak_bytes": jax_peak_bytes(),
    }
    if decode:
        out["decode"] = paligemma_decode(config, tiny)
    return out


def paligemma_decode(config, tiny: bool) -> list[dict]:
    """Answers/s of each task's batch, PaliGemma's greedy decoder under the constraint."""
    import jax
    import ml_dtypes
    from constrained_decoding import paligemma_decoders, texts_of
    from paligemma_step import host_params
    from vocab_mask_cost import real_size_tokenizer

    from medvlm.models.paligemma.config import tiny as tiny_config
    from medvlm.models.paligemma.decode import Decoder
    from medvlm.models.paligemma.model import PaliGemma
    from medvlm.models.paligemma.settings import DEFAULT_MAX_NEW_TOKENS
    from medvlm.models.paligemma.tokenizer import build_demo_tokenizer

    records = bench_records(tiny)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokenizer.model"
        if tiny:
            tokenizer = build_demo_tokenizer(texts_of(records), path, 800)
            config = tiny_config(tokenizer.vocab_size, image_size=32, width=32, depth=2, patch=8)
        else:
            tokenizer = real_size_tokenizer(texts_of(records), path)
    if tokenizer.vocab_size != config.llm.vocab_size:
        raise ValueError(f"tokenizer {tokenizer.vocab_size} vs model {config.llm.vocab_size}")
    params = jax.tree.map(lambda w: w.astype(ml_dtypes.bfloat16), host_params(config))
    decoder = Decoder(PaliGemma(config), jax.device_put(params, jax.devices()[0]))
    length = max(DEFAULT_MAX_NEW_TOKENS.values())  # one compiled program for every task
    return decode_rates(records, paligemma_decoders(records, decoder, tokenizer, length))


def decode_rates(records, decoders: dict) -> list[dict]:
    """Each task's batch decoded under the constraint after one warm-up batch."""
    from constrained_decoding import timed, wrong

    first = next(iter(decoders.values()))
    first(True)  # compile / warm up
    rows = []
    for task, decode in decoders.items():
        (answers, steps), seconds = timed(lambda decode=decode: decode(True))
        rows.append(
            {
                "task": task,
                "rows": len(records[task]),
                "seconds": seconds,
                "steps": steps,
                "wrong": wrong(records[task], answers),
            }
        )
    return rows


def part_plan_paligemma(sizes: list[int], tiny: bool) -> dict:
    """The plan's compiled peak of each PaliGemma step (one device, rematerialisation on), on
    the CPU as ``medvlm plan`` computes it."""
    from medvlm.models.paligemma.memory import compiled_peak, lowered_step, weight_shapes

    peaks = {}
    for size in sizes:
        config, settings = paligemma_setup(size, tiny)
        lowered, _ = lowered_step(config, settings, weight_shapes(config, settings), 1, True)
        peaks[str(size)] = compiled_peak(lowered)
    return peaks


# --- MedGemma -------------------------------------------------------------------------------


def medgemma_model(tokenizer, device: str):
    """The MedGemma-4B architecture with random bf16 weights on ``device``; its image and end
    token ids are the demo tokenizer's, so the demo processor feeds it."""
    import copy

    import torch
    from transformers import AutoConfig

    from medvlm.models.medgemma.demo_model import IMAGE_TOKENS, random_model
    from medvlm.models.medgemma.memory import MEDGEMMA_4B

    spec = copy.deepcopy(MEDGEMMA_4B)
    ids = tokenizer.convert_tokens_to_ids
    spec["boi_token_index"] = ids(IMAGE_TOKENS["boi_token"])
    spec["eoi_token_index"] = ids(IMAGE_TOKENS["eoi_token"])
    spec["image_token_index"] = ids(IMAGE_TOKENS["image_token"])
    with torch.device(device):
        model = random_model(AutoConfig.for_model(**spec), tokenizer, 0).to(torch.bfloat16)
    return model, spec


def medgemma_plan_peak(config: dict, batch: int, tokens: int, precision: str) -> int:
    """The plan's peak of a LoRA step (one device, activation checkpointing): the trace at
    depths 1-2 of each tower, extrapolated (``medvlm.models.medgemma.memory``)."""
    from medvlm.models.medgemma.memory import _depths, extrapolate, trace
    from medvlm.models.medgemma.settings import TrainSettings

    lora = TrainSettings()
    spec = {
        "config": config,
        "batch_size": batch,
        "tokens": tokens,
        "image_tokens": int(config["mm_tokens_per_image"]),
        "lora_rank": lora.lora_rank,
        "lora_alpha": lora.lora_alpha,
        "lora_dropout": lora.lora_dropout,
        "lora_targets": lora.lora_targets,
        "attn_implementation": "eager",
        "precision": precision,
    }
    samples = {d: trace(spec, True, *d) for d in ((1, 1), (2, 1), (1, 2))}
    return max(extrapolate(samples, *_depths(config))["peaks"].values())


def part_medgemma(tiny: bool, steps: int) -> dict:
    import torch
    from constrained_decoding import medgemma_decoders, texts_of
    from medgemma_step import inputs_4b, time_train_steps, tiny_setup

    from medvlm.models.medgemma.demo_model import DemoSettings, build_processor, train_tokenizer
    from medvlm.models.medgemma.model import load_processor

    device = "cpu" if tiny else "cuda"
    if not tiny and not torch.cuda.is_available():
        raise SystemExit(
            "gpu-bench needs a CUDA build of torch; torch.cuda.is_available() is False"
        )
    records = bench_records(tiny)
    with tempfile.TemporaryDirectory() as tmp:
        if tiny:
            model, batch = tiny_setup(2, Path(tmp))
            processor = load_processor(tmp)
            config = json.loads((Path(tmp) / "config.json").read_text("utf-8"))
        else:
            tokenizer = train_tokenizer(texts_of(records), DemoSettings().vocab_size)
            model, config = medgemma_model(tokenizer, device)
            batch = inputs_4b(model.config, 4, device)
            processor = build_processor(
                tokenizer, DemoSettings(image_size=896, patch_size=14, mm_tokens_per_image=256)
            )
    model.to(device)
    batch = {k: v.to(device) for k, v in batch.items()}
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = time_train_steps(model, batch, steps, device)
    step = float(np.median(times))
    rows, tokens = batch["input_ids"].shape
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else None
    model.eval()
    decode = decode_rates(
        records, medgemma_decoders(records, model, processor, 64 if tiny else 256)
    )
    plan = medgemma_plan_peak(config, rows, tokens, "cpu" if tiny else "gpu")
    return {
        "model": "tiny MedGemma (demo model)" if tiny else "MedGemma-4B",
        "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
        "device": torch.cuda.get_device_name(0) if device == "cuda" else platform.processor(),
        "torch": torch.__version__,
        "batch": rows,
        "tokens": tokens,
        "step_s": step,
        "samples_per_s": rows / step,
        "peak_bytes": peak,
        "plan_bytes": plan,
        "decode": decode,
    }


# --- running the parts ----------------------------------------------------------------------

PARTS = ("plan-paligemma", "paligemma-224", "paligemma-448", "medgemma")


def run_part(name: str, tiny: bool, steps: int) -> dict:
    if name == "plan-paligemma":
        return part_plan_paligemma([224, 448], tiny)
    if name == "medgemma":
        return part_medgemma(tiny, steps)
    size = int(name.rsplit("-", 1)[1])
    return part_paligemma(size, tiny, steps, decode=size == 224)


def child_env(name: str, tiny: bool) -> dict:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    if tiny or name == "plan-paligemma":
        env["JAX_PLATFORMS"] = "cpu"  # the plan compiles for the CPU, as `medvlm plan` does
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def start(name: str, tiny: bool, steps: int) -> subprocess.Popen:
    command = [sys.executable, str(Path(__file__)), "--part", name, "--steps", str(steps)]
    return subprocess.Popen(
        command + (["--tiny"] if tiny else []),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(name, tiny),
    )


def finish(name: str, process: subprocess.Popen) -> dict:
    out, err = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"part {name} failed ({process.returncode}):\n{err[-4000:]}")
    return json.loads(out.strip().splitlines()[-1])


def run_all(tiny: bool, steps: int) -> dict:
    """Every part: the CPU-only plan compile beside the GPU parts, those one at a time (in the
    tiny mode, with no GPU to share, all side by side)."""
    results, times = {}, {}
    plan = start("plan-paligemma", tiny, steps)
    running = {name: start(name, tiny, steps) for name in PARTS[1:]} if tiny else {}
    for name in PARTS[1:]:
        began = time.perf_counter()
        results[name] = finish(name, running.get(name) or start(name, tiny, steps))
        times[name] = time.perf_counter() - began
        print(f"{name}: {times[name]:.0f} s", file=sys.stderr, flush=True)
    results["plan-paligemma"] = finish("plan-paligemma", plan)
    results["seconds"] = times
    return results


# --- the Markdown ---------------------------------------------------------------------------


def _bytes(value: int | None) -> str:
    from medvlm.memory_plan import size

    return "–" if value is None else size(value)


def _ratio(measured: int | None, planned: int | None) -> str:
    return "–" if measured is None or not planned else f"{measured / planned:.2f}"


def markdown(results: dict, tiny: bool, command: str, wall_s: float) -> str:
    pg224, pg448, mg = (results[k] for k in ("paligemma-224", "paligemma-448", "medgemma"))
    device = pg224["device"]
    peak = peak_tflops(device)
    when = time.strftime("%Y-%m-%d", time.gmtime())
    lines = [
        f"`{command}` on **{device}**"
        + (f" (dense bf16 peak {peak:g} TFLOP/s)" if peak else "")
        + f", {when}: JAX {pg224['jax']}, torch {mg['torch']}; {wall_s:.0f} s in all ("
        + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in results["seconds"].items())
        + ", the plan's PaliGemma compile beside them).",
    ]
    if tiny:
        lines.append(
            "Tiny sizes on the CPU: this checks that the benchmark runs; the numbers mean nothing."
        )
    lines += [
        "",
        "| model | train step | batch × tokens | ms per step | throughput | MFU "
        "| peak memory | plan estimate | measured ÷ plan |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    plan = results["plan-paligemma"]
    for size, row in (("224", pg224), ("448", pg448)):
        mfu = f"{row['flops_per_s'] / (peak * 1e12):.1%}" if peak else "–"
        lines.append(
            f"| {row['model']} | full, Adam, {row['dtype']}, remat | {row['batch']} × "
            f"({row['image_tokens']} + {row['text_tokens']}) | {row['step_s'] * 1000:.0f} "
            f"| {row['tokens_per_s']:,.0f} tokens/s | {mfu} | {_bytes(row['peak_bytes'])} "
            f"| {_bytes(plan[size])} | {_ratio(row['peak_bytes'], plan[size])} |"
        )
    lines.append(
        f"| {mg['model']} | LoRA r=16 all-linear, AdamW, {mg['dtype']}, checkpointing "
        f"| {mg['batch']} × "
        f"{mg['tokens']} | {mg['step_s'] * 1000:.0f} | {mg['samples_per_s']:.2f} samples/s | – "
        f"| {_bytes(mg['peak_bytes'])} | {_bytes(mg['plan_bytes'])} "
        f"| {_ratio(mg['peak_bytes'], mg['plan_bytes'])} |"
    )
    lines += [
        "",
        "Constrained decoding, greedy, one batch per task type: answers/s (decoding steps until "
        "the batch ended); random weights, so the answers are well-formed nonsense:",
        "",
        "| task | rows | PaliGemma answers/s (steps) | MedGemma answers/s (steps) |",
        "|---|---:|---:|---:|",
    ]
    for a, b in zip(pg224["decode"], mg["decode"], strict=True):
        lines.append(
            f"| {a['task']} | {a['rows']} | {a['rows'] / a['seconds']:.3g} ({a['steps']}) "
            f"| {b['rows'] / b['seconds']:.3g} ({b['steps']}) |"
        )
    totals = []
    for rows in (pg224["decode"], mg["decode"]):
        answers = sum(r["rows"] for r in rows)
        totals.append(
            f"{answers / sum(r['seconds'] for r in rows):.3g} answers/s, "
            f"{sum(r['wrong'] for r in rows)} of {answers} wrong format"
        )
    lines += ["", f"All tasks: PaliGemma {totals[0]}; MedGemma {totals[1]}."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny sizes on the CPU (CI)")
    parser.add_argument("--steps", type=int, default=None, help="timed train steps (10; tiny 1)")
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)
    parser.add_argument("--write", help="a Markdown file holding the gpu-bench block")
    parser.add_argument("--out", type=Path, help="the raw numbers as JSON")
    args = parser.parse_args(argv)
    steps = args.steps or (1 if args.tiny else 10)
    if args.part:
        print(json.dumps(run_part(args.part, args.tiny, steps)))
        return 0
    began = time.perf_counter()
    results = run_all(args.tiny, steps)
    given = sys.argv[1:] if argv is None else list(argv)
    command = shlex.join(["python", "benchmarks/gpu_bench.py", *given])
    text = markdown(results, args.tiny, command, time.perf_counter() - began)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    if args.write:
        from medvlm.generated import write_block

        write_block(args.write, BLOCK, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
