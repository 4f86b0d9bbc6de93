"""Named runs from the config: the ``runs:`` block plus every point of every ``sweeps:`` grid.

A sweep names a base run and the values to vary, by dotted key::

    sweeps:
      study:
        base: {family: paligemma, checkpoint: /ckpt/pg2-3b-224.npz, image_size: 224}
        grid: {train.batch_size: [8, 16], train.learning_rate: [5.0e-5, 1.5e-4]}

expands to four runs named ``study_batch_size8_learning_rate5e-05`` and so on. A sweep may list
``points:`` (each a mapping of dotted keys, optionally with a ``name``) instead of a full grid,
for designs like the study's seven models that are not a product of value lists.
"""

from __future__ import annotations

import copy
import itertools
import re
from typing import Any

from medvlm.names import check_name

# Keys of a run that the workflow reads and a family never sees.
WORKFLOW_KEYS = ("zero_shot",)
# Keys a family reads (its own hyper-parameter sections are checked by the family itself).
FAMILY_KEYS = ("family", "checkpoint", "image_size", "seed", "train", "decode")
DEMO_CHECKPOINT = "demo"
_SAFE = re.compile(r"[^A-Za-z0-9_.+-]+")


def _set_dotted(run: dict, dotted: str, value: Any, where: str) -> None:
    *parents, leaf = dotted.split(".")
    node = run
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ValueError(f"{where}: {dotted!r} goes through {part!r}, which is not a mapping")
        node = child
    node[leaf] = value


def _point_name(sweep: str, point: dict) -> str:
    parts = [f"{key.split('.')[-1]}{value}" for key, value in point.items()]
    return _SAFE.sub("-", "_".join([sweep, *parts]))


def _points(sweep: str, spec: dict) -> list[tuple[str, dict]]:
    where = f"sweeps.{sweep}"
    if ("grid" in spec) == ("points" in spec):
        raise ValueError(f"{where}: give exactly one of 'grid' or 'points'")
    if "grid" in spec:
        keys = list(spec["grid"])
        values = [spec["grid"][key] for key in keys]
        for key, options in zip(keys, values, strict=True):
            if not isinstance(options, list) or not options:
                raise ValueError(f"{where}.grid.{key}: needs a non-empty list of values")
        points = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]
        return [(_point_name(sweep, point), point) for point in points]
    named = []
    for point in spec["points"]:
        point = dict(point)
        name = point.pop("name", None)
        named.append((name or _point_name(sweep, point), point))
    return named


def expand_runs(runs: dict | None, sweeps: dict | None) -> dict[str, dict]:
    """Every named run: explicit runs first, then the sweeps' points in order.

    Raises naming the sweep when a name repeats or a dotted key cannot be set.
    """
    expanded = {name: copy.deepcopy(run) for name, run in (runs or {}).items()}
    for sweep, spec in (sweeps or {}).items():
        for name, point in _points(sweep, spec):
            if name in expanded:
                raise ValueError(f"sweeps.{sweep}: run name {name!r} is already taken")
            run = copy.deepcopy(spec["base"])
            for dotted, value in point.items():
                _set_dotted(run, dotted, value, f"sweeps.{sweep}")
            expanded[name] = run
    for name in expanded:
        check_name(name, "run name")
    return expanded


def family_run(run: dict, demo_dir: str) -> dict:
    """The slice of a run its family reads, with ``checkpoint: demo`` resolved to ``demo_dir``."""
    sliced = {key: copy.deepcopy(run[key]) for key in FAMILY_KEYS if key in run}
    if sliced.get("checkpoint", DEMO_CHECKPOINT) == DEMO_CHECKPOINT:
        sliced["checkpoint"] = demo_dir
    return sliced


def training_slice(run: dict) -> dict:
    """What training depends on: everything but the decoding settings."""
    return {key: value for key, value in run.items() if key != "decode"}
