"""Profile ``paligemma``: the evaluator of ``medfm-flare/FLARE25-PaliGemma``, reproduced.

Sources: ``eval.py`` (the metrics) and ``inference.py`` (``parse_answer``, which turns the raw
model output into the ``Answer`` that ``eval.py`` reads). The clean-up belongs to producing
answers, so it applies to raw model output only (``Item.submitted`` False: our own runs'
predictions): strip; keep the text after the prompt's last sentence ("Please provide a clear and
concise answer.") if echoed; drop the first line when there are several; then per task:
classification keeps the last line, multi-label rejoins ``;``-separated parts with ``"; "``,
detection keeps the first-``{`` to last-``}`` (or ``[`` to ``]``) span re-serialised as JSON,
counting and regression keep the first number or ``"0"`` when there is none. A submitted
``Answer`` (a FLARE-format predictions file: already some ``inference.py``'s output) is scored as
written, as ``eval.py`` scores it, so a counting or regression ``Answer`` that is not a plain
number makes that MAE ``inf``. References are read as written. Metric names are ``eval.py``'s own.

``eval.py`` then pools rows by lower-cased ``TaskType`` over all data sets: classification is
sklearn's balanced accuracy on ``strip().lower()`` text; multi-label is micro F1 over labels split
on ``[;,]`` (lower-cased); detection reads both sides with ``ast.literal_eval`` (a literal parser:
it evaluates no code), matches each reference box in order to its best unmatched prediction, true
positive at IoU > 0.5, and skips a sample whose text does not parse (a flat ``[x1, y1, x2, y2]``
reference is four non-boxes: four false negatives); instance detection reads JSON, matches within
each id by the global maximum IoU, true positive at IoU >= 0.5; counting and regression are one
MAE each, ``inf`` when any text fails ``float()``; report generation is GREEN
(``StanfordAIMI/GREEN-radllama2-7b``), the mean over pairs.

Inferred or deliberately different:

- ``eval.py`` pairs predictions with references on ``ImageName||Question`` (a repeated key keeps
  the last row, an unmatched reference is dropped). Pairing is the caller's job here: every item
  given is scored, repeated keys included.
- Items carry canonical task names; they are mapped to the FLARE25 ``TaskType`` spellings the two
  scripts dispatch on (a 2026 spelling would be scored by neither script).
- Instance detection: ``eval.py`` walks the ids of a sample in ``set`` order and, when a box list
  is not a list, gives up on the rest of that sample; we walk ids in sorted order.
- Where ``eval.py`` would crash (sklearn's MAE refusing an ``inf``/``nan`` such as ``"1e999"``),
  the MAE is ``inf``.
- GREEN needs a judge model: pass ``green_judge(references, predictions) -> mean score``; without
  one, report generation is not scored and says so (``green_not_scored_no_judge``). A judge that
  fails raises here (``eval.py`` would report ``None``).
"""

from __future__ import annotations

import ast
import json
import math
import re

from sklearn.metrics import balanced_accuracy_score, mean_absolute_error

from medvlm.metrics.items import Item
from medvlm.metrics.profiles._common import (
    GREEN_NOT_SCORED,
    GreenScorer,
    group_by_task,
    precision_recall_f1,
)
from medvlm.metrics.profiles._greedy import guarded_iou, match_global, match_in_order
from medvlm.records import TaskType

_PROMPT_END = "Please provide a clear and concise answer."
_FIRST_NUMBER = re.compile(r"[-+]?[0-9]*\.?[0-9]+")


def _json_span(output: str) -> str:
    span = _outer_span(output)
    if span is None:
        return output
    try:
        return json.dumps(json.loads(span))
    except (ValueError, RecursionError):
        return span


def _outer_span(text: str) -> str | None:
    r"""What ``re.search(r"\{.*\}|\[.*\]", text, re.DOTALL)`` finds, in linear time: from the
    first ``{`` (or ``[``) that has a ``}`` (or ``]``) after it to the last one, whichever starts
    first. The pattern itself rescans the rest of the text from every opener."""
    spans = []
    for opener, closer in ("{}", "[]"):
        start, end = text.find(opener), text.rfind(closer)
        if -1 < start < end:
            spans.append((start, end))
    if not spans:
        return None
    start, end = min(spans)
    return text[start : end + 1]


def inference_answer(raw: str, task: str) -> str:
    """The ``Answer`` that FLARE25-PaliGemma's ``inference.py`` writes for a raw model output."""
    output = raw.strip()
    if _PROMPT_END in output:
        output = output.split(_PROMPT_END)[-1].strip()
    if "\n" in output:
        output = output.split("\n", 1)[-1].strip()
    if task == TaskType.CLASSIFICATION:
        lines = output.splitlines()
        return lines[-1].strip() if lines else output
    if task == TaskType.MULTI_LABEL:
        parts = (part.strip() for line in output.splitlines() for part in line.split(";"))
        return "; ".join(part for part in parts if part)
    if task in (TaskType.DETECTION, TaskType.INSTANCE_DETECTION):
        return _json_span(output)
    if task in (TaskType.COUNTING, TaskType.REGRESSION):
        match = _FIRST_NUMBER.search(output)
        return match.group() if match else "0"
    return output


def _classification(refs: list[str], answers: list[str]) -> dict[str, float]:
    gold = [ref.strip().lower() for ref in refs]
    pred = [answer.strip().lower() for answer in answers]
    return {"balanced_accuracy": float(balanced_accuracy_score(gold, pred))}


def _label_set(text: str) -> set[str]:
    return {part.strip().lower() for part in re.split(r"[;,]", text) if part.strip()}


def _multi_label(refs: list[str], answers: list[str]) -> dict[str, float]:
    tp = fp = fn = 0
    for ref, answer in zip(refs, answers, strict=True):
        gold, pred = _label_set(ref), _label_set(answer)
        tp, fp, fn = tp + len(pred & gold), fp + len(pred - gold), fn + len(gold - pred)
    return {"f1_score": precision_recall_f1(tp, fp, fn)[2]}


def _detection(refs: list[str], answers: list[str]) -> dict[str, float]:
    tp = fp = fn = 0
    for ref, answer in zip(refs, answers, strict=True):
        try:
            gold, pred = ast.literal_eval(ref), ast.literal_eval(answer)
        except Exception:  # eval.py skips a sample whose text is not a Python literal
            continue
        try:
            gold_boxes = list(gold)
        except TypeError:  # eval.py fails on len()/iteration of the reference and skips
            continue
        if not isinstance(pred, list):
            fn += len(gold_boxes)
            continue
        hits = match_in_order(gold_boxes, pred, guarded_iou, 0.5)
        tp, fp, fn = tp + hits, fp + len(pred) - hits, fn + len(gold_boxes) - hits
    return {"detection_f1": precision_recall_f1(tp, fp, fn)[2]}


def _instance_detection(refs: list[str], answers: list[str]) -> dict[str, float]:
    tp = fp = fn = 0
    for ref, answer in zip(refs, answers, strict=True):
        try:
            gold, pred = json.loads(ref), json.loads(answer)
        except (ValueError, RecursionError):
            continue
        if not isinstance(gold, dict):  # eval.py fails on gold.values()/keys() and skips
            continue
        if not isinstance(pred, dict):
            fn += sum(len(boxes) for boxes in gold.values() if isinstance(boxes, list))
            continue
        for key in sorted(set(gold) | set(pred)):
            try:
                gold_boxes, pred_boxes = list(gold.get(key, [])), list(pred.get(key, []))
            except TypeError:  # a box list that is a number: eval.py abandons the sample here
                break
            hits = match_global(gold_boxes, pred_boxes, guarded_iou, 0.5, inclusive=True)
            tp, fp, fn = tp + hits, fp + len(pred_boxes) - hits, fn + len(gold_boxes) - hits
    return {"instance_f1": precision_recall_f1(tp, fp, fn)[2]}


def _as_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _mae(refs: list[str], answers: list[str]) -> dict[str, float]:
    gold = [_as_float(ref) for ref in refs]
    pred = [_as_float(answer) for answer in answers]
    if None in gold or None in pred:
        return {"mean_absolute_error": math.inf}
    try:
        return {"mean_absolute_error": float(mean_absolute_error(gold, pred))}
    except ValueError:  # sklearn refuses inf/nan; eval.py would crash here
        return {"mean_absolute_error": math.inf}


_METRICS = {
    TaskType.CLASSIFICATION: _classification,
    TaskType.MULTI_LABEL: _multi_label,
    TaskType.DETECTION: _detection,
    TaskType.INSTANCE_DETECTION: _instance_detection,
    TaskType.COUNTING: _mae,
    TaskType.REGRESSION: _mae,
}


def score(items: list[Item], green_judge: GreenScorer | None = None) -> dict[str, dict[str, float]]:
    """Metrics per task type present, pooled over data sets, as FLARE25-PaliGemma reports them.

    ``green_judge(references, predictions)`` returns the mean GREEN score of the pairs; without
    it report generation is reported as not scored.
    """
    results = {}
    for task, group in group_by_task(items).items():
        refs = [item.reference for item in group]
        answers = [
            item.prediction if item.submitted else inference_answer(item.prediction, task)
            for item in group
        ]
        if task != TaskType.REPORT_GENERATION:
            metrics = _METRICS[task](refs, answers)
        elif green_judge is None:
            metrics = {GREEN_NOT_SCORED: 1.0}
        else:
            metrics = {"green_score": float(green_judge(refs, answers))}
        results[task] = {**metrics, "num_examples": float(len(group))}
    return results
