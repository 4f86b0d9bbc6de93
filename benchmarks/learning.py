"""Does fine-tuning teach every task type? Each trained run against its family's untrained
(zero-shot) run on the same questions, from a finished workflow's predictions.

    .venv/bin/python benchmarks/learning.py --config config/learnability.yaml \\
        --write BENCHMARKS.md --block learnability --seconds 1800

Per family and task type: the headline metric of the default profile for the untrained and the
trained run, each with its 95% bootstrap interval (images resampled within data sets, as the
score files do), and the improvement (positive = better; an MAE drop counts as positive) with
its paired 95% interval (:mod:`medvlm.metrics.compare`). ``apart`` says whether the two runs'
own intervals do not overlap; ``paired > 0`` whether the paired interval of the improvement lies
above 0. Detection rows also check the F1@0.5 targets (``--targets``). Under instance
detection, a row ``instance_detection (ids ignored)`` scores the same boxes with every id made one
(:func:`ids_ignored`): where it is high and the real row low, the boxes are placed but carry the
wrong ids.

``--levers`` compares chosen runs instead (a JSON list of ``{"lever", "run", "baseline"}``,
each with ``"datasets"`` to keep only those data sets' questions or ``"skip_datasets"`` to leave
theirs out): each lever's run against its baseline run on the same questions (the mixture lever
is judged on the small data sets of an unbalanced tree, without the big one), with the same
columns.

Prints the Markdown; ``--write FILE --block NAME`` puts it into that generated block
(:mod:`medvlm.generated`); the numbers also go to ``--out`` as JSON. ``--check README.md``
compares instead of writing (``make demo-check``, for the demo's block): the block must be
exactly what this run made on the CPU that README's demo provenance names (the demo is
bit-identical there); on another CPU the numbers may differ in the last bits, so the check is
skipped with a note (``medvlm demo-check`` checks README's claims there).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from medvlm.config import load_config
from medvlm.demo_check import generating_cpu, this_cpu
from medvlm.generated import block_difference, write_block
from medvlm.io import write_json
from medvlm.metrics.compare import compare_task
from medvlm.metrics.items import Item
from medvlm.metrics.pairing import pair
from medvlm.metrics.profiles.default import score_task
from medvlm.metrics.tables import HEADLINES
from medvlm.numerics import usable_cpus
from medvlm.records import TASK_TYPES, TaskType
from medvlm.runs import expand_runs
from medvlm.tasks import task_spec
from medvlm.tasks.framed_answers import written_answer

# The learnability targets of F1@0.5 per box task and family: detection (boxes a model can see)
# and instance detection (at least one family above 0.3).
DEFAULT_TARGETS = {
    TaskType.DETECTION: {"paligemma": 0.5, "medgemma": 0.3},
    TaskType.INSTANCE_DETECTION: {"paligemma": 0.3},
}


# The diagnostic row under instance detection: the same F1@0.5 with the ids left out.
IDS_IGNORED = f"{TaskType.INSTANCE_DETECTION} (ids ignored)"


def headline_metric(task: str) -> str:
    """The task's headline without a GREEN judge (the last of the task's headline metrics)."""
    return HEADLINES[task][-1]


def pairs(runs: dict[str, dict]) -> list[tuple[str, str, str]]:
    """(family, untrained run, trained run) for every trained run whose family has a baseline."""
    baselines = {}
    for name, run in runs.items():
        if run.get("zero_shot"):
            baselines.setdefault(run["family"], name)
    return [
        (run["family"], baselines[run["family"]], name)
        for name, run in runs.items()
        if not run.get("zero_shot") and run["family"] in baselines
    ]


def compare_runs(
    results: Path,
    split: str,
    baseline: str,
    trained: str,
    replicates: int,
    seed: int,
    asked: Callable[[str], bool] = lambda dataset: True,
):
    """Per task type present: both runs' headline with intervals and the paired improvement,
    on the questions of the data sets ``asked`` keeps."""
    references = results / "data" / "splits" / f"{split}.jsonl"
    items = {
        run: [
            item
            for item in pair(references, results / "predictions" / run / f"{split}.jsonl").items
            if asked(item.dataset)
        ]
        for run in (baseline, trained)
    }
    rows = {}
    for task in TASK_TYPES:
        run_items = [item for item in items[trained] if item.task == task]
        base_items = [item for item in items[baseline] if item.task == task]
        if not run_items:
            continue
        rows[task] = compare_items(task, base_items, run_items, replicates, seed)
        if task == TaskType.INSTANCE_DETECTION:
            rows[IDS_IGNORED] = compare_items(
                task,
                [ids_ignored(item) for item in base_items],
                [ids_ignored(item) for item in run_items],
                replicates,
                seed,
            )
    return rows


def compare_items(task: str, base_items: list, run_items: list, replicates: int, seed: int):
    """One row: both runs' headline of ``task`` with intervals and the paired improvement."""
    metric = headline_metric(task)
    base, run = (score_task(task, chosen, replicates, seed) for chosen in (base_items, run_items))
    paired = compare_task(task, metric, run_items, base_items, replicates, seed)
    return {
        "metric": metric,
        "n": paired["n"],
        "untrained": [base["pooled"].get(metric), base["ci"].get(metric)],
        "trained": [run["pooled"].get(metric), run["ci"].get(metric)],
        "improvement": [paired["improvement"], paired["ci"]],
    }


def ids_ignored(item: Item) -> Item:
    """An instance-detection item with every box under one id, in answer and prediction: its
    F1 says how well the boxes are placed whatever id they carry (a diagnosis, not the score)."""

    def one_id(text: str) -> str:
        found = task_spec(item.task).parse(text, item.question)
        if found is None:
            return text  # malformed stays malformed
        boxes = [box for key in sorted(found) for box in found[key]]
        return written_answer(item.task, {"1": boxes} if boxes else {}, item.question)

    return replace(item, reference=one_id(item.reference), prediction=one_id(item.prediction))


def apart(row: dict) -> bool:
    """Whether the trained run's interval lies wholly on the better side of the untrained's."""
    (_, base_ci), (_, run_ci) = row["untrained"], row["trained"]
    if base_ci is None or run_ci is None:
        return False
    if row["metric"] in ("mae", "rmse"):
        return run_ci[1] < base_ci[0]
    return run_ci[0] > base_ci[1]


def _number(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"


def _cell(value: float | None, interval: list | None) -> str:
    if interval is None:
        return _number(value)
    return f"{_number(value)} ({_number(interval[0])} to {_number(interval[1])})"


def _target(task: str, family: str, row: dict, targets: dict) -> str:
    """``met (≥ x)`` / ``MISSED (≥ x)`` where ``task`` has a target for ``family``."""
    wanted = targets.get(task, {}).get(family)
    if wanted is None:
        return ""
    reached = (row["trained"][0] or 0.0) >= wanted
    return f"{'met' if reached else 'MISSED'} (≥ {wanted})"


def _measured(row: dict) -> str:
    """The row's cells from the baseline's headline to ``paired > 0``."""
    improvement, paired_ci = row["improvement"]
    above = paired_ci is not None and paired_ci[0] > 0
    return (
        f"{_cell(*row['untrained'])} | {_cell(*row['trained'])} "
        f"| {_cell(improvement, paired_ci)} | {'yes' if apart(row) else 'no'} "
        f"| {'yes' if above else 'no'}"
    )


def markdown(comparisons: list[dict], targets: dict) -> str:
    lines = [
        "| family | task | metric | n | untrained | trained | improvement (paired) | apart "
        "| paired > 0 | target |",
        "|---|---|---|---:|---:|---:|---:|:-:|:-:|:-:|",
    ]
    for comparison in comparisons:
        family = comparison["family"]
        for task, row in comparison["tasks"].items():
            lines.append(
                f"| {family} | {task} | {row['metric']} | {row['n']} | {_measured(row)} "
                f"| {_target(task, family, row, targets)} |"
            )
    return "\n".join(lines) + "\n"


def questions_of(lever: dict) -> tuple[str, Callable[[str], bool]]:
    """A lever's questions in words and as a test of a question's data set."""
    if "datasets" in lever:
        kept = set(lever["datasets"])
        return ", ".join(lever["datasets"]), kept.__contains__
    skipped = lever.get("skip_datasets", [])
    return (f"all but {', '.join(skipped)}" if skipped else "all"), lambda d: d not in skipped


def lever_markdown(comparisons: list[dict], targets: dict) -> str:
    lines = [
        "| lever | run vs baseline | questions | task | metric | n | baseline | run "
        "| improvement (paired) | apart | paired > 0 | target |",
        "|---|---|---|---|---|---:|---:|---:|---:|:-:|:-:|:-:|",
    ]
    for comparison in comparisons:
        questions = comparison["questions"]
        for task, row in comparison["tasks"].items():
            lines.append(
                f"| {comparison['lever']} | `{comparison['trained']}` vs "
                f"`{comparison['untrained']}` | {questions} | {task} | {row['metric']} "
                f"| {row['n']} | {_measured(row)} "
                f"| {_target(task, comparison['family'], row, targets)} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/learnability.yaml")
    parser.add_argument("--split", default="test")
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, help="wall-clock of the workflow run, recorded")
    parser.add_argument("--targets", type=json.loads, default=DEFAULT_TARGETS)
    parser.add_argument("--levers", type=json.loads, help="runs to compare (module docstring)")
    parser.add_argument("--write", help="a Markdown file holding the generated block")
    parser.add_argument("--block", default="learnability")
    parser.add_argument("--out", default="benchmarks/out/learning.json")
    parser.add_argument("--check", metavar="README", help="compare with --write's block instead")
    args = parser.parse_args()
    if args.check and not args.write:
        parser.error("--check needs --write (the file holding the block)")

    config = load_config(args.config)
    results = Path(config["results"])
    runs = expand_runs(config["runs"], config["sweeps"])
    levers = args.levers or [
        {"lever": "", "run": trained, "baseline": baseline} for _, baseline, trained in pairs(runs)
    ]
    comparisons = []
    for lever in levers:
        words, asked = questions_of(lever)
        tasks = compare_runs(
            results, args.split, lever["baseline"], lever["run"], args.replicates, args.seed, asked
        )
        comparisons.append(
            {
                "lever": lever["lever"],
                "family": runs[lever["run"]]["family"],
                "untrained": lever["baseline"],
                "trained": lever["run"],
                "questions": words,
                "tasks": tasks,
            }
        )
    if not comparisons:
        print(f"{args.config}: no trained run next to an untrained one", file=sys.stderr)
        return 1
    command = "python benchmarks/learning.py " + shlex.join(_writing_arguments(sys.argv[1:]))
    header = [f"`{command}` on the `{args.split}` split of `{results}` (runs: "]
    header[0] += ", ".join(f"`{c['trained']}` vs `{c['untrained']}`" for c in comparisons) + ")."
    if args.seconds is not None:
        load = os.getloadavg()[2]
        header.append(
            f"Workflow wall-clock {args.seconds / 60:.1f} min on {len(usable_cpus())} cores "
            f"(15-minute load average at the end: {load:.1f})."
        )
    table = (lever_markdown if args.levers else markdown)(comparisons, args.targets)
    text = "\n".join(header) + "\n\n" + table
    print(text)
    write_json(Path(args.out), {"command": command, "seconds": args.seconds, "runs": comparisons})
    if args.check:
        return check_block(args.write, args.block, text, Path(args.check))
    if args.write:
        write_block(args.write, args.block, text)
    return 0


def _writing_arguments(argv: list[str]) -> list[str]:
    """The arguments without ``--check X``: the block names the command that writes it."""
    kept, skip = [], False
    for arg in argv:
        if skip or arg == "--check" or arg.startswith("--check="):
            skip = arg == "--check"
            continue
        kept.append(arg)
    return kept


def check_block(path: str, block: str, text: str, readme: Path) -> int:
    """0 when block ``block`` of ``path`` is ``text``, or when this is not the CPU that README's
    demo provenance names (a note says so); 1 with the difference otherwise."""
    made_on, here = generating_cpu(readme.read_text(encoding="utf-8"), str(readme)), this_cpu()
    if made_on != here:
        print(f"{path}: {block!r} not compared: made on {made_on}, this is {here}")
        return 0
    difference = block_difference(path, block, text)
    if difference:
        print(
            f"{path}: the {block!r} block differs from this run ({here}):\n{difference}",
            file=sys.stderr,
        )
        return 1
    print(f"{path}: the {block!r} block is this run's, bit for bit ({here})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
