"""Counting: how many objects (cells, chromosomes) an image shows.

Structured answer: ``float``, read by :func:`numbers.find_number` (the first number after the
last ``Answer:``, else the first number; ``1,234`` reads 1234).

Target: the number as written in the reference, without thousands separators. Well-formed: a
non-negative number and nothing else (``24``, ``24.0``).
"""

from __future__ import annotations

import re

from medvlm.records import TaskType
from medvlm.tasks.numbers import NumberTask


class Counting(NumberTask):
    name = TaskType.COUNTING
    prefer_percent = False
    well_formed = re.compile(r"\d+(?:\.\d+)?")
