"""Classification: balanced accuracy within each data set, and pooled across data sets.

Pooling labels across data sets merges unrelated classes (every data set has an "A"), so the
headline is the balanced accuracy of each data set, averaged over data sets. The pooled value is
kept because the public evaluators report it. An unparsable prediction (``None``) is a wrong
answer: it never equals a reference class, so it lowers the recall of its reference's class.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def per_item(
    references: Sequence[str], predictions: Sequence[str | None], datasets: Sequence[str]
) -> dict[str, np.ndarray]:
    """One row per question: data set code, class codes and whether the answer was right."""
    dataset_codes = np.unique(np.asarray(datasets, dtype=object), return_inverse=True)[1]
    pairs = [f"{d}\x00{r}" for d, r in zip(datasets, references, strict=True)]
    return {
        "dataset": dataset_codes.reshape(-1),
        "class_within": np.unique(np.asarray(pairs, dtype=object), return_inverse=True)[1],
        "class_pooled": np.unique(np.asarray(references, dtype=object), return_inverse=True)[1],
        "correct": np.array(
            [p is not None and p == r for r, p in zip(references, predictions, strict=True)],
            dtype=bool,
        ),
    }


def _balanced(classes: np.ndarray, correct: np.ndarray) -> float:
    """Mean over the classes present of the fraction of that class answered right."""
    counts = np.bincount(classes)
    hits = np.bincount(classes, weights=correct)
    present = counts > 0
    return float(np.mean(hits[present] / counts[present]))


def summarise(columns: dict[str, np.ndarray]) -> dict[str, float | None]:
    if len(columns["correct"]) == 0:
        return {"balanced_accuracy": None, "balanced_accuracy_pooled": None, "accuracy": None}
    per_dataset = [
        _balanced(columns["class_within"][mask], columns["correct"][mask])
        for mask in (columns["dataset"] == d for d in np.unique(columns["dataset"]))
    ]
    return {
        "balanced_accuracy": float(np.mean(per_dataset)),
        "balanced_accuracy_pooled": _balanced(columns["class_pooled"], columns["correct"]),
        "accuracy": float(np.mean(columns["correct"])),
    }


def classification_scores(
    references: Sequence[str], predictions: Sequence[str | None], datasets: Sequence[str]
) -> dict[str, float | None]:
    """Balanced accuracy (mean over data sets), pooled balanced accuracy and plain accuracy."""
    return summarise(per_item(references, predictions, datasets))
