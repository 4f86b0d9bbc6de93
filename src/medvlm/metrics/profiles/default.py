"""The project's own evaluator: principled metrics per task, per data set, with intervals.

For each task type present: parse reference and prediction with the task's one parser
(``medvlm.tasks``), compute per-question columns, then summarise them over all questions
(``pooled``), over each data set (``by_dataset``) and over bootstrap replicates of the images
(``ci``, 95% percentile intervals of every non-count metric). Every task also reports how many
outputs were in the wrong format (``is_well_formed`` is false) and how many could not be parsed
at all; an unparsable output is scored as wrong by each task's rule, never dropped. A question
whose reference cannot be parsed cannot be scored: it is left out and its uid listed under
``unparsable_references``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from medvlm.metrics import boxes, classification, multilabel, numeric, report_pairs
from medvlm.metrics.bootstrap import DEFAULT_REPLICATES, bootstrap_ci
from medvlm.metrics.items import Item
from medvlm.records import TASK_TYPES, TaskType
from medvlm.tasks import task_spec

Columns = dict[str, np.ndarray]


class ReportJudge(Protocol):
    """A judge metric (GREEN, CRIMSON): ``score`` gives ``per_pair`` scores (None where the
    judge's answer could not be scored) under the name ``metric``."""

    metric: str

    def score(self, references: list[str], predictions: list[str]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class TaskMetric:
    per_item: Callable[[list, list, list], Columns]
    summarise: Callable[[Columns], dict[str, float | None]]
    usable: Callable[[Any], bool]  # whether a parsed value can be scored


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


METRICS = {
    TaskType.CLASSIFICATION: TaskMetric(
        classification.per_item, classification.summarise, lambda v: isinstance(v, str)
    ),
    TaskType.MULTI_LABEL: TaskMetric(
        multilabel.per_item, multilabel.summarise, lambda v: isinstance(v, frozenset)
    ),
    TaskType.DETECTION: TaskMetric(
        boxes.detection_per_item, boxes.summarise, lambda v: v is not None
    ),
    TaskType.INSTANCE_DETECTION: TaskMetric(
        boxes.instance_per_item, boxes.summarise, lambda v: isinstance(v, dict)
    ),
    TaskType.COUNTING: TaskMetric(numeric.per_item, numeric.summarise, _is_finite_number),
    TaskType.REGRESSION: TaskMetric(numeric.per_item, numeric.summarise, _is_finite_number),
}


def _report_metric(judges: Sequence[ReportJudge]) -> TaskMetric:
    """Report generation: BLEU-4 and ROUGE-L (``report_text``), plus each judge's metric.

    Unparsable outputs are scored as the empty report. Every score decomposes over pairs, so each
    judge runs once and bootstrap replicates only add up per-pair parts. A pair whose judge
    answer could not be scored (None) is left out of that metric's mean and counted as
    ``n_<metric>_failed``.
    """

    def per_item(references: list, predictions: list, datasets: list) -> Columns:
        columns = report_pairs.per_item(references, predictions)
        texts = ["" if p is None else p for p in predictions]
        for judge in judges:
            scores = judge.score(references, texts)["per_pair"]
            columns[judge.metric] = np.array([np.nan if s is None else s for s in scores], float)
        return columns

    def summarise(columns: Columns) -> dict[str, float | None]:
        scores = report_pairs.summarise(columns)
        for judge in judges:
            values = columns[judge.metric]
            scored = values[~np.isnan(values)]
            scores[judge.metric] = float(np.mean(scored)) if len(scored) else None
            scores[f"n_{judge.metric}_failed"] = int(len(values) - len(scored))
        return scores

    return TaskMetric(per_item, summarise, lambda v: isinstance(v, str))


def format_summary(columns: Columns) -> dict[str, float | None]:
    """Counts and rates of wrong-format and unparsable outputs."""
    n = len(columns["unparsable"])
    unparsable, wrong = int(columns["unparsable"].sum()), int(columns["wrong_format"].sum())
    return {
        "n_wrong_format": wrong,
        "wrong_format_rate": wrong / n if n else None,
        "n_unparsable": unparsable,
        "unparsable_rate": unparsable / n if n else None,
    }


def _take(columns: Columns, rows: np.ndarray) -> Columns:
    return {name: values[rows] for name, values in columns.items()}


@dataclass(frozen=True)
class TaskColumns:
    """One task's scorable questions and their per-question columns (see :func:`task_columns`)."""

    metric: TaskMetric
    kept: list[Item]  # questions whose reference parses, in input order
    columns: Columns
    unparsable_references: list[str]

    def summary(self, rows: np.ndarray) -> dict[str, float | None]:
        """Every metric of the task, and the format counts, over ``rows`` of ``kept``."""
        chosen = _take(self.columns, rows)
        return {**self.metric.summarise(chosen), **format_summary(chosen)}


def task_columns(
    task: str, items: Sequence[Item], judges: Sequence[ReportJudge] = ()
) -> TaskColumns:
    """Parse references and predictions with the task's parser; per-question metric columns."""
    spec = task_spec(task)
    metric = _report_metric(judges) if task == TaskType.REPORT_GENERATION else METRICS[task]
    kept, references, predictions, well_formed, bad = [], [], [], [], []
    for item in items:
        reference = spec.parse(item.reference, item.question)
        if not metric.usable(reference):
            bad.append(item.uid)
            continue
        prediction = spec.parse(item.prediction, item.question)
        kept.append(item)
        references.append(reference)
        predictions.append(prediction if metric.usable(prediction) else None)
        well_formed.append(bool(spec.is_well_formed(item.prediction, item.question)))
    if not kept:
        return TaskColumns(metric, [], {}, bad)
    columns = {
        **metric.per_item(references, predictions, [item.dataset for item in kept]),
        "unparsable": np.array([p is None for p in predictions], dtype=bool),
        "wrong_format": ~np.array(well_formed, dtype=bool),
    }
    return TaskColumns(metric, kept, columns, bad)


def resampling_units(kept: Sequence[Item]) -> tuple[list[str], list[str]]:
    """The bootstrap's strata (data sets) and groups (images) of scored questions."""
    return [item.dataset for item in kept], [item.image_key or item.uid for item in kept]


def score_task(
    task: str,
    items: Sequence[Item],
    bootstrap: int = DEFAULT_REPLICATES,
    seed: int = 0,
    judges: Sequence[ReportJudge] = (),
) -> dict[str, Any]:
    """The default profile's entry for one task type (see the module docstring)."""
    scored = task_columns(task, items, judges)
    kept, bad = scored.kept, scored.unparsable_references
    if not kept:
        return {"n": 0, "pooled": {}, "ci": {}, "by_dataset": {}, "unparsable_references": bad}
    datasets, images = resampling_units(kept)
    summary = scored.summary

    def rates(rows: np.ndarray) -> dict[str, float | None]:
        return {k: v for k, v in summary(rows).items() if not k.startswith("n_")}

    dataset_array = np.asarray(datasets, dtype=object)
    by_dataset = {}
    for dataset in sorted(set(datasets)):
        rows = np.flatnonzero(dataset_array == dataset)
        by_dataset[dataset] = {"n": len(rows), **summary(rows)}
    return {
        "n": len(kept),
        "pooled": summary(np.arange(len(kept))),
        "ci": bootstrap_ci(
            datasets, images, rates, n=bootstrap, seed=[seed, TASK_TYPES.index(task)]
        ),
        "by_dataset": by_dataset,
        "unparsable_references": bad,
    }


def score(
    items: list[Item],
    *,
    bootstrap: int = DEFAULT_REPLICATES,
    seed: int = 0,
    judges: Sequence[ReportJudge] = (),
) -> dict[str, dict[str, Any]]:
    """Per task type present in ``items``: ``{"n", "pooled", "ci", "by_dataset", ...}``."""
    by_task: dict[str, list[Item]] = {}
    for item in items:
        if item.task not in TASK_TYPES:
            raise ValueError(f"item {item.uid!r}: unknown task type {item.task!r}")
        by_task.setdefault(item.task, []).append(item)
    return {
        task: score_task(task, by_task[task], bootstrap, seed, judges)
        for task in TASK_TYPES
        if task in by_task
    }
