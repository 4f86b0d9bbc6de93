"""PaliGemma's native box syntax: ``<locYMIN><locXMIN><locYMAX><locXMAX> label`` (see
docs/paligemma.md), objects joined by ``" ; "``.

A location is ``round(coord / size * 1023)`` in the resized (square) image frame. The shard
image is the original stretched to ``S x S``, so a pixel ``x`` of an original ``w`` pixels wide
sits at ``x * S / w`` and its location is ``round(x / w * 1023)``: only the original size
matters, read from the image file's header (no pixels decoded).

Detection objects are labelled :data:`DETECTION_LABEL`; instance-detection objects with their
id, in the order ``train.instance_order`` names (:data:`INSTANCE_ORDERS`):

- ``"id"``: the reference's order, by id, boxes of one id as written;
- ``"reading"``: top edge, then left edge, whatever the ids: the next object is the next one a
  scan of the image meets, not the one with the next id;
- ``"id_first"``: by id, boxes of one id in reading order, and each object written id first
  (``3 <loc..>x4``). The model then names the id before it places the box, so the box is
  conditioned on the id it has just written, as a per-id detection question would be; written
  box first, the box has to be placed before the model has said whose it is.

Decoding reads either way of writing an object, whatever the run trained.

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
INSTANCE_ORDERS = ("id", "reading", "id_first")
_OBJECT = re.compile(r"((?:<loc\d{4}>){4}) ([0-9A-Za-z]+)")
_ID_FIRST_OBJECT = re.compile(r"([0-9A-Za-z]+) ((?:<loc\d{4}>){4})")
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
        ranks = {key: rank for rank, key in enumerate(parsed)}
        if instance_order == "reading":
            objects.sort(key=lambda labelled: (labelled[0][1], labelled[0][0]))
        elif instance_order == "id_first":
            objects.sort(key=lambda labelled: (ranks[labelled[1]], labelled[0][1], labelled[0][0]))
            return SEPARATOR.join(f"{label} {box_tokens(box, size)}" for box, label in objects)
    return SEPARATOR.join(f"{box_tokens(box, size)} {label}" for box, label in objects)


def _object(text: str) -> tuple[str, str] | None:
    """``(location tokens, label)`` of one object written either way, else None."""
    if match := _OBJECT.fullmatch(text):
        return match.group(1), match.group(2)
    if match := _ID_FIRST_OBJECT.fullmatch(text):
        return match.group(2), match.group(1)
    return None


def decode_locations(task: str, text: str, question: str, size: Size) -> str | None:
    """The task's target text for a location-token answer; None unless ``text`` is exactly
    objects in that syntax (or empty: no object)."""
    objects = [_object(obj) for obj in (text.split(SEPARATOR) if text else [])]
    if not all(objects):
        return None
    found = [(tokens_box(tokens, size), label) for tokens, label in objects]
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
