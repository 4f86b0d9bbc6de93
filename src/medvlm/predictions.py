"""The predictions file every family writes and the scorer reads: one JSON line per question.

Each row keeps the raw model output next to the answer parsed by the task's own parser, so a
scorer (ours or a public evaluator's) can always go back to the raw text.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from medvlm.io import write_jsonl
from medvlm.records import Record
from medvlm.tasks import task_spec
from medvlm.tasks.text import cut_answer

log = logging.getLogger(__name__)


def jsonable(value: Any) -> Any:
    """A structured answer as JSON: sets become sorted lists, tuples lists."""
    if isinstance(value, (set, frozenset)):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def prediction_row(record: Record, text: str, raw: str | None = None) -> dict:
    """One row: ``text`` is what the task parser reads; ``raw`` the model's own output where a
    family converted it first (PaliGemma's location tokens), kept so nothing is lost."""
    spec = task_spec(record.task)
    read, cut = cut_answer(text)  # parsers read at most MAX_ANSWER_CHARS; the row keeps all
    row = {
        "uid": record.uid,
        "dataset": record.dataset,
        "task": record.task,
        "ImageName": record.image_names,
        "Question": record.question,
        "answer": record.answer,
        "prediction": text,
        "parsed": jsonable(spec.parse(read, record.question)),
        "well_formed": not cut and spec.is_well_formed(read, record.question),
    }
    if raw is not None and raw != text:
        row["raw_prediction"] = raw
    return row


def write_predictions(
    records: Iterable[Record],
    answers: Mapping[str, str],
    out_path: Path,
    raw: Mapping[str, str] | None = None,
) -> int:
    """Write a row for EVERY record, atomically: ``answers`` maps uid → model output; a record
    with no answer (its image could not be decoded) gets an empty one, which scores as
    unparsable, and is counted in the log. ``raw`` optionally maps uid → unconverted output."""
    records = list(records)
    unanswered = [r.uid for r in records if r.uid not in answers]
    if unanswered:
        log.warning(
            "%d questions have no answer (no usable image) and get an empty one, e.g. %s",
            len(unanswered),
            unanswered[0],
        )
    raw = raw or {}
    rows = (prediction_row(r, answers.get(r.uid, ""), raw.get(r.uid)) for r in records)
    return write_jsonl(out_path, rows)
