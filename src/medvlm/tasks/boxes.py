"""Bounding boxes: reading them from model output, the two written formats, canonical text.

A structured box is a corner box ``(x1, y1, x2, y2)`` with ``x1 <= x2`` and ``y1 <= y2``.
Written boxes come as

- a bare list of four numbers, read as corners ``[x_min, y_min, x_max, y_max]`` unless the
  question declares ``[x, y, width, height]`` (:func:`declares_xywh`): the question states the
  format its reference answers use, and both sides are read the same way;
- an object with ``x_min/y_min/x_max/y_max`` (also ``xmin``, ``x1``, ``left``/``right``...) keys,
  or with ``x``, ``y``, ``width``, ``height`` (also ``w``, ``h``, ``left``, ``top``) keys.

Corners written in the wrong order are sorted. PaliGemma's ``<locNNNN>`` tokens are not boxes
here (its family converts them first); they are ignored, never misread as numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from medvlm.tasks.scanner import Obj, format_number, key_text, scan
from medvlm.tasks.text import clean_output

Box = tuple[float, float, float, float]

_XYWH_DECLARED = re.compile(r"\bx\s*,\s*y\s*,\s*w(?:idth)?\s*,\s*h(?:eight)?\b", re.IGNORECASE)
_LOCATION_TOKEN = re.compile(r"<(?:loc|seg)\d+>")
_BRACKETED_NUMBER = re.compile(r"[\[{(][^\[{(\]})\d]*\d")  # the last opener before a digit: linear
_BARE_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?!\w|\.\d)")

_CORNER_KEYS = (
    ("x_min", "xmin", "x1", "x0", "left"),
    ("y_min", "ymin", "y1", "y0", "top"),
    ("x_max", "xmax", "x2", "right"),
    ("y_max", "ymax", "y2", "bottom"),
)
_XYWH_KEYS = (
    ("x", "left", "x_min", "xmin", "x1", "x0"),
    ("y", "top", "y_min", "ymin", "y1", "y0"),
    ("width", "w"),
    ("height", "h"),
)
LABEL_KEYS = ("label", "id", "class", "category", "name", "chromosome")


def declares_xywh(question: str) -> bool:
    """Whether the question asks for boxes as ``[x, y, width, height]``."""
    return _XYWH_DECLARED.search(question) is not None


def box_shape(question: str) -> str:
    """How the question's boxes are written, for a prompt's format hint."""
    return "[x, y, width, height]" if declares_xywh(question) else "[x_min, y_min, x_max, y_max]"


@dataclass(frozen=True)
class RawBox:
    """A box as written: its four numbers and whether they are ``x, y, width, height``."""

    numbers: tuple[float, float, float, float]
    xywh: bool

    @property
    def corners(self) -> Box:
        a, b, c, d = self.numbers
        if self.xywh:
            c, d = a + c, b + d
        return (min(a, c), min(b, d), max(a, c), max(b, d))

    def written(self, xywh: bool) -> Box:
        """The four numbers in the given written format, in a well-formed order."""
        if xywh == self.xywh and (not xywh or min(self.numbers[2:]) >= 0):
            return self.numbers if xywh else self.corners
        x1, y1, x2, y2 = self.corners
        return (x1, y1, x2 - x1, y2 - y1) if xywh else (x1, y1, x2, y2)


def make_box(numbers: Iterable[float], xywh: bool) -> RawBox | None:
    """A box from four numbers, or None when any of its forms overflows to infinity."""
    box = RawBox(tuple(numbers), xywh)
    forms = box.numbers + box.corners + box.written(not xywh)
    return box if all(math.isfinite(v) for v in forms) else None


def _pick(table: dict[str, Any], names: tuple[str, ...]) -> float | None:
    return next((table[n] for n in names if isinstance(table.get(n), float)), None)


def box_of(value: Any, lists_are_xywh: bool) -> RawBox | None:
    """``value`` as a box if it is one (a closed list of four numbers, or a box object)."""
    if type(value) is list:
        if len(value) == 4 and all(isinstance(v, float) for v in value):
            return make_box(value, lists_are_xywh)
        return None
    if not isinstance(value, Obj):
        return None
    table = value.lookup()
    for keys, xywh in ((_XYWH_KEYS, True), (_CORNER_KEYS, False)):
        numbers = [_pick(table, names) for names in keys]
        if all(n is not None for n in numbers):
            return make_box(numbers, xywh)
    return None


def boxes_in(value: Any, lists_are_xywh: bool) -> list[RawBox]:
    """Every box inside a scanned value, in order."""
    box = box_of(value, lists_are_xywh)
    if box is not None:
        return [box]
    if isinstance(value, list):
        children = value
    elif isinstance(value, Obj):
        children = [child for _, child in value.items]
    else:
        return []
    return [found for child in children for found in boxes_in(child, lists_are_xywh)]


def label_of(value: Any) -> str | None:
    """The instance label of a labelled box object (``{"label": "3", "bbox": [...]}``)."""
    if not isinstance(value, Obj):
        return None
    table = value.lookup()
    label = next((table[k] for k in LABEL_KEYS if isinstance(table.get(k), (str, float))), None)
    return None if label is None else key_text(label)


def output_text(text: str) -> str:
    """A model output after chat cleanup, with location tokens removed."""
    return _LOCATION_TOKEN.sub(" ", clean_output(text))


def find_boxes(text: str, lists_are_xywh: bool) -> list[RawBox] | None:
    """All boxes in a model output; ``[]`` for an explicit empty list; None when there are none.

    When no bracketed structure holds a number, prose with exactly four numbers is one box.
    """
    prose = output_text(text)
    boxes: list[RawBox] = []
    explicit_empty = False
    for value in scan(prose):  # one structure at a time: none is kept once read
        boxes.extend(boxes_in(value, lists_are_xywh))
        explicit_empty |= type(value) is list and not value
    if boxes:
        return boxes
    if explicit_empty:
        return []
    if _BRACKETED_NUMBER.search(prose):
        return None  # numbers in brackets that make no box (cut off, too deep): not prose
    numbers = _BARE_NUMBER.findall(prose)
    if len(numbers) == 4:
        box = make_box((float(n) for n in numbers), lists_are_xywh)
        return [box] if box is not None else None
    return None


def format_box(numbers: Iterable[float]) -> str:
    return "[" + ", ".join(format_number(v) for v in numbers) + "]"


def _finite(number: int | float) -> bool:
    """A finite float, or an integer a float can hold (a 400-digit one overflows)."""
    try:
        return math.isfinite(number)
    except OverflowError:
        return False


def is_box_json(value: Any, xywh: bool) -> bool:
    """Whether a ``json.loads`` value is a well-formed box in the given written format."""
    if not (isinstance(value, list) and len(value) == 4):
        return False
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return False
    if not all(_finite(v) for v in value):
        return False
    if xywh:
        return value[2] >= 0 and value[3] >= 0
    return value[0] <= value[2] and value[1] <= value[3]
