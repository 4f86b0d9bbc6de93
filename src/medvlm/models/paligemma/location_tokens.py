"""PaliGemma's native box syntax: ``<locYMIN><locXMIN><locYMAX><locXMAX> label`` (see
docs/paligemma.md), objects joined by ``" ; "``.

A location is ``round(coord / size * 1023)`` in the resized (square) image frame. The shard
image is the original stretched to ``S x S``, so a pixel ``x`` of an original ``w`` pixels wide
sits at ``x * S / w`` and its location is ``round(x / w * 1023)``: only the original size
matters, read from the image file's header (no pixels decoded).

Detection objects are labelled :data:`DETECTION_LABEL`; instance-detection objects with their
id, in the order ``train.instance_order`` names: ``"id"`` (the reference's order: by id, boxes of
one id as written) or ``"reading"`` (top edge, then left edge, whatever the ids): with reading
order the next object is the next one a scan of the image meets, not the one with the next id,
which a model can only find after comparing the colours of every object.

Decoding goes back to pixel corner boxes in the original frame, written as the task's own
target text, which the task parser then reads like any other answer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from medvlm.records import Record, TaskType
from medvlm.tasks import task_spec
from medvlm.tasks.box_frame import Size
from medvlm.tasks.boxes import Box
from medvlm.tasks.framed_answers import BOX_TASKS, record_size, written_answer

LOC_TASKS = BOX_TASKS
NUM_LOC = 1024
DETECTION_LABEL = "object"
SEPARATOR = " ; "
_OBJECT = re.compile(r"((?:<loc\d{4}>){4}) ([0-9A-Za-z]+)")
_LOC = re.compile(r"<loc(\d{4})>")

log = logging.getLogger(__name__)


def _loc(value: float, extent: int) -> int:
    return min(NUM_LOC - 1, max(0, round(value / extent * (NUM_LOC - 1))))


def box_tokens(box: Box, size: Size) -> str:
    """A corner box in pixels of the original image as four location tokens (y, x order)."""
    x1, y1, x2, y2 = box
    width, height = size
    locs = (_loc(y1, height), _loc(x1, width), _loc(y2, height), _loc(x2, width))
    return "".join(f"<loc{v:04d}>" for v in locs)


def tokens_box(tokens: str, size: Size) -> Box:
    """Four location tokens back to an integer corner box in pixels of the original image."""
    y1, x1, y2, x2 = (int(v) for v in _LOC.findall(tokens))
    width, height = size
    xs = sorted(round(v / (NUM_LOC - 1) * width) for v in (x1, x2))
    ys = sorted(round(v / (NUM_LOC - 1) * height) for v in (y1, y2))
    return (xs[0], ys[0], xs[1], ys[1])


def location_target(
    task: str, answer: str, question: str, size: Size, instance_order: str = "id"
) -> str:
    """The training target of a detection or instance-detection answer in location tokens,
    instances in ``instance_order`` (module docstring)."""
    parsed = task_spec(task).parse(task_spec(task).target(answer, question), question)
    if task == TaskType.DETECTION:
        objects = [(box, DETECTION_LABEL) for box in parsed]
    else:
        objects = [(box, key) for key, boxes in parsed.items() for box in boxes]
        if instance_order == "reading":
            objects.sort(key=lambda labelled: (labelled[0][1], labelled[0][0]))
    return SEPARATOR.join(f"{box_tokens(box, size)} {label}" for box, label in objects)


def decode_locations(task: str, text: str, question: str, size: Size) -> str | None:
    """The task's target text for a location-token answer; None unless ``text`` is exactly
    objects in that syntax (or empty: no object)."""
    objects = text.split(SEPARATOR) if text else []
    matches = [_OBJECT.fullmatch(obj) for obj in objects]
    if not all(matches):
        return None
    found = [(tokens_box(m.group(1), size), m.group(2)) for m in matches]
    if task == TaskType.DETECTION:
        return written_answer(task, [box for box, _ in found], question)
    grouped: dict[str, list[Box]] = {}
    for box, key in found:
        grouped.setdefault(key, []).append(box)
    return written_answer(task, grouped, question)


def answers_from_locations(records: Sequence[Record], texts: Sequence[str]) -> list[str]:
    """Model outputs with location-token answers turned into task text (others unchanged; an
    output that is not in location syntax stays as it is and counts as malformed)."""
    answers = []
    for record, text in zip(records, texts, strict=True):
        decoded = None
        if record.task in LOC_TASKS:
            try:
                decoded = decode_locations(record.task, text, record.question, record_size(record))
            except ValueError as error:
                log.warning("%s: location tokens left as they are (%s)", record.uid, error)
        answers.append(text if decoded is None else decoded)
    return answers
