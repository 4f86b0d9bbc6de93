"""Resume state in the run's resume directory, and copying a directory atomically.

The trainer writes ``checkpoint-<step>/`` (adapter, optimiser, scheduler, RNG, trainer state)
file by file, so a kill can leave a half-written one. :class:`MarkComplete` drops a marker into a
checkpoint once the trainer has finished it; :func:`last_complete_checkpoint` only trusts marked
ones, and the trainer keeps the previous complete checkpoint until the next one is written.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from transformers import TrainerCallback

from medvlm.io import atomic_dir, write_json

COMPLETE_MARKER = "complete.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_steps(resume_dir: Path) -> dict[int, Path]:
    """Step → directory of every complete checkpoint in ``resume_dir``."""
    if not resume_dir.is_dir():
        return {}
    found = {}
    for path in resume_dir.iterdir():
        match = _CHECKPOINT.match(path.name)
        if match and (path / COMPLETE_MARKER).is_file():
            found[int(match[1])] = path
    return found


def last_complete_checkpoint(resume_dir: Path) -> Path | None:
    steps = checkpoint_steps(resume_dir)
    return steps[max(steps)] if steps else None


class MarkComplete(TrainerCallback):
    """Marks each checkpoint complete once the trainer has written all of it."""

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            write_json(folder / COMPLETE_MARKER, {"step": state.global_step})


def copy_dir(source: Path, target: Path) -> None:
    """Copy a directory onto ``target`` atomically."""
    with atomic_dir(target) as tmp:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
