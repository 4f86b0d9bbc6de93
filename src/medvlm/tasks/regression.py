"""Regression: one measured quantity (bone resorption %, angle of progression).

Structured answer: ``float``, read by :func:`numbers.find_number` (the first number after the
last ``Answer:``, else the first number, a number written with ``%`` first in either part; the
``%`` is dropped, the number not divided by 100).

Target: the number as written in the reference (``20.0``, ``21.67%``), without thousands
separators. Well-formed: a number, optionally negative, optionally followed by ``%``.
"""

from __future__ import annotations

import re

from medvlm.records import TaskType
from medvlm.tasks.numbers import NumberTask


class Regression(NumberTask):
    name = TaskType.REGRESSION
    prefer_percent = True
    well_formed = re.compile(r"-?\d+(?:\.\d+)?%?")
