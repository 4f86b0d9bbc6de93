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
from dataclasses import dataclass
from typing import Any

from medvlm.names import check_name

# Keys of a run that its family reads; the workflow alone reads the others (``zero_shot``).
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


@dataclass(frozen=True)
class Origin:
    """Where a run's values come from in the config, to name a bad one by its config key.

    ``base`` is the mapping the run starts from (``runs.pg``, ``sweeps.study.base``);
    ``overrides`` maps each dotted key a sweep point sets to where it is set
    (``train.learning_rate`` → ``sweeps.study.points[2].train.learning_rate``).
    """

    base: str
    overrides: tuple[tuple[str, str], ...] = ()
    sweep_run: str | None = None  # the run's name, for a run a sweep made

    def key(self, dotted: str) -> str:
        """The config key of the run's ``dotted`` key (``""``: the run itself)."""
        for set_key, where in self.overrides:
            if dotted == set_key or dotted.startswith(set_key + "."):
                return where + dotted[len(set_key) :]
        return f"{self.base}.{dotted}" if dotted else self.base


def _point_name(sweep: str, point: dict) -> str:
    parts = [f"{key.split('.')[-1]}{value}" for key, value in point.items()]
    return _SAFE.sub("-", "_".join([sweep, *parts]))


def _points(sweep: str, spec: dict) -> list[tuple[str, dict, dict[str, str]]]:
    """``(name, point, where)`` per point; ``where`` maps each dotted key to its config key."""
    where = f"sweeps.{sweep}"
    if ("grid" in spec) == ("points" in spec):
        raise ValueError(f"{where}: give exactly one of 'grid' or 'points'")
    if "grid" in spec:
        keys = list(spec["grid"])
        values = [spec["grid"][key] for key in keys]
        for key, options in zip(keys, values, strict=True):
            if not isinstance(options, list) or not options:
                raise ValueError(f"{where}.grid.{key}: needs a non-empty list of values")
        expanded = []
        for combo in itertools.product(*(enumerate(options) for options in values)):
            pairs = list(zip(keys, combo, strict=True))
            point = {key: value for key, (_, value) in pairs}
            places = {key: f"{where}.grid.{key}[{i}]" for key, (i, _) in pairs}
            expanded.append((_point_name(sweep, point), point, places))
        return expanded
    named = []
    for i, point in enumerate(spec["points"]):
        point = dict(point)
        name = point.pop("name", None)
        places = {key: f"{where}.points[{i}].{key}" for key in point}
        named.append((name or _point_name(sweep, point), point, places))
    return named


def expand_runs_with_origins(
    runs: dict | None, sweeps: dict | None
) -> dict[str, tuple[dict, Origin]]:
    """Every named run with its :class:`Origin`: explicit runs first, then the sweeps' points
    in order. Raises naming the sweep when a name repeats or a dotted key cannot be set."""
    expanded = {
        name: (copy.deepcopy(run), Origin(f"runs.{name}")) for name, run in (runs or {}).items()
    }
    for sweep, spec in (sweeps or {}).items():
        for name, point, places in _points(sweep, spec):
            if name in expanded:
                raise ValueError(f"sweeps.{sweep}: run name {name!r} is already taken")
            run = copy.deepcopy(spec["base"])
            for dotted, value in point.items():
                _set_dotted(run, dotted, value, f"sweeps.{sweep}")
            overrides = tuple(sorted(places.items(), key=lambda item: -len(item[0])))
            expanded[name] = (run, Origin(f"sweeps.{sweep}.base", overrides, name))
    for name in expanded:
        check_name(name, "run name")
    return expanded


def expand_runs(runs: dict | None, sweeps: dict | None) -> dict[str, dict]:
    """Every named run (see :func:`expand_runs_with_origins`)."""
    return {name: run for name, (run, _) in expand_runs_with_origins(runs, sweeps).items()}


def family_run(run: dict, demo_dir: str) -> dict:
    """The slice of a run its family reads, with ``checkpoint: demo`` resolved to ``demo_dir``."""
    sliced = {key: copy.deepcopy(run[key]) for key in FAMILY_KEYS if key in run}
    if sliced.get("checkpoint", DEMO_CHECKPOINT) == DEMO_CHECKPOINT:
        sliced["checkpoint"] = demo_dir
    return sliced


def training_slice(run: dict) -> dict:
    """What training depends on: everything but the decoding settings."""
    return {key: value for key, value in run.items() if key != "decode"}
