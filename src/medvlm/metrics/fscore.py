"""F1 from counts, shared by the multi-label and box metrics."""

from __future__ import annotations

import numpy as np


def f1_from_counts(tp, fp, fn) -> np.ndarray:
    """2TP / (2TP + FP + FN), elementwise; 0/0 (nothing expected, nothing predicted) scores 1."""
    tp = np.asarray(tp, dtype=float)
    denominator = 2 * tp + fp + fn
    return np.where(denominator > 0, 2 * tp / np.where(denominator > 0, denominator, 1.0), 1.0)
