"""What the pinned CPU numerics (medvlm.numerics) cost in speed: the tiny CPU train steps of
both families with the pin and with each library's native instruction set, in alternating
rounds so that both see the same load.

    .venv/bin/python benchmarks/numerics_pin.py [--rounds 3] [--write BENCHMARKS.md]

Each round runs ``benchmarks/paligemma_step.py`` and ``benchmarks/medgemma_step.py`` (their
default tiny CPU settings) once pinned and once native, in fresh processes (the caps are read
when JAX and torch start). The table gives the median train-step time of each and their ratio.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

from medvlm.generated import write_block
from medvlm.numerics import PINNED_ENV, cpu_model

HERE = Path(__file__).resolve().parent
STEP = re.compile(r"train step:? (?:median )?([0-9.]+) ms")
BENCHES = {"PaliGemma": "paligemma_step.py", "MedGemma": "medgemma_step.py"}


def step_ms(script: str, pinned: bool) -> float:
    env = {k: v for k, v in os.environ.items() if k not in PINNED_ENV}
    if pinned:
        env.update(PINNED_ENV)
    done = subprocess.run(
        [sys.executable, str(HERE / script)], env=env, capture_output=True, text=True, check=True
    )
    found = STEP.search(done.stdout)
    if found is None:
        raise RuntimeError(f"{script}: no train-step time in its output:\n{done.stdout}")
    return float(found.group(1))


def measure(rounds: int) -> dict[str, dict[str, list[float]]]:
    times = {name: {"pinned": [], "native": []} for name in BENCHES}
    for round_ in range(rounds):
        for name, script in BENCHES.items():
            order = ("pinned", "native") if round_ % 2 == 0 else ("native", "pinned")
            for mode in order:
                times[name][mode].append(step_ms(script, mode == "pinned"))
    return times


def table(times: dict[str, dict[str, list[float]]], rounds: int) -> str:
    lines = [
        f"Tiny CPU train step, median of {rounds} alternating rounds, on {cpu_model()} "
        f"({os.cpu_count()} cores); command: `.venv/bin/python benchmarks/numerics_pin.py "
        f"--rounds {rounds} --write BENCHMARKS.md`.",
        "",
        "| family | native ISA (ms) | pinned to AVX2 (ms) | pinned ÷ native |",
        "|---|---:|---:|---:|",
    ]
    for name, modes in times.items():
        native, pinned = statistics.median(modes["native"]), statistics.median(modes["pinned"])
        lines.append(f"| {name} | {native:.1f} | {pinned:.1f} | {pinned / native:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", type=Path, help="put the table into this file's block")
    args = parser.parse_args()
    text = table(measure(args.rounds), args.rounds)
    print(text)
    if args.write:
        write_block(args.write, "numerics-pin", text)


if __name__ == "__main__":
    main()
