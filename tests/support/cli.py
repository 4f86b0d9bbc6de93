"""Run the installed ``medvlm`` command in a subprocess, as a user would from the shell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MEDVLM = Path(sys.executable).parent / "medvlm"


def run_medvlm(*args: str, cwd: str | os.PathLike | None = None, timeout: int = 900):
    """``medvlm ARGS...``; returns the completed process (stdout and stderr as text)."""
    return subprocess.run(
        [str(MEDVLM), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
