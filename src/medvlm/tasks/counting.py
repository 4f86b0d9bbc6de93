"""Counting: how many objects (cells, chromosomes) an image shows.

Structured answer: ``float``, read by :func:`numbers.find_number` (the first number after the
last ``Answer:``, else the first number; ``1,234`` reads 1234).

Target: the number as written in the reference, without thousands separators. Well-formed: a
non-negative number and nothing else (``24``, ``24.0``).
"""

from __future__ import annotations

import re

from medvlm.records import COUNTING
from medvlm.tasks.numbers import find_number

_WELL_FORMED = re.compile(r"\d+(?:\.\d+)?")


class Counting:
    name = COUNTING

    def prompt(self, question: str) -> str:
        return f"{question.strip()} Answer with a number."

    def target(self, answer: str, question: str) -> str:
        found = find_number(answer) if isinstance(answer, str) else None
        if found is None:
            raise ValueError(f"counting answer {answer!r} holds no number")
        return found.text

    def parse(self, text: str, question: str) -> float | None:
        found = find_number(text) if isinstance(text, str) else None
        return None if found is None else found.value

    def is_well_formed(self, text: str, question: str) -> bool:
        return isinstance(text, str) and _WELL_FORMED.fullmatch(text) is not None
