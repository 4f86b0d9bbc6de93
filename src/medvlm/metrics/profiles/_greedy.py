"""Box overlap and greedy box matching shared by the public-evaluator profiles.

Every public evaluator matches boxes greedily; they differ in which side drives the matching, in
how ties fall and in whether the IoU threshold is strict. The matchers take those choices as
arguments so that each profile states its own evaluator's choices. Both return the number of
true positives; false positives and negatives follow from the list lengths.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Overlap = Callable[[Any, Any], float]


def corner_iou(a: Sequence[Any], b: Sequence[Any]) -> float:
    """IoU of two ``[x_min, y_min, x_max, y_max]`` boxes as the FLARE25 evaluators compute it.

    Areas are not clamped (an inverted box has a negative area). A malformed box raises whatever
    unpacking or arithmetic raises; use :func:`guarded_iou` where the evaluator guards the call.
    (The evaluators differ in ``<`` vs ``<=`` for "no overlap"; the value is 0 either way.)
    """
    ax1, ay1, ax2, ay2 = a
    bx1, by1, bx2, by2 = b
    left, top = max(ax1, bx1), max(ay1, by1)
    right, bottom = min(ax2, bx2), min(ay2, by2)
    if right <= left or bottom <= top:
        return 0.0
    inter = (right - left) * (bottom - top)
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union if union > 0 else 0.0


def guarded_iou(a: Any, b: Any) -> float:
    """:func:`corner_iou`, scoring any failure on a malformed box as no overlap.

    The broad ``except`` is the evaluators' own rule (``except Exception: return 0.0``): their
    boxes can be any Python literal a model wrote.
    """
    try:
        return corner_iou(a, b)
    except Exception:
        return 0.0


def _passes(overlap: float, threshold: float, inclusive: bool) -> bool:
    return overlap >= threshold if inclusive else overlap > threshold


def match_in_order(
    queries: Sequence[Any],
    candidates: Sequence[Any],
    overlap: Overlap,
    threshold: float,
    *,
    inclusive: bool = False,
) -> int:
    """True positives when each query, in list order, takes its best unmatched candidate.

    "Best" is the highest ``overlap(query, candidate)``, ties to the earliest candidate (a strict
    ``>`` scan from 0). The pair counts, and the candidate is used up, only when the overlap is
    above ``threshold`` (or at it when ``inclusive``); otherwise the query is left unmatched.
    """
    used: set[int] = set()
    hits = 0
    for query in queries:
        best, best_index = 0.0, -1
        for index, candidate in enumerate(candidates):
            if index in used:
                continue
            value = overlap(query, candidate)
            if value > best:
                best, best_index = value, index
        if _passes(best, threshold, inclusive):
            used.add(best_index)
            hits += 1
    return hits


def match_global(
    gold: Sequence[Any],
    pred: Sequence[Any],
    overlap: Overlap,
    threshold: float,
    *,
    inclusive: bool,
    ties_to_last: bool = False,
    allowed: Callable[[Any, Any], bool] | None = None,
) -> int:
    """True positives when the highest-overlap unmatched (gold, pred) pair is taken, repeatedly.

    Only pairs passing the threshold (and ``allowed``, when given) are candidates; NaN overlaps
    never pass. Equal overlaps go to the lowest (gold, pred) indices, which is what a row-major
    scan with a strict ``>`` picks, or, with ``ties_to_last``, to the highest, which is what
    sorting ``(overlap, gold, pred)`` tuples in reverse picks. ``overlap`` is called as
    ``overlap(gold_box, pred_box)``.
    """
    pairs = [
        (value, gi, pj)
        for gi, g in enumerate(gold)
        for pj, p in enumerate(pred)
        if allowed is None or allowed(g, p)
        for value in (overlap(g, p),)
        if _passes(value, threshold, inclusive)
    ]
    if ties_to_last:
        pairs.sort(reverse=True)
    else:
        pairs.sort(key=lambda pair: (-pair[0], pair[1], pair[2]))
    matched_gold: set[int] = set()
    matched_pred: set[int] = set()
    for _, gi, pj in pairs:
        if gi not in matched_gold and pj not in matched_pred:
            matched_gold.add(gi)
            matched_pred.add(pj)
    return len(matched_gold)
