"""Reading one number out of model output (counting and regression share it).

Accepted: signs (``-``, ``+``, the Unicode minus), decimals, thousands separators (``1,234``: a
comma followed by exactly three digits), a trailing ``%`` (the number is kept as written, not
divided by 100), and words around the number. A ``-`` directly after a letter or digit is a
hyphen (``COVID-19`` reads 19), and digits glued to letters (``T2``, ``3rd``) are not numbers.

Which number, when there are several: the first number after the last ``Answer:`` when the text
has one, else the first number in the text. With ``prefer_percent`` (regression: percentages
such as ABR% are asked about teeth that have numbers too) the first number written with ``%``
wins over the rule's first number, within the same part of the text.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from medvlm.tasks.text import after_answer_marker, clean_output

_NUMBER = re.compile(
    r"(?:(?<![\w.])(?P<sign>[-+−]))?(?<![\w.,])"
    r"(?P<whole>\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?P<fraction>\.\d+)?(?![\w])(?P<percent>\s*%)?"
)


@dataclass(frozen=True)
class Number:
    value: float
    text: str  # canonical: "-" for any minus, no "+", no thousands separators, "%" kept


def _number(match: re.Match) -> Number | None:
    sign = "-" if match.group("sign") in ("-", "−") else ""
    digits = match.group("whole").replace(",", "") + (match.group("fraction") or "")
    value = float(sign + digits)
    if not math.isfinite(value):
        return None
    return Number(value, sign + digits + ("%" if match.group("percent") else ""))


def first_number(text: str, prefer_percent: bool = False) -> Number | None:
    """The first finite number in ``text``; with ``prefer_percent``, the first one with ``%``
    when there is one (no answer-marker logic; see :func:`find_number`). Reads the numbers one
    at a time and keeps only the first, so a text of a million numbers holds no list of them."""
    first = None
    for match in _NUMBER.finditer(text):
        if first is not None and not match.group("percent"):
            continue
        number = _number(match)
        if number is not None and (not prefer_percent or number.text.endswith("%")):
            return number
        first = first or number
    return first


def find_number(text: str, prefer_percent: bool = False) -> Number | None:
    """The number a model output answers with (rule in the module docstring); None if none."""
    cleaned = clean_output(text)
    answer = after_answer_marker(cleaned)
    found = first_number(answer, prefer_percent) if answer else None
    return found if found is not None else first_number(cleaned, prefer_percent)


class NumberTask:
    """A task answered with one number (counting, regression): everything but the name, whether
    a number written with ``%`` wins, and the well-formed pattern is shared."""

    name: str
    prefer_percent: bool
    well_formed: re.Pattern

    def prompt(self, question: str) -> str:
        return f"{question.strip()} Answer with a number."

    def target(self, answer: str, question: str) -> str:
        found = find_number(answer, self.prefer_percent) if isinstance(answer, str) else None
        if found is None:
            raise ValueError(f"{self.name} answer {answer!r} holds no number")
        return found.text

    def parse(self, text: str, question: str) -> float | None:
        found = find_number(text, self.prefer_percent) if isinstance(text, str) else None
        return None if found is None else found.value

    def is_well_formed(self, text: str, question: str) -> bool:
        return isinstance(text, str) and self.well_formed.fullmatch(text) is not None
