"""Profile ``flare26``: the evaluator of ``medfm-flare/FLARE26-MedGemma``, reproduced.

Sources: ``mle/engine/evaluate.py`` (parsing, matching, metrics), ``mle/engine/infer.py`` (a
prediction is the stripped generation) and ``mle/engine/preprocess.py`` (task names; rows with no
answer are left out). Metric names are the evaluator's own.

Rows whose reference is empty are left out; the rest are pooled by task type over all data sets.
Text that starts with ``[`` or ``{`` is read as JSON first. Classification: balanced accuracy
(its own: mean recall over the reference classes) on whitespace-collapsed lower-case text.
Multi-label: split on ``;``, newline or ``|`` when any is present, else on ``,``; labels such as
"none" or "[]" mean no label; sample-mean F1 with 1.0 when both sides are empty. Detection:
boxes from JSON (lists, ``{x1,y1,x2,y2}``, ``{x,y,width,height}`` converted to corners, dicts of
labelled boxes) or ``[a,b,c,d]`` groups in text; IoU with clamped areas; all pairs at IoU >= 0.5
whose labels agree (when both have one) sorted in reverse as ``(iou, gold, pred)`` tuples and
taken greedily, so ties go to the highest indices; micro F1 as 2TP/(2TP+FP+FN), 1.0 when there is
nothing at all. An unparsable prediction has no boxes. Counting and regression: the first number
(commas removed), an unparsable prediction counts as 0; MAE. Report generation: GREEN and CRIMSON.

CRIMSON follows the evaluator's ``crimson_score`` from commit f1c5e88 on (2026-05-16, unchanged at
7fb1bed): the judge ``rajpurkarlab/medgemma-4b-it-crimson`` (``crimson_model_name`` unset) scores
each pair without guidelines and, FLARE rows having no age or indication, without patient context
(:mod:`medvlm.metrics.crimson`). Reported: ``crimson_score``, the mean over the pairs whose judge
answer could be scored; ``crimson_valid_samples`` and ``crimson_failed_samples``; and, when any
pair was scored, the mean of each count the authors' scorer reports, as ``crimson_<count>``
(``false_findings``, ``missing_findings``, ``attribute_errors``, ``location_errors`` ...
``temporal_errors``), ``crimson_weighted_<count>`` (false, missing, attribute) and
``crimson_<term>`` (``N_G``, ``E_penalty``, ``correct``, ``errors_more_than_correct``, ``S``).
No pair scored: ``crimson_score`` is NaN (``null`` in the score file), as in the evaluator. The
same commit also changed other metrics (accuracy and weighted F1 beside balanced accuracy,
multi-label precision and recall, RMSE, detection F1 at IoU 0.3-0.7 with COCO-style averages):
this profile does not reproduce those yet; its other metrics are the ones described here.

Inferred or deliberately different:

- Instance detection folds into ``detection`` (its 2026 task list has no instance detection; the
  preprocessing maps chromosome rows to detection, the JSON keys becoming box labels).
- References are parsed as the evaluator parses them; one it cannot parse stops scoring with an
  error naming the item, as the evaluator stops.
- Where the evaluator would crash on a prediction (``null`` as a coordinate, an integer too large
  for a float, nesting too deep), the prediction is treated as unparsable.
- Report generation needs judges: pass ``green_judge(references, predictions) -> mean score``
  and ``crimson_judge(references, predictions) -> CRIMSON summary``; without one, its metric is
  not scored and says so (``green_not_scored_no_judge``, ``crimson_not_scored_no_judge``; the
  evaluator's ``skip_green_score``/``skip_crimson_score`` give NaN).
- A reference without a prediction is scored as an empty answer (the evaluator's
  ``allow_missing_predictions``); without that switch the evaluator refuses to score at all.

Reported per task, with the evaluator's ``by_task`` names: the task's metric, ``count``, and for
detection the ``tp``/``fp``/``fn`` of its ``matching`` and its ``iou_threshold`` (0.5). Not
reproduced, and why: ``num_rows`` and ``num_tasks`` (the sum of the counts and the number of task
entries, in the score file already); the flat ``metrics`` block (the same values under
task-prefixed names such as ``cell_counting_mean_absolute_error``); the ``mean_metrics`` and
``per_split`` blocks the evaluator writes when it scores several splits at once (a score file
covers one split; score each and compare); the ``predictions``, ``split`` and ``model_variant``
labels (the score file's ``inputs`` name what was scored).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from medvlm.metrics.items import Item
from medvlm.metrics.profiles._common import (
    CRIMSON_NOT_SCORED,
    GREEN_NOT_SCORED,
    CrimsonScorer,
    GreenScorer,
    group_by_task,
)
from medvlm.metrics.profiles._greedy import match_global
from medvlm.records import TaskType

_EMPTY_LABELS = {"", "none", "no finding", "no findings", "n/a", "na", "null", "[]"}
_BOX_FIELDS = ("bbox", "bboxes", "box", "boxes", "bounding_box", "bounding_boxes", "detections")
_LABEL_FIELDS = ("label", "class", "category", "name")
_NUMERIC_FIELDS = ("value", "count", "number", "prediction")
# The evaluator's \[\s*([-+0-9eE.,\s]+)\] with its leading \s* and the class (which holds
# whitespace too) read possessively, so a failed group costs its length and not its square;
# _box_groups rebuilds what the original captures.
_BOX_GROUP = re.compile(r"\[(\s*+)([-+0-9eE.,\s]*+)\]")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
# What the evaluator catches on a prediction (ValueError) plus what would crash it.
_UNPARSABLE = (ValueError, TypeError, OverflowError, RecursionError)


class _Box(NamedTuple):
    x1: float
    y1: float
    x2: float
    y2: float
    label: str | None = None


def _maybe_json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text or text[0] not in "[{":
        return value
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return value


def _normalize_text(value: Any) -> str:
    """The evaluator's text key: whitespace collapsed and lower-cased; 2.0 as "2"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    return re.sub(r"\s+", " ", str(value).strip()).lower()


def _parse_number(value: Any) -> float:
    """The first number in ``value`` (commas removed), looking inside JSON; raises ValueError."""
    value = _maybe_json(value)
    if isinstance(value, bool):
        raise ValueError(f"boolean is not numeric: {value}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        for key in _NUMERIC_FIELDS:
            if key in value:
                return _parse_number(value[key])
    if isinstance(value, list | tuple):
        if len(value) != 1:
            raise ValueError(f"expected one numeric value, got {value!r}")
        return _parse_number(value[0])
    match = _NUMBER.search(str(value).replace(",", ""))
    if not match:
        raise ValueError(f"no number in {value!r}")
    return float(match.group(0))


def _parse_labels(value: Any) -> set[str]:
    """The label set of a multi-label answer."""
    value = _maybe_json(value)
    if value is None:
        items: list[Any] = []
    elif isinstance(value, dict):
        if "labels" in value:
            return _parse_labels(value["labels"])
        items = [key for key, flag in value.items() if bool(flag)]
    elif isinstance(value, list | tuple | set):
        items = list(value)
    else:
        text = str(value).strip()
        if _normalize_text(text) in _EMPTY_LABELS:
            return set()
        if ";" in text or "\n" in text or "|" in text:
            items = [part for part in re.split(r"[;\n|]+", text) if part.strip()]
        elif "," in text:
            items = [part for part in text.split(",") if part.strip()]
        else:
            items = [text]
    return {_normalize_text(item) for item in items if _normalize_text(item) not in _EMPTY_LABELS}


def _label(label: Any) -> str | None:
    return _normalize_text(label) or None


def _box(numbers: Any, label: Any = None) -> _Box:
    if len(numbers) != 4:
        raise ValueError(f"expected four box numbers, got {numbers!r}")
    x1, y1, x2, y2 = (float(number) for number in numbers)
    return _Box(x1, y1, x2, y2, _label(label))


def _labelled(boxes: list[_Box], label: Any) -> list[_Box]:
    return [box._replace(label=box.label or _normalize_text(label)) for box in boxes]


def _boxes_from_mapping(value: Mapping) -> list[_Box]:
    label = next((value[key] for key in _LABEL_FIELDS if key in value), None)
    if all(key in value for key in ("x1", "y1", "x2", "y2")):
        return [_box([value["x1"], value["y1"], value["x2"], value["y2"]], label)]
    if all(key in value for key in ("x", "y", "width", "height")):
        x, y = float(value["x"]), float(value["y"])
        return [_Box(x, y, x + float(value["width"]), y + float(value["height"]), _label(label))]
    for key in _BOX_FIELDS:
        if key in value:
            boxes = _parse_boxes(value[key])
            return boxes if label is None else _labelled(boxes, label)
    return [box for key, item in value.items() for box in _labelled(_parse_boxes(item), key)]


def _box_groups(text: str) -> list[str]:
    r"""``re.findall(r"\[\s*([-+0-9eE.,\s]+)\]", text)`` in linear time: the leading whitespace
    goes to ``\s*`` except one character when nothing else is inside the brackets."""
    return [rest or space[-1:] for space, rest in _BOX_GROUP.findall(text) if space or rest]


def _parse_boxes(value: Any) -> list[_Box]:
    """Every box in a detection answer; raises ValueError when the text holds no box."""
    value = _maybe_json(value)
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if not text or _normalize_text(text) in _EMPTY_LABELS:
            return []
        groups = _box_groups(text)
        if not groups:
            raise ValueError(f"no detection boxes in {value!r}")
        return [_box([float(x.strip()) for x in g.split(",") if x.strip()]) for g in groups]
    if isinstance(value, Mapping):
        return _boxes_from_mapping(value)
    if isinstance(value, list | tuple):
        if len(value) == 4 and all(isinstance(number, int | float) for number in value):
            return [_box(value)]
        return [box for item in value for box in _parse_boxes(item)]
    raise ValueError(f"unsupported detection value {value!r}")


def _clamped_iou(a: _Box, b: _Box) -> float:
    """The evaluator's IoU: intersection and areas clamped at 0; 0 when nothing overlaps."""
    width = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    inter = width * max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    if inter <= 0:
        return 0.0
    area_a = max(0.0, a.x2 - a.x1) * max(0.0, a.y2 - a.y1)
    area_b = max(0.0, b.x2 - b.x1) * max(0.0, b.y2 - b.y1)
    denominator = area_a + area_b - inter
    return 0.0 if denominator <= 0 else inter / denominator


def _labels_agree(gold: _Box, pred: _Box) -> bool:
    return not (gold.label and pred.label and gold.label != pred.label)


def _reference_error(item: Item, error: Exception) -> ValueError:
    return ValueError(
        f"flare26 profile: reference of item {item.uid!r} (data set {item.dataset!r}, task "
        f"{item.task!r}) cannot be parsed as the evaluator parses it: {error}"
    )


def _classification(items: list[Item], preds: list[str]) -> dict[str, float]:
    gold = [_normalize_text(item.reference) for item in items]
    pred = [_normalize_text(p) for p in preds]
    totals: dict[str, int] = {}
    hits: dict[str, int] = {}
    for g, p in zip(gold, pred, strict=True):
        totals[g] = totals.get(g, 0) + 1
        hits[g] = hits.get(g, 0) + int(g == p)
    recall = sum(hits[label] / totals[label] for label in sorted(totals)) / len(totals)
    return {"balanced_accuracy": recall}


def _multi_label(items: list[Item], preds: list[str]) -> dict[str, float]:
    scores = []
    for item, pred_text in zip(items, preds, strict=True):
        gold = _parse_labels(item.reference)
        try:
            pred = _parse_labels(pred_text)
        except _UNPARSABLE:
            pred = set()
        tp, fp, fn = len(gold & pred), len(pred - gold), len(gold - pred)
        denominator = 2 * tp + fp + fn
        scores.append(1.0 if not gold and not pred else 2 * tp / denominator)
    return {"f1_score": sum(scores) / len(scores)}


def _detection(items: list[Item], preds: list[str]) -> dict[str, float]:
    tp = fp = fn = 0
    for item, pred_text in zip(items, preds, strict=True):
        try:
            gold = _parse_boxes(item.reference)
        except _UNPARSABLE as error:
            raise _reference_error(item, error) from error
        try:
            pred = _parse_boxes(pred_text)
        except _UNPARSABLE:
            pred = []
        hits = match_global(
            gold, pred, _clamped_iou, 0.5, inclusive=True, ties_to_last=True, allowed=_labels_agree
        )
        tp, fp, fn = tp + hits, fp + len(pred) - hits, fn + len(gold) - hits
    denominator = 2 * tp + fp + fn
    f1 = 1.0 if denominator == 0 else 2 * tp / denominator
    counts = {"tp": float(tp), "fp": float(fp), "fn": float(fn)}
    return {"f1_iou_0.5": f1, **counts, "iou_threshold": 0.5}


def _mae(items: list[Item], preds: list[str]) -> dict[str, float]:
    errors = []
    for item, pred_text in zip(items, preds, strict=True):
        try:
            gold = _parse_number(item.reference)
        except _UNPARSABLE as error:
            raise _reference_error(item, error) from error
        try:
            pred = _parse_number(pred_text)
        except _UNPARSABLE:
            pred = 0.0
        errors.append(abs(gold - pred))
    return {"mean_absolute_error": sum(errors) / len(errors)}


_METRICS = {
    TaskType.CLASSIFICATION: _classification,
    TaskType.MULTI_LABEL: _multi_label,
    TaskType.DETECTION: _detection,
    TaskType.COUNTING: _mae,
    TaskType.REGRESSION: _mae,
}


def _crimson(summary: Mapping[str, Any]) -> dict[str, float]:
    """The evaluator's CRIMSON entries from a CRIMSON judge's summary."""
    mean = summary["crimson"]
    metrics = {
        "crimson_score": math.nan if mean is None else float(mean),
        "crimson_valid_samples": float(summary["valid"]),
        "crimson_failed_samples": float(summary["failed"]),
    }
    means = summary["means"]
    for group, prefix in _CRIMSON_GROUPS:
        metrics.update({f"{prefix}{name}": float(v) for name, v in means.get(group, {}).items()})
    return metrics


_CRIMSON_GROUPS = (
    ("error_counts", "crimson_"),
    ("weighted_error_counts", "crimson_weighted_"),
    ("metrics", "crimson_"),
)


def _report(
    group: list[Item],
    preds: list[str],
    green_judge: GreenScorer | None,
    crimson_judge: CrimsonScorer | None,
) -> dict[str, float]:
    references = [item.reference for item in group]
    if green_judge is None:
        metrics = {GREEN_NOT_SCORED: 1.0}
    else:
        metrics = {"green_score": float(green_judge(references, preds))}
    if crimson_judge is None:
        return {**metrics, CRIMSON_NOT_SCORED: 1.0}
    return {**metrics, **_crimson(crimson_judge(references, preds))}


def score(
    items: list[Item],
    green_judge: GreenScorer | None = None,
    crimson_judge: CrimsonScorer | None = None,
) -> dict[str, dict[str, float]]:
    """Metrics per task type present, pooled over data sets, as FLARE26-MedGemma reports them.

    Instance-detection items are scored under ``detection``. ``green_judge(references,
    predictions)`` returns the mean GREEN score, ``crimson_judge`` CRIMSON's summary
    (:func:`medvlm.metrics.crimson.score_judge_outputs`); report generation reports what the
    judges given score.
    """
    groups: dict[str, list[Item]] = {}
    for task, group in group_by_task(items).items():
        answered = [item for item in group if item.reference.strip()]
        if answered:
            key = TaskType.DETECTION if task == TaskType.INSTANCE_DETECTION else task
            groups.setdefault(key, []).extend(answered)
    results = {}
    for task, group in groups.items():
        preds = [item.prediction.strip() for item in group]
        if task == TaskType.REPORT_GENERATION:
            metrics = _report(group, preds, green_judge, crimson_judge)
        else:
            metrics = _METRICS[task](group, preds)
        results[task] = {**metrics, "count": float(len(group))}
    return results
