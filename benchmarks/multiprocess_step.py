"""Training step time in 2 processes against 1, same global batch, on the CPU, both families.

    .venv/bin/python benchmarks/multiprocess_step.py --out benchmarks/out/multiprocess_step.json \
        --write BENCHMARKS.md --block multiprocess-step

Each family's demo model (the workflow's default ``demo_models`` settings) trains on colour
squares through the family's own ``train``, as the workflow calls it: once with
``train.processes: 1`` and once with ``processes: 2`` (PaliGemma: two JAX processes over one
mesh; MedGemma: two torchrun workers with gloo), the global batch the same (MedGemma's
``batch_size`` is per process, so 2 × 4 against 1 × 8). The step time is the global batch over
the ``examples_per_s`` of ``train_log.csv`` (update time only, no validation or saving),
averaged over every logged window after the first (the first holds the compilation). The two
layouts alternate over ``--rounds`` rounds, so a change in the machine's load hits both.

On a GPU node the same comparison is ``processes: 1`` against ``processes: N`` (one GPU per
process) with ``--device gpu``: see BENCHMARKS.md for the command.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from medvlm.data.shards import build_shards
from medvlm.generated import write_block
from medvlm.io import write_jsonl
from medvlm.models.base import TRAIN_LOG, SplitData, get_family
from medvlm.models.demo import build_demo_model
from medvlm.records import Record, TaskType

COLOURS = {"A": (220, 30, 30), "B": (30, 200, 40), "C": (30, 40, 220)}
QUESTION = "Which colour is the square? A. red B. green C. blue"
IMAGE_SIZE = {"paligemma": 224, "medgemma": 32}
GLOBAL_BATCH = 8


def colour_split(root: Path, name: str, count: int, size: int) -> SplitData:
    """``count`` noisy colour squares with the question which colour it is, and their shard."""
    rng = np.random.default_rng(len(name))
    root.mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(count):
        answer = "ABC"[i % 3]
        pixels = np.clip(np.array(COLOURS[answer]) + rng.integers(-25, 26, (20, 20, 3)), 0, 255)
        path = root / f"{name}-{i}.png"
        Image.fromarray(pixels.astype(np.uint8)).save(path)
        records.append(
            Record(
                uid=f"{name}-{i}",
                dataset="colours",
                category="Clinical",
                split_folder="training",
                source_file="colours_questions.json",
                entry_index=i,
                task=TaskType.CLASSIFICATION,
                task_raw=TaskType.CLASSIFICATION,
                modality="photo",
                question=QUESTION,
                answer=answer,
                image_names=[path.name],
                image_paths=[str(path)],
            )
        )
    write_jsonl(root / f"{name}.jsonl", records)
    build_shards(root / f"{name}.jsonl", root / f"shards-{name}", size)
    return SplitData(root / f"{name}.jsonl", root / f"shards-{name}")


def run_of(family: str, model: Path, processes: int, steps: int) -> dict:
    train = {
        "steps": steps,
        "log_every": max(steps // 4, 1),
        "val_every": steps,
        "processes": processes,
    }
    train["save_every"] = steps
    if family == "paligemma":
        train.update(batch_size=GLOBAL_BATCH, seqlen=32)
    else:
        train.update(batch_size=GLOBAL_BATCH // processes, grad_accum=1, lora_dropout=0.0)
    return {
        "family": family,
        "checkpoint": str(model),
        "image_size": IMAGE_SIZE[family],
        "seed": 0,
        "train": train,
    }


def step_seconds(out_dir: Path) -> float:
    """Mean seconds per update over every logged window after the first."""
    with open(out_dir / TRAIN_LOG, newline="") as handle:
        rates = [float(row["examples_per_s"]) for row in csv.DictReader(handle)]
    return statistics.mean(GLOBAL_BATCH / rate for rate in rates[1:])


def measure(family: str, root: Path, steps: int, rounds: int) -> dict:
    size = IMAGE_SIZE[family]
    train = colour_split(root / "data", "train", 48, size)
    val = colour_split(root / "data", "val", 8, size)
    model = root / "model"
    build_demo_model(family, train.records_path, model, {})
    times: dict[int, list[float]] = {1: [], 2: []}
    for turn in range(rounds):
        for processes in (1, 2):
            out = root / f"out-{turn}-{processes}"
            run = run_of(family, model, processes, steps)
            get_family(family).train(run, train, val, out, root / f"resume-{turn}-{processes}")
            times[processes].append(step_seconds(out))
    one, two = statistics.median(times[1]), statistics.median(times[2])
    return {"one": times[1], "two": times[2], "ratio": two / one}


def table(results: dict, command_seconds: float) -> str:
    lines = [
        "| family | global batch | 1 process (s/step) | 2 processes (s/step) | 2 ÷ 1 |",
        "|---|---:|---:|---:|---:|",
    ]
    for family, result in results.items():
        one, two = statistics.median(result["one"]), statistics.median(result["two"])
        lines.append(
            f"| {family} | {GLOBAL_BATCH} | {one:.3f} | {two:.3f} | {result['ratio']:.2f} |"
        )
    load = os.getloadavg()[0]
    lines += [
        "",
        f"{os.cpu_count()} CPU cores, 1-minute load {load:.1f} at the end; "
        f"the benchmark took {command_seconds:.0f} s.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--families", nargs="+", default=["paligemma", "medgemma"])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--write", help="a Markdown file holding the generated block")
    parser.add_argument("--block", default="multiprocess-step")
    args = parser.parse_args()
    started = time.monotonic()
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for family in args.families:
            results[family] = measure(family, Path(scratch) / family, args.steps, args.rounds)
            print(family, json.dumps(results[family]), flush=True)
    text = table(results, time.monotonic() - started)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    if args.write:
        write_block(args.write, args.block, text)


if __name__ == "__main__":
    main()
