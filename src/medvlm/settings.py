"""Building a family's settings dataclasses from plain config dicts, with errors naming the key."""

from __future__ import annotations

import dataclasses


def from_mapping(cls, values: dict | None, where: str):
    """``cls(**values)`` with an error naming ``where.key`` for a key ``cls`` does not have."""
    values = dict(values or {})
    known = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            raise ValueError(f"{where}.{key}: unknown key; known keys: {', '.join(sorted(known))}")
    return cls(**values)


def check(condition: bool, key: str, message: str) -> None:
    """Raise ``ValueError("<key>: <message>")`` unless ``condition`` holds."""
    if not condition:
        raise ValueError(f"{key}: {message}")


def check_run(run: dict, family: str, checkpoint_hint: str) -> None:
    """Reject a run a family cannot read: an unknown key, another family, no checkpoint."""
    from medvlm.runs import FAMILY_KEYS

    for key in run:
        if key not in FAMILY_KEYS:
            raise ValueError(f"run.{key}: unknown key; known keys: {', '.join(FAMILY_KEYS)}")
    if run.get("family", family) != family:
        raise ValueError(f"run.family: expected {family!r}, got {run['family']!r}")
    if "checkpoint" not in run:
        raise ValueError(f"run.checkpoint: missing ({checkpoint_hint})")
