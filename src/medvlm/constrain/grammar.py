"""The output language of each task type, as an llguidance Lark grammar, for a length budget.

Every language here lies between the task's training targets and its well-formed outputs:
``task_spec(t).target(a, q)`` is in the language of ``(t, q)`` (given budget for its length) and
every string of the language passes ``task_spec(t).is_well_formed(text, q)``, except corner
order inside a box (``x1 <= x2``, ``y1 <= y2``), which no regular language of this size can
express; :mod:`.boxorder` enforces it while decoding.

A grammar is built for a budget of ``units``: one unit per UTF-8 byte of text, one per special
token (PaliGemma's ``<locNNNN>``). No string of ``grammar(budget)`` is longer than ``budget``
units. A token carries at least one unit, so after ``budget`` tokens the output is complete
even without an end-of-sequence token: constrained output is never cut off mid-structure.
Languages grow with the budget (``grammar(n) ⊆ grammar(n + k)``), which lets a decoder
loosen the bound as tokens turn out to carry more than one byte (:mod:`.matchers`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from medvlm.records import TaskType
from medvlm.tasks import task_spec
from medvlm.tasks.box_frame import NORMALIZED, NORMALIZED_MAX, PIXELS, check_frame
from medvlm.tasks.boxes import declares_xywh
from medvlm.tasks.framed_answers import BOX_TASKS
from medvlm.tasks.multi_label import answer_separator
from medvlm.tasks.options import lettered_options, offered_labels

COORDINATE_DIGITS = 4  # pixel coordinates up to 9999, normalised ones up to 1000
BOX_LENGTH = 2 + 4 * COORDINATE_DIGITS + 3 * 2  # "[dddd, dddd, dddd, dddd]"
ID_LENGTH = 4  # instance ids such as "1".."22", "X", "Y"
# A box coordinate in each frame (medvlm.tasks.box_frame): whole pixels, or 0..NORMALIZED_MAX.
NUMBERS = {
    PIXELS: f"/0|[1-9][0-9]{{0,{COORDINATE_DIGITS - 1}}}/",
    NORMALIZED: f"/0|[1-9][0-9]{{0,{len(str(NORMALIZED_MAX)) - 2}}}|{NORMALIZED_MAX}/",
}
LARGEST = {PIXELS: 10**COORDINATE_DIGITS - 1, NORMALIZED: NORMALIZED_MAX}  # of NUMBERS
COUNT = "0|[1-9][0-9]{0,6}"
MEASURE = "-?(0|[1-9][0-9]{0,3})(\\.[0-9]{1,3})?%?"
# Report text: printable ASCII without "<" (chat and special-token markers) or "`" (code
# fences), single spaces, no leading "[" (a JSON list of sentences) or "Answer:" label.
REPORT_CHAR = "[!-;=-_a-~]"
REPORT = f"[!-;=-Z\\\\\\]^_a-~]( ?{REPORT_CHAR})*"
ANSWER_LABEL = "(?i)\\s*(final\\s+)?answer\\s*[:：][\\s\\S]*"
LINE_CHAR = "[^\\s<`]"
_LINE = f"/{LINE_CHAR}( ?{LINE_CHAR})*/ & ~/{ANSWER_LABEL}/"  # a label when none is listed


class BudgetTooSmall(ValueError):
    """No well-formed answer of the task fits in the token budget."""


@dataclass(frozen=True)
class TaskLanguage:
    """The output language of one question: ``grammar(budget)`` gives its Lark text.

    corners: the language writes corner boxes whose order :mod:`.boxorder` must enforce.
    frame: the box frame of detection answers (:mod:`medvlm.tasks.box_frame`).
    """

    task: str
    question: str
    corners: bool = False
    frame: str = PIXELS

    def grammar(self, budget: int) -> str:
        if self.task in BOX_TASKS:
            return _GRAMMARS[self.task](self.question, budget, self.frame)
        return _GRAMMARS[self.task](self.question, budget)


def language(task: str, question: str, frame: str = PIXELS) -> TaskLanguage:
    """The output language of a question of a canonical task type, boxes in ``frame``."""
    task_spec(task)  # a clear error for an unknown task type
    corners = task in BOX_TASKS and not declares_xywh(question)
    return TaskLanguage(task, question, corners, check_frame(frame))


def box_terminals(frame: str) -> str:
    """``BOX``: four coordinates of ``frame`` in a JSON list."""
    return f'BOX: "[" NUM ", " NUM ", " NUM ", " NUM "]"\nNUM: {NUMBERS[frame]}'


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _units(text: str) -> int:
    return len(text.encode("utf-8"))


def _bounded(body: str, budget: int, width: int = 1) -> str:
    """``body`` (regex terminals) cut to ``budget`` bytes, as a length in characters of at most
    ``width`` bytes each (1 for ASCII)."""
    chars = budget // width
    if chars < 1:
        raise BudgetTooSmall(f"a budget of {budget} tokens holds no answer")
    return f"start: ANSWER\nANSWER: ({body}) & /(?s:.{{0,{chars}}})/"


def _choice(options: list[str], budget: int) -> str:
    fitting = [o for o in options if _units(o) <= budget]
    if not fitting:
        raise BudgetTooSmall(f"no answer among {options} fits in {budget} tokens")
    return "start: ANSWER\nANSWER: " + " | ".join(_quote(o) for o in fitting)


def _classification(question: str, budget: int) -> str:
    letters = lettered_options(question)
    if letters:
        return _choice(list(letters), budget)
    spec = task_spec(TaskType.CLASSIFICATION)
    labels = [label for label in offered_labels(question) if spec.is_well_formed(label, question)]
    if labels:
        return _choice(labels, budget)
    return _bounded(_LINE, budget, width=4)


def _multi_label(question: str, budget: int) -> str:
    """Listed labels in the question's order, each at most once, joined by its separator."""
    labels = list(offered_labels(question))
    separator = _quote(answer_separator(question, labels))
    if not labels:  # one label: two free ones might be the same label, which is malformed
        return _bounded(f"/[A-Za-z0-9]+( [A-Za-z0-9]+)*/ & ~/{ANSWER_LABEL}/", budget)
    rules = [f"L{len(labels) - 1}: {_quote(labels[-1])}"]
    for i in range(len(labels) - 2, -1, -1):
        rules.append(f"L{i}: {_quote(labels[i])} ({separator} L{i + 1})? | L{i + 1}")
    if min(_units(label) for label in labels) > budget:
        raise BudgetTooSmall(f"no label of {labels} fits in {budget} tokens")
    width = max(_units(c) for c in "".join(labels))
    return _bounded("L0", budget, width) + "\n" + "\n".join(rules)


def _detection(question: str, budget: int, frame: str) -> str:
    """``[]``, one bare box, or a list of at least two boxes (the target's three shapes)."""
    most = budget // (BOX_LENGTH + 2)
    shapes = ['"[]"']
    if budget >= BOX_LENGTH:
        shapes.append("BOX")
    if most >= 2:
        shapes.append(f'"[" BOX (", " BOX){{1,{most - 1}}} "]"')
    if budget < 2:
        raise BudgetTooSmall(f"a detection answer needs 2 tokens, the budget is {budget}")
    return f"start: ANSWER\nANSWER: {' | '.join(shapes)}\n{box_terminals(frame)}"


def _instance_detection(question: str, budget: int, frame: str) -> str:
    """``{}`` or an object of id -> boxes with at most ``most`` boxes in all.

    ``B{k}`` is a box followed by at most ``k - 1`` more, each either in the same id's list
    (``", "``) or opening the next id (``"], "id": ["``).
    """
    key = f'/"[0-9A-Za-z]{{1,{ID_LENGTH}}}"/'
    opening = 1 + (ID_LENGTH + 2) + 3 + 2  # '{"id": [' and ']}'
    per_box = BOX_LENGTH + 3 + (ID_LENGTH + 2) + 3  # a box after '], "id": ['
    if budget < 2:
        raise BudgetTooSmall(f"an instance answer needs 2 tokens, the budget is {budget}")
    most = (budget - opening - BOX_LENGTH) // per_box + 1 if budget >= opening + BOX_LENGTH else 0
    if most == 0:
        return 'start: ANSWER\nANSWER: "{}"'
    chain = [f"B{k}: BOX (SEP B{k - 1})?" for k in range(most, 1, -1)] + ["B1: BOX"]
    return "\n".join(
        [
            "start: ANSWER",
            f'ANSWER: "{{}}" | "{{" KEY ": [" B{most} "]}}"',
            f"KEY: {key}",
            'SEP: ", " | "], " KEY ": ["',
            *chain,
            box_terminals(frame),
        ]
    )


def _counting(question: str, budget: int) -> str:
    return _bounded(f"/{COUNT}/", budget)


def _regression(question: str, budget: int) -> str:
    return _bounded(f"/{MEASURE}/", budget)


def _report(question: str, budget: int) -> str:
    return _bounded(f"/{REPORT}/ & ~/{ANSWER_LABEL}/", budget)


_GRAMMARS = {
    TaskType.CLASSIFICATION: _classification,
    TaskType.MULTI_LABEL: _multi_label,
    TaskType.DETECTION: _detection,
    TaskType.INSTANCE_DETECTION: _instance_detection,
    TaskType.COUNTING: _counting,
    TaskType.REGRESSION: _regression,
    TaskType.REPORT_GENERATION: _report,
}
