"""The predictions file every family writes and the scorer reads: one JSON line per question.

Each row keeps the raw model output next to the answer parsed by the task's own parser, so a
scorer (ours or a public evaluator's) can always go back to the raw text.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from medvlm.io import write_jsonl
from medvlm.records import Record
from medvlm.tasks import task_spec


def jsonable(value: Any) -> Any:
    """A structured answer as JSON: sets become sorted lists, tuples lists."""
    if isinstance(value, (set, frozenset)):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def prediction_row(record: Record, raw: str) -> dict:
    spec = task_spec(record.task)
    return {
        "uid": record.uid,
        "dataset": record.dataset,
        "task": record.task,
        "ImageName": record.image_names,
        "Question": record.question,
        "answer": record.answer,
        "prediction": raw,
        "parsed": jsonable(spec.parse(raw, record.question)),
        "well_formed": spec.is_well_formed(raw, record.question),
    }


def write_predictions(records: Iterable[Record], raw_texts: Iterable[str], out_path: Path) -> int:
    """Write the predictions file atomically; ``raw_texts`` pairs up with ``records``."""
    records, raw_texts = list(records), list(raw_texts)
    if len(records) != len(raw_texts):
        raise ValueError(f"{len(records)} records but {len(raw_texts)} model outputs")
    return write_jsonl(
        out_path, (prediction_row(r, t) for r, t in zip(records, raw_texts, strict=True))
    )
