"""The seven task types: prompt, training target, output parser and format check for each.

The trainer, the predictor and the scorer all go through :func:`task_spec`; there is no second
parser in the project. Each module documents its structured answer. Reference answers are read
by the same ``parse`` as model output (a reference is just well-formed text), and
``parse(target(a, q), q) == parse(a, q)`` for every reference ``a`` that ``target`` accepts.
"""

from __future__ import annotations

from typing import Any, Protocol

from medvlm.records import TASK_TYPES
from medvlm.tasks.classification import Classification
from medvlm.tasks.counting import Counting
from medvlm.tasks.detection import Detection
from medvlm.tasks.instance_detection import InstanceDetection
from medvlm.tasks.multi_label import MultiLabel
from medvlm.tasks.regression import Regression
from medvlm.tasks.report_generation import ReportGeneration


class TaskSpec(Protocol):
    name: str  # canonical task type (medvlm.records.TASK_TYPES)

    def prompt(self, question: str) -> str:
        """The text given to the model: the question plus, for most tasks, a short format hint."""

    def target(self, answer: str, question: str) -> str:
        """The canonical training target for a reference answer; ValueError if it is unreadable."""

    def parse(self, text: str, question: str) -> Any | None:
        """The structured answer in ``text``, or None when there is none; never raises."""

    def is_well_formed(self, text: str, question: str) -> bool:
        """Whether ``text`` is exactly in the canonical target format; never raises."""


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        Classification(),
        MultiLabel(),
        Detection(),
        InstanceDetection(),
        Counting(),
        Regression(),
        ReportGeneration(),
    )
}


def task_spec(name: str) -> TaskSpec:
    """The spec of a canonical task type (normalise raw spellings with ``normalise_task_type``)."""
    try:
        return TASKS[name]
    except KeyError:
        known = ", ".join(TASK_TYPES)
        raise KeyError(f"unknown task type {name!r}; the canonical ones are: {known}") from None
