"""Read any FLARE-layout tree and merge its questions files into one list of records.

Layout: ``<root>/<split folder>/<Category>/<dataset>/<dataset>_questions_<x>.json`` with images
under the data set folder. Every entry that cannot be used becomes a :class:`Problem` naming the
file, the entry index and the reason; nothing is dropped silently and nothing raises for bad data.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from medvlm.io import write_json, write_jsonl
from medvlm.records import (
    REQUIRED_FIELDS,
    Record,
    UnknownTaskType,
    answer_text,
    normalise_task_type,
)

log = logging.getLogger(__name__)

QUESTIONS_GLOB = "*_questions_*.json"


@dataclass(frozen=True)
class Problem:
    """One unusable (``skipped``) or mended (``repaired``) piece of input."""

    stage: str
    file: str
    entry: int | str | None
    reason: str
    action: str = "skipped"

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def questions_files(root: Path, split_folders: Iterable[str]) -> Iterator[tuple[str, str, Path]]:
    """Yield ``(split folder, category, questions file)`` for every questions file, sorted."""
    for split_folder in split_folders:
        split_dir = root / split_folder
        if not split_dir.is_dir():
            log.warning("split folder %s not found; skipped", split_dir)
            continue
        for category_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            for dataset_dir in sorted(p for p in category_dir.iterdir() if p.is_dir()):
                for path in sorted(dataset_dir.glob(QUESTIONS_GLOB)):
                    yield split_folder, category_dir.name, path


def resolve_image(dataset_dir: Path, name: str) -> Path | None:
    """Find an image named in ``ImageName``: as written, else its basename in the images folder.

    Real files write ``imagesTr/x.jpg`` relative to the data set folder; some loaders in the wild
    only keep the basename, so a name that is not found as written is looked up in ``images*/``.
    """
    direct = dataset_dir / name
    if direct.is_file():
        return direct.resolve()
    basename = Path(name).name
    for images_dir in sorted(dataset_dir.glob("images*")):
        candidate = images_dir / basename
        if candidate.is_file():
            return candidate.resolve()
    return None


def read_questions_file(
    root: Path, split_folder: str, category: str, path: Path
) -> tuple[list[Record], list[Problem]]:
    """Turn one questions file into records; every unusable entry becomes a problem."""
    rel_file = str(path.relative_to(root))
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return [], [Problem("merge", rel_file, None, f"not valid JSON: {error}")]
    if not isinstance(entries, list):
        kind = type(entries).__name__
        return [], [Problem("merge", rel_file, None, f"expected a JSON list, found {kind}")]

    dataset_dir = path.parent
    records: list[Record] = []
    problems: list[Problem] = []
    for index, entry in enumerate(entries):
        record, entry_problems = _read_entry(
            entry, index, root, split_folder, category, dataset_dir, path, rel_file
        )
        problems.extend(entry_problems)
        if record is not None:
            records.append(record)
    return records, problems


def _read_entry(
    entry, index, root, split_folder, category, dataset_dir, path, rel_file
) -> tuple[Record | None, list[Problem]]:
    def skip(reason: str) -> tuple[None, list[Problem]]:
        return None, [Problem("merge", rel_file, index, reason)]

    if not isinstance(entry, dict):
        return skip(f"entry is a {type(entry).__name__}, not an object")
    missing = [name for name in REQUIRED_FIELDS if name not in entry or entry[name] is None]
    if missing:
        return skip(f"missing field(s): {', '.join(missing)}")
    try:
        task = normalise_task_type(entry["TaskType"])
    except UnknownTaskType as error:
        return skip(str(error))
    if not isinstance(entry["Question"], str) or not entry["Question"].strip():
        return skip("Question is empty or not a string")

    problems: list[Problem] = []
    answer = entry["Answer"]
    if not isinstance(answer, str):
        answer = answer_text(answer)
        problems.append(
            Problem(
                "merge",
                rel_file,
                index,
                f"Answer is a {type(entry['Answer']).__name__}; kept as its JSON text {answer!r}",
                action="repaired",
            )
        )

    names = entry["ImageName"]
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        return skip(f"ImageName must be a path or a list of paths, got {entry['ImageName']!r}")
    paths = []
    for name in names:
        resolved = resolve_image(dataset_dir, name)
        if resolved is None:
            return skip(f"image not found: {dataset_dir / name}")
        paths.append(str(resolved))

    record = Record(
        uid=f"{split_folder}/{dataset_dir.name}/{path.stem}/{index}",
        dataset=dataset_dir.name,
        category=category,
        split_folder=split_folder,
        source_file=rel_file,
        entry_index=index,
        task=task,
        task_raw=entry["TaskType"],
        modality=str(entry["Modality"]),
        question=entry["Question"],
        answer=answer,
        image_names=names,
        image_paths=paths,
    )
    return record, problems


def merge_tree(
    root: str | Path, split_folders: Iterable[str]
) -> tuple[list[Record], list[Problem]]:
    """Read every questions file under ``root`` in the given split folders."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"FLARE data root {root} does not exist (config key data.root)")
    records: list[Record] = []
    problems: list[Problem] = []
    for split_folder, category, path in questions_files(root, split_folders):
        file_records, file_problems = read_questions_file(root, split_folder, category, path)
        records.extend(file_records)
        problems.extend(file_problems)
    return records, problems


def merge_summary(records: list[Record], problems: list[Problem]) -> dict:
    """Counts a person checks after a merge: questions per data set and task, problems by reason."""
    by_dataset: dict[str, Counter] = {}
    for record in records:
        by_dataset.setdefault(record.dataset, Counter())[record.task] += 1
    skipped = Counter(_reason_kind(p.reason) for p in problems if p.action == "skipped")
    repaired = Counter(_reason_kind(p.reason) for p in problems if p.action == "repaired")
    return {
        "questions": len(records),
        "images": len({path for record in records for path in record.image_paths}),
        "by_dataset": {name: dict(sorted(c.items())) for name, c in sorted(by_dataset.items())},
        "skipped": dict(sorted(skipped.items())),
        "repaired": dict(sorted(repaired.items())),
    }


def _reason_kind(reason: str) -> str:
    return reason.split(":")[0].split(";")[0].strip()


def run_merge(
    root: str | Path,
    split_folders: Iterable[str],
    records_path: str | Path,
    problems_path: str | Path,
    summary_path: str | Path,
) -> dict:
    """The merge stage: write records, problems and a summary; fail only if nothing is usable."""
    split_folders = list(split_folders)
    records, problems = merge_tree(root, split_folders)
    summary = merge_summary(records, problems)
    for name, counts in summary["by_dataset"].items():
        log.info("%-16s %s", name, ", ".join(f"{task} {n}" for task, n in counts.items()))
    log.info("%d questions kept, %d problems", len(records), len(problems))
    write_jsonl(problems_path, problems)
    if not records:
        raise ValueError(
            f"no usable questions under {root} in {split_folders}; "
            f"{len(problems)} problem(s) written to {problems_path}"
        )
    write_jsonl(records_path, records)
    write_json(summary_path, summary)
    return summary
