"""Pieces the public-evaluator profiles share: grouping, F1 from counts, the FLARE25 BLEU."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from medvlm.metrics.items import Item
from medvlm.records import TASK_TYPES

# A GREEN judge as the profiles use it: (references, predictions) -> the mean GREEN score.
GreenScorer = Callable[[list[str], list[str]], float]
# A CRIMSON judge as the profiles use it: (references, predictions) -> the judge's summary
# (medvlm.metrics.crimson.score_judge_outputs).
CrimsonScorer = Callable[[list[str], list[str]], Mapping[str, Any]]

GREEN_NOT_SCORED = "green_not_scored_no_judge"  # the metric a profile reports without a judge
CRIMSON_NOT_SCORED = "crimson_not_scored_no_judge"


def group_by_task(items: list[Item]) -> dict[str, list[Item]]:
    """Items by canonical task type, in first-seen order; an unknown task names the item."""
    groups: dict[str, list[Item]] = {}
    for item in items:
        if item.task not in TASK_TYPES:
            raise ValueError(
                f"item {item.uid!r} (data set {item.dataset!r}) has unknown task {item.task!r}; "
                f"expected one of {', '.join(TASK_TYPES)}"
            )
        groups.setdefault(item.task, []).append(item)
    return groups


def precision_recall_f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F1 as the FLARE25 evaluators compute them (0 where undefined)."""
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    recall = tp / (tp + fn) if tp + fn > 0 else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f1


def ngram_counts(text: str, n: int) -> Counter:
    """Counts of the n-grams of lower-cased whitespace tokens."""
    tokens = text.lower().split()
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _clipped_precision(prediction: str, reference: str, n: int) -> float:
    predicted = ngram_counts(prediction, n)
    if not predicted:
        return 0.0
    return sum((predicted & ngram_counts(reference, n)).values()) / sum(predicted.values())


def flare25_bleu(predictions: list[str], references: list[str]) -> float:
    """The BLEU of FLARE25-QWen2.5VL ``utils/metrics.py`` (also QWen3VL's fallback).

    Not standard BLEU: lower-cased whitespace tokens, clipped 1- to 4-gram precision per pair
    averaged over pairs (arithmetic mean), geometric mean of those four averages, brevity penalty
    from the summed lengths; 0 as soon as one n-gram order averages 0. The two repositories write
    the brevity condition as ``>`` and ``>=``; both give a penalty of 1 at equal lengths.
    """
    pred_length = sum(len(p.split()) for p in predictions)
    ref_length = sum(len(r.split()) for r in references)
    if pred_length > ref_length:
        penalty = 1.0
    elif pred_length == 0:
        penalty = 0.0
    else:
        penalty = math.exp(1 - ref_length / pred_length)
    logs = []
    for n in range(1, 5):
        scores = [_clipped_precision(p, r, n) for p, r in zip(predictions, references, strict=True)]
        mean = np.mean(scores) if scores else 0.0
        if mean <= 0:
            return 0.0
        logs.append(math.log(mean))
    return float(penalty * math.exp(sum(logs) / len(logs)))
