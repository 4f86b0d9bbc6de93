"""Score a list of items under several evaluator profiles into one JSON-serialisable dict.

JSON has no NaN or infinity. An undefined metric (R² of constant references, F1 of an empty task)
is written as ``null``. A public profile that reproduces an infinite MAE (its evaluator's answer
when no number parsed) is written as the string ``"inf"`` (``"-inf"`` likewise), so the file
says what the evaluator said without producing invalid JSON.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from medvlm.metrics.bootstrap import DEFAULT_REPLICATES
from medvlm.metrics.items import Item
from medvlm.metrics.profiles import load_profile
from medvlm.metrics.profiles.default import ReportJudge

DEFAULT_PROFILES = ("default", "study")


def json_safe(value: Any) -> Any:
    """``value`` with NumPy scalars made plain, NaN as None and infinities as strings."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    return value


def score_items(
    items: list[Item],
    profiles: Sequence[str] = DEFAULT_PROFILES,
    bootstrap: int = DEFAULT_REPLICATES,
    seed: int = 0,
    judge: ReportJudge | None = None,
) -> dict[str, Any]:
    """``{"profiles": {name: {task: {"pooled": {...}, "n": ..., ...}}}}`` for each profile.

    The default profile adds ``ci`` and ``by_dataset``; the others report pooled values only, as
    their evaluators do. Every profile module is loaded before any scoring starts, so a missing
    one fails at once with its name.
    """
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    modules = {name: load_profile(name) for name in profiles}
    counts = Counter(item.task for item in items)
    results: dict[str, Any] = {}
    for name, module in modules.items():
        if name == "default":
            results[name] = module.score(items, bootstrap=bootstrap, seed=seed, judge=judge)
        else:
            results[name] = {
                task: {"n": counts[task], "pooled": metrics}
                for task, metrics in module.score(items).items()
            }
    return json_safe({"profiles": results})
