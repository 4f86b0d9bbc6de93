"""Reading the prediction files the figures draw from, with errors that name file and row."""

from __future__ import annotations

import os
from collections.abc import Collection

from medvlm.io import read_jsonl

PREDICTION_KEYS = ("uid", "dataset", "task", "Question", "answer", "parsed", "well_formed")


def read_predictions(path: str | os.PathLike, tasks: Collection[str]) -> list[dict]:
    """The rows of a predictions file (``medvlm.predictions``) whose task is in ``tasks``.

    Raises ``ValueError`` naming the file when it is missing or empty, when a row lacks a field
    the figures need (naming the row), or when no row has one of ``tasks``.
    """
    try:
        rows = list(read_jsonl(path))
    except FileNotFoundError:
        raise ValueError(f"predictions file {path} does not exist") from None
    if not rows:
        raise ValueError(f"predictions file {path} is empty")
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise ValueError(f"predictions file {path}, row {number}: not a JSON object")
        missing = [key for key in PREDICTION_KEYS if key not in row]
        if missing:
            raise ValueError(f"predictions file {path}, row {number}: no {', '.join(missing)}")
    kept = [row for row in rows if row["task"] in tasks]
    if not kept:
        raise ValueError(f"predictions file {path} has no {' or '.join(sorted(tasks))} rows")
    return kept
