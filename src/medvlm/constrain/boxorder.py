"""Corner order inside boxes (``x1 <= x2``, ``y1 <= y2``), enforced while decoding.

A regular grammar cannot compare two numbers of up to four digits at a useful size, so the
grammar leaves the order open and :func:`still_ordered` filters the tokens it allows: a
candidate is kept when every box it touches is ordered, or can still be completed in order
(``x2`` still being written can reach ``x1`` within the digits left and the frame's largest
coordinate: in the normalised frame ``20`` can still become ``200`` but not ``2000``, so after
``[441, 263, 20`` a ``1`` would leave no way to finish the box).
"""

from __future__ import annotations

import re

from medvlm.constrain.grammar import BOX_LENGTH, COORDINATE_DIGITS, LARGEST
from medvlm.tasks.box_frame import PIXELS

_BOX_START = re.compile(r"\[(?=\d)")
_WINDOW = 2 * BOX_LENGTH + 8  # covers a token that closes one box and opens the next


def _reachable(written: str, complete: bool, low: int, largest: int) -> bool:
    """Whether a coordinate that starts with ``written`` can still be ``>= low`` (and at most
    ``largest``)."""
    value = int(written)
    if complete or written == "0":
        return value >= low
    best = value  # stopping here is allowed
    for extra in range(1, COORDINATE_DIGITS - len(written) + 1):
        smallest = value * 10**extra
        if smallest > largest:
            break
        best = min(smallest + 10**extra - 1, largest)
    return best >= low


def _box_ordered(tail: str, largest: int) -> bool:
    """``tail`` starts right after a box's ``[``: ``"12, 5, 3"``, ``"1, 2, 3, 4], [..."``."""
    body, closed, _ = tail.partition("]")
    parts = [part.strip() for part in body.split(",")]
    for low, high in ((0, 2), (1, 3)):
        if high >= len(parts) or not parts[high]:
            continue
        complete = closed != "" or high < len(parts) - 1
        if not _reachable(parts[high], complete, int(parts[low]), largest):
            return False
    return True


def still_ordered(text: str, frame: str = PIXELS) -> bool:
    """Whether the boxes at the end of a (partial) answer in ``frame`` are, or can still be, in
    order."""
    start = max(0, len(text) - _WINDOW)
    largest = LARGEST[frame]
    return all(_box_ordered(text[m.end() :], largest) for m in _BOX_START.finditer(text, start))
