"""The metrics of the study this project grew from, kept so results compare with it.

- Classification: exact string match of the raw answer (surrounding whitespace ignored).
- Detection with one reference box: per-coordinate (x_min, y_min, x_max, y_max) MAE and R² between
  the reference box and the first predicted box; questions whose prediction has no box are left
  out of the pairs and counted (``n_no_box``); questions with several reference boxes are skipped.
- Instance detection: R² over the coordinates of matched boxes (matched within each instance id
  by the optimal matching of ``boxes.py`` at IoU >= 0.5, i.e. the true positives of F1@0.5).
Pooled over data sets, like the study; counting and regression metrics live in the default profile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from medvlm.metrics.boxes import PRIMARY_THRESHOLD, Box, iou_matrix, optimal_matching
from medvlm.metrics.items import Item
from medvlm.metrics.numeric import r_squared
from medvlm.records import TaskType
from medvlm.tasks import task_spec

COORDINATES = ("x_min", "y_min", "x_max", "y_max")


def exact_match(references: Sequence[str], predictions: Sequence[str]) -> float | None:
    """Fraction of answers equal to their reference after stripping surrounding whitespace."""
    if not references:
        return None
    hits = [r.strip() == p.strip() for r, p in zip(references, predictions, strict=True)]
    return float(np.mean(hits))


def coordinate_scores(
    references: Sequence[Sequence[Box]], predictions: Sequence[Sequence[Box] | None]
) -> dict[str, float | None]:
    """Per-coordinate MAE and R² for single-box questions (see the module docstring)."""
    pairs = [
        (reference[0], prediction[0])
        for reference, prediction in zip(references, predictions, strict=True)
        if len(reference) == 1 and prediction
    ]
    single = sum(len(reference) == 1 for reference in references)
    scores: dict[str, float | None] = {"n_pairs": len(pairs), "n_no_box": single - len(pairs)}
    truth = np.asarray([r for r, _ in pairs], dtype=float).reshape(-1, 4)
    guess = np.asarray([p for _, p in pairs], dtype=float).reshape(-1, 4)
    for i, name in enumerate(COORDINATES):
        scores[f"{name}_mae"] = float(np.mean(np.abs(guess[:, i] - truth[:, i]))) if pairs else None
        scores[f"{name}_r2"] = r_squared(truth[:, i], guess[:, i])
    return scores


def matched_coordinate_r2(
    references: Sequence[Mapping[str, Sequence[Box]]],
    predictions: Sequence[Mapping[str, Sequence[Box]] | None],
) -> dict[str, float | None]:
    """R² over the four coordinates of every matched box pair, pooled."""
    truth, guess = [], []
    for reference, prediction in zip(references, predictions, strict=True):
        for key, boxes in reference.items():
            claimed = (prediction or {}).get(key, [])
            matches = optimal_matching(iou_matrix(boxes, claimed), PRIMARY_THRESHOLD)
            truth.extend(boxes[r] for r, _ in matches)
            guess.extend(claimed[c] for _, c in matches)
    return {
        "n_matched": len(truth),
        "coord_r2": r_squared(np.ravel(truth), np.ravel(guess)) if truth else None,
    }


def _parsed(items: list[Item]) -> tuple[list, list]:
    spec = task_spec(items[0].task)
    references, predictions = [], []
    for item in items:
        reference = spec.parse(item.reference, item.question)
        if reference is not None:
            references.append(reference)
            predictions.append(spec.parse(item.prediction, item.question))
    return references, predictions


def score(items: list[Item]) -> dict[str, dict[str, float | None]]:
    """The study's metrics for the task types it defined them for."""
    scores: dict[str, dict[str, float | None]] = {}
    by_task: dict[str, list[Item]] = {}
    for item in items:
        by_task.setdefault(item.task, []).append(item)
    if TaskType.CLASSIFICATION in by_task:
        chosen = by_task[TaskType.CLASSIFICATION]
        scores[TaskType.CLASSIFICATION] = {
            "exact_match": exact_match(
                [i.reference for i in chosen], [i.prediction for i in chosen]
            )
        }
    if TaskType.DETECTION in by_task:
        scores[TaskType.DETECTION] = coordinate_scores(*_parsed(by_task[TaskType.DETECTION]))
    if TaskType.INSTANCE_DETECTION in by_task:
        scores[TaskType.INSTANCE_DETECTION] = matched_coordinate_r2(
            *_parsed(by_task[TaskType.INSTANCE_DETECTION])
        )
    return scores
