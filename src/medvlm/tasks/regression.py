"""Regression: one measured quantity (bone resorption %, angle of progression).

Structured answer: ``float``, read by :func:`numbers.find_number` (the first number after the
last ``Answer:``, else the first number, a number written with ``%`` first in either part; the
``%`` is dropped, the number not divided by 100).

Target: the number as written in the reference (``20.0``, ``21.67%``), without thousands
separators. Well-formed: a number, optionally negative, optionally followed by ``%``.
"""

from __future__ import annotations

import re

from medvlm.records import REGRESSION
from medvlm.tasks.numbers import find_number

_WELL_FORMED = re.compile(r"-?\d+(?:\.\d+)?%?")


class Regression:
    name = REGRESSION

    def prompt(self, question: str) -> str:
        return f"{question.strip()} Answer with a number."

    def target(self, answer: str, question: str) -> str:
        found = find_number(answer, prefer_percent=True) if isinstance(answer, str) else None
        if found is None:
            raise ValueError(f"regression answer {answer!r} holds no number")
        return found.text

    def parse(self, text: str, question: str) -> float | None:
        found = find_number(text, prefer_percent=True) if isinstance(text, str) else None
        return None if found is None else found.value

    def is_well_formed(self, text: str, question: str) -> bool:
        return isinstance(text, str) and _WELL_FORMED.fullmatch(text) is not None
