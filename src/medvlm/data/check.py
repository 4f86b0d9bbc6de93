"""Check a FLARE tree before a long run: what the merge keeps, and every problem, nothing kept.

The questions are read exactly as the workflow's merge reads them; then every image the kept
questions use is decoded once, as the shard stage decodes it, at a tiny size into a temporary
folder that is removed afterwards. The result is the merge's summary (questions per data set and
task, problems counted by reason) with the decoding added, and every problem line.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path

from medvlm.data.flare import (
    SPLIT_FOLDERS,
    Problem,
    merge_summary,
    merge_tree,
    present_split_folders,
)
from medvlm.data.shards import PROBLEMS_FILE, build_shards
from medvlm.io import read_jsonl, write_jsonl

CHECK_SIZE = 8  # pixels a side: decoding is what is checked, not the picture


def _decode_problems(records, threads: int) -> tuple[list[Problem], int]:
    """The images that would not decode, and how many images were tried."""
    with tempfile.TemporaryDirectory(prefix="medvlm-check-") as tmp:
        records_path = Path(tmp) / "records.jsonl"
        write_jsonl(records_path, records)
        try:
            images = build_shards(records_path, Path(tmp) / "shard", CHECK_SIZE, threads)["images"]
        except ValueError:  # none decoded: every one is a problem line below
            images = None
        problems = [Problem(**row) for row in read_jsonl(Path(tmp) / "shard" / PROBLEMS_FILE)]
    return problems, len(problems) if images is None else images


def check_tree(
    root: str | os.PathLike,
    split_folders: list[str] | None = None,
    *,
    decode: bool = True,
    threads: int = 1,
) -> tuple[dict, list[Problem]]:
    """The summary and the problems of the tree at ``root`` (every split folder it has, unless
    named); raises naming the root when it holds no split folder."""
    root = Path(root)
    folders = split_folders or present_split_folders(root)
    if not folders:
        raise ValueError(f"{root}: no split folder ({', '.join(SPLIT_FOLDERS)}) found")
    records, problems = merge_tree(root, folders)
    images_tried = 0
    if decode and records:
        decode_problems, images_tried = _decode_problems(records, threads)
        problems += decode_problems
    summary = merge_summary(records, problems)
    summary["split_folders"] = dict(Counter(r.split_folder for r in records))
    if decode:
        failed = sum(p.stage == "shards" for p in problems)
        summary["images_decoded"] = images_tried - failed
        summary["images_failed"] = failed
    return summary, problems
