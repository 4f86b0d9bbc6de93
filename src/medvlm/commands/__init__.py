"""The subcommands of the ``medvlm`` command, one module each (see :mod:`medvlm.cli`)."""

from __future__ import annotations

import sys
from collections.abc import Callable


def reporting(action: Callable[[], object], *errors: type[Exception]) -> int:
    """Run ``action``: exit status 0, or 1 with ``error: <message>`` on stderr when it raises a
    file or value error (or one of ``errors``): bad input, named, instead of a traceback."""
    try:
        action()
    except (OSError, ValueError, *errors) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
