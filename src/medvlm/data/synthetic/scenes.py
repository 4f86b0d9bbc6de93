"""Plan what each image shows and derive every answer from it.

The content is simple enough for a tiny model to learn on a CPU, and each answer can be read back
from the pixels: the class is the shape (or colour) of the object, detection boxes are the exact
extent of the pure-white rectangles, instance ids are colours, counts are blobs, regression
values are how full a bar is, reports describe the marks drawn. Boxes are pixel corner boxes
``[x_min, y_min, x_max, y_max]`` with the max exclusive (``x_max - x_min`` is the width).

Layout of images with several tasks: multi-label marks in a top strip, the regression bar in a
bottom strip, the classification object in the middle (its left half when there is also a
detection target, which then takes the right half).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from medvlm.data.synthetic import palette
from medvlm.data.synthetic.render import Mark
from medvlm.data.synthetic.specs import (
    Classification,
    Counting,
    DatasetSpec,
    Detection,
    InstanceDetection,
    MultiLabel,
    Regression,
    Report,
)

Box = tuple[int, int, int, int]
MAX_INSTANCES = 4  # objects in an instance-detection (chromosome) image


@dataclass(frozen=True)
class Answer:
    text: str  # what the questions file says
    native: Any  # the same answer as a JSON number, list or dict (the non-string-answer fault)


def box_text(boxes: list[list[int]]) -> str:
    """One box as ``[a, b, c, d]``, several as a list of boxes."""
    return json_text(boxes[0] if len(boxes) == 1 else boxes)


def json_text(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "))


def _gray(level: int) -> tuple[int, int, int]:
    return (level, level, level)


def _span(rng: np.random.Generator, lo: float, hi: float) -> int:
    """An integer in ``[lo, hi]`` (both rounded, at least 1)."""
    lo_i = max(1, int(lo))
    return int(rng.integers(lo_i, max(lo_i, int(hi)) + 1))


def _place(rng: np.random.Generator, region: Box, width: int, height: int) -> Box:
    """A ``width × height`` box at a random position inside ``region``."""
    x0, y0, x1, y1 = region
    width, height = min(width, x1 - x0), min(height, y1 - y0)
    left = x0 + int(rng.integers(0, x1 - x0 - width + 1))
    top = y0 + int(rng.integers(0, y1 - y0 - height + 1))
    return (left, top, left + width, top + height)


def class_index(params: Classification, rng: np.random.Generator) -> int:
    return int(rng.integers(len(params.labels)))


def class_mark(
    params: Classification, k: int, region: Box, rng: np.random.Generator, colour: bool
) -> Mark:
    """The object that shows class ``k``: shape ``k % 5`` in colour ``(k % 5 + k // 5) % 5``, or,
    for ``by="colour"``, colour ``k`` and any shape.

    Classes below 5 differ in colour (gray level) as well as shape: a small shape alone is more
    than a tiny model at 64-96 px learns in the demo's budget. Up to 25 classes get distinct
    (shape, colour) pairs.
    """
    n_colours, n_shapes = len(palette.CLASS_RGB), len(palette.CLASS_SHAPES)
    if params.by == "colour":
        shape_index, colour_index = int(rng.integers(n_shapes)), k % n_colours
    else:
        shape_index, colour_index = k % n_shapes, (k % n_shapes + k // n_shapes) % n_colours
    rgb = palette.CLASS_RGB[colour_index] if colour else _gray(palette.CLASS_GRAY[colour_index])
    side = min(region[2] - region[0], region[3] - region[1])
    size = _span(rng, 0.45 * side, 0.8 * side)
    return Mark(palette.CLASS_SHAPES[shape_index], _place(rng, region, size, size), rgb)


def class_answer(params: Classification, k: int) -> Answer:
    text = params.labels[k] if params.style == "text" else chr(ord("A") + k)
    return Answer(text, [text])


def detection(params: Detection, region: Box, rng: np.random.Generator) -> tuple[list, Answer]:
    """One target, or (sometimes, where the data set has several) two side by side."""
    count = 2 if params.max_boxes > 1 and rng.random() < 0.25 else 1
    x0, y0, x1, y1 = region
    step = (x1 - x0) // count
    marks, boxes = [], []
    for i in range(count):
        cell = (x0 + i * step, y0, x0 + (i + 1) * step - 1, y1)  # 1 px gap: boxes never touch
        width = _span(rng, 0.3 * (cell[2] - cell[0]), 0.8 * (cell[2] - cell[0]))
        height = _span(rng, 0.3 * (y1 - y0), 0.8 * (y1 - y0))
        box = _place(rng, cell, width, height)
        marks.append(Mark("rect", box, _gray(palette.BRIGHT)))
        boxes.append(list(box))
    return marks, Answer(box_text(boxes), boxes if count > 1 else boxes[0])


def multi_label(params: MultiLabel, strip: Box, rng: np.random.Generator) -> tuple[list, Answer]:
    """Label ``i`` is present when a mark sits in the ``i``-th equal slot of the strip: a bar
    70 % of the slot wide and 80 % of the strip high, as large as stays apart from its
    neighbours."""
    n = len(params.labels)
    present = rng.random(n) < 0.35
    if not present.any():
        present[int(rng.integers(n))] = True
    x0, y0, x1, y1 = strip
    slot = (x1 - x0) / n
    width, height = max(2, int(slot * 0.7)), max(2, int((y1 - y0) * 0.8))
    marks = []
    for i in np.flatnonzero(present):
        left = x0 + int(i * slot + (slot - width) / 2)
        top = y0 + (y1 - y0 - height) // 2
        marks.append(Mark("rect", (left, top, left + width, top + height), _gray(palette.MARK)))
    labels = [params.labels[i] for i in np.flatnonzero(present)]
    return marks, Answer(params.separator.join(labels), labels)


def regression(params: Regression, strip: Box, rng: np.random.Generator) -> tuple[list, Answer]:
    """A framed bar; the value is ``low + (high - low) * filled / inner width``."""
    x0, y0, x1, y1 = strip
    margin = max(1, (x1 - x0) // 12)
    bar_h = max(3, int((y1 - y0) * 0.6))
    top = y0 + (y1 - y0 - bar_h) // 2
    frame = (x0 + margin, top, x1 - margin, top + bar_h)
    inner = frame[2] - frame[0] - 2
    filled = int(rng.integers(1, inner))
    fill = (frame[0] + 1, top + 1, frame[0] + 1 + filled, top + bar_h - 1)
    value = round(params.low + (params.high - params.low) * filled / inner, params.decimals)
    marks = [
        Mark("frame", frame, _gray(palette.BAR_FRAME)),
        Mark("rect", fill, _gray(palette.BAR_FILL)),
    ]
    return marks, Answer(f"{value:.{params.decimals}f}{params.suffix}", value)


def _grid_cells(width: int, height: int, cell: int, n: int, rng: np.random.Generator) -> list[Box]:
    """``n`` distinct random cells of a ``cell``-pixel grid over the image."""
    nx, ny = width // cell, height // cell
    chosen = [int(c) for c in rng.choice(nx * ny, size=min(n, nx * ny), replace=False)]
    return [
        ((c % nx) * cell, (c // nx) * cell, (c % nx + 1) * cell, (c // nx + 1) * cell)
        for c in chosen
    ]


def _inset(box: Box, pixels: int) -> Box:
    return (box[0] + pixels, box[1] + pixels, box[2] - pixels, box[3] - pixels)


def blobs(width: int, height: int, rng: np.random.Generator) -> tuple[list, int]:
    """Round cells, one per grid cell, never touching one another."""
    cell = max(10, min(width, height) // 8)
    capacity = (width // cell) * (height // cell)
    count = int(rng.integers(1, max(1, capacity * 3 // 4) + 1))
    marks = []
    for box in _grid_cells(width, height, cell, count, rng):
        diameter = _span(rng, 0.3 * cell, 0.6 * cell)
        placed = _place(rng, _inset(box, 1), diameter, diameter)
        marks.append(Mark("circle", placed, palette.BLOB_RGB))
    return marks, len(marks)


def instances(
    params: InstanceDetection, width: int, height: int, rng: np.random.Generator
) -> tuple[list, Answer]:
    """Elongated rectangles, one per cell of a 2 x 2 grid, each coloured by its id: a few large
    objects (1 to :data:`MAX_INSTANCES`), few and large enough for a tiny model to learn to
    find."""
    cell = max(16, min(width, height) // 2)
    capacity = (width // cell) * (height // cell)
    count = int(rng.integers(1, max(1, min(capacity, MAX_INSTANCES)) + 1))
    marks, by_id = [], {}
    for box in _grid_cells(width, height, cell, count, rng):
        ident = int(rng.integers(1, params.max_ids + 1))
        long, short = _span(rng, 0.6 * cell, cell - 2), _span(rng, 0.3 * cell, 0.5 * cell)
        size = (short, long) if rng.random() < 0.5 else (long, short)
        placed = _place(rng, _inset(box, 1), *size)
        marks.append(Mark("rect", placed, palette.INSTANCE_RGB[ident - 1]))
        by_id.setdefault(ident, []).append(list(placed))
    answer = {str(ident): by_id[ident] for ident in sorted(by_id)}
    return marks, Answer(json_text(answer), answer)


def report(width: int, height: int, rng: np.random.Generator) -> tuple[list, Answer]:
    """Heart size, a lung opacity and a pleural effusion, each visible and each a sentence.

    Radiological convention: the patient's right is the image's left.
    """
    marks, sentences = [], []
    enlarged = rng.random() < 0.4
    heart_w = int((0.44 if enlarged else 0.26) * width)
    heart_h = max(3, int(0.28 * height))
    left, top = (width - heart_w) // 2, int(0.47 * height)
    marks.append(Mark("ellipse", (left, top, left + heart_w, top + heart_h), _gray(palette.HEART)))
    sentences.append("The heart is enlarged." if enlarged else "The heart size is normal.")

    side = rng.choice(["none", "right", "left"], p=[0.5, 0.25, 0.25])
    if side == "none":
        sentences.append("The lungs are clear.")
    else:
        diameter = max(3, int(0.14 * min(width, height)))
        centre_x = int((0.27 if side == "right" else 0.73) * width)
        box = (centre_x - diameter // 2, int(0.3 * height) - diameter // 2)
        box = (*box, box[0] + diameter, box[1] + diameter)
        marks.append(Mark("circle", box, _gray(palette.OPACITY)))
        sentences.append(f"There is a focal opacity in the {side} lung.")

    side = rng.choice(["none", "right", "left"], p=[0.6, 0.2, 0.2])
    if side == "none":
        sentences.append("There is no pleural effusion.")
    else:
        wedge_w, wedge_h = max(3, int(0.2 * width)), max(3, int(0.14 * height))
        x0 = 1 if side == "right" else width - 1 - wedge_w
        y0 = height - 1 - wedge_h
        shape = "wedge_left" if side == "right" else "wedge_right"
        marks.append(Mark(shape, (x0, y0, x0 + wedge_w, y0 + wedge_h), _gray(palette.EFFUSION)))
        sentences.append(f"There is a small {side} pleural effusion.")
    sentences.append("No pneumothorax is seen.")
    return marks, Answer(" ".join(sentences), sentences)


def compose(
    spec: DatasetSpec, sizes: list[tuple[int, int]], rng: np.random.Generator
) -> tuple[list[list[Mark]], list[Answer]]:
    """The marks of each view and one answer per task of ``spec`` (in ``spec.tasks`` order)."""
    params = [task.params for task in spec.tasks]
    if spec.views > 1:
        (only,) = params
        k = class_index(only, rng)
        views = [[class_mark(only, k, _inset((0, 0, w, h), 2), rng, spec.colour)] for w, h in sizes]
        return views, [class_answer(only, k)]
    ((width, height),) = sizes
    by_type = {type(p): p for p in params}
    answers: dict[type, Answer] = {}
    marks: list[Mark] = []
    if Report in by_type:
        marks, answers[Report] = report(width, height, rng)
    elif InstanceDetection in by_type:
        spec_params = by_type[InstanceDetection]
        marks, answers[InstanceDetection] = instances(spec_params, width, height, rng)
        count = len(marks)
        answers[Counting] = Answer(str(count), count)
    elif Counting in by_type:
        marks, count = blobs(width, height, rng)
        answers[Counting] = Answer(str(count), count)
    else:
        marks = _strip_layout(by_type, width, height, rng, spec.colour, answers)
    return [marks], [answers[type(p)] for p in params]


def _strip_layout(by_type, width, height, rng, colour, answers) -> list[Mark]:
    strip = max(6, round(0.16 * height))
    top = strip + 1 if MultiLabel in by_type else 0
    bottom = height - strip - 1 if Regression in by_type else height
    middle = _inset((0, top, width, bottom), 2)
    marks: list[Mark] = []
    if MultiLabel in by_type:
        new, answers[MultiLabel] = multi_label(by_type[MultiLabel], (0, 0, width, strip), rng)
        marks += new
    if Regression in by_type:
        new, answers[Regression] = regression(
            by_type[Regression], (0, height - strip, width, height), rng
        )
        marks += new
    class_region = middle
    if Detection in by_type:
        half = (middle[0] + middle[2]) // 2
        if Classification in by_type:
            class_region = (middle[0], middle[1], half - 1, middle[3])
            det_region = (half + 1, middle[1], middle[2], middle[3])
        else:
            det_region = middle
        new, answers[Detection] = detection(by_type[Detection], det_region, rng)
        marks += new
    if Classification in by_type:
        params = by_type[Classification]
        k = class_index(params, rng)
        marks.append(class_mark(params, k, class_region, rng, colour))
        answers[Classification] = class_answer(params, k)
    return marks
