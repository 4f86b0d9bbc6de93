"""One run against a baseline on the same questions: the paired bootstrap interval of the
difference of a metric.

Both runs answer the same questions, so each bootstrap replicate draws images once (within data
sets, as :mod:`.bootstrap` does) and scores both runs on that draw. Differences of paired draws
vary far less than two independent intervals suggest, so a real improvement shows even where
the two runs' own intervals overlap. The difference is signed so that a positive value means the
run is better than the baseline: run minus baseline, or baseline minus run for an error (MAE,
RMSE), where lower is better.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from medvlm.metrics.bootstrap import DEFAULT_REPLICATES, bootstrap_ci
from medvlm.metrics.items import Item
from medvlm.metrics.profiles.default import ReportJudge, resampling_units, task_columns
from medvlm.records import TASK_TYPES

LOWER_IS_BETTER = frozenset({"mae", "rmse"})


def improvement(value: float | None, baseline: float | None, metric: str) -> float | None:
    """How much better ``value`` is than ``baseline`` (positive = better), None if undefined."""
    if value is None or baseline is None or np.isnan(value) or np.isnan(baseline):
        return None
    return baseline - value if metric in LOWER_IS_BETTER else value - baseline


def compare_task(
    task: str,
    metric: str,
    items: Sequence[Item],
    baseline_items: Sequence[Item],
    bootstrap: int = DEFAULT_REPLICATES,
    seed: int = 0,
    judges: Sequence[ReportJudge] = (),
) -> dict[str, Any]:
    """``{"n", "value", "baseline", "improvement", "ci"}`` of ``metric`` for one task type.

    ``items`` and ``baseline_items`` must be the same questions (matched by uid, any order);
    ``ci`` is the paired 95% interval of the improvement (None when undefined or unasked).
    """
    baseline_of = {item.uid: item for item in baseline_items}
    if set(baseline_of) != {item.uid for item in items}:
        missing = sorted({item.uid for item in items} ^ set(baseline_of))
        raise ValueError(f"{task}: the runs answer different questions, e.g. {missing[0]!r}")
    run = task_columns(task, items, judges)
    base = task_columns(task, [baseline_of[item.uid] for item in items], judges)
    if not run.kept:
        return {"n": 0, "value": None, "baseline": None, "improvement": None, "ci": None}

    def statistic(rows: np.ndarray) -> dict[str, float | None]:
        value, reference = run.summary(rows)[metric], base.summary(rows)[metric]
        return {"improvement": improvement(value, reference, metric)}

    everything = np.arange(len(run.kept))
    value, reference = run.summary(everything)[metric], base.summary(everything)[metric]
    datasets, images = resampling_units(run.kept)
    ci = bootstrap_ci(datasets, images, statistic, bootstrap, [seed, TASK_TYPES.index(task)])
    return {
        "n": len(run.kept),
        "value": value,
        "baseline": reference,
        "improvement": improvement(value, reference, metric),
        "ci": ci.get("improvement"),
    }
