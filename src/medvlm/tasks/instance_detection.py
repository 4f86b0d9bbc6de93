"""Instance detection: boxes grouped by instance id (chromosome: ``{"1": [[...], ...], ...}``).

Structured answer: ``dict[str, list[tuple[float, float, float, float]]]``: instance id -> its
corner boxes ``(x1, y1, x2, y2)`` (``x1 <= x2``, ``y1 <= y2``) in the order written; ``{}`` for
an explicit empty object. Ids are text (``1`` and ``"1"`` are the same id); an id that repeats
collects the boxes of every occurrence; an id without a complete box is left out.

Reading uses the tolerant scanner (:mod:`scanner`): single quotes, unquoted keys, tuples, text
before and after, and output cut off at the token limit, keeping every complete box, so
``{"1": [[1,2,3,4]], "2": [[5,6,7`` reads ``{"1": [(1, 2, 3, 4)]}``. The first structure that
holds boxes is the answer: an object keyed by id, or a list of labelled box objects
(``[{"label": "1", "bbox": [...]}, ...]``). Box formats as in :mod:`boxes`.

Target: compact JSON, ids sorted (numerically where they are numbers), boxes in the question's
box format. Well-formed: exactly one JSON object of id -> list of well-formed boxes.
"""

from __future__ import annotations

import json
import math
from typing import Any

from medvlm.records import TaskType
from medvlm.tasks.box_frame import PIXELS, units
from medvlm.tasks.boxes import (
    Box,
    RawBox,
    box_of,
    box_shape,
    boxes_in,
    declares_xywh,
    format_box,
    is_box_json,
    label_of,
    output_text,
)
from medvlm.tasks.scanner import Obj, scan
from medvlm.tasks.text import load_json


def _entries(value: Any, xywh: bool) -> list[tuple[str, list[RawBox]]]:
    """(id, boxes) pairs of one scanned structure."""
    label = label_of(value)
    if label is not None:
        return [(label, boxes_in(value, xywh))]
    if isinstance(value, list):
        return [entry for item in value if label_of(item) for entry in _entries(item, xywh)]
    if isinstance(value, Obj) and box_of(value, xywh) is None:
        return [(key, boxes) for key, item in value.items if (boxes := boxes_in(item, xywh))]
    return []


def find_instances(text: str, xywh: bool) -> dict[str, list[RawBox]] | None:
    """The instances of a model output (rules in the module docstring); None if none."""
    explicit_empty = False
    for value in scan(output_text(text)):
        found: dict[str, list[RawBox]] = {}
        for key, boxes in _entries(value, xywh):
            if boxes:
                found.setdefault(key, []).extend(boxes)
        if found:
            return found
        explicit_empty |= isinstance(value, Obj) and value.closed and not value.items
    return {} if explicit_empty else None


def _id_order(key: str) -> tuple[int, float, str]:
    try:
        number = float(key)
    except ValueError:
        return (1, 0.0, key)
    return (0, number, key) if math.isfinite(number) else (1, 0.0, key)


class InstanceDetection:
    name = TaskType.INSTANCE_DETECTION

    def prompt(self, question: str, frame: str = PIXELS) -> str:
        shape = box_shape(question)
        return (
            f"{question.strip()} Answer with a JSON object mapping each id to its list of "
            f"{shape} boxes {units(frame)}."
        )

    def target(self, answer: str, question: str) -> str:
        xywh = declares_xywh(question)
        found = find_instances(answer, xywh) if isinstance(answer, str) else None
        if found is None:
            raise ValueError(f"instance detection answer {answer!r} holds no id with boxes")
        entries = []
        for key in sorted(found, key=_id_order):
            boxes = ", ".join(format_box(box.written(xywh)) for box in found[key])
            entries.append(f"{json.dumps(key, ensure_ascii=False)}: [{boxes}]")
        return "{" + ", ".join(entries) + "}"

    def parse(self, text: str, question: str) -> dict[str, list[Box]] | None:
        if not isinstance(text, str):
            return None
        found = find_instances(text, declares_xywh(question))
        if found is None:
            return None
        return {key: [box.corners for box in boxes] for key, boxes in found.items()}

    def is_well_formed(self, text: str, question: str) -> bool:
        if not isinstance(text, str):
            return False
        value = load_json(text)
        xywh = declares_xywh(question)
        return isinstance(value, dict) and all(
            isinstance(boxes, list) and all(is_box_json(box, xywh) for box in boxes)
            for boxes in value.values()
        )
