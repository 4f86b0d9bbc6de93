"""Wrong-format and unparsable outputs per task type and run, as grouped bars, from score files.

Wrong format: the output is not exactly in the task's target format (``is_well_formed`` false);
unparsable: not even the tolerant parser could read an answer from it. Both counts come from the
default profile of each score file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from medvlm.metrics import tables
from medvlm.plots.style import TASK_TITLES, Palette, colours_for, new_figure, save_png
from medvlm.records import TASK_TYPES

COUNTS = ("n", "n_wrong_format", "n_unparsable")
PANELS = (
    (
        "n_wrong_format",
        "wrong-format outputs",
        "Wrong format: not exactly the task's answer format",
    ),
    ("n_unparsable", "unparsable outputs", "Unparsable: no answer could be read at all"),
)


def format_counts(scores: Mapping[str, dict]) -> pd.DataFrame:
    """Rows ``(run, task)`` per task a run scored; columns ``n, n_wrong_format, n_unparsable``."""
    rows = {}
    for task in TASK_TYPES:
        table = tables.task_table(scores, task)
        if not set(COUNTS) <= set(table.columns):
            continue
        for run, row in table.iterrows():
            if not any(pd.isna(row[c]) for c in COUNTS):
                rows[(run, task)] = {c: int(row[c]) for c in COUNTS}
    index = pd.MultiIndex.from_tuples(list(rows), names=["run", "task"])
    return pd.DataFrame(list(rows.values()), index=index, columns=list(COUNTS))


def plot_wrong_format(
    score_files: Mapping[str, str | os.PathLike],
    out_path: str | os.PathLike,
    *,
    palette: Palette | None = None,
) -> pd.DataFrame:
    """Two panels (wrong format, unparsable): per task type, one bar per run, labelled ``k/n``.

    ``score_files`` maps run name -> score file, in the order the bars are drawn. Returns the
    counts drawn (see :func:`format_counts`).
    """
    if not score_files:
        raise ValueError("no score files given")
    counts = format_counts(tables.load_scores(score_files))
    if counts.empty:
        files = ", ".join(str(p) for p in score_files.values())
        raise ValueError(f"no task has format counts in the score files {files}")
    runs = list(score_files)
    tasks = [t for t in TASK_TYPES if t in counts.index.get_level_values("task")]
    colours = colours_for(runs, palette)
    width = 0.8 / len(runs)
    groups = np.arange(len(tasks))
    figure = new_figure(max(6.0, 1.5 + 0.5 * len(runs) * len(tasks)), 6.5)
    for panel, (column, ylabel, title) in enumerate(PANELS):
        axes = figure.add_subplot(len(PANELS), 1, panel + 1)
        for i, run in enumerate(runs):
            present = [(j, t) for j, t in enumerate(tasks) if (run, t) in counts.index]
            if not present:
                continue
            x = np.array([groups[j] - 0.4 + width * (i + 0.5) for j, _ in present])
            values = [counts.loc[(run, t), column] for _, t in present]
            totals = [counts.loc[(run, t), "n"] for _, t in present]
            bars = axes.bar(x, values, width, color=colours[run], label=run if panel == 0 else None)
            labels = [f"{v}/{n}" for v, n in zip(values, totals, strict=True)]
            axes.bar_label(bars, labels, padding=2, fontsize="x-small")
        axes.set_xticks(groups, [TASK_TITLES[t] for t in tasks])
        axes.set_ylabel(ylabel)
        axes.set_title(title, fontsize="medium")
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.margins(y=0.15)
        axes.grid(axis="y", alpha=0.3)
        axes.set_axisbelow(True)
    figure.legend(loc="outside lower center", ncols=min(len(runs), 6), title="run")
    figure.suptitle("Malformed outputs per task type (bar label: count / questions)")
    save_png(figure, out_path)
    return counts
