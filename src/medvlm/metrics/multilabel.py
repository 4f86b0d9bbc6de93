"""Multi-label classification: sample-mean F1 and micro F1 over label sets.

Conventions: a question whose reference and prediction are both empty sets scores F1 = 1 (nothing
to find, nothing claimed); an unparsable prediction (``None``) claims nothing, so it scores F1 = 0
on that question and every reference label counts as a false negative.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from medvlm.metrics.fscore import f1_from_counts


def per_item(
    references: Sequence[frozenset[str]],
    predictions: Sequence[frozenset[str] | None],
    datasets: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """True/false positives and negatives, and the question's own F1."""
    tp, fp, fn, f1 = [], [], [], []
    for reference, prediction in zip(references, predictions, strict=True):
        claimed = frozenset() if prediction is None else prediction
        hits = len(reference & claimed)
        tp.append(hits)
        fp.append(len(claimed) - hits)
        fn.append(len(reference) - hits)
        f1.append(0.0 if prediction is None else float(f1_from_counts(hits, fp[-1], fn[-1])))
    return {
        "tp": np.array(tp, dtype=int),
        "fp": np.array(fp, dtype=int),
        "fn": np.array(fn, dtype=int),
        "f1": np.array(f1, dtype=float),
    }


def summarise(columns: dict[str, np.ndarray]) -> dict[str, float | None]:
    if len(columns["f1"]) == 0:
        return {"f1_sample": None, "f1_micro": None}
    return {
        "f1_sample": float(np.mean(columns["f1"])),
        "f1_micro": float(
            f1_from_counts(columns["tp"].sum(), columns["fp"].sum(), columns["fn"].sum())
        ),
    }


def multilabel_scores(
    references: Sequence[frozenset[str]], predictions: Sequence[frozenset[str] | None]
) -> dict[str, float | None]:
    """Sample-mean F1 (each question's F1, averaged) and micro F1 (counts summed first)."""
    return summarise(per_item(references, predictions))
