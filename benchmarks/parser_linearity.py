"""Parse time per MB of adversarial answer text, for every task parser and evaluator profile.

    .venv/bin/python benchmarks/parser_linearity.py                     # task parsers
    .venv/bin/python benchmarks/parser_linearity.py --parts profiles    # the scorer's profiles
    .venv/bin/python benchmarks/parser_linearity.py --parts decode16    # 16-bit decode memory

Parsers: each task's ``parse`` and ``is_well_formed`` (what the scorer runs on every answer) on
texts made by repeating one adversarial unit (runs of brackets, escaped quotes, digits,
whitespace, ``Answer:`` labels, option markers, label separators... and a seeded mix of all of
them) to 0.5 MB and to 1 MB, uncut (the scorer would cut at ``MAX_ANSWER_CHARS``). Each time is
the least CPU time of ``--repeats`` rounds. Linear means the 1 MB text takes at most twice the
0.5 MB one: the table shows, per task, the slowest unit's seconds per MB and the largest ratio
over units that take at least ``--min-seconds`` (shorter times are below the timer's noise).

Baseline: the same texts read by a plain linear pass (whitespace collapsed, casefolded, split
into words: C code, linear by construction), timed the same way in the same run. Its 1 MB / 0.5 MB
ratio is how a linear pass grows on this machine at these sizes (a 1 MB text and its copies no
longer fit a core's cache), the yardstick for a parser's ratio.

Profiles: one item per task type scored by ``score_items`` under each profile (no bootstrap),
the prediction made the same way.

decode16: the peak memory of ``load_rgb`` on an all-zero 16-bit PNG of ``--pixels`` pixels in a
fresh process, beside the decoded image's own size (2 bytes a pixel) measured in the same run.

Prints the Markdown tables and writes them beside the raw numbers: ``--out`` (JSON) and the
same name with ``.md``, the source of BENCHMARKS.md's generated block.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import re
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

QUESTIONS = {
    "classification": "Which lesion is it? Options: A: benign B: malignant C: normal",
    "multi_label": "Select all that apply from the following: Caries, Bone Loss, Impacted Tooth.",
    "detection": "Where is the lesion? Answer as [x_min, y_min, x_max, y_max].",
    "instance_detection": "Give the boxes of every chromosome, keyed by id.",
    "counting": "How many cells are there?",
    "regression": "What is the bone resorption percentage?",
    "report_generation": "Describe the findings of this chest X-ray.",
}
REFERENCES = {
    "classification": "A",
    "multi_label": "Caries; Bone Loss",
    "detection": "[10, 20, 30, 40]",
    "instance_detection": '{"1": [[10, 20, 30, 40]], "2": [[50, 60, 70, 80]]}',
    "counting": "12",
    "regression": "21.5%",
    "report_generation": "The heart size is normal. The lungs are clear.",
}
UNITS = [
    "[", "(", "{", "<", '"\\', "'\\", "'", '"', "1", "1,", "1.", "-1", "1 %", " ", "\n", "a",
    "model\nAnswer: ", "assistant:\n", "answer  ", "answer is ", "Answer:", "<|a", "<eos>",
    "```", "A) ", "(A) ", "A. ", "B", "a,", "a;", "Caries, ", "caries and ", "x:1,", "[1,",
    '{"1":[', "[[1,2,3,4]", "{'a':", ": ", "count ", "total  ", "count is ", "1 cell ",
    "approximately ", "step 1. ", "it's ", "x, y, w, h ", "<loc0001>",
]  # fmt: skip
MB = 1_000_000
SIZES = (MB // 2, MB)


def mixed(size: int) -> str:
    rng = random.Random(0)
    parts, total = [], 0
    while total < size:
        parts.append(rng.choice(UNITS) * rng.randint(1, 50))
        total += len(parts[-1])
    return "".join(parts)


def texts() -> dict[str, dict[int, str]]:
    """Each unit repeated to about 0.5 MB, and the same text twice over (about 1 MB): whole
    units, so both texts end alike and the larger is exactly twice the smaller."""
    half = {unit: unit * (MB // 2 // len(unit)) for unit in UNITS}
    half["mixed"] = mixed(MB // 2)
    return {unit: {MB // 2: text, MB: text * 2} for unit, text in half.items()}


def best_times(call, texts: dict[int, str], repeats: int) -> dict[int, float]:
    """The least CPU time of this process per text over ``repeats`` rounds, the texts taken in
    turn within each round so that both sizes meet the same machine (CPU time, not wall time: on
    a shared machine the time spent waiting for a core is not the parser's)."""
    best = dict.fromkeys(texts, float("inf"))
    for _ in range(repeats):
        for size, text in texts.items():
            gc.collect()
            start = time.process_time()
            call(text)
            best[size] = min(best[size], time.process_time() - start)
    return best


def summarise(made, times, baseline, min_seconds: float) -> dict:
    """The slowest unit per MB at 1 MB, and the largest 1 MB / 0.5 MB time ratio over units that
    take at least ``min_seconds``, beside the baseline's ratio on the same unit."""

    def per_mb(unit: str, size: int) -> float:
        return times[unit][size] * MB / len(made[unit][size])

    slowest = max(times, key=lambda unit: per_mb(unit, MB))
    ratios = {u: t[MB] / t[MB // 2] for u, t in times.items() if t[MB] >= min_seconds}
    steepest = max(ratios, key=ratios.get) if ratios else None
    return {
        "slowest_unit": slowest,
        "seconds_per_mb_at_half": per_mb(slowest, MB // 2),
        "seconds_per_mb_at_one": per_mb(slowest, MB),
        "ratio_of_slowest": times[slowest][MB] / times[slowest][MB // 2],
        "steepest_unit": steepest,
        "max_ratio": ratios[steepest] if steepest else None,
        "baseline_ratio": (baseline[steepest][MB] / baseline[steepest][MB // 2])
        if steepest
        else None,
        "units_measured": len(ratios),
    }


_WHITESPACE = re.compile(r"\s+")


def linear_pass(text: str) -> None:
    """The baseline: whitespace collapsed, casefolded and split into words. C code, linear by
    construction, allocating per word as the parsers do; its own 1 MB / 0.5 MB ratio is how a
    linear pass grows on this machine (caches, memory) at these sizes."""
    _WHITESPACE.sub(" ", text).casefold().split()


def parsers(made, baseline, repeats: int, min_seconds: float) -> dict:
    from medvlm.tasks import TASKS

    results = {}
    for task, spec in TASKS.items():
        question = QUESTIONS[task]

        def read(text, spec=spec, question=question):
            spec.parse(text, question)
            spec.is_well_formed(text, question)

        times = {unit: best_times(read, by_size, repeats) for unit, by_size in made.items()}
        summary = summarise(made, times, baseline, min_seconds)
        results[task] = {"summary": summary, "times": times}
        print(f"  {task}: {results[task]['summary']}", file=sys.stderr, flush=True)
    return results


def profiles(made, baseline, repeats: int, min_seconds: float) -> dict:
    from medvlm.metrics.items import Item
    from medvlm.metrics.profiles import PROFILES
    from medvlm.metrics.scoring import score_items

    warnings.filterwarnings("ignore")  # sklearn: "y_pred contains classes not in y_true"
    results = {}
    for profile in PROFILES:

        def score(text, profile=profile):
            items = [
                Item(task, "d", task, QUESTIONS[task], REFERENCES[task], text, task)
                for task in QUESTIONS
            ]
            score_items(items, [profile], bootstrap=0)

        times = {unit: best_times(score, by_size, repeats) for unit, by_size in made.items()}
        summary = summarise(made, times, baseline, min_seconds)
        results[profile] = {"summary": summary, "times": times}
        print(f"  {profile}: {results[profile]['summary']}", file=sys.stderr, flush=True)
    return results


DECODE = """
import resource, sys
from medvlm.data.images import load_rgb
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
load_rgb(sys.argv[1], 224, max_pixels=int(sys.argv[2]))
print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def decode16(pixels: int) -> dict:
    import numpy as np
    from PIL import Image

    side = int(pixels**0.5)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "sixteen.png"
        Image.fromarray(np.zeros((side, side), dtype=np.uint16)).save(path)
        run = [sys.executable, "-c", DECODE, str(path), str(side * side)]
        before, after = map(
            int, subprocess.run(run, capture_output=True, check=True).stdout.split()
        )
    grown = (after - before) * 1024  # ru_maxrss is in KiB on Linux
    decoded = side * side * 2
    return {
        "pixels": side * side,
        "decoded_bytes": decoded,
        "peak_growth_bytes": grown,
        "growth_per_decoded_byte": grown / decoded,
    }


def table(title: str, results: dict) -> str:
    lines = [
        f"| {title} | slowest unit | s/MB at 0.5 MB | s/MB at 1 MB | its 1 MB ÷ 0.5 MB "
        "| largest 1 MB ÷ 0.5 MB (unit) | the baseline on that unit |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, result in results.items():
        s = result["summary"]
        steepest = baseline = "—"
        if s["max_ratio"] is not None:
            steepest = f"{s['max_ratio']:.2f} (`{s['steepest_unit']!r}`)"
            baseline = f"{s['baseline_ratio']:.2f}"
        lines.append(
            f"| {name} | `{s['slowest_unit']!r}` | {s['seconds_per_mb_at_half']:.3f} | "
            f"{s['seconds_per_mb_at_one']:.3f} | {s['ratio_of_slowest']:.2f} | {steepest} | "
            f"{baseline} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--parts", nargs="+", default=["parsers"], choices=["parsers", "profiles", "decode16"]
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-seconds", type=float, default=0.02)
    parser.add_argument("--pixels", type=int, default=80_000_000)
    parser.add_argument("--out", default="benchmarks/out/parser_linearity.json")
    args = parser.parse_args()

    made = texts() if {"parsers", "profiles"} & set(args.parts) else {}
    report = {"units": len(made), "sizes": SIZES, "repeats": args.repeats}
    baseline = {unit: best_times(linear_pass, texts, args.repeats) for unit, texts in made.items()}
    report["baseline"] = baseline
    markdown = []
    if "parsers" in args.parts:
        report["parsers"] = parsers(made, baseline, args.repeats, args.min_seconds)
        markdown.append(table("task parser", report["parsers"]))
    if "profiles" in args.parts:
        report["profiles"] = profiles(made, baseline, args.repeats, args.min_seconds)
        markdown.append(table("profile (all 7 tasks)", report["profiles"]))
    if "decode16" in args.parts:
        report["decode16"] = memory = decode16(args.pixels)
        markdown.append(
            f"16-bit decode of {memory['pixels']:,} pixels: peak memory grew by "
            f"{memory['peak_growth_bytes'] / 2**20:,.0f} MiB, "
            f"{memory['growth_per_decoded_byte']:.2f}× the decoded image "
            f"({memory['decoded_bytes'] / 2**20:,.0f} MiB)"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    out.with_suffix(".md").write_text("\n\n".join(markdown) + "\n")
    print("\n\n".join(markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
