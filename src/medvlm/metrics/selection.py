"""The selection score: one number in [0, 1], higher is better, that picks the weights a training
run keeps.

Validation loss is a poor judge of answers: cross-entropy punishes a confident near-miss more
than a hedge, so it can rise while boxes, labels and numbers get better. Training therefore
decodes a fixed sample of validation questions, scores them with the default profile
(:mod:`medvlm.metrics.profiles.default`) and keeps the weights with the highest selection score.

Per task type present, a 0-1 form of its headline metric (higher is better):

=====================  ===================================================================
classification         ``balanced_accuracy`` (within each data set, mean over data sets)
multi_label            ``f1_sample`` (mean per-question F1)
detection,             ``f1_mean``: micro F1 averaged over IoU 0.3, 0.4, ..., 0.7 (a near-miss
instance_detection     counts at the low thresholds, an exact box at all of them)
counting, regression   per data set ``s / (s + MAE)``, mean over data sets (below)
report_generation      ``green`` when a judge scored it, else ``rougeL``
=====================  ===================================================================

Numbers: ``s`` is the mean absolute deviation of the data set's reference values from their
median, which is the MAE of the best constant answer (the median minimises it): a model that
ignores the image can at best reach ``MAE = s`` and so 0.5; exact answers give 1; the score
falls towards 0 as the error grows, never reaching it, so even bad models are ranked. Data sets
are scored apart because their scales differ (degrees, percent, counts). When all references
of a data set are equal (``s = 0``) the scale is one unit: ``1 / (1 + MAE)``.

The selection score is the mean of these per-task values over the task types present: each task
type counts once, whatever its number of questions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from medvlm.metrics.items import Item
from medvlm.metrics.profiles import default
from medvlm.records import TaskType
from medvlm.tasks import task_spec

# The pooled default-profile metric that is each task's 0-1 value (the first one present).
POOLED_METRIC = {
    TaskType.CLASSIFICATION: ("balanced_accuracy",),
    TaskType.MULTI_LABEL: ("f1_sample",),
    TaskType.DETECTION: ("f1_mean",),
    TaskType.INSTANCE_DETECTION: ("f1_mean",),
    TaskType.REPORT_GENERATION: ("green", "rougeL"),
}
NUMERIC = (TaskType.COUNTING, TaskType.REGRESSION)


@dataclass(frozen=True)
class Selection:
    """The selection score (None when no task could be scored) and each task's part of it."""

    score: float | None
    parts: dict[str, float]


def spread(values: Sequence[float]) -> float:
    """Mean absolute deviation from the median: the MAE of the best constant answer."""
    array = np.asarray(values, dtype=float)
    return float(np.mean(np.abs(array - np.median(array)))) if len(array) else 0.0


def closeness(mae: float, scale: float) -> float:
    """``scale / (scale + mae)`` in (0, 1]; a scale of 0 counts as one unit."""
    scale = scale if scale > 0 else 1.0
    return scale / (scale + mae)


def reference_spreads(items: Sequence[Item]) -> dict[tuple[str, str], float]:
    """:func:`spread` of the readable numeric references per (task, data set)."""
    values: dict[tuple[str, str], list[float]] = {}
    for item in items:
        if item.task in NUMERIC:
            value = task_spec(item.task).parse(item.reference, item.question)
            if isinstance(value, int | float) and math.isfinite(value):
                values.setdefault((item.task, item.dataset), []).append(float(value))
    return {key: spread(numbers) for key, numbers in values.items()}


def task_value(
    task: str, entry: Mapping[str, Any], spreads: Mapping[tuple[str, str], float]
) -> float | None:
    """The 0-1 value of one task entry of the default profile (module docstring)."""
    if task in NUMERIC:
        parts = [
            closeness(metrics["mae"], spreads.get((task, dataset), 0.0))
            for dataset, metrics in entry.get("by_dataset", {}).items()
            if metrics.get("mae") is not None
        ]
        return float(np.mean(parts)) if parts else None
    pooled = entry.get("pooled", {})
    value = next((pooled[m] for m in POOLED_METRIC[task] if pooled.get(m) is not None), None)
    return None if value is None else float(value)


def selection_from_scores(
    scores: Mapping[str, Mapping[str, Any]], spreads: Mapping[tuple[str, str], float]
) -> Selection:
    """The selection score of a default-profile result (``default.score``'s output)."""
    parts = {}
    for task, entry in scores.items():
        value = task_value(task, entry, spreads)
        if value is not None:
            parts[task] = value
    return Selection(float(np.mean(list(parts.values()))) if parts else None, parts)


def selection_score(items: Sequence[Item]) -> Selection:
    """Score ``items`` with the default profile (no intervals) and combine the tasks."""
    items = list(items)
    scores = default.score(items, bootstrap=0)
    return selection_from_scores(scores, reference_spreads(items))
