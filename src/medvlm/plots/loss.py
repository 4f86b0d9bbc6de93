"""Training and validation loss curves, and the validation selection score, from
``train_log.csv`` (one file per run).

The log's columns are :data:`medvlm.models.base.TRAIN_LOG_COLUMNS`; a cell is empty where that
value was not measured at that step (validation runs every few steps; a row may also carry only
a validation loss). Empty cells are left out of the curve, never drawn as zero. The selection
score (``val_score``, 0 to 1, higher is better; :mod:`medvlm.models.best_weights`) goes on its
own axis on the right, so the two can be read side by side: the loss may rise while the answers
improve.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from medvlm.plots.style import Palette, colours_for, new_figure, save_png

LOG_COLUMNS = ("step", "loss", "val_loss")  # the columns of TRAIN_LOG_COLUMNS a log must have
SCORE_COLUMN = "val_score"  # drawn where the log has it


@dataclass(frozen=True)
class LossCurves:
    """The points of one run's curves: (step, value) pairs, measured values only."""

    train: list[tuple[int, float]]
    val: list[tuple[int, float]]
    score: list[tuple[int, float]] = field(default_factory=list)


def _number(text: str, path, line: int, column: str) -> float | None:
    if text.strip() == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{path}:{line}: {column} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{path}:{line}: {column} is {text!r}, not a finite number")
    return value


def read_train_log(path: str | os.PathLike) -> LossCurves:
    """The curves of one ``train_log.csv``; a file without a measured loss raises naming it."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in LOG_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise ValueError(f"training log {path} has no column {', '.join(missing)}")
            train, val, score = [], [], []
            for row in reader:
                line = reader.line_num
                step = _number(row["step"] or "", path, line, "step")
                if step is None:
                    raise ValueError(f"{path}:{line}: the step is empty")
                for column, points in (("loss", train), ("val_loss", val), (SCORE_COLUMN, score)):
                    value = _number(row.get(column) or "", path, line, column)
                    if value is not None:
                        points.append((int(step), value))
    except FileNotFoundError:
        raise ValueError(f"training log {path} does not exist") from None
    if not train and not val:
        raise ValueError(f"training log {path} holds no loss value")
    return LossCurves(train=train, val=val, score=score)


def plot_loss(
    train_logs: Mapping[str, str | os.PathLike],
    out_path: str | os.PathLike,
    *,
    runs: Sequence[str] | None = None,
    log_scale: bool = False,
    palette: Palette | None = None,
) -> dict[str, LossCurves]:
    """Plot training (solid) and validation (dashed, dots) loss against step, a colour per run,
    and the validation selection score (dotted, squares) on a 0-1 axis on the right.

    ``train_logs`` maps run name -> ``train_log.csv``; give one run for a figure per run, or
    several for all in one. ``runs`` picks and orders the runs drawn (default: all, in mapping
    order). ``log_scale`` puts the loss axis on a log scale. Returns the curves as drawn.
    """
    chosen = list(train_logs) if runs is None else list(runs)
    unknown = [run for run in chosen if run not in train_logs]
    if unknown:
        raise ValueError(f"no training log given for run {', '.join(map(repr, unknown))}")
    if not chosen:
        raise ValueError("plot_loss needs at least one training log")
    curves = {run: read_train_log(train_logs[run]) for run in chosen}
    colours = colours_for(chosen, palette)

    figure = new_figure(7, 4.5)
    axes = figure.add_subplot()
    for run, curve in curves.items():
        for points, kind, style in ((curve.train, "train", "-"), (curve.val, "val", "--o")):
            if points:
                steps, values = zip(*points, strict=True)
                axes.plot(steps, values, style, color=colours[run], label=f"{run} ({kind})", ms=4)
    handles, labels = axes.get_legend_handles_labels()
    scored = {run: curve.score for run, curve in curves.items() if curve.score}
    if scored:
        right = axes.twinx()
        for run, points in scored.items():
            steps, values = zip(*points, strict=True)
            right.plot(steps, values, ":s", color=colours[run], label=f"{run} (val score)", ms=4)
        right.set_ylim(0, 1)
        right.set_ylabel("validation selection score (higher is better)")
        more_handles, more_labels = right.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    if log_scale:
        axes.set_yscale("log")
    axes.set_xlabel("training step")
    axes.set_ylabel("loss" + (" (log scale)" if log_scale else ""))
    title = "Training and validation loss" + (", selection score" if scored else "")
    axes.set_title(title + (f": {chosen[0]}" if len(chosen) == 1 else ""))
    axes.grid(alpha=0.3)
    axes.legend(handles, labels, fontsize="small")
    save_png(figure, out_path)
    return curves
