"""Reading the prediction files the figures draw from, with errors that name file and row."""

from __future__ import annotations

import os
from collections.abc import Collection

from medvlm.io import read_jsonl

PREDICTION_KEYS = ("uid", "dataset", "task", "Question", "answer", "parsed", "well_formed")


def read_predictions(path: str | os.PathLike, tasks: Collection[str]) -> list[dict]:
    """The rows of a predictions file (``medvlm.predictions``) whose task is in ``tasks``; none
    when the split holds no question of those tasks (a ``data.datasets`` filter can leave out
    every detection data set, say).

    Raises ``ValueError`` naming the file when it is missing or empty, or when a row lacks a
    field the figures need (naming the row).
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
    return [row for row in rows if row["task"] in tasks]
