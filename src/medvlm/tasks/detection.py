"""Detection: the bounding box (or boxes) of the object a question names.

Structured answer: ``list[tuple[float, float, float, float]]`` of corner boxes
``(x1, y1, x2, y2)`` with ``x1 <= x2`` and ``y1 <= y2``, in the order written; ``[]`` for an
explicit empty list. Boxes are read from JSON or prose, lists or box objects, as described in
:mod:`boxes`; ``[x, y, width, height]`` lists are converted when the question declares them.

Target: compact JSON in the question's box format, ``[x1, y1, x2, y2]`` for one box and a list
of such lists for several (``[]`` for none). Well-formed: exactly one such JSON value, every
box four finite numbers in order (``x1 <= x2``, ``y1 <= y2``; or non-negative width and height).
"""

from __future__ import annotations

from medvlm.records import TaskType
from medvlm.tasks.box_frame import PIXELS, units
from medvlm.tasks.boxes import (
    Box,
    box_shape,
    declares_xywh,
    find_boxes,
    format_box,
    is_box_json,
)
from medvlm.tasks.text import load_json


class Detection:
    name = TaskType.DETECTION

    def prompt(self, question: str, frame: str = PIXELS) -> str:
        shape = box_shape(question)
        return f"{question.strip()} Answer with the bounding box as {shape} {units(frame)}."

    def target(self, answer: str, question: str) -> str:
        xywh = declares_xywh(question)
        boxes = find_boxes(answer, xywh) if isinstance(answer, str) else None
        if boxes is None:
            raise ValueError(f"detection answer {answer!r} holds no bounding box")
        written = [format_box(box.written(xywh)) for box in boxes]
        return written[0] if len(written) == 1 else "[" + ", ".join(written) + "]"

    def parse(self, text: str, question: str) -> list[Box] | None:
        if not isinstance(text, str):
            return None
        boxes = find_boxes(text, declares_xywh(question))
        return None if boxes is None else [box.corners for box in boxes]

    def is_well_formed(self, text: str, question: str) -> bool:
        if not isinstance(text, str):
            return False
        value = load_json(text)
        xywh = declares_xywh(question)
        if is_box_json(value, xywh):
            return True
        return isinstance(value, list) and all(is_box_json(box, xywh) for box in value)
