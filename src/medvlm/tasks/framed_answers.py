"""Detection answers in a run's box frame (:mod:`.box_frame`): prompt, training target, and the
model's output converted back to pixels of the original image before anything parses or scores
it.

References are always pixels of the original image. A run in the ``normalized`` frame trains on
targets whose boxes are normalised from the original's size (read from the image header, no
pixels decoded), is prompted with that frame, and its output boxes are scaled back with the same
size; the rewritten text is the task's canonical target text, so the scorer reads pixels of the
original image whatever the run's frame. Other task types are the same in every frame.

An output in the normalised frame that the task parser cannot read is left as it is (it scores
as unparsable either way). The rewrite of one it can read is well-formed even if the output was
not; the output itself stays in the predictions file (``raw_prediction``).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from PIL import Image

from medvlm.records import Record, TaskType
from medvlm.tasks import task_spec
from medvlm.tasks.box_frame import PIXELS, Size, box_from_frame, box_to_frame, check_frame
from medvlm.tasks.boxes import Box, RawBox, declares_xywh, format_box

BOX_TASKS = (TaskType.DETECTION, TaskType.INSTANCE_DETECTION)

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=65536)
def image_size(path: str) -> Size:
    """(width, height) of an image file, from its header."""
    try:
        with Image.open(path) as image:
            return image.size
    except OSError as error:
        raise ValueError(f"{path}: cannot read the image size ({error})") from None


def record_size(record: Record) -> Size:
    """(width, height) of the record's (first) image."""
    if not record.image_paths:
        raise ValueError(f"{record.uid}: no image path, so no image size for its boxes")
    return image_size(record.image_paths[0])


def _written(box: Box, xywh: bool) -> str:
    return format_box(float(v) for v in RawBox(tuple(box), xywh=False).written(xywh))


def written_answer(task: str, boxes: Any, question: str) -> str:
    """The task's target text for parsed boxes: a list of corner boxes (detection) or a dict of
    id -> corner boxes (instance detection), written in the question's box format."""
    xywh = declares_xywh(question)
    if task == TaskType.DETECTION:
        written = [_written(box, xywh) for box in boxes]
        return written[0] if len(written) == 1 else "[" + ", ".join(written) + "]"
    body = ", ".join(
        f"{json.dumps(key, ensure_ascii=False)}: [{', '.join(_written(b, xywh) for b in group)}]"
        for key, group in boxes.items()
    )
    return task_spec(task).target("{" + body + "}", question)


def _rescaled(record: Record, boxes: Any, convert: Callable[[Box, Size], Box]) -> str:
    """The target text of ``boxes`` (parsed from the record's task) with every box converted."""
    size = record_size(record)
    if record.task == TaskType.DETECTION:
        converted = [convert(box, size) for box in boxes]
    else:
        converted = {key: [convert(box, size) for box in group] for key, group in boxes.items()}
    return written_answer(record.task, converted, record.question)


def frame_prompt(record: Record, frame: str) -> str:
    """The task's prompt for the record, naming the box frame for detection tasks."""
    spec = task_spec(record.task)
    if record.task in BOX_TASKS:
        return spec.prompt(record.question, check_frame(frame))
    return spec.prompt(record.question)


def frame_target(record: Record, frame: str) -> str:
    """The training target with boxes in ``frame``; ValueError when the answer is unreadable
    (or, in the normalised frame, the image size cannot be read)."""
    spec = task_spec(record.task)
    target = spec.target(record.answer, record.question)
    if check_frame(frame) == PIXELS or record.task not in BOX_TASKS:
        return target
    return _rescaled(record, spec.parse(target, record.question), box_to_frame)


def answer_in_pixels(record: Record, text: str, frame: str) -> str:
    """A model output in ``frame`` as text whose boxes are pixels of the original image
    (unchanged when the task parser cannot read it); ValueError when the size is unreadable."""
    if check_frame(frame) == PIXELS or record.task not in BOX_TASKS:
        return text
    boxes = task_spec(record.task).parse(text, record.question)
    return text if boxes is None else _rescaled(record, boxes, box_from_frame)


def answers_in_pixels(records: Sequence[Record], texts: Sequence[str], frame: str) -> list[str]:
    """:func:`answer_in_pixels` of each output; one whose image size cannot be read is left as
    it is, with a warning naming the question."""
    answers = []
    for record, text in zip(records, texts, strict=True):
        try:
            answers.append(answer_in_pixels(record, text, frame))
        except ValueError as error:
            log.warning("%s: boxes left in the %s frame (%s)", record.uid, frame, error)
            answers.append(text)
    return answers
