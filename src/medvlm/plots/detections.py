"""Detection overlays: reference boxes (green, solid) and predicted boxes (red, dashed) drawn on
the original images of the first detection and instance-detection questions of a split.

Images are decoded by ``medvlm.data.images.load_rgb`` (the models' own conversion: 16-bit, gray
and alpha handled alike) at a display resolution, then drawn over the original image's pixel
extent, so boxes in original pixel coordinates land where they belong whatever the image's
aspect ratio. Reference boxes are read from each row's ``answer`` by the task's parser, predicted
boxes are the row's ``parsed`` answer (``None``: the output was unparsable). An image that
cannot be read gets a panel saying why instead of breaking the figure.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace

from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from PIL import Image

from medvlm.data.images import ImageError, load_rgb
from medvlm.plots.inputs import read_predictions
from medvlm.plots.style import (
    PREDICTION_COLOUR,
    REFERENCE_COLOUR,
    new_figure,
    save_notice,
    save_png,
)
from medvlm.records import read_records
from medvlm.tasks import task_spec
from medvlm.tasks.boxes import Box
from medvlm.tasks.framed_answers import BOX_TASKS

PREDICTION_DASHES = (0, (4, 3))


@dataclass(frozen=True)
class Overlay:
    """One panel: the boxes drawn on one question's image (or why the image is missing)."""

    uid: str
    dataset: str
    image_path: str
    reference: list[Box]
    predicted: list[Box] | None  # None: the output was unparsable
    well_formed: bool
    problem: str | None = None  # set when the image could not be read


def boxes_of(value) -> list[Box]:
    """The corner boxes of a structured detection or instance-detection answer, in order."""
    if value is None:
        return []
    groups = value.values() if isinstance(value, dict) else [value]
    return [tuple(float(v) for v in box) for group in groups for box in group]


def _image_paths(split_path: str | os.PathLike) -> dict[str, list[str]]:
    try:
        records = read_records(split_path)
    except FileNotFoundError:
        raise ValueError(f"split file {split_path} does not exist") from None
    except TypeError as error:
        raise ValueError(f"split file {split_path}: not a records file ({error})") from None
    return {record.uid: record.image_paths for record in records}


def overlays(
    predictions_path: str | os.PathLike, split_path: str | os.PathLike, n: int
) -> list[Overlay]:
    """The first ``n`` detection / instance-detection questions of a predictions file (none when
    it holds no such question)."""
    if n < 1:
        raise ValueError(f"the number of overlays must be at least 1, got {n}")
    rows = read_predictions(predictions_path, set(BOX_TASKS))[:n]
    paths = _image_paths(split_path)
    chosen = []
    for row in rows:
        images = paths.get(row["uid"])
        if not images:
            raise ValueError(
                f"question {row['uid']!r} of {predictions_path} has no image in {split_path}"
            )
        reference = task_spec(row["task"]).parse(row["answer"], row["Question"])
        predicted = None if row["parsed"] is None else boxes_of(row["parsed"])
        chosen.append(
            Overlay(
                row["uid"],
                row["dataset"],
                images[0],
                boxes_of(reference),
                predicted,
                bool(row["well_formed"]),
            )
        )
    return chosen


def _image(path: str, display_px: int):
    """(pixels at display resolution, original width, original height)."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except FileNotFoundError:
        raise ImageError(path, "file not found") from None
    except Exception as error:  # any decoder failure, as load_rgb reports it
        raise ImageError(path, f"cannot decode: {type(error).__name__}: {error}") from None
    return load_rgb(path, min(display_px, max(width, height))), width, height


def _title(overlay: Overlay) -> str:
    entry = overlay.uid.rsplit("/", 1)[-1]
    if overlay.predicted is None:
        said = "unparsable"
    else:
        said = f"{len(overlay.predicted)} predicted"
        said += "" if overlay.well_formed else ", wrong format"
    return f"{overlay.dataset} #{entry}\n{len(overlay.reference)} reference / {said}"


def _draw(axes: Axes, overlay: Overlay, display_px: int) -> Overlay:
    axes.set_axis_off()
    axes.set_title(_title(overlay), fontsize="small")
    try:
        pixels, width, height = _image(overlay.image_path, display_px)
    except ImageError as error:
        axes.text(0.5, 0.5, f"image unavailable:\n{error}", ha="center", va="center", wrap=True)
        return replace(overlay, problem=str(error))
    axes.imshow(pixels, extent=(0, width, height, 0), interpolation="bilinear")
    for boxes, colour, style in (
        (overlay.reference, REFERENCE_COLOUR, "solid"),
        (overlay.predicted or [], PREDICTION_COLOUR, PREDICTION_DASHES),
    ):
        for x1, y1, x2, y2 in boxes:
            axes.add_patch(
                Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec=colour, lw=2, ls=style)
            )
    axes.set_xlim(0, width)
    axes.set_ylim(height, 0)
    return overlay


def plot_detections(
    predictions_path: str | os.PathLike,
    split_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    n: int = 12,
    columns: int = 4,
    run: str | None = None,
    display_px: int = 512,
) -> list[Overlay]:
    """A grid of box overlays for the first ``n`` detection questions of a predictions file.

    ``split_path`` is the split's records file (``results/data/splits/<split>.jsonl``), which
    gives each question's image. ``run`` names the run in the title; ``display_px`` is the
    longest side an image is decoded at. Returns the panels drawn, in order (``problem`` set
    where an image could not be read). A file without detection questions gets a figure that
    says so, and ``[]``.
    """
    chosen = overlays(predictions_path, split_path, n)
    title = "Detections" + (f": {run}" if run else "")
    if not chosen:
        text = f"No detection or instance-detection questions in\n{predictions_path}"
        save_notice(title, text, out_path)
        return []
    ncols = min(columns, len(chosen))
    nrows = math.ceil(len(chosen) / ncols)
    figure = new_figure(3.4 * ncols, 3.4 * nrows + 0.6)
    drawn = [
        _draw(figure.add_subplot(nrows, ncols, i + 1), overlay, display_px)
        for i, overlay in enumerate(chosen)
    ]
    legend = [
        Line2D([], [], color=REFERENCE_COLOUR, lw=2, label="reference"),
        Line2D([], [], color=PREDICTION_COLOUR, lw=2, ls=PREDICTION_DASHES, label="prediction"),
    ]
    figure.legend(handles=legend, loc="outside lower center", ncols=2)
    figure.suptitle(title)
    save_png(figure, out_path)
    return drawn
