"""Evaluator profiles: the project's default, the study's metrics, and the public evaluators.

Each profile is a module with ``score(items: list[Item]) -> {task: {metric: value}}``; the default
profile returns richer entries (intervals, per-data-set values). Modules load on demand, so a
profile that is not installed fails only when it is asked for, with its name in the message.
"""

from __future__ import annotations

import importlib
from types import ModuleType

PUBLIC_PROFILES = ("qwen25vl", "paligemma", "qwen3vl", "flare26")
PROFILES = ("default", "study", *PUBLIC_PROFILES)

_MODULES = {name: f"medvlm.metrics.profiles.{name}" for name in PROFILES}


class ProfileUnavailable(LookupError):
    """A profile name that is unknown, or whose module is not installed."""


def load_profile(name: str) -> ModuleType:
    """The module of profile ``name``; raises :class:`ProfileUnavailable` naming it."""
    if name not in _MODULES:
        raise ProfileUnavailable(
            f"unknown evaluator profile {name!r}; known profiles: {', '.join(PROFILES)}"
        )
    module_name = _MODULES[name]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        raise ProfileUnavailable(
            f"evaluator profile {name!r} is not available: module {module_name} does not exist"
        ) from None
