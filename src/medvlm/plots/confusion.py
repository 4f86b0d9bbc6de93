"""Confusion matrices of classification answers: reference class vs parsed prediction.

One panel per classification data set of a predictions file. Rows are the reference classes
(read from each row's ``answer`` by the task's parser), columns the same classes in the same
order (the diagonal holds the correct answers), then any class only the model named, then
``unparsable`` for outputs nothing could be read from. Row labels add the option text where
every question of the data set gives a letter the same text. Cells show counts; the colour is the
share of the row, so a rare class's mistakes are as visible as a common one's.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes

from medvlm.plots.inputs import read_predictions
from medvlm.plots.style import UNPARSABLE_LABEL, new_figure, save_notice, save_png
from medvlm.records import TaskType
from medvlm.tasks import task_spec
from medvlm.tasks.options import lettered_options


@dataclass(frozen=True)
class Confusion:
    """``counts[i, j]``: questions of reference class ``rows[i]`` answered ``columns[j]``."""

    rows: list[str]
    columns: list[str]  # rows, then classes only predicted, then UNPARSABLE_LABEL
    counts: np.ndarray
    unparsable_references: int  # questions left out: their reference names no class


def confusion(rows: Sequence[dict]) -> Confusion:
    """The confusion matrix of classification prediction rows (one data set's)."""
    spec = task_spec(TaskType.CLASSIFICATION)
    pairs, bad = [], 0
    for row in rows:
        reference = spec.parse(row["answer"], row["Question"])
        if reference is None:
            bad += 1
            continue
        predicted = row["parsed"]
        pairs.append((reference, UNPARSABLE_LABEL if predicted is None else str(predicted)))
    references = sorted({r for r, _ in pairs})
    extra = sorted({p for _, p in pairs} - set(references) - {UNPARSABLE_LABEL})
    columns = [*references, *extra, UNPARSABLE_LABEL]
    counts = np.zeros((len(references), len(columns)), dtype=int)
    for reference, predicted in pairs:
        counts[references.index(reference), columns.index(predicted)] += 1
    return Confusion(references, columns, counts, bad)


def _option_names(rows: Sequence[dict]) -> dict[str, str]:
    """Letter -> option text, for letters every question of the data set spells the same way."""
    seen: dict[str, set[str]] = {}
    for row in rows:
        for letter, text in lettered_options(row["Question"]).items():
            seen.setdefault(letter, set()).add(text.strip())
    return {letter: texts.pop() for letter, texts in seen.items() if len(texts) == 1}


def _tick(label: str, names: dict[str, str], width: int = 28) -> str:
    name = names.get(label)
    if not name:
        return label
    text = f"{label}: {name}"
    return text if len(text) <= width else text[: width - 1] + "…"


def _draw(axes: Axes, matrix: Confusion, dataset: str, names: dict[str, str]) -> None:
    totals = matrix.counts.sum(axis=1, keepdims=True)
    shares = matrix.counts / np.maximum(totals, 1)
    axes.imshow(shares, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for (i, j), count in np.ndenumerate(matrix.counts):
        colour = "white" if shares[i, j] > 0.5 else "black"
        axes.text(j, i, str(count), ha="center", va="center", color=colour, fontsize="small")
    axes.set_xticks(range(len(matrix.columns)), matrix.columns)  # the row labels name them
    axes.set_yticks(range(len(matrix.rows)), [_tick(r, names) for r in matrix.rows])
    axes.tick_params(axis="x", labelrotation=45)
    for label in axes.get_xticklabels():
        label.set_horizontalalignment("right")
    axes.set_xlabel("predicted\n(parsed model output)")
    axes.set_ylabel("reference")
    note = f", {matrix.unparsable_references} unreadable references left out"
    title = f"{dataset} (n={int(matrix.counts.sum())}"
    axes.set_title(title + (note if matrix.unparsable_references else "") + ")")


def plot_confusion(
    predictions_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    datasets: Sequence[str] | None = None,
    run: str | None = None,
    columns: int = 2,
) -> dict[str, Confusion]:
    """Confusion matrices of every classification data set in a predictions file, one panel each.

    ``datasets`` picks and orders the data sets (default: all, sorted); ``run`` names the run in
    the title. Returns data set -> the matrix drawn. A file without classification questions
    (and no ``datasets`` asked for) gets a figure that says so, and ``{}``.
    """
    rows = read_predictions(predictions_path, {TaskType.CLASSIFICATION})
    title = "Classification confusion matrices" + (f": {run}" if run else "")
    if not rows and datasets is None:
        save_notice(title, f"No classification questions in\n{predictions_path}", out_path)
        return {}
    by_dataset: dict[str, list[dict]] = {}
    for row in rows:
        by_dataset.setdefault(row["dataset"], []).append(row)
    chosen = sorted(by_dataset) if datasets is None else list(datasets)
    unknown = [d for d in chosen if d not in by_dataset]
    if unknown:
        raise ValueError(
            f"predictions file {predictions_path} has no classification rows of data set "
            + ", ".join(map(repr, unknown))
        )
    matrices = {d: confusion(by_dataset[d]) for d in chosen}
    empty = [d for d, m in matrices.items() if not m.rows]
    if empty:
        raise ValueError(
            f"predictions file {predictions_path}: no classification reference of data set "
            f"{', '.join(map(repr, empty))} names a class"
        )
    ncols = min(columns, len(chosen))
    nrows = math.ceil(len(chosen) / ncols)
    side = max(3.5, 1.5 + 0.45 * max(len(m.columns) for m in matrices.values()))
    figure = new_figure(side * ncols, side * nrows + 0.4)
    for index, dataset in enumerate(chosen):
        axes = figure.add_subplot(nrows, ncols, index + 1)
        _draw(axes, matrices[dataset], dataset, _option_names(by_dataset[dataset]))
    figure.suptitle(title)
    save_png(figure, out_path)
    return matrices
