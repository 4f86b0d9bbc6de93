"""Score items under several evaluator profiles into one JSON-serialisable dict; score files.

:func:`score_items` scores a list of items; :func:`score_files` pairs a predictions file with its
references (:mod:`medvlm.metrics.pairing`), scores them and writes the score file.

JSON has no NaN or infinity. An undefined metric (R² of constant references, F1 of an empty task)
is written as ``null``. A public profile that reproduces an infinite MAE (its evaluator's answer
when no number parsed) is written as the string ``"inf"`` (``"-inf"`` likewise), so the file
says what the evaluator said without producing invalid JSON.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
from collections import Counter
from collections.abc import Sequence
from functools import partial
from numbers import Number
from typing import Any

import numpy as np

from medvlm.io import write_json
from medvlm.metrics.bootstrap import DEFAULT_REPLICATES, LEVEL
from medvlm.metrics.items import Item
from medvlm.metrics.pairing import pair
from medvlm.metrics.profiles import load_profile
from medvlm.metrics.profiles.default import ReportJudge

log = logging.getLogger(__name__)

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
    judges: Sequence[ReportJudge] = (),
) -> dict[str, Any]:
    """``{"profiles": {name: {task: {"pooled": {...}, "n": ..., ...}}}}`` for each profile.

    The default profile adds ``ci`` and ``by_dataset``; the others report pooled values only, as
    their evaluators do: numbers under ``pooled``, anything else their evaluator reports (nested
    breakdowns, labels) under ``details``. Each of the ``judges`` (GREEN, CRIMSON) scores reports
    for the default profile and for every public profile whose evaluator reports its metric.
    Every profile module is loaded before any scoring starts, so a missing one fails at once
    with its name.
    """
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    modules = {name: load_profile(name) for name in profiles}
    counts = Counter(item.task for item in items)
    results: dict[str, Any] = {}
    for name, module in modules.items():
        if name == "default":
            results[name] = module.score(items, bootstrap=bootstrap, seed=seed, judges=judges)
        else:
            results[name] = {
                task: _public_entry(counts[task], metrics)
                for task, metrics in module.score(items, **_judges_for(module, judges)).items()
            }
    return json_safe({"profiles": results})


# What a public profile's ``<metric>_judge(references, predictions)`` returns, per judge metric:
# GREEN's mean, or CRIMSON's whole summary (its evaluator reports error counts too).
_PROFILE_VIEW = {"green": lambda scores: scores["green"], "crimson": lambda scores: scores}


def _judges_for(module, judges: Sequence[ReportJudge]) -> dict[str, Any]:
    """The judges a public profile's evaluator scores reports with, as its keyword arguments."""
    parameters = inspect.signature(module.score).parameters
    return {
        f"{judge.metric}_judge": partial(_profile_scores, judge)
        for judge in judges
        if f"{judge.metric}_judge" in parameters
    }


def _profile_scores(judge: ReportJudge, references: list[str], texts: list[str]) -> Any:
    return _PROFILE_VIEW[judge.metric](judge.score(references, texts))


def _public_entry(n: int, metrics: dict[str, Any]) -> dict[str, Any]:
    pooled = {k: v for k, v in metrics.items() if isinstance(v, Number)}
    details = {k: v for k, v in metrics.items() if k not in pooled}
    return {"n": n, "pooled": pooled, **({"details": details} if details else {})}


def _judges(green_judge: str | None, crimson_judge: str | None) -> list[ReportJudge]:
    """The judges of the given local checkpoint folders (GREEN first)."""
    judges: list[ReportJudge] = []
    if green_judge is not None:
        from medvlm.metrics.green import GreenJudge

        judges.append(GreenJudge(green_judge))
    if crimson_judge is not None:
        from medvlm.metrics.crimson import CrimsonJudge

        judges.append(CrimsonJudge(crimson_judge))
    return judges


def score_files(
    references: str | os.PathLike,
    predictions: str | os.PathLike,
    out: str | os.PathLike,
    profiles: Sequence[str] = DEFAULT_PROFILES,
    bootstrap: int = DEFAULT_REPLICATES,
    seed: int = 0,
    green_judge: str | None = None,
    crimson_judge: str | None = None,
) -> dict:
    """Score one predictions file against its references and write the score file.

    Both paths take every form :mod:`medvlm.metrics.pairing` reads. Nothing is written when
    either side cannot be read. ``green_judge`` and ``crimson_judge`` are local judge folders.
    """
    if bootstrap < 0 or seed < 0:
        raise ValueError("bootstrap and seed must be >= 0")
    judges = _judges(green_judge, crimson_judge)
    pairing = pair(references, predictions)
    scores = score_items(pairing.items, list(profiles), bootstrap, seed, judges)
    missing = pairing.missing_report()
    result = {
        "inputs": {
            "references": str(references),
            "predictions": str(predictions),
            "n_items": len(pairing.items),
        },
        "bootstrap": {"replicates": bootstrap, "seed": seed, "level": LEVEL},
        "missing": missing,
        "cut_answers": pairing.cut_report(),
        **scores,
    }
    write_json(out, result)
    counts = ", ".join(
        f"{v} {k[2:].replace('_', ' ')}" for k, v in missing.items() if k[:2] == "n_"
    )
    log.info("scored %d questions (%s) -> %s", len(pairing.items), counts, out)
    return result
