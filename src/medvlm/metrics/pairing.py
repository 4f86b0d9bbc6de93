"""Pair predictions with their reference questions into :class:`Item` rows. No image is read.

References (:func:`read_references`) are records JSONL (``medvlm.records.Record`` fields; scoring
needs ``uid, dataset, task, question, answer, image_names``), one FLARE questions file (``.json``),
or a folder of a FLARE tree (a tree root means its ``validation-public/``). Questions of the
unlabelled folders that carry no answer are no references.

Predictions (:func:`read_prediction_rows`) are a FLARE ``predictions.json`` (one JSON list of
question entries with ``Answer`` filled in, as the challenge takes them), or JSONL rows: our
predictor's (``uid`` + ``prediction``, the raw model output) or rows made elsewhere (``ImageName``
+ ``Question`` + ``prediction`` or ``Answer``). An ``Answer`` is a submitted answer, already
post-processed by whoever made it; a ``prediction`` is raw model output (see ``Item.submitted``).

A row pairs with the reference of its ``uid``; a row without one (or whose uid is not among the
references) pairs by ``ImageName`` + ``Question`` (a list of image names joined with ``|``). When
several references share that key, they take the rows with the key in input order, and the key is
reported as ambiguous. Nothing is dropped silently: a reference without a prediction is scored as
an empty answer and listed; a row that pairs with no reference, and a row that cannot be read, are
listed. A file that is neither a JSON list nor JSONL, a repeated uid, more rows for a key than
questions with it, and rows of which none matches a reference (predictions for another split,
say) raise ``ValueError`` naming the file.

Answers longer than ``medvlm.tasks.text.MAX_ANSWER_CHARS`` (predictions and references) are cut
to it before any parser reads them, and listed (``cut_report``: the score file's
``cut_answers``). A JSONL line that cannot be read at all (not JSON, not UTF-8, nested too
deeply...) stops the pairing with an error naming the file and the line.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from medvlm.data.flare import UNLABELLED_FOLDERS, read_questions
from medvlm.io import JSONError, parse_json, read_jsonl
from medvlm.metrics.items import Item
from medvlm.records import UnknownTaskType, answer_text, normalise_task_type
from medvlm.tasks.text import MAX_ANSWER_CHARS, cut_answer

REFERENCE_FIELDS = ("uid", "dataset", "task", "question", "answer", "image_names")


class Reference(NamedTuple):
    uid: str
    dataset: str
    task: str
    question: str
    answer: str
    image_names: list[str]


class Row(NamedTuple):
    """One prediction row: where it is, its keys, its text, and whether it is a submitted
    ``Answer`` (True) or raw model output (False)."""

    where: str
    uid: str | None
    key: str | None
    text: str
    submitted: bool

    @property
    def shown(self) -> str:
        return self.uid if self.uid is not None else str(self.key)


def image_question_key(image_names: Any, question: str) -> str:
    names = image_names if isinstance(image_names, list) else [image_names]
    return f"{'|'.join(str(n).strip() for n in names)}||{question.strip()}"


@dataclass
class Pairing:
    items: list[Item]
    references_without_prediction: list[str] = field(default_factory=list)
    predictions_without_reference: list[str] = field(default_factory=list)
    ambiguous_keys: list[str] = field(default_factory=list)
    bad_rows: list[str] = field(default_factory=list)
    bad_references: list[str] = field(default_factory=list)
    cut_predictions: list[str] = field(default_factory=list)  # uids
    cut_references: list[str] = field(default_factory=list)  # uids

    def missing_report(self) -> dict[str, Any]:
        """The score file's ``missing`` section: counts, then the lists."""
        lists = {
            "references_without_prediction": self.references_without_prediction,
            "predictions_without_reference": self.predictions_without_reference,
            "ambiguous_keys": self.ambiguous_keys,
            "bad_rows": self.bad_rows,
            "bad_references": self.bad_references,
        }
        return {**{f"n_{name}": len(v) for name, v in lists.items()}, **lists}

    def cut_report(self) -> dict[str, Any]:
        """The score file's ``cut_answers`` section: the cap, then counts and uids."""
        return {
            "max_chars": MAX_ANSWER_CHARS,
            "n_predictions": len(self.cut_predictions),
            "n_references": len(self.cut_references),
            "predictions": self.cut_predictions,
            "references": self.cut_references,
        }


def _record_reference(row: Any, where: str) -> Reference:
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
    return Reference(
        str(row["uid"]),
        str(row["dataset"]),
        task,
        row["question"],
        answer_text(row["answer"]),
        names if isinstance(names, list) else [names],
    )


def _records_jsonl(path: Path) -> tuple[list[Reference], list[str]]:
    references, bad = [], []
    for number, row in enumerate(read_jsonl(path), start=1):
        try:
            references.append(_record_reference(row, f"{path} entry {number}"))
        except ValueError as error:
            bad.append(str(error))
    return references, bad


def _questions(path: Path) -> tuple[list[Reference], list[str]]:
    records, problems = read_questions(path, images=False)
    bad = [f"{p.file} entry {p.entry}: {p.reason}" for p in problems if p.action == "skipped"]
    references = []
    for r in records:
        if r.split_folder in UNLABELLED_FOLDERS and not r.answer:
            bad.append(f"{r.source_file} entry {r.entry_index}: no answer (unlabelled folder)")
        else:
            references.append(
                Reference(r.uid, r.dataset, r.task, r.question, r.answer, r.image_names)
            )
    return references, bad


def read_references(path: str | os.PathLike) -> tuple[list[Reference], list[str]]:
    """The usable references at ``path`` and a line for each unusable one (see the module
    docstring). Raises naming the path when nothing usable is there or a uid repeats."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"references {path} do not exist")
    if path.is_dir() or path.suffix == ".json":
        references, bad = _questions(path)
    else:
        references, bad = _records_jsonl(path)
    if not references:
        raise ValueError(f"{path}: no usable reference questions (with answers)")
    seen: set[str] = set()
    for reference in references:
        if reference.uid in seen:
            raise ValueError(f"{path}: uid {reference.uid!r} appears twice")
        seen.add(reference.uid)
    return references, bad


def read_prediction_rows(path: str | os.PathLike) -> list[tuple[str, Any]]:
    """``(where, row)`` for every row of a FLARE JSON list or a JSONL file, in file order."""
    try:
        whole = parse_json(Path(path).read_bytes())
    except JSONError:
        whole = None
    if isinstance(whole, list):
        return [(f"{path} entry {i}", row) for i, row in enumerate(whole)]
    try:
        rows = list(read_jsonl(path))
    except ValueError as error:
        raise ValueError(f"not a JSON list or JSONL: {error}") from None
    if not rows:
        raise ValueError(f"{path}: holds no prediction rows")
    return [(f"{path} entry {number}", row) for number, row in enumerate(rows, start=1)]


def _row(where: str, row: Any) -> Row:
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(row).__name__}")
    submitted = row.get("prediction") is None
    text = row.get("Answer") if submitted else row["prediction"]
    if text is None:
        raise ValueError(f"{where}: no 'prediction' (or 'Answer') value")
    uid = str(row["uid"]) if row.get("uid") is not None else None
    key = None
    if "ImageName" in row and isinstance(row.get("Question"), str):
        key = image_question_key(row["ImageName"], row["Question"])
    if uid is None and key is None:
        raise ValueError(f"{where}: neither 'uid' nor 'ImageName' + 'Question' to match it by")
    return Row(where, uid, key, answer_text(text), submitted)


def _read_rows(path, bad_rows: list[str]) -> list[Row]:
    rows, uids = [], {}
    for where, raw in read_prediction_rows(path):
        try:
            row = _row(where, raw)
        except ValueError as error:
            bad_rows.append(str(error))
            continue
        if row.uid is not None:
            if row.uid in uids:
                raise ValueError(f"{path}: uid {row.uid!r} at {uids[row.uid]} and at {where}")
            uids[row.uid] = where
        rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no readable prediction row ({bad_rows[0]})")
    return rows


def pair(references_path: str | os.PathLike, predictions_path: str | os.PathLike) -> Pairing:
    """Read both sides and pair them (see the module docstring)."""
    references, bad_references = read_references(references_path)
    pairing = Pairing(items=[], bad_references=bad_references)
    rows = _read_rows(predictions_path, pairing.bad_rows)

    by_uid = {reference.uid: position for position, reference in enumerate(references)}
    matched: list[Row | None] = [None] * len(references)
    by_key: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if row.uid in by_uid:
            matched[by_uid[row.uid]] = row
        elif row.key is not None:
            by_key[row.key].append(row)
        else:
            pairing.predictions_without_reference.append(row.shown)

    keys = [image_question_key(r.image_names, r.question) for r in references]
    waiting: dict[str, list[int]] = defaultdict(list)  # key -> references still without a row
    sharing: dict[str, int] = defaultdict(int)
    for position, key in enumerate(keys):
        sharing[key] += 1
        if matched[position] is None:
            waiting[key].append(position)
    pairing.ambiguous_keys = [key for key, n in sharing.items() if n > 1]
    for key, key_rows in by_key.items():
        if key not in sharing:
            pairing.predictions_without_reference.extend(row.shown for row in key_rows)
            continue
        if len(key_rows) > len(waiting[key]):
            raise ValueError(
                f"{predictions_path}: {len(key_rows)} rows (first at {key_rows[0].where}) for "
                f"ImageName + Question {key!r}, which {sharing[key]} question(s) have and "
                f"{len(waiting[key])} still need; remove the duplicates"
            )
        for position, row in zip(waiting[key], key_rows, strict=False):
            matched[position] = row
    if rows and not any(matched):
        raise ValueError(
            f"{predictions_path}: none of its {len(rows)} row(s) matches a question of "
            f"{references_path} by uid or by ImageName + Question: predictions for other questions?"
        )

    for reference, row in zip(references, matched, strict=True):
        if row is None:
            pairing.references_without_prediction.append(reference.uid)
        prediction, cut = cut_answer("" if row is None else row.text)
        if cut:
            pairing.cut_predictions.append(reference.uid)
        answer, cut = cut_answer(reference.answer)
        if cut:
            pairing.cut_references.append(reference.uid)
        pairing.items.append(
            Item(
                uid=reference.uid,
                dataset=reference.dataset,
                task=reference.task,
                question=reference.question,
                reference=answer,
                prediction=prediction,
                image_key="|".join(map(str, reference.image_names)),
                submitted=True if row is None else row.submitted,
            )
        )
    return pairing
