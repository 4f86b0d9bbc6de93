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
