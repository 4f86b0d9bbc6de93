"""Corner order inside boxes (``x1 <= x2``, ``y1 <= y2``), enforced while decoding.

A regular grammar cannot compare two numbers of up to four digits at a useful size, so the
grammar leaves the order open and :func:`still_ordered` filters the tokens it allows: a
candidate is kept when every box it touches is ordered, or can still be completed in order
(``x2`` still being written can reach ``x1`` within the digits left).
"""

from __future__ import annotations

import re

from medvlm.constrain.grammar import BOX_LENGTH, COORDINATE_DIGITS

_BOX_START = re.compile(r"\[(?=\d)")
_WINDOW = 2 * BOX_LENGTH + 8  # covers a token that closes one box and opens the next


def _reachable(written: str, complete: bool, low: int) -> bool:
    value = int(written)
    if complete or written == "0" or len(written) >= COORDINATE_DIGITS:
        return value >= low
    room = COORDINATE_DIGITS - len(written)
    return value * 10**room + 10**room - 1 >= low


def _box_ordered(tail: str) -> bool:
    """``tail`` starts right after a box's ``[``: ``"12, 5, 3"``, ``"1, 2, 3, 4], [..."``."""
    body, closed, _ = tail.partition("]")
    parts = [part.strip() for part in body.split(",")]
    for low, high in ((0, 2), (1, 3)):
        if high >= len(parts) or not parts[high]:
            continue
        complete = closed != "" or high < len(parts) - 1
        if not _reachable(parts[high], complete, int(parts[low])):
            return False
    return True


def still_ordered(text: str) -> bool:
    """Whether the boxes at the end of a (partial) answer are, or can still be, in order."""
    start = max(0, len(text) - _WINDOW)
    return all(_box_ordered(text[m.end() :]) for m in _BOX_START.finditer(text, start))
