"""Names from the config that become file and folder names: runs, external predictions, data sets.

A name is used as one path component under ``results/`` (``results/scores/<name>/test.json``), so
it must not climb out (``..``), hide (a leading ``.``), read as a command-line option (a leading
``-``) or hold a separator: letters, digits and ``_ . + -``, starting with a letter, digit or
``_``, at most 100 characters.
"""

from __future__ import annotations

import re

MAX_LENGTH = 100
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")


def check_name(name: object, where: str) -> str:
    """``name`` if it is a safe path component; else ``ValueError`` naming ``where``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > MAX_LENGTH:
        raise ValueError(
            f"{where}: {name!r} is not a usable name (letters, digits and _ . + - only, not "
            f"starting with . or -, at most {MAX_LENGTH} characters)"
        )
    return name
