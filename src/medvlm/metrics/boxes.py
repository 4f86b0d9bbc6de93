"""Box detection: IoU, optimal one-to-one matching, and micro F1 over images.

Boxes are corner boxes ``(x_min, y_min, x_max, y_max)`` in pixels, on a continuous plane (no +1
pixel convention); a box with no area has IoU 0 with everything.

Matching is one-to-one and optimal: among all pairings, it takes one with the largest number of
pairs whose IoU is at least the threshold (a true positive needs IoU >= threshold), and among
those the largest total IoU. Plain "maximise the summed IoU" can trade a true positive for a
higher sum, and greedy matching (the public evaluators') can lose a match that a different
pairing keeps; see the tests. Counts are summed over images before F1 is taken (micro F1).

Instance detection (chromosomes) matches only within the same instance id; a box predicted under
an id the reference lacks is a false positive, a reference id the prediction lacks gives false
negatives. An unparsable prediction (``None``) predicts no boxes: every reference box is missed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from medvlm.metrics.fscore import f1_from_counts

Box = tuple[float, float, float, float]

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
PRIMARY_THRESHOLD = 0.5


def _area(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[..., 2] - boxes[..., 0], 0, None) * np.clip(
        boxes[..., 3] - boxes[..., 1], 0, None
    )


def iou_matrix(references: Sequence[Box], predictions: Sequence[Box]) -> np.ndarray:
    """IoU of every reference box (rows) with every predicted box (columns)."""
    ref = np.asarray(references, dtype=float).reshape(-1, 1, 4)
    pred = np.asarray(predictions, dtype=float).reshape(1, -1, 4)
    overlap = np.concatenate(
        [np.maximum(ref[..., :2], pred[..., :2]), np.minimum(ref[..., 2:], pred[..., 2:])], axis=-1
    )
    inter = _area(overlap)
    union = _area(ref) + _area(pred) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def iou(a: Box, b: Box) -> float:
    return float(iou_matrix([a], [b])[0, 0])


def optimal_matching(ious: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Pairs (reference, prediction) of a one-to-one matching with the most pairs at IoU >=
    ``threshold``, ties broken by total IoU; only pairs at or above the threshold are returned."""
    if ious.size == 0:
        return []
    eligible = ious >= threshold
    # Weight 1 + IoU/(k+1) per eligible pair: one more pair always outweighs any IoU gain,
    # because k pairs add at most k/(k+1) < 1 from their IoU terms.
    k = min(ious.shape)
    weights = np.where(eligible, 1.0 + ious / (k + 1), 0.0)
    rows, cols = linear_sum_assignment(weights, maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if eligible[r, c]]


def true_positives(
    references: Sequence[Box], predictions: Sequence[Box], thresholds: Sequence[float]
) -> list[int]:
    """Number of optimally matched pairs at each threshold."""
    ious = iou_matrix(references, predictions)
    return [len(optimal_matching(ious, t)) for t in thresholds]


def _columns(tp: list[list[int]], n_ref: list[int], n_pred: list[int], thresholds):
    columns = {"n_ref": np.array(n_ref, dtype=int), "n_pred": np.array(n_pred, dtype=int)}
    tp_array = np.array(tp, dtype=int).reshape(-1, len(thresholds))
    for i, t in enumerate(thresholds):
        columns[f"tp@{t:g}"] = tp_array[:, i]
    return columns


def detection_per_item(
    references: Sequence[Sequence[Box]],
    predictions: Sequence[Sequence[Box] | None],
    datasets: Sequence[str] | None = None,
    thresholds: Sequence[float] = THRESHOLDS,
) -> dict[str, np.ndarray]:
    """Per image: reference and predicted box counts, and true positives at each threshold."""
    tp, n_ref, n_pred = [], [], []
    for reference, prediction in zip(references, predictions, strict=True):
        boxes = [] if prediction is None else prediction
        tp.append(true_positives(reference, boxes, thresholds))
        n_ref.append(len(reference))
        n_pred.append(len(boxes))
    return _columns(tp, n_ref, n_pred, thresholds)


def instance_per_item(
    references: Sequence[Mapping[str, Sequence[Box]]],
    predictions: Sequence[Mapping[str, Sequence[Box]] | None],
    datasets: Sequence[str] | None = None,
    thresholds: Sequence[float] = THRESHOLDS,
) -> dict[str, np.ndarray]:
    """As :func:`detection_per_item`, matching only boxes that carry the same instance id."""
    tp, n_ref, n_pred = [], [], []
    for reference, prediction in zip(references, predictions, strict=True):
        claimed = {} if prediction is None else prediction
        per_id = [
            true_positives(reference.get(key, []), claimed.get(key, []), thresholds)
            for key in set(reference) | set(claimed)
        ]
        tp.append([sum(column) for column in zip(*per_id, strict=True)] or [0] * len(thresholds))
        n_ref.append(sum(len(boxes) for boxes in reference.values()))
        n_pred.append(sum(len(boxes) for boxes in claimed.values()))
    return _columns(tp, n_ref, n_pred, thresholds)


def summarise(columns: dict[str, np.ndarray]) -> dict[str, float | None]:
    """Micro F1 at each threshold (``f1@0.5``...) and their mean (``f1_mean``)."""
    keys = [k for k in columns if k.startswith("tp@")]
    if len(columns["n_ref"]) == 0:
        return {**{f"f1@{k[3:]}": None for k in keys}, "f1_mean": None}
    n_ref, n_pred = columns["n_ref"].sum(), columns["n_pred"].sum()
    scores = {}
    for key in keys:
        tp = columns[key].sum()
        scores[f"f1@{key[3:]}"] = float(f1_from_counts(tp, n_pred - tp, n_ref - tp))
    scores["f1_mean"] = float(np.mean(list(scores.values())))
    return scores


def detection_scores(
    references: Sequence[Sequence[Box]],
    predictions: Sequence[Sequence[Box] | None],
    thresholds: Sequence[float] = THRESHOLDS,
) -> dict[str, float | None]:
    """Micro F1 over images at each IoU threshold, and the mean over thresholds."""
    return summarise(detection_per_item(references, predictions, thresholds=thresholds))


def instance_scores(
    references: Sequence[Mapping[str, Sequence[Box]]],
    predictions: Sequence[Mapping[str, Sequence[Box]] | None],
    thresholds: Sequence[float] = THRESHOLDS,
) -> dict[str, float | None]:
    """As :func:`detection_scores`, matching within each instance id."""
    return summarise(instance_per_item(references, predictions, thresholds=thresholds))
