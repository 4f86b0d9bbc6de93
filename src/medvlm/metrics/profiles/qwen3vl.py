"""Profile ``qwen3vl``: the evaluator of ``medfm-flare/FLARE25-QWen3VL-4B``, reproduced.

Sources: ``Qwen3-VL/qwen-vl-finetune/evaluation/metrics.py`` (the metrics) and its driver
``evaluate_flare25.py`` in the same folder (the stored index holds its text without a path),
which decides what is scored and how it is pooled. Metric names are the evaluator's own.

Unlike the other public evaluators it scores each data set separately and then averages over
data sets, weighting each by its ``valid_samples`` (data sets with no valid sample enter an
unweighted mean that is used only when no data set has weight); ``valid_samples`` and
``correct_predictions`` are summed and ``accuracy`` recomputed from the sums. Before scoring, a
pair is dropped when the stripped prediction or the reference is empty; a data set left with no
pair contributes nothing (a task with none at all reports an empty dict).

Per data set: classification is exact match and sklearn balanced accuracy on
``strip().upper()`` text (no letter extraction); multi-label splits upper-cased text on
``[,;\\s]+``, so multi-word labels become words, skips samples with no reference label and
reports sample-mean ("macro") and micro F1; detection reads one ``x1,y1,x2,y2`` box per
``;``/newline-separated segment (brackets removed; a segment with other than 4 numbers is no
box), matches predictions in order to their best unmatched reference with a strict ``>`` at IoU
0.3, 0.5 and 0.75; instance detection reads a JSON (else Python-literal, else regex) mapping of
id to boxes and matches the same way within each id at 0.3 to 0.7, ``f1_primary`` being F1 at
0.3; counting and regression take the first number of each side and drop pairs where either has
none (MAE ``inf`` when no pair is left); report generation gets the FLARE25 BLEU and its own
ROUGE-1/2/L.

Inferred or deliberately different:

- Data sets are the items' ``dataset`` (the driver keys them by split, category and name).
- The driver's ``canonical_task_type`` (``task_utils.py``, not available) is taken to map every
  FLARE25 spelling of a task type to one name.
- The driver also loads FLARE25-QWen2.5VL's ``utils/metrics.py`` when present, for a keyword
  "green_score" and "clinical_efficacy"; those are not reproduced (the heuristic is not GREEN).
  Its BLEU equals the one used here.
- Where the instance parser would crash (a Python literal with an unhashable key, nesting too
  deep, an integer too large for a float), the text is treated as unparsable by JSON and literal
  parsing and goes on to the regex fallback.

Every number ``metrics.py`` computes per task is reported, aggregated as the driver aggregates
it. Not reproduced, and why:

- report generation's ``green_score``, its eight ``green_*`` sub-scores and
  ``clinical_efficacy``: the evaluator fills them from FLARE25-QWen2.5VL's keyword heuristic when
  that checkout lies beside it and with 0.0 otherwise; neither is GREEN (docs/evaluators.md);
- the driver's per-data-set report (each data set's metrics before the weighted average): the
  score file's public profiles hold pooled values; per-data-set values are the default
  profile's ``by_dataset``, computed by our rules;
- the driver's saved predictions and run details (paths, timing), which are no metrics.
"""

from __future__ import annotations

import ast
import json
import math
import re

import numpy as np
from sklearn.metrics import balanced_accuracy_score

from medvlm.metrics.items import Item
from medvlm.metrics.profiles._common import (
    flare25_bleu,
    group_by_task,
    ngram_counts,
    precision_recall_f1,
)
from medvlm.metrics.profiles._greedy import corner_iou, match_in_order
from medvlm.records import TaskType

Metrics = dict[str, float]

_COUNT_KEYS = ("valid_samples", "correct_predictions")
_DETECTION_THRESHOLDS = (0.3, 0.5, 0.75)
_INSTANCE_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
_FIRST_NUMBER = re.compile(r"-?\d+\.?\d*")
# The evaluator's \s*([A-Za-z0-9]+)\s*: made linear: a match starts where a run of whitespace or
# of letters and digits starts (it would match from inside the run only where it matches from
# its start), so a long run is not rescanned from each of its positions.
_INSTANCE_KEY = re.compile(r"(?<!\s)\s*+(?<![A-Za-z0-9])([A-Za-z0-9]++)\s*+:")


def _classification(preds: list[str], refs: list[str]) -> Metrics:
    pred = [p.strip().upper() for p in preds]
    gold = [r.strip().upper() for r in refs]
    correct = sum(p == g for p, g in zip(pred, gold, strict=True))
    return {
        "accuracy": correct / len(pred),
        "balanced_accuracy": float(balanced_accuracy_score(gold, pred)),
        "valid_samples": len(pred),
        "correct_predictions": correct,
    }


def _label_set(text: str) -> set[str]:
    if not text or text.strip() == "":
        return set()
    return {label for label in re.split(r"[,;\s]+", text.strip().upper()) if label}


def _multi_label(preds: list[str], refs: list[str]) -> Metrics:
    per_sample: list[tuple[float, float, float]] = []
    tp = fp = fn = 0
    for pred_text, ref_text in zip(preds, refs, strict=True):
        pred, gold = _label_set(pred_text), _label_set(ref_text)
        if not gold:
            continue
        hits, extra, missed = len(pred & gold), len(pred - gold), len(gold - pred)
        tp, fp, fn = tp + hits, fp + extra, fn + missed
        per_sample.append(precision_recall_f1(hits, extra, missed))
    precision_macro = recall_macro = f1_macro = 0.0
    if per_sample:
        precision_macro, recall_macro, f1_macro = (
            float(np.mean(c)) for c in zip(*per_sample, strict=True)
        )
    precision_micro, recall_micro, f1_micro = precision_recall_f1(tp, fp, fn)
    return {
        "f1_macro": f1_macro,
        "f1_micro": f1_micro,
        "precision_macro": precision_macro,
        "precision_micro": precision_micro,
        "recall_macro": recall_macro,
        "recall_micro": recall_micro,
        "valid_samples": len(preds),
    }


def _parse_bbox(text: str) -> list[float] | None:
    try:
        cleaned = text.strip().replace("[", "").replace("]", "")
        coords = [float(x.strip()) for x in re.split(r"[,\s]+", cleaned) if x.strip()]
    except ValueError:
        return None
    return coords if len(coords) == 4 else None


def _boxes(text: str) -> list[list[float]]:
    return [box for box in map(_parse_bbox, re.split(r"[;\n]", text)) if box]


def _threshold_metrics(counts: dict[float, tuple[int, int, int]]) -> Metrics:
    metrics: Metrics = {}
    for threshold, (tp, fp, fn) in counts.items():
        precision, recall, f1 = precision_recall_f1(tp, fp, fn)
        metrics[f"f1_at_{threshold}"] = f1
        metrics[f"precision_at_{threshold}"] = precision
        metrics[f"recall_at_{threshold}"] = recall
    return metrics


def _add_counts(total: tuple[int, int, int], pred: list, gold: list, threshold: float):
    hits = match_in_order(pred, gold, corner_iou, threshold)
    return total[0] + hits, total[1] + len(pred) - hits, total[2] + len(gold) - hits


def _detection(preds: list[str], refs: list[str]) -> Metrics:
    pairs = [(_boxes(p), _boxes(r)) for p, r in zip(preds, refs, strict=True)]
    counts = {}
    for threshold in _DETECTION_THRESHOLDS:
        total = (0, 0, 0)
        for pred, gold in pairs:
            total = _add_counts(total, pred, gold, threshold)
        counts[threshold] = total
    metrics = _threshold_metrics(counts)
    metrics["f1_mean"] = float(np.mean([metrics[f"f1_at_{t}"] for t in _DETECTION_THRESHOLDS]))
    metrics["valid_samples"] = len(preds)
    return metrics


def _coerce_box(raw) -> list[float] | None:
    try:
        if isinstance(raw, list | tuple) and len(raw) == 4:
            return [float(coord) for coord in raw]
        if isinstance(raw, dict):
            coords = [raw.get(key) for key in ("x1", "y1", "x2", "y2")]
            if all(coord is not None for coord in coords):
                return [float(coord) for coord in coords]
    except (TypeError, ValueError, OverflowError):
        return None
    return _parse_bbox(raw) if isinstance(raw, str) else None


def _literal(text: str):
    """JSON, else a Python literal, else None (also where the evaluator would crash)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    except (ValueError, RecursionError):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _instances_by_regex(text: str) -> dict[str, list[list[float]]]:
    result: dict[str, list[list[float]]] = {}
    trimmed = text.replace("{", "").replace("}", "").replace('"', "").replace("'", "")
    parts = _INSTANCE_KEY.split(trimmed)
    for index in range(1, len(parts), 2):
        segment = parts[index + 1] if index + 1 < len(parts) else ""
        for match in re.findall(r"\[[^\[\]]+\]", segment):
            box = _coerce_box(match)
            if box:
                result.setdefault(parts[index].strip(), []).append(box)
    return result


def _instances(answer: str) -> dict[str, list[list[float]]]:
    text = answer.strip()
    if not text:
        return {}
    parsed = _literal(text)
    if not isinstance(parsed, dict):
        return _instances_by_regex(text)
    result: dict[str, list[list[float]]] = {}
    for key, boxes in parsed.items():
        if isinstance(boxes, dict):
            boxes = [boxes]
        if isinstance(boxes, list | tuple):
            kept = [box for box in map(_coerce_box, boxes) if box]
            if kept:
                result[str(key).strip()] = kept
    return result


def _instance_detection(preds: list[str], refs: list[str]) -> Metrics:
    pairs = [(_instances(p), _instances(r)) for p, r in zip(preds, refs, strict=True)]
    counts = {}
    for threshold in _INSTANCE_THRESHOLDS:
        total = (0, 0, 0)
        for pred, gold in pairs:
            for key in set(pred) | set(gold):
                total = _add_counts(total, pred.get(key, []), gold.get(key, []), threshold)
        counts[threshold] = total
    metrics = _threshold_metrics(counts)
    metrics["f1_primary"] = metrics["f1_at_0.3"]
    metrics["f1_mean"] = float(np.mean([metrics[f"f1_at_{t}"] for t in _INSTANCE_THRESHOLDS]))
    metrics["valid_samples"] = len(preds)
    return metrics


def _first_number(text: str) -> float | None:
    found = _FIRST_NUMBER.findall(text)
    try:
        return float(found[0]) if found else None
    except ValueError:
        return None


def _number_arrays(preds: list[str], refs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    pairs = [(_first_number(p), _first_number(r)) for p, r in zip(preds, refs, strict=True)]
    kept = [(p, r) for p, r in pairs if p is not None and r is not None]
    return np.array([p for p, _ in kept]), np.array([r for _, r in kept])


def _counting(preds: list[str], refs: list[str]) -> Metrics:
    pred, gold = _number_arrays(preds, refs)
    if not len(pred):
        return {"mae": math.inf, "rmse": math.inf, "accuracy_exact": 0.0, "valid_samples": 0}
    with np.errstate(all="ignore"):
        error = np.abs(pred - gold)
        return {
            "mae": float(np.mean(error)),
            "rmse": float(np.sqrt(np.mean((pred - gold) ** 2))),
            "accuracy_exact": float(np.mean(pred == gold)),
            "accuracy_within_1": float(np.mean(error <= 1)),
            "accuracy_within_5pct": float(np.mean(error / (gold + 1e-6) <= 0.05)),
            "valid_samples": len(pred),
        }


def _regression(preds: list[str], refs: list[str]) -> Metrics:
    pred, gold = _number_arrays(preds, refs)
    if not len(pred):
        return {"mae": math.inf, "rmse": math.inf, "r2": 0.0, "valid_samples": 0}
    with np.errstate(all="ignore"):
        ss_res = np.sum((gold - pred) ** 2)
        ss_tot = np.sum((gold - np.mean(gold)) ** 2)
        return {
            "mae": float(np.mean(np.abs(pred - gold))),
            "rmse": float(np.sqrt(np.mean((pred - gold) ** 2))),
            "r2": float(1 - ss_res / ss_tot) if ss_tot > 0 else 0.0,
            "valid_samples": len(pred),
        }


def _longest_common_subsequence(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if token == other else max(previous[j], current[-1]))
        previous = current
    return previous[-1]


def _overlap_f1(overlap: int, n_pred: int, n_ref: int) -> float:
    return precision_recall_f1(overlap, n_pred - overlap, n_ref - overlap)[2]


def _report(preds: list[str], refs: list[str]) -> Metrics:
    rouge: dict[str, list[float]] = {"rouge1_f": [], "rouge2_f": [], "rougeL_f": []}
    for pred, ref in zip(preds, refs, strict=True):
        for n in (1, 2):
            pred_ngrams, ref_ngrams = ngram_counts(pred, n), ngram_counts(ref, n)
            overlap = sum((pred_ngrams & ref_ngrams).values())
            rouge[f"rouge{n}_f"].append(
                _overlap_f1(overlap, sum(pred_ngrams.values()), sum(ref_ngrams.values()))
            )
        pred_tokens, ref_tokens = pred.lower().split(), ref.lower().split()
        lcs = _longest_common_subsequence(pred_tokens, ref_tokens)
        rouge["rougeL_f"].append(_overlap_f1(lcs, len(pred_tokens), len(ref_tokens)))
    return {
        "bleu_score": flare25_bleu(preds, refs),
        **{name: float(np.mean(values)) for name, values in rouge.items()},
        "valid_samples": len(preds),
    }


_METRICS = {
    TaskType.CLASSIFICATION: _classification,
    TaskType.MULTI_LABEL: _multi_label,
    TaskType.DETECTION: _detection,
    TaskType.INSTANCE_DETECTION: _instance_detection,
    TaskType.COUNTING: _counting,
    TaskType.REGRESSION: _regression,
    TaskType.REPORT_GENERATION: _report,
}


def _aggregate(per_dataset: list[Metrics]) -> Metrics:
    """The driver's pooling of per-data-set metrics into one entry per task type."""
    sums: Metrics = {}
    weighted: dict[str, tuple[float, float]] = {}
    unweighted: dict[str, tuple[float, int]] = {}
    for metrics in per_dataset:
        weight = float(metrics.get("valid_samples") or 0)
        for name, value in metrics.items():
            if name in _COUNT_KEYS:
                sums[name] = sums.get(name, 0.0) + float(value)
            elif weight > 0:
                total, weights = weighted.get(name, (0.0, 0.0))
                weighted[name] = (total + float(value) * weight, weights + weight)
            else:
                total, count = unweighted.get(name, (0.0, 0))
                unweighted[name] = (total + float(value), count + 1)
    result = dict(sums)
    result.update({name: total / weights for name, (total, weights) in weighted.items()})
    for name, (total, count) in unweighted.items():
        result.setdefault(name, total / count)
    if "correct_predictions" in result and result.get("valid_samples"):
        result["accuracy"] = result["correct_predictions"] / result["valid_samples"]
    for name in _COUNT_KEYS:
        if name in result:
            result[name] = float(round(result[name]))
    return result


def score(items: list[Item]) -> dict[str, dict[str, float]]:
    """Metrics per task type present: per data set, then averaged as FLARE25-QWen3VL-4B does."""
    results = {}
    for task, group in group_by_task(items).items():
        datasets: dict[str, list[tuple[str, str]]] = {}
        for item in group:
            pred = item.prediction.strip()  # the driver stores the stripped generation
            if pred and item.reference.strip():
                datasets.setdefault(item.dataset, []).append((pred, item.reference))
        results[task] = _aggregate(
            [
                _METRICS[task]([p for p, _ in pairs], [r for _, r in pairs])
                for pairs in datasets.values()
            ]
        )
    return results
