"""Pair model predictions with reference records into :class:`Item` rows.

References are records JSONL (``medvlm.records.Record`` fields; scoring needs ``uid, dataset,
task, question, answer, image_names``). A prediction row carries ``uid`` + ``prediction`` (our own
predictor), or ``ImageName`` + ``Question`` + ``prediction``/``Answer`` (predictions made
elsewhere), matched on ``ImageName||Question`` as the PaliGemma baseline evaluator does, where a
list of image names is joined with ``|``. Nothing is dropped silently: a reference without a
prediction is scored with an empty output (unparsable) and listed; a prediction without a
reference, a repeated prediction (the first one counts) and a malformed row are listed too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from medvlm.io import read_jsonl
from medvlm.metrics.items import Item
from medvlm.records import UnknownTaskType, answer_text, normalise_task_type

REFERENCE_FIELDS = ("uid", "dataset", "task", "question", "answer", "image_names")


def image_question_key(image_names: Any, question: str) -> str:
    names = image_names if isinstance(image_names, list) else [image_names]
    return f"{'|'.join(str(n).strip() for n in names)}||{question.strip()}"


@dataclass
class Pairing:
    items: list[Item]
    references_without_prediction: list[str] = field(default_factory=list)
    predictions_without_reference: list[str] = field(default_factory=list)
    duplicate_predictions: list[str] = field(default_factory=list)
    bad_rows: list[str] = field(default_factory=list)

    def missing_report(self) -> dict[str, Any]:
        """The score file's ``missing`` section: counts, then the lists."""
        lists = {
            "references_without_prediction": self.references_without_prediction,
            "predictions_without_reference": self.predictions_without_reference,
            "duplicate_predictions": self.duplicate_predictions,
            "bad_rows": self.bad_rows,
        }
        return {**{f"n_{name}": len(v) for name, v in lists.items()}, **lists}


def _reference(row: Any, where: str) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(row).__name__}")
    absent = [name for name in REFERENCE_FIELDS if name not in row]
    if absent:
        raise ValueError(f"{where}: missing field(s) {', '.join(absent)}")
    if not isinstance(row["question"], str):
        raise ValueError(f"{where}: 'question' must be a string")
    try:
        task = normalise_task_type(row["task"])
    except UnknownTaskType as error:
        raise ValueError(f"{where}: {error}") from None
    names = row["image_names"]
    return {**row, "task": task, "image_names": names if isinstance(names, list) else [names]}


def _prediction(row: Any, where: str) -> tuple[str, str]:
    """(key, text) of a prediction row; the key is ``uid:<uid>`` or ``image:<ImageName||Q>``."""
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(row).__name__}")
    text = row.get("prediction", row.get("Answer"))
    if text is None:
        raise ValueError(f"{where}: no 'prediction' (or 'Answer') value")
    if "uid" in row:
        return f"uid:{row['uid']}", answer_text(text)
    if "ImageName" in row and isinstance(row.get("Question"), str):
        return f"image:{image_question_key(row['ImageName'], row['Question'])}", answer_text(text)
    raise ValueError(f"{where}: neither 'uid' nor 'ImageName' + 'Question' to match it by")


def _shown(key: str) -> str:
    """A prediction key as the report lists it: the uid, or ``ImageName||Question``."""
    return key.partition(":")[2]


def pair(references_path: str | os.PathLike, predictions_path: str | os.PathLike) -> Pairing:
    """Read both files and pair them (see the module docstring)."""
    pairing = Pairing(items=[])
    references, uids = [], set()
    for number, row in enumerate(read_jsonl(references_path), start=1):
        where = f"{references_path} entry {number}"
        try:
            reference = _reference(row, where)
        except ValueError as error:
            pairing.bad_rows.append(str(error))
            continue
        if reference["uid"] in uids:
            pairing.bad_rows.append(f"{where}: repeats uid {reference['uid']!r} (skipped)")
            continue
        uids.add(reference["uid"])
        references.append(reference)
    if not references:
        raise ValueError(f"{references_path}: no usable reference records")
    predictions: dict[str, str] = {}
    for number, row in enumerate(read_jsonl(predictions_path), start=1):
        try:
            key, text = _prediction(row, f"{predictions_path} entry {number}")
        except ValueError as error:
            pairing.bad_rows.append(str(error))
            continue
        if key in predictions:
            pairing.duplicate_predictions.append(_shown(key))
        else:
            predictions[key] = text
    used = set()
    for ref in references:
        keys = (
            f"uid:{ref['uid']}",
            f"image:{image_question_key(ref['image_names'], ref['question'])}",
        )
        key = next((k for k in keys if k in predictions), None)
        if key is None:
            pairing.references_without_prediction.append(str(ref["uid"]))
        else:
            used.add(key)
        pairing.items.append(
            Item(
                uid=str(ref["uid"]),
                dataset=str(ref["dataset"]),
                task=ref["task"],
                question=ref["question"],
                reference=answer_text(ref["answer"]),
                prediction="" if key is None else predictions[key],
                image_key="|".join(map(str, ref["image_names"])),
            )
        )
    pairing.predictions_without_reference = [_shown(k) for k in predictions if k not in used]
    return pairing
