"""What choosing the kept weights by a validation score costs: each trained run of a finished
workflow trained again, as configured (``select: score``), with a clock around every answering
and scoring of the validation sample; its share of the whole training time is the cost.

    .venv/bin/python benchmarks/selection_cost.py --config config/config.yaml \
        --write BENCHMARKS.md --block selection-cost

Run the workflow first (`make demo`): it reads the run settings from the config, the splits,
shards and demo models from its results folder, and trains into a temporary folder. The clock
wraps each family's own ``ValidationScorer`` (the class training builds); nothing else changes,
so the training is the workflow's. Prints a Markdown table (``--write FILE --block NAME`` puts
it into that generated block, :mod:`medvlm.generated`); writes the raw times as JSON.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from pathlib import Path

from medvlm.config import load_config
from medvlm.generated import write_block
from medvlm.io import write_json
from medvlm.models.base import SplitData, get_family
from medvlm.runs import expand_runs, family_run

SCORER_HOMES = {  # the module whose ValidationScorer each family's training builds
    "paligemma": "medvlm.models.paligemma.train",
    "medgemma": "medvlm.models.medgemma.train",
}


def split_data(results: Path, split: str, size: int) -> SplitData:
    data = results / "data"
    return SplitData(data / "splits" / f"{split}.jsonl", data / "shards" / split / str(size))


def clocked_scorers(family: str, calls: list[float]) -> None:
    """Make ``family``'s training build scorers that append each call's seconds to ``calls``."""
    import importlib

    home = importlib.import_module(SCORER_HOMES[family])
    scorer = home.ValidationScorer

    class Clocked(scorer):
        def __call__(self, *args, **kwargs):
            start = time.perf_counter()
            try:
                return super().__call__(*args, **kwargs)
            finally:
                calls.append(time.perf_counter() - start)

    home.ValidationScorer = Clocked


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--out", default="benchmarks/out/selection_cost.json")
    parser.add_argument("--write", help="a Markdown file holding the generated block")
    parser.add_argument("--block", default="selection-cost")
    args = parser.parse_args()

    config = load_config(args.config)
    results = Path(config["results"])
    runs = expand_runs(config["runs"], config["sweeps"])
    measured: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, run in runs.items():
            if run["zero_shot"]:
                continue
            settings = copy.deepcopy(family_run(run, str(results / "demo_models" / run["family"])))
            settings.setdefault("train", {})["select"] = "score"
            train = split_data(results, "train", run["image_size"])
            val = split_data(results, "val", run["image_size"])
            calls: list[float] = []
            clocked_scorers(run["family"], calls)
            out = Path(scratch) / name
            start = time.perf_counter()
            get_family(run["family"]).train(settings, train, val, out / "model", out / "resume")
            total = time.perf_counter() - start
            measured[name] = {"total": total, "scoring": calls}
            print(f"{name}: {total:.1f} s, scoring {sum(calls):.1f} s", file=sys.stderr)
    load = os.getloadavg()
    lines = [
        f"`python benchmarks/selection_cost.py {' '.join(sys.argv[1:])}`; load average at the "
        f"end {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores. Scoring: "
        "answering the validation sample with the constrained decoder and scoring it, summed "
        "over the evaluations (the first includes compiling the decoder); training: the whole "
        "training call, scoring included.",
        "",
        "| run | steps | val_every | val_examples | evaluations | training | scoring "
        "| scoring / training |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, times in measured.items():
        train_settings = runs[name].get("train", {})
        scoring = sum(times["scoring"])
        lines.append(
            f"| {name} | {train_settings.get('steps', 'default')} "
            f"| {train_settings.get('val_every', 'default')} "
            f"| {train_settings.get('val_examples', 'default')} | {len(times['scoring'])} "
            f"| {times['total']:.0f} s | {scoring:.0f} s | {scoring / times['total']:.0%} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    write_json(Path(args.out), {"seconds": measured, "load": list(load)})
    if args.write:
        write_block(args.write, args.block, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
