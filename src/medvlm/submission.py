"""The organisers' submission file: one JSON list of every question, ``Answer`` filled in.

As the baselines' inference scripts write it: every questions file of the split folder (the
organisers' answered ``*withGT*`` copies left out), in the order found, each entry copied as given
with its ``Answer`` set to the model's answer, in input order; ``""`` where no answer could be
made (the question's image was missing or unreadable, or the entry itself could not be read).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from medvlm.data.flare import entry_uid, load_entries
from medvlm.io import read_jsonl, write_json

log = logging.getLogger(__name__)

Located = tuple[Path, str, str, Path]  # (root, split folder, category, questions file)


def submission_entries(
    files: Iterable[Located], answers: Mapping[str, str]
) -> tuple[list, list[str]]:
    """Every entry of ``files`` with its answer (by uid), and where each empty one is."""
    entries: list = []
    empty: list[str] = []
    for root, split_folder, _, path in files:
        rel_file = str(path.relative_to(root))
        file_entries, problems = load_entries(root, path, rel_file)
        if file_entries is None:
            log.warning("%s: %s; its questions cannot be copied", rel_file, problems[0].reason)
            continue
        for index, entry in enumerate(file_entries):
            answer = answers.get(entry_uid(split_folder, path, index), "")
            if not answer:
                empty.append(f"{rel_file} entry {index}")
            entries.append({**entry, "Answer": answer} if isinstance(entry, dict) else entry)
    return entries, empty


def prediction_answers(predictions_jsonl: str | os.PathLike) -> dict[str, str]:
    """uid → answer text of our predictions file (medvlm.predictions)."""
    return {str(row["uid"]): row["prediction"] for row in read_jsonl(predictions_jsonl)}


def write_submission(
    files: Iterable[Located], answers: Mapping[str, str], out: str | os.PathLike
) -> dict[str, int]:
    """Write the submission list to ``out``; warn naming the first entries left without an
    answer. Returns the counts ``{"questions", "empty"}``."""
    entries, empty = submission_entries(files, answers)
    if not entries:
        raise ValueError(f"no question to answer; {out} not written")
    write_json(out, entries)
    if empty:
        log.warning(
            "%d of %d questions have an empty Answer (no usable image, an entry that could not "
            "be read, or an empty model output), e.g. %s",
            len(empty),
            len(entries),
            "; ".join(empty[:5]),
        )
    log.info("wrote %d answers to %s", len(entries), out)
    return {"questions": len(entries), "empty": len(empty)}
