"""Counting and regression: MAE, RMSE, R² and accuracy within ±5, with unparsable answers penalised.

Penalty rule for an unparsable (or non-finite) prediction: it is replaced by the reference value,
among the references of the same data set, that lies farthest from its own reference (the worst
answer a model could give without leaving the data set's observed range). So failing to answer
never scores better than any in-range guess, and the penalty stays finite: dropping the question
would reward the failure, and ``inf`` would hide every other number. When every reference of the
data set is equal (no range to penalise with), the range of the task's references over all data
sets is used (if those are all equal too, there is no spread and the penalty is that value).
The replacement is fixed once, from all the questions scored together, so a question's penalty
does not change between bootstrap replicates. ``parse_rate`` reports how many predictions were
numbers at all.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

TOLERANCE = 5.0


def penalised_predictions(
    references: np.ndarray, predictions: np.ndarray, datasets: Sequence[str]
) -> np.ndarray:
    """``predictions`` with each NaN replaced by the worst in-range answer (module docstring)."""
    missing = np.isnan(predictions)
    if not missing.any():
        return predictions
    codes = np.unique(np.asarray(datasets, dtype=object), return_inverse=True)[1].reshape(-1)
    low = np.full(codes.max() + 1, np.inf)
    high = np.full(codes.max() + 1, -np.inf)
    np.minimum.at(low, codes, references)
    np.maximum.at(high, codes, references)
    low, high = low[codes], high[codes]
    flat = low == high
    low = np.where(flat, references.min(), low)
    high = np.where(flat, references.max(), high)
    worst = np.where(np.abs(references - low) >= np.abs(references - high), low, high)
    return np.where(missing, worst, predictions)


def per_item(
    references: Sequence[float], predictions: Sequence[float | None], datasets: Sequence[str]
) -> dict[str, np.ndarray]:
    """Reference, penalised prediction and whether the prediction parsed, per question."""
    reference = np.asarray(references, dtype=float).reshape(-1)
    raw = np.array(
        [p if p is not None and np.isfinite(p) else np.nan for p in predictions], dtype=float
    )
    return {
        "reference": reference,
        "prediction": penalised_predictions(reference, raw, datasets),
        "parsed": ~np.isnan(raw),
    }


def r_squared(reference: np.ndarray, prediction: np.ndarray) -> float | None:
    """1 - SS_res / SS_tot; None when the references have no variance (R² is undefined)."""
    reference = np.asarray(reference, dtype=float)
    total = float(np.sum((reference - reference.mean()) ** 2)) if len(reference) else 0.0
    if total == 0:
        return None
    return 1.0 - float(np.sum((np.asarray(prediction, dtype=float) - reference) ** 2)) / total


def summarise(columns: dict[str, np.ndarray]) -> dict[str, float | None]:
    """MAE, RMSE, R² (None when the references have no variance), accuracy within ±5."""
    reference, prediction = columns["reference"], columns["prediction"]
    if len(reference) == 0:
        return dict.fromkeys(("mae", "rmse", "r2", "acc_within_5", "parse_rate"))
    error = np.abs(prediction - reference)
    return {
        "mae": float(np.mean(error)),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "r2": r_squared(reference, prediction),
        "acc_within_5": float(np.mean(error <= TOLERANCE)),
        "parse_rate": float(np.mean(columns["parsed"])),
    }


def numeric_scores(
    references: Sequence[float], predictions: Sequence[float | None], datasets: Sequence[str]
) -> dict[str, float | None]:
    """MAE, RMSE, R², accuracy within ±5 and parse rate, unparsable answers penalised."""
    return summarise(per_item(references, predictions, datasets))
