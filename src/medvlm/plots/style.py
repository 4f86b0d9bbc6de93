"""What every figure shares: a colour per run, the figure factory and the atomic PNG write.

Figures are built with ``matplotlib.figure.Figure`` directly, never ``pyplot``: no global state,
no GUI backend, nothing kept alive after the write (the Agg canvas renders the PNG).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib as mpl
from matplotlib.figure import Figure

from medvlm.io import atomic_path
from medvlm.records import TaskType

DPI = 100
REFERENCE_COLOUR = "#00b000"  # green: reference boxes
PREDICTION_COLOUR = "#ff0000"  # red: predicted boxes
UNPARSABLE_LABEL = "unparsable"

TASK_TITLES = {
    TaskType.CLASSIFICATION: "Classification",
    TaskType.MULTI_LABEL: "Multi-label classification",
    TaskType.DETECTION: "Detection",
    TaskType.INSTANCE_DETECTION: "Instance detection",
    TaskType.COUNTING: "Counting",
    TaskType.REGRESSION: "Regression",
    TaskType.REPORT_GENERATION: "Report generation",
}

Palette = Mapping[str, str]


def run_palette(runs: Sequence[str]) -> dict[str, str]:
    """A colour per run, by position in ``runs`` (tab10; tab20 for more than ten, then repeats).

    Pass every run of the config, in config order, to each figure's ``palette=`` option so a run
    has the same colour in every figure, whichever subset a figure shows.
    """
    colours = mpl.colormaps["tab10" if len(runs) <= 10 else "tab20"].colors
    return {run: mpl.colors.to_hex(colours[i % len(colours)]) for i, run in enumerate(runs)}


def colours_for(runs: Sequence[str], palette: Palette | None) -> dict[str, str]:
    """``palette`` restricted to ``runs``; runs it does not name get colours by position."""
    fallback = run_palette(runs)
    return {run: (palette or {}).get(run, fallback[run]) for run in runs}


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` × ``height`` inches laid out without overlapping labels."""
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def save_png(figure: Figure, out_path: str | os.PathLike) -> None:
    """Render ``figure`` to ``out_path`` as PNG, atomically (temp file + rename)."""
    with atomic_path(out_path) as tmp:
        figure.savefig(tmp, format="png", dpi=DPI)


def save_notice(title: str, text: str, out_path: str | os.PathLike) -> None:
    """A figure that says in words why there is nothing to draw (``title`` over ``text``)."""
    figure = new_figure(6.0, 2.0)
    figure.suptitle(title)
    axes = figure.add_subplot()
    axes.set_axis_off()
    axes.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    save_png(figure, out_path)
