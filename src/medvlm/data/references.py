"""Reference questions read straight from one folder of a FLARE tree, without images.

A score-only config (predictions made elsewhere, scored against ``validation-public``) needs no
merge, no split and no image on disk: this stage writes the folder's answered questions as
records, with the data filters applied, and every entry it cannot use as a problem line.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from medvlm.data.flare import read_questions
from medvlm.data.split import SplitConfig, keep
from medvlm.io import write_jsonl

log = logging.getLogger(__name__)


def write_references(
    root: str | os.PathLike,
    folder: str,
    filters: dict,
    records_path: str | os.PathLike,
    problems_path: str | os.PathLike,
) -> int:
    """Write the answered questions of ``root/folder`` kept by ``filters`` (``datasets``,
    ``task_types``, ``categories``); fail naming the folder when none is left."""
    records, problems = read_questions(Path(root) / folder, images=False)
    config = SplitConfig(**{key: tuple(values) for key, values in filters.items()})
    kept = [r for r in records if keep(r, config) and r.answer]
    write_jsonl(problems_path, problems)
    if not kept:
        raise ValueError(
            f"no answered question in {Path(root) / folder} passes the data filters; "
            f"{len(problems)} problem(s) written to {problems_path}"
        )
    log.info("%d reference questions from %s, %d problems", len(kept), folder, len(problems))
    return write_jsonl(records_path, sorted(kept, key=lambda r: r.uid))
