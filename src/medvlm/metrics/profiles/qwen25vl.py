"""Profile ``qwen25vl``: the evaluator of ``medfm-flare/FLARE25-QWen2.5VL``, reproduced.

Source: ``evaluate_model.py`` (``parse_answer``, the reference handling in ``evaluate_model``,
``calculate_metrics``, ``calculate_instance_detection_metrics``) and ``utils/metrics.py``
(``calculate_bleu_score``). Metric names are the evaluator's own.

Items are pooled by task type over all data sets. Every prediction is cleaned first: the text
after the last ``assistant\\n`` (else after the last ``assistant:``, any case), minus a leading
``system\\n``/``user\\n``, then the text after the last ``Answer:``. References go through the
same cleaning and parsing for multi-label, detection and instance detection; classification
references are taken raw; counting references are ``int(float(text))``, regression references
``float(text)``. A sample whose prediction or reference does not parse is skipped (the
evaluator's per-sample handler skips its batch of one), so MAE covers only what parsed and is
``inf`` when nothing did or when its conversion or MAE step fails (sklearn refuses NaN and inf).

Reported per task, with the evaluator's names: its ``metrics`` entries, and beside them
``num_examples``, ``valid_examples`` and ``skipped_examples`` (only counting and regression skip
samples). Instance detection adds, when its IoU sweep succeeds: ``f1_score_at_03``,
``f1_score_at_05``, ``average_f1``, ``precision_at_03``, ``recall_at_03``, ``detailed_metrics``
(F1, precision, recall, tp, fp, fn at IoU > 0.3, 0.4, 0.5, 0.6, 0.7 as ``IoU_<t>``),
``coco_style_metrics`` (their means), ``per_chromosome_metrics`` (per id at IoU >= 0.3, where a
predicted box that is not four numbers counts neither way) and ``metrics_version`` ``"v2"`` with
the two ``primary_metric_*`` labels; when the sweep fails, ``metrics_version``
``"v1_original_only"`` and the ``error`` text. In the score file the numbers go to ``pooled``, the
nested entries and labels to ``details``.

Kept as the evaluator has them, although they look like bugs:

- classification: the letter regex only knows A-E; otherwise the last word is the answer. When
  the pooled labels hold exactly two distinct values, sklearn's binary F1 raises on string
  labels and the evaluator's handler reports every classification metric as 0.0;
- multi-label: comma splitting when no ``;`` is present, case-sensitive sets, samples with an
  empty reference skipped;
- instance detection: the IoU sweep (0.3 to 0.7) uses an unguarded IoU, so a predicted box of the
  wrong length makes it fail and only the primary F1 (IoU > 0.5) is reported;
- a reference such as ``"21.67%"`` fails ``float()`` and its sample is skipped.

Not reproduced: the evaluator's "green_score" and its eight ``green_*`` sub-scores (a keyword
heuristic, not GREEN; see docs/evaluators.md), ``clinical_efficacy``, ``avg_ref_entities``,
``avg_gen_entities`` and ``most_missed_entities`` (the same heuristic's counts): report generation
reports BLEU only. The ``overall`` block (the sums of the per-task counts, the run's time and
date) is not repeated. Chromosome ids are walked in set order, as in the evaluator; when boxes of
several wrong lengths occur, which unpacking message ``error`` holds can depend on that order.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, mean_absolute_error

from medvlm.metrics.items import Item
from medvlm.metrics.profiles._common import flare25_bleu, group_by_task, precision_recall_f1
from medvlm.metrics.profiles._greedy import corner_iou, guarded_iou, match_in_order
from medvlm.records import TaskType

# The evaluator's patterns, rewritten to take linear time on any text and to find exactly what
# the originals find (noted beside each): a match never starts inside a run of digits or
# whitespace that the originals would scan again from every position of the run, and runs of
# whitespace are read possessively instead of being split between adjacent ``\s*``.
_LETTER = re.compile(r"\b([A-E])(?:[.\)\s]|$)")
# ^[\s.,:'"]+|[\s.,:'"]+$
_EDGE_PUNCTUATION = re.compile(r"^[\s.,:'\"]+|(?<![\s.,:'\"])[\s.,:'\"]+$")
_DOUBLE_BRACKET_BOX = re.compile(r"\[\s*\[\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\]\s*\]")
# \[?\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\]?
_FOUR_INTEGERS = re.compile(
    r"(?:\[|(?<!\s))\s*+(?<!\d)(\d++)\s*+,\s*+(\d++)\s*+,\s*+(\d++)\s*+,\s*+(\d++)\s*+\]?"
)
_INCOMPLETE_COUNT = (
    "to accurately count",
    "to provide an accurate count",
    "to count the cells",
    "we need to",
    "i would need to",
    "to determine",
    "to estimate",
    "follow these steps",
    "carefully examine",
    "inspect each",
)
# count.*?(?:is|are|equals?|totals?)\s*:?\s*(\d+), read by _counts_stated: the lazy gap is a
# search for the first place the rest matches, and one search per line at most
_COUNT_WORD = re.compile("count")
_COUNT_STATED = re.compile(r"(?:is|are|equals?|totals?)\s*+:?\s*+(\d+)")
_EXPLICIT_COUNT = (
    # (?:total|number|count)\s*(?:is|are|equals?|of)?\s*:?\s*(\d+)
    re.compile(r"(?:total|number|count)\s*+(?:(?:is|are|equals?|of)\s*+)?:?\s*+(\d+)"),
    # (\d+)\s*cells?\s*(?:visible|present|identified|counted)
    re.compile(r"(?<!\d)(\d++)\s*+cells?\s*+(?:visible|present|identified|counted)"),
    re.compile(r"approximately\s*(\d+)"),
    re.compile(r"estimated?\s*(\d+)"),
)
_STANDALONE_NUMBER = re.compile(r"(?<!step\s)(?<!\d\.\s)(?<!procedure\s)(\d+)(?!\.\s)", re.I)
# (-?\d+\.?\d*)\s*%
_PERCENTAGE = re.compile(r"(-?(?<!\d)\d++\.?\d*+)\s*+%")
_DECIMAL = re.compile(r"(-?\d+\.?\d*)")
_SWEEP = (0.3, 0.4, 0.5, 0.6, 0.7)


def clean_output(text: str) -> str:
    """The evaluator's removal of chat-template residue and of an ``Answer:`` prefix."""
    cleaned = text
    if "assistant\n" in cleaned:
        cleaned = cleaned.rsplit("assistant\n", 1)[-1].strip()
    elif "assistant:" in cleaned.lower():
        start = cleaned.lower().rfind("assistant:") + len("assistant:")
        cleaned = cleaned[start:].strip()
    for marker in ("system\n", "user\n"):
        if cleaned.startswith(marker):
            cleaned = cleaned[len(marker) :].strip()
    if "Answer:" in cleaned:
        cleaned = cleaned.rsplit("Answer:", 1)[-1].strip()
    return cleaned


def _choice(cleaned: str) -> str:
    match = _LETTER.search(cleaned.upper())
    if match:
        answer = match.group(1)
    else:
        words = cleaned.split()
        answer = words[-1] if words else cleaned
    return _EDGE_PUNCTUATION.sub("", answer)


def _label(text: str) -> str:
    collapsed = " ".join(text.split())
    return collapsed.upper() if len(collapsed) == 1 and collapsed.isalpha() else collapsed.lower()


def _classification(items: list[Item]) -> dict[str, float]:
    preds = [_label(_choice(clean_output(item.prediction))) for item in items]
    refs = [_label(item.reference) for item in items]
    average = "binary" if len(set(refs + preds)) <= 2 else "weighted"
    try:
        balanced = balanced_accuracy_score(refs, preds)
        accuracy = accuracy_score(refs, preds)
        f1 = f1_score(refs, preds, average=average, zero_division=0)
    except ValueError:  # binary F1 on two string labels: the evaluator reports zeros
        return {"balanced_accuracy": 0.0, "accuracy": 0.0, "f1_score": 0.0, "valid_samples": 0.0}
    return {
        "balanced_accuracy": float(balanced),
        "accuracy": float(accuracy),
        "f1_score": float(f1),
        "valid_samples": float(len(preds)),
    }


def _first_bracketed(text: str) -> str | None:
    r"""What ``re.search(r"\[([^\]]+)\]", text)`` captures, found in linear time: the text between
    the first ``[`` and the next ``]`` after it, if that is not empty."""
    start = text.find("[")
    while start != -1:
        end = text.find("]", start + 1)
        if end == -1:
            return None
        if end > start + 1:
            return text[start + 1 : end]
        start = text.find("[", start + 1)
    return None


def _labels(cleaned: str) -> list[str]:
    if "[" in cleaned and "]" in cleaned:
        inside = _first_bracketed(cleaned)
        if inside is not None:
            separator = ";" if ";" in inside else ","
            return [part.strip().strip("'\"") for part in inside.split(separator) if part.strip()]
    if ";" in cleaned:
        parts = [part.strip() for part in cleaned.split(";") if part.strip()]
    elif "," in cleaned:
        parts = [part.strip() for part in cleaned.split(",") if part.strip()]
    else:
        parts = [cleaned.strip()] if cleaned.strip() else []
    labels = [part.strip().strip("'\".,;") for part in parts]
    return [label for label in labels if label] or [cleaned.strip()]


def _multi_label(items: list[Item]) -> dict[str, float]:
    precisions, recalls, f1s = [], [], []
    for item in items:
        pred = {label.strip() for label in _labels(clean_output(item.prediction)) if label}
        ref = {label.strip() for label in _labels(clean_output(item.reference)) if label}
        if not ref:
            continue
        tp = len(pred & ref)
        precision, recall, f1 = precision_recall_f1(tp, len(pred - ref), len(ref - pred))
        precisions.append(precision)
        recalls.append(recall)
        f1s.append(f1)
    return {
        "f1_score": float(np.mean(f1s)) if f1s else 0.0,
        "precision": float(np.mean(precisions)) if precisions else 0.0,
        "recall": float(np.mean(recalls)) if recalls else 0.0,
        "valid_samples": float(len(f1s)),
    }


def _boxes(cleaned: str) -> list[list[int]]:
    """All boxes: a JSON object's boxes, else ``[[a,b,c,d]]`` groups, else any 4 integers."""
    try:
        if cleaned.startswith("{") and cleaned.endswith("}"):
            try:
                data = json.loads(cleaned)
            except json.JSONDecodeError:
                data = None
            if isinstance(data, dict):
                return [
                    [int(coord) for coord in box]
                    for boxes in data.values()
                    if isinstance(boxes, list)
                    for box in boxes
                    if isinstance(box, list) and len(box) == 4
                ]
        for pattern in (_DOUBLE_BRACKET_BOX, _FOUR_INTEGERS):
            found = pattern.findall(cleaned)
            if found:
                return [[int(number) for number in group] for group in found]
        return []
    except Exception:  # the evaluator's own catch-all: a failed parse means no boxes
        return []


def _detection(items: list[Item]) -> dict[str, float]:
    tp = fp = fn = 0
    for item in items:
        pred = _boxes(clean_output(item.prediction))
        ref = _boxes(clean_output(item.reference))
        hits = match_in_order(pred, ref, guarded_iou, 0.5)
        tp, fp, fn = tp + hits, fp + len(pred) - hits, fn + len(ref) - hits
    precision, recall, f1 = precision_recall_f1(tp, fp, fn)
    metrics = {"f1_score": f1, "precision": precision, "recall": recall}
    return {**metrics, "valid_samples": float(len(items))}


def _instances(cleaned: str) -> dict[str, list[list[int]]]:
    """``{id: [[x1, y1, x2, y2], ...]}`` from a JSON object; anything else gives ``{}``."""
    if not (cleaned.startswith("{") and cleaned.endswith("}")):
        return {}
    try:
        data = json.loads(cleaned)
        result = {}
        for key, boxes in data.items():
            if not isinstance(boxes, list):
                continue
            if boxes and isinstance(boxes[0], list) and len(boxes[0]) == 4:
                result[str(key)] = [[int(coord) for coord in box] for box in boxes]
            elif len(boxes) == 4 and all(isinstance(x, int | float) for x in boxes):
                result[str(key)] = [[int(coord) for coord in boxes]]
        return result
    except Exception:  # the evaluator's own catch-all: a failed parse means no instances
        return {}


Counts = tuple[int, int, int]


def _instance_counts(pairs, overlap, threshold: float) -> Counts:
    tp = fp = fn = 0
    for pred, ref in pairs:
        for key in set(ref) | set(pred):
            pred_boxes, ref_boxes = pred.get(key, []), ref.get(key, [])
            hits = match_in_order(pred_boxes, ref_boxes, overlap, threshold)
            tp, fp, fn = tp + hits, fp + len(pred_boxes) - hits, fn + len(ref_boxes) - hits
    return tp, fp, fn


def _counted(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision, recall, f1 = precision_recall_f1(tp, fp, fn)
    return {"f1_score": f1, "precision": precision, "recall": recall, "tp": tp, "fp": fp, "fn": fn}


def _four_numbers(box) -> bool:
    return isinstance(box, list) and len(box) == 4


def _per_chromosome(pairs) -> dict[str, dict[str, float]]:
    """Counts per id at IoU >= 0.3. A predicted box that is not four numbers is ignored (neither
    matched nor a false positive); such a reference box can only be a false negative."""
    counts: dict[str, Counts] = {}
    for pred, ref in pairs:
        for key in set(ref) | set(pred):
            pred_boxes = [box for box in pred.get(key, []) if _four_numbers(box)]
            ref_boxes = ref.get(key, [])
            valid_refs = [box for box in ref_boxes if _four_numbers(box)]
            hits = match_in_order(pred_boxes, valid_refs, corner_iou, 0.3, inclusive=True)
            tp, fp, fn = counts.get(key, (0, 0, 0))
            counts[key] = (tp + hits, fp + len(pred_boxes) - hits, fn + len(ref_boxes) - hits)
    return {key: _counted(*c) for key, c in counts.items()}


def _instance_detection(items: list[Item]) -> dict:
    pairs = [
        (_instances(clean_output(item.prediction)), _instances(clean_output(item.reference)))
        for item in items
    ]
    precision, recall, f1 = precision_recall_f1(*_instance_counts(pairs, guarded_iou, 0.5))
    metrics = {"f1_score": f1, "precision": precision, "recall": recall}
    metrics.update(valid_samples=float(len(items)))
    try:  # the sweep's IoU is unguarded: a malformed box drops the sweep, as in the evaluator
        sweep = {t: _counted(*_instance_counts(pairs, corner_iou, t)) for t in _SWEEP}
    except ValueError as error:
        return {**metrics, "metrics_version": "v1_original_only", "error": str(error)}
    averages = {
        name: float(np.mean([sweep[t][name] for t in _SWEEP]))
        for name in ("f1_score", "precision", "recall")
    }
    return {
        **metrics,
        "f1_score_at_03": sweep[0.3]["f1_score"],
        "f1_score_at_05": sweep[0.5]["f1_score"],
        "average_f1": averages["f1_score"],
        "precision_at_03": sweep[0.3]["precision"],
        "recall_at_03": sweep[0.3]["recall"],
        "detailed_metrics": {f"IoU_{t}": sweep[t] for t in _SWEEP},
        "coco_style_metrics": {
            "average_f1": averages["f1_score"],
            "average_precision": averages["precision"],
            "average_recall": averages["recall"],
        },
        "per_chromosome_metrics": _per_chromosome(pairs),
        "metrics_version": "v2",
        "primary_metric_original": "f1_score",
        "primary_metric_improved": "f1_score_at_03",
    }


def _counts_stated(text: str) -> list[str]:
    r"""``re.findall(r"count.*?(?:is|are|equals?|totals?)\s*:?\s*(\d+)", text)`` in linear time.

    After each ``count`` the lazy ``.*?`` stops at the first place, on the same line, where the
    rest matches: a search from there. When that place is past the line's end, no later
    ``count`` on the line can match either. The last search's answer is reused while it lies
    ahead, so no stretch of text is searched twice.
    """
    found: list[str] = []
    position, stated = 0, None
    while (word := _COUNT_WORD.search(text, position)) is not None:
        if stated is None or stated.start() < word.end():
            stated = _COUNT_STATED.search(text, word.end())
        if stated is None:
            break
        line_end = text.find("\n", word.end())
        if line_end != -1 and stated.start() > line_end:
            position = line_end + 1
            continue
        found.append(stated.group(1))
        position = stated.end()
    return found


def _count(cleaned: str) -> int | None:
    try:
        lowered = cleaned.lower()
        if any(marker in lowered for marker in _INCOMPLETE_COUNT):
            return None
        for found in (_counts_stated(lowered), *(p.findall(lowered) for p in _EXPLICIT_COUNT)):
            if found:
                return max(int(number) for number in found)
        found = _STANDALONE_NUMBER.findall(cleaned)
        numbers = [int(n) for n in found if int(n) > 10 or len(found) == 1]
        if numbers:
            return max(numbers)
        return int(float(cleaned))
    except Exception:  # ValueError, or OverflowError on "inf", which skips the sample too
        return None


def _regression_value(cleaned: str) -> float | None:
    for pattern in (_PERCENTAGE, _DECIMAL):
        found = pattern.findall(cleaned)
        if found:
            return float(found[0])
    try:
        return float(cleaned)
    except ValueError:
        return None


def _reference_number(text: str, as_int: bool) -> float | None:
    try:
        return int(float(text)) if as_int else float(text)
    except (ValueError, OverflowError):
        return None


def _mae(pairs: list[tuple[float, float]]) -> dict[str, float]:
    failed = {"mean_absolute_error": math.inf, "valid_samples": 0.0}
    if not pairs:
        return failed
    try:
        preds = [float(p) for p, _ in pairs]
        refs = [float(r) for _, r in pairs]
        mae = mean_absolute_error(refs, preds)
        rmse = np.sqrt(np.mean([(p - r) ** 2 for p, r in zip(preds, refs, strict=True)]))
    except (ValueError, OverflowError):  # non-finite input or float overflow
        return failed
    return {
        "mean_absolute_error": float(mae),
        "root_mean_squared_error": float(rmse),
        "valid_samples": float(len(pairs)),
    }


def _numeric(items: list[Item], as_int: bool) -> tuple[dict[str, float], int]:
    parse = _count if as_int else _regression_value
    pairs = []
    for item in items:
        ref = _reference_number(item.reference, as_int)
        pred = parse(clean_output(item.prediction))
        if ref is not None and pred is not None:
            pairs.append((pred, ref))
    return _mae(pairs), len(pairs)


def _report(items: list[Item]) -> dict[str, float]:
    preds = [clean_output(item.prediction).strip() for item in items]
    refs = [item.reference for item in items]
    return {"bleu_score": flare25_bleu(preds, refs), "valid_samples": float(len(items))}


_SCORERS = {
    TaskType.CLASSIFICATION: _classification,
    TaskType.MULTI_LABEL: _multi_label,
    TaskType.DETECTION: _detection,
    TaskType.INSTANCE_DETECTION: _instance_detection,
    TaskType.REPORT_GENERATION: _report,
}


def _task_result(task: str, items: list[Item]) -> dict:
    """The evaluator's ``metrics`` of one task with its example counts beside them."""
    if task in (TaskType.COUNTING, TaskType.REGRESSION):
        metrics, valid = _numeric(items, as_int=task == TaskType.COUNTING)
    else:
        metrics, valid = _SCORERS[task](items), len(items)
    counts = {"num_examples": len(items), "valid_examples": valid}
    return {**metrics, **counts, "skipped_examples": len(items) - valid}


def score(items: list[Item]) -> dict[str, dict]:
    """Per task type present, pooled over data sets, what FLARE25-QWen2.5VL reports: its
    ``metrics`` (nested breakdowns and labels included) and ``num_examples``,
    ``valid_examples``, ``skipped_examples``."""
    return {task: _task_result(task, group) for task, group in group_by_task(items).items()}
