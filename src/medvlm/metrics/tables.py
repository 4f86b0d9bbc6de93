"""Tables from score files: one CSV per task type, per data set, and a headline summary.

    medvlm tables --scores run1=a.json run2=b.json --out-dir DIR

Writes ``DIR/<task>.csv`` (runs as rows; the default profile's pooled metrics with ``_lo``/``_hi``
interval columns, then every other profile's metrics as ``<profile>:<metric>``),
``DIR/by_dataset.csv`` (one row per task, data set and metric; one column per run),
``DIR/summary.csv`` and ``DIR/summary.md`` (one headline metric per task per run, with its
interval). Values a public profile wrote as ``"inf"`` are read back as infinity.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from medvlm.io import write_text
from medvlm.records import TASK_TYPES, TaskType

DEFAULT = "default"

# The challenge's metric per task type; report generation prefers GREEN when it was computed.
HEADLINES = {
    TaskType.CLASSIFICATION: ("balanced_accuracy",),
    TaskType.MULTI_LABEL: ("f1_sample",),
    TaskType.DETECTION: ("f1@0.5",),
    TaskType.INSTANCE_DETECTION: ("f1@0.5",),
    TaskType.COUNTING: ("mae",),
    TaskType.REGRESSION: ("mae",),
    TaskType.REPORT_GENERATION: ("green", "rougeL"),
}


def _number(value: Any) -> float:
    if value in ("inf", "-inf"):
        return float(value)
    return math.nan if value is None else float(value)


def load_scores(paths: Mapping[str, str | Path]) -> dict[str, dict]:
    """Run name -> parsed score file; a file that is not a score file raises naming it."""
    scores = {}
    for run, path in paths.items():
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"score file {path} (run {run!r}): {error}") from None
        if not isinstance(data, dict) or not isinstance(data.get("profiles"), dict):
            raise ValueError(f"score file {path} (run {run!r}): no 'profiles' section")
        scores[run] = data
    return scores


def _tasks(scores: Mapping[str, dict]) -> list[str]:
    present = {task for data in scores.values() for p in data["profiles"].values() for task in p}
    return [task for task in TASK_TYPES if task in present]


def task_table(scores: Mapping[str, dict], task: str) -> pd.DataFrame:
    """Runs as rows; metric columns as described in the module docstring."""
    rows = {}
    for run, data in scores.items():
        row: dict[str, float] = {}
        for profile, tasks in data["profiles"].items():
            entry = tasks.get(task)
            if entry is None:
                continue
            prefix = "" if profile == DEFAULT else f"{profile}:"
            row[f"{prefix}n"] = _number(entry.get("n"))
            for metric, value in entry.get("pooled", {}).items():
                row[f"{prefix}{metric}"] = _number(value)
                interval = entry.get("ci", {}).get(metric)
                if interval is not None:
                    row[f"{prefix}{metric}_lo"], row[f"{prefix}{metric}_hi"] = map(
                        _number, interval
                    )
        rows[run] = row
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("run")
    counts = [c for c in table.columns if c.rpartition(":")[2].partition("_")[0] == "n"]
    return table.astype(dict.fromkeys(counts, "Int64"))


def by_dataset_table(scores: Mapping[str, dict]) -> pd.DataFrame:
    """One row per (task, data set, metric) of the default profile, one column per run."""
    columns: dict[str, dict[tuple[str, str, str], float]] = {}
    for run, data in scores.items():
        values = columns.setdefault(run, {})
        for task, entry in data["profiles"].get(DEFAULT, {}).items():
            for dataset, metrics in entry.get("by_dataset", {}).items():
                for metric, value in metrics.items():
                    values[(task, dataset, metric)] = _number(value)
    table = pd.DataFrame(columns)
    if table.empty:
        return pd.DataFrame(columns=["task", "dataset", "metric", *scores])
    order = {task: i for i, task in enumerate(TASK_TYPES)}
    table.index.names = ["task", "dataset", "metric"]
    return table.sort_index(level=[0, 1], key=lambda k: k.map(order) if k.name == "task" else k)


def headline(entry: Mapping[str, Any], task: str) -> str | None:
    """The headline metric present in a task entry of the default profile."""
    return next((m for m in HEADLINES[task] if m in entry.get("pooled", {})), None)


def summary_table(scores: Mapping[str, dict]) -> pd.DataFrame:
    """Runs as rows; per task ``<task>:<metric>`` with ``_lo``/``_hi`` columns."""
    rows = {}
    for run, data in scores.items():
        row = {}
        for task in _tasks(scores):
            entry = data["profiles"].get(DEFAULT, {}).get(task, {})
            metric = headline(entry, task)
            if metric is None:
                continue
            name = f"{task}:{metric}"
            row[name] = _number(entry["pooled"][metric])
            lo, hi = entry.get("ci", {}).get(metric) or (None, None)
            row[f"{name}_lo"], row[f"{name}_hi"] = _number(lo), _number(hi)
        rows[run] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("run")


def _cell(value: float, lo: float, hi: float) -> str:
    if math.isnan(value):
        return "–"
    if math.isnan(lo) or math.isnan(hi):
        return f"{value:.3f}"
    return f"{value:.3f} ({lo:.3f}–{hi:.3f})"


def summary_markdown(summary: pd.DataFrame) -> str:
    """The summary as a Markdown table, each cell ``value (lo–hi)``."""
    metrics = [c for c in summary.columns if not c.endswith(("_lo", "_hi"))]
    lines = [
        "| run | " + " | ".join(m.replace(":", " · ") for m in metrics) + " |",
        "|---|" + "---:|" * len(metrics),
    ]
    for run, row in summary.iterrows():
        cells = [_cell(row[m], row[f"{m}_lo"], row[f"{m}_hi"]) for m in metrics]
        lines.append(f"| {run} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_tables(scores: Mapping[str, dict], out_dir: str | Path) -> list[Path]:
    """Write every table into ``out_dir``; return the paths written."""
    out = Path(out_dir)
    written = []
    for task in _tasks(scores):
        written.append(out / f"{task}.csv")
        write_text(written[-1], task_table(scores, task).to_csv())
    written.append(out / "by_dataset.csv")
    write_text(written[-1], by_dataset_table(scores).to_csv())
    summary = summary_table(scores)
    written.append(out / "summary.csv")
    write_text(written[-1], summary.to_csv())
    written.append(out / "summary.md")
    write_text(written[-1], summary_markdown(summary))
    return written
