"""Headline metrics across runs as bars with their 95% bootstrap intervals, from score files.

Reads score files through ``medvlm.metrics.tables`` (the default profile's pooled values and
``ci`` intervals). Within a panel the headline metrics of the task (``tables.HEADLINES``: e.g.
report generation shows GREEN and ROUGE-L when both were computed) are the groups, runs the bars.
A metric a run has no value for (undefined, or task not scored) is marked ``n/a``; a metric
without an interval gets no error bar.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from medvlm.metrics import tables
from medvlm.plots.style import TASK_TITLES, Palette, colours_for, new_figure, save_png
from medvlm.records import TASK_TYPES

LOWER_IS_BETTER = frozenset({"mae", "rmse"})
UNBOUNDED = LOWER_IS_BETTER | {"r2"}  # every other metric lies in [0, 1]


def _floats(column: pd.Series) -> np.ndarray:
    return column.astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def metric_values(
    scores: Mapping[str, dict], task: str, metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """Runs as rows; ``<metric>``, ``<metric>_lo``, ``<metric>_hi`` columns (NaN where absent).

    ``metrics`` defaults to the task's headline metrics present in any run.
    """
    table = tables.task_table(scores, task)
    if metrics is None:
        metrics = [m for m in tables.HEADLINES[task] if m in table.columns]
    if not metrics:
        return pd.DataFrame(index=pd.Index(list(scores), name="run"))
    columns = {}
    for metric in metrics:
        for suffix in ("", "_lo", "_hi"):
            name = metric + suffix
            values = _floats(table[name]) if name in table.columns else np.nan
            columns[name] = pd.Series(values, index=table.index)
    return pd.DataFrame(columns).reindex(list(scores))


def _draw(
    axes: Axes, values: pd.DataFrame, task: str, metrics: Sequence[str], colours: dict[str, str]
) -> pd.DataFrame:
    """Grouped bars (one group per metric, one bar per run); returns the heights drawn."""
    runs = list(values.index)
    width = 0.8 / len(runs)
    groups = np.arange(len(metrics))
    drawn = values.copy()
    for i, run in enumerate(runs):
        x = groups - 0.4 + width * (i + 0.5)
        heights = values.loc[run, list(metrics)].to_numpy(dtype=float)
        bars = axes.bar(x, np.nan_to_num(heights), width, color=colours[run], label=run)
        drawn.loc[run, list(metrics)] = np.where(np.isfinite(heights), bars.datavalues, np.nan)
        labels = [f"{h:.3g}" if math.isfinite(h) else "n/a" for h in heights]
        axes.bar_label(bars, labels, padding=2, fontsize="x-small")
        lo = values.loc[run, [f"{m}_lo" for m in metrics]].to_numpy(dtype=float)
        hi = values.loc[run, [f"{m}_hi" for m in metrics]].to_numpy(dtype=float)
        known = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(heights)
        # The interval drawn as its midpoint ± half-width: a percentile interval need not
        # contain the point estimate, so it cannot be written as value - lo, hi - value.
        axes.errorbar(
            x[known],
            (lo[known] + hi[known]) / 2,
            yerr=(hi[known] - lo[known]) / 2,
            fmt="none",
            ecolor="black",
            capsize=3,
            lw=1,
        )
    axes.set_xticks(groups, metrics)
    lower = any(m in LOWER_IS_BETTER for m in metrics)
    axes.set_title(f"{TASK_TITLES[task]} ({'lower' if lower else 'higher'} is better)")
    axes.set_ylabel(metrics[0] if len(metrics) == 1 else "score")
    if not any(m in UNBOUNDED for m in metrics):
        axes.set_ylim(0, 1.12)  # room for the value labels above a bar at 1
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    return drawn


def _load(score_files: Mapping[str, str | os.PathLike]) -> dict[str, dict]:
    if not score_files:
        raise ValueError("no score files given")
    return tables.load_scores(score_files)


def _files(score_files: Mapping[str, str | os.PathLike]) -> str:
    return ", ".join(str(path) for path in score_files.values())


def plot_task_metrics(
    score_files: Mapping[str, str | os.PathLike],
    task: str,
    out_path: str | os.PathLike,
    *,
    metrics: Sequence[str] | None = None,
    palette: Palette | None = None,
) -> pd.DataFrame:
    """Bar chart of one task type's headline metric(s) across runs, with 95% CI error bars.

    ``score_files`` maps run name -> score file (``medvlm score``), in the order the bars are
    drawn. ``metrics`` overrides the headline metrics. Returns the values drawn (runs
    as rows, ``<metric>``/``_lo``/``_hi`` columns).
    """
    if task not in TASK_TYPES:
        raise ValueError(f"unknown task type {task!r}; the canonical ones are {TASK_TYPES}")
    values = metric_values(_load(score_files), task, metrics)
    chosen = [c for c in values.columns if not c.endswith(("_lo", "_hi"))]
    if not chosen or values[chosen].isna().all().all():
        raise ValueError(f"no {task} metric to plot in the score files {_files(score_files)}")
    figure = new_figure(max(4.0, 1.2 + 0.6 * len(values) * len(chosen)), 4.2)
    axes = figure.add_subplot()
    drawn = _draw(axes, values, task, chosen, colours_for(list(values.index), palette))
    axes.legend(fontsize="small", title="run")
    save_png(figure, out_path)
    return drawn


def plot_metrics_overview(
    score_files: Mapping[str, str | os.PathLike],
    out_path: str | os.PathLike,
    *,
    palette: Palette | None = None,
    columns: int = 3,
) -> dict[str, pd.DataFrame]:
    """One panel per task type scored in any run, each as :func:`plot_task_metrics` draws it.

    Returns task -> the values drawn in its panel.
    """
    scores = _load(score_files)
    panels = {}
    for task in TASK_TYPES:
        values = metric_values(scores, task)
        chosen = [c for c in values.columns if not c.endswith(("_lo", "_hi"))]
        if chosen and not values[chosen].isna().all().all():
            panels[task] = (values, chosen)
    if not panels:
        raise ValueError(f"no task has a headline metric in the score files {_files(score_files)}")
    runs = list(scores)
    colours = colours_for(runs, palette)
    ncols = min(columns, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    figure = new_figure(4.2 * ncols, 3.6 * nrows + 0.5)
    drawn = {}
    for index, (task, (values, chosen)) in enumerate(panels.items()):
        axes = figure.add_subplot(nrows, ncols, index + 1)
        drawn[task] = _draw(axes, values, task, chosen, colours)
    handles, labels = figure.axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=min(len(runs), 6))
    figure.suptitle("Headline metrics per task type (95% bootstrap intervals)")
    save_png(figure, out_path)
    return drawn
