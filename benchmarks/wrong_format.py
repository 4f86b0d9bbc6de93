"""Wrong-format answers per task type, constrained decoding on vs off, for every run of a finished
workflow (untrained baselines and fine-tuned models of both families), on one split.

    .venv/bin/python benchmarks/wrong_format.py --config config/config.yaml --split test

Reads the run settings from the config and the models from its results folder (run the workflow
first: `make demo`); writes a Markdown table to stdout and the raw counts as JSON.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from medvlm.config import load_config
from medvlm.io import read_jsonl, write_json
from medvlm.models.base import SplitData, get_family
from medvlm.records import TASK_TYPES
from medvlm.runs import expand_runs, family_run


def count_wrong(predictions: Path, answerable: set[str]) -> dict[str, list[int]]:
    """Task → [wrong-format answers, answers], skipping questions with no image to answer."""
    wrong, total = Counter(), Counter()
    for row in read_jsonl(predictions):
        if row["uid"] not in answerable:
            continue
        total[row["task"]] += 1
        wrong[row["task"]] += not row["well_formed"]
    return {task: [wrong[task], total[task]] for task in TASK_TYPES if total[task]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--split", default="test")
    parser.add_argument("--out", default="benchmarks/out/wrong_format.json")
    args = parser.parse_args()

    config = load_config(args.config)
    results = Path(config["results"])
    runs = expand_runs(config["runs"], config["sweeps"])
    counts, seconds = {}, {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, run in runs.items():
            settings = family_run(run, str(results / "demo_models" / run["family"]))
            model_dir = Path(
                settings["checkpoint"] if run["zero_shot"] else results / "models" / name
            )
            data = SplitData(
                results / "data" / "splits" / f"{args.split}.jsonl",
                results / "data" / "shards" / args.split / str(run["image_size"]),
            )
            answerable = {record.uid for record in data.loader(1, shuffle=False).records}
            for constrained in (True, False):
                varied = copy.deepcopy(settings)
                varied.setdefault("decode", {})["constrained"] = constrained
                out = Path(scratch) / f"{name}_{constrained}.jsonl"
                started = time.perf_counter()
                get_family(run["family"]).predict(varied, model_dir, data, out)
                seconds[f"{name} constrained={constrained}"] = time.perf_counter() - started
                counts[f"{name} constrained={constrained}"] = count_wrong(out, answerable)
    write_json(args.out, {"counts": counts, "seconds": seconds})

    print("| run | constraint | " + " | ".join(TASK_TYPES) + " | seconds |")
    print("|---|---|" + "---:|" * (len(TASK_TYPES) + 1))
    for key, by_task in counts.items():
        name, constrained = key.split(" constrained=")
        cells = [f"{by_task[t][0]}/{by_task[t][1]}" if t in by_task else "–" for t in TASK_TYPES]
        on = "on" if constrained == "True" else "off"
        print(f"| {name} | {on} | " + " | ".join(cells) + f" | {seconds[key]:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
