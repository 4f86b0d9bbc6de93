"""Read any FLARE-layout tree and merge its questions files into one list of records.

Layout: ``<root>/<split folder>/<Category>/<dataset>/<dataset>_questions_<x>.json`` with images
under the data set folder. A split folder has one canonical name (``SPLIT_FOLDERS``, spelt as in
FLARE 2025), which config keys, records and uids use; on disk FLARE 2026's spelling with ``_``
(``validation_public``) is read as well (:func:`split_folder_path`). Every entry that cannot be
used becomes a :class:`Problem` naming the file, the entry index and the reason; nothing is
dropped silently and nothing raises for bad data.

Reading is in two layers: an entry's text fields (question, task type, answer, image names) are
checked without touching images (``images=False``: what scoring needs), and only then are its
images looked up (the merge and ``medvlm predict``). Questions files whose name holds ``withGT``
(the organisers' answered copies of hidden files) are never picked up by a folder walk. In the
unlabelled folders (``validation-hidden``, ``testing``) an entry needs no ``Answer``, nor anywhere
when the questions are only answered (``answers=False``: ``medvlm predict``, whatever the folder
is called).

Hostile trees are read safely. Links are followed, but a questions file must lie inside the
data root and an image inside its data set folder once every link is resolved; one that does not
is a problem ("outside the data root", "outside the data set folder") and is never opened. FIFOs
and devices are never read from. A file that cannot be read or parsed (a folder, a broken link,
JSON nested too deeply, an integer too long, bytes that are not UTF-8) is one problem for the
file; an entry with a lone surrogate, a key written twice or an unusable image name is one
problem for the entry. A data set name under two categories is one problem per clashing file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from medvlm.io import (
    LONE_SURROGATE,
    JSONError,
    brief,
    is_unicode,
    open_regular,
    parse_json,
    printable,
    write_json,
    write_jsonl,
)
from medvlm.records import (
    REQUIRED_FIELDS,
    Record,
    UnknownTaskType,
    answer_text,
    normalise_task_type,
)

log = logging.getLogger(__name__)

QUESTIONS_GLOB = "*_questions_*.json"
OUTSIDE_DATASET = "outside the data set folder"
# A questions file is read whole: one larger than this (real ones are a few MB) is a problem,
# not a read that fills the memory.
MAX_QUESTIONS_BYTES = 512 * 2**20
ANSWERED_COPY_MARK = "withGT"  # in the name of an organiser's answered copy of a hidden file
SPLIT_FOLDERS = ("training", "validation-public", "validation-hidden", "testing")
UNLABELLED_FOLDERS = ("validation-hidden", "testing")  # their questions carry no answers


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


def folder_spellings(split_folder: str) -> tuple[str, ...]:
    """The names a split folder may have on disk: as given, then with ``_`` for ``-`` (FLARE 2026
    writes ``validation_public/`` and ``validation_hidden/``)."""
    return tuple(dict.fromkeys((split_folder, split_folder.replace("-", "_"))))


def split_folder_path(root: str | Path, split_folder: str) -> Path:
    """Where split folder ``split_folder`` (a canonical name) of the tree at ``root`` lies: the
    first of its :func:`folder_spellings` that is a folder, else its canonical path (which then
    does not exist)."""
    for name in folder_spellings(split_folder):
        if (Path(root) / name).is_dir():
            return Path(root) / name
    return Path(root) / split_folder


def present_split_folders(root: str | Path) -> list[str]:
    """The canonical names of the split folders the tree at ``root`` has, in ``SPLIT_FOLDERS``
    order."""
    return [folder for folder in SPLIT_FOLDERS if split_folder_path(root, folder).is_dir()]


def canonical_split_folder(name: str) -> str:
    """The canonical name of a split folder found on disk as ``name`` (any other name as it is)."""
    for folder in SPLIT_FOLDERS:
        if name in folder_spellings(folder):
            return folder
    return name


def is_questions_file(path: Path) -> bool:
    """Named ``<dataset>_questions_<x>.json``, and not an organiser's answered copy.

    The name decides: a folder or a broken link with such a name is read, and becomes a problem.
    """
    return path.match(QUESTIONS_GLOB) and ANSWERED_COPY_MARK not in path.name


def questions_files(root: Path, split_folders: Iterable[str]) -> Iterator[tuple[str, str, Path]]:
    """Yield ``(split folder, category, questions file)`` for every questions file, sorted."""
    for split_folder in split_folders:
        split_dir = split_folder_path(root, split_folder)
        if not split_dir.is_dir():
            log.warning("split folder %s not found; skipped", split_dir)
            continue
        for category_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            for dataset_dir in sorted(p for p in category_dir.iterdir() if p.is_dir()):
                for path in sorted(dataset_dir.glob(QUESTIONS_GLOB)):
                    if is_questions_file(path):
                        yield split_folder, category_dir.name, path


def questions_digest(root: str | Path, split_folders: Iterable[str]) -> str:
    """A digest of the names and content of every questions file the merge reads under
    ``root``: what the workflow compares to rerun the merge when questions are added to a tree or
    changed (a copy or ``touch`` that keeps the content changes nothing). A file the merge would
    refuse (outside the data root, not a regular file, unreadable) counts by its name alone and
    is not opened; images are not looked at."""
    root = Path(root)
    if not root.is_dir():
        return ""
    real_root = os.path.realpath(root)
    folders = [folder for folder in split_folders if split_folder_path(root, folder).is_dir()]
    hasher = hashlib.sha256()
    for _, _, path in questions_files(root, folders):
        real, content = os.path.realpath(path), "not read"
        try:
            if inside(real, real_root) and stat.S_ISREG(os.stat(real).st_mode):
                with open(real, "rb") as handle:
                    content = hashlib.file_digest(handle, "sha256").hexdigest()
        except OSError:
            pass
        hasher.update(os.fsencode(path.relative_to(root)) + f" {content}\n".encode())
    return hasher.hexdigest()


class ImageRefused(Exception):
    """An ``ImageName`` that names no usable image; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def inside(path: str, folder: str) -> bool:
    """Whether the absolute, normalised ``path`` is ``folder`` or lies under it."""
    return os.path.commonpath([path, folder]) == folder


def resolve_image(dataset_dir: Path, name: str) -> Path:
    """The real path of an image named in ``ImageName``: as written, else its basename in the
    images folder; :class:`ImageRefused` when there is none inside the data set folder.

    Real files write ``imagesTr/x.jpg`` relative to the data set folder; some loaders in the wild
    only keep the basename, so a name that is not found as written is looked up in ``images*/``.
    A name that points out of the folder as written (an absolute path elsewhere, a ``..`` climb)
    is refused without a look-up; a link that resolves outside is refused; neither target is
    ever touched.
    """
    if "\0" in name:
        raise ImageRefused(f"ImageName holds a NUL character: {brief(name)}")
    written = os.path.abspath(os.path.join(dataset_dir, name))
    folder = os.path.realpath(dataset_dir)
    if not (inside(written, os.path.abspath(dataset_dir)) or inside(written, folder)):
        raise ImageRefused(f"{OUTSIDE_DATASET}: image {brief(name)}")
    candidates = [Path(written)]
    candidates += [images / Path(name).name for images in sorted(dataset_dir.glob("images*"))]
    refusals = []
    for candidate in candidates:
        real = os.path.realpath(candidate)
        if not inside(real, folder):
            link = f"a link to {printable(real)}"
            refusals.append(f"{OUTSIDE_DATASET}: image {brief(name)} is {link}")
            continue
        try:
            if stat.S_ISREG(os.stat(real).st_mode):
                if not is_unicode(real):
                    raise ImageRefused(f"image path not UTF-8 text: {printable(real)}")
                return Path(real)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as error:  # a name too long, a link loop, no permission
            refusals.append(f"image cannot be used: {brief(name)} ({error.strerror})")
    raise ImageRefused(refusals[0] if refusals else f"image not found: {dataset_dir / name}")


def _object(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object as a dict that remembers the keys written more than once."""
    found = _Object(pairs)
    if len(found) < len(pairs):
        counts = Counter(key for key, _ in pairs)
        found.repeated = tuple(sorted(key for key, n in counts.items() if n > 1))
    return found


class _Object(dict):
    repeated: tuple[str, ...] = ()


def json_kind(value: object) -> str:
    """What a parsed JSON value is, in JSON's words."""
    for kinds, name in ((bool, "boolean"), (dict, "object"), (list, "list"), (str, "string")):
        if isinstance(value, kinds):
            return name
    return "null" if value is None else "number"


def load_entries(root: Path, path: Path, rel_file: str) -> tuple[list | None, list[Problem]]:
    """The JSON list of one questions file as written, or None and the problem that stops it.

    The file is opened only when it lies inside the data root, and only read when it is a
    regular file.
    """

    def stop(reason: str) -> tuple[None, list[Problem]]:
        return None, [Problem("merge", rel_file, None, reason)]

    if not is_unicode(str(path)):
        return stop("path not UTF-8 text")
    real = os.path.realpath(path)
    if not inside(real, os.path.realpath(root)):
        return stop(f"outside the data root: a link to {printable(real)}")
    try:
        with open_regular(path) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_QUESTIONS_BYTES:
                return stop(f"file too large: {size:,} bytes, over {MAX_QUESTIONS_BYTES:,}")
            data = handle.read()
    except OSError as error:
        broken = " (a broken link)" if os.path.islink(path) else ""
        return stop(f"cannot read: {error.strerror}{broken}")
    try:
        entries = parse_json(data, object_pairs_hook=_object, whole_text=False)
    except JSONError as error:
        return stop(error.reason)
    if not isinstance(entries, list):
        return stop(f"expected a JSON list, found {json_kind(entries)}")
    return entries, []


def entry_uid(split_folder: str, path: Path, index: int) -> str:
    """The stable id of entry ``index`` of questions file ``path``: what every stage keys on."""
    return f"{split_folder}/{path.parent.name}/{path.stem}/{index}"


def read_questions_file(
    root: Path,
    split_folder: str,
    category: str,
    path: Path,
    *,
    images: bool = True,
    answers: bool = True,
) -> tuple[list[Record], list[Problem]]:
    """Turn one questions file into records; every unusable entry becomes a problem.

    With ``images=False`` no image is looked up: records carry no image paths, and no entry is
    skipped for its images (scoring needs none). With ``answers=False`` no entry needs an
    ``Answer`` (questions to be answered); otherwise one does outside the unlabelled folders.
    """
    labelled = answers and split_folder not in UNLABELLED_FOLDERS
    rel_file = printable(path.relative_to(root))
    entries, problems = load_entries(root, path, rel_file)
    if entries is None:
        return [], problems
    records: list[Record] = []
    for index, entry in enumerate(entries):
        record, entry_problems = _read_entry(
            entry, index, split_folder, category, path, rel_file, images, labelled
        )
        problems.extend(entry_problems)
        if record is not None:
            records.append(record)
    return records, problems


def _question_fields(entry, labelled: bool, note) -> tuple[dict | None, str | None]:
    """The record fields an entry's text gives (no image is touched), or the reason it is
    unusable. ``note(reason)`` records a repair."""
    if not isinstance(entry, dict):
        return None, f"entry is a {json_kind(entry)}, not an object"
    repeated = getattr(entry, "repeated", ())
    if repeated:
        return None, f"key written more than once: {', '.join(map(brief, repeated))}"
    if not is_unicode(entry):
        fields = [brief(key) for key, value in entry.items() if not is_unicode([key, value])]
        return None, f"{LONE_SURROGATE}: {', '.join(fields)}"
    required = REQUIRED_FIELDS if labelled else tuple(f for f in REQUIRED_FIELDS if f != "Answer")
    missing = [name for name in required if name not in entry or entry[name] is None]
    if missing:
        return None, f"missing field(s): {', '.join(missing)}"
    try:
        task = normalise_task_type(entry["TaskType"])
    except UnknownTaskType as error:
        return None, str(error)
    if not isinstance(entry["Question"], str) or not entry["Question"].strip():
        return None, "Question is empty or not a string"

    answer = entry.get("Answer")
    if answer is None:
        answer = ""
    elif not isinstance(answer, str):
        answer = answer_text(answer)
        kind = json_kind(entry["Answer"])
        note(f"Answer is a {kind}; kept as its JSON text {brief(answer)}")

    names = entry["ImageName"]
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        return None, f"ImageName must be a path or a list of paths: got {brief(entry['ImageName'])}"
    fields = {
        "task": task,
        "task_raw": entry["TaskType"],
        "modality": str(entry["Modality"]),
        "question": entry["Question"],
        "answer": answer,
        "image_names": names,
    }
    return fields, None


def _read_entry(
    entry, index, split_folder, category, path, rel_file, images, labelled
) -> tuple[Record | None, list[Problem]]:
    problems: list[Problem] = []

    def note(reason: str) -> None:
        problems.append(Problem("merge", rel_file, index, reason, action="repaired"))

    def skip(reason: str) -> tuple[None, list[Problem]]:
        return None, [*problems, Problem("merge", rel_file, index, reason)]

    fields, reason = _question_fields(entry, labelled, note)
    if fields is None:
        return skip(reason)
    dataset_dir = path.parent
    paths = []
    for name in fields["image_names"] if images else ():
        try:
            paths.append(str(resolve_image(dataset_dir, name)))
        except ImageRefused as refused:
            return skip(refused.reason)

    record = Record(
        uid=entry_uid(split_folder, path, index),
        dataset=dataset_dir.name,
        category=category,
        split_folder=split_folder,
        source_file=rel_file,
        entry_index=index,
        image_paths=paths,
        **fields,
    )
    return record, problems


def merge_tree(
    root: str | Path, split_folders: Iterable[str]
) -> tuple[list[Record], list[Problem]]:
    """Read every questions file under ``root`` in the given split folders."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"FLARE data root {root} does not exist (config key data.root)")
    files = ((root, *located) for located in questions_files(root, split_folders))
    return read_files(files, images=True)


def read_files(
    files: Iterable[tuple[Path, str, str, Path]], *, images: bool, answers: bool = True
) -> tuple[list[Record], list[Problem]]:
    """Records and problems of ``(root, split folder, category, file)`` questions files
    (``images``, ``answers``: see :func:`read_questions_file`)."""
    records: list[Record] = []
    problems: list[Problem] = []
    home: dict[str, str] = {}  # data set name -> the category folder it was first read under
    for root, split_folder, category, path in files:
        dataset = path.parent.name
        first = home.setdefault(dataset, f"{split_folder}/{category}")
        if first.split("/")[1] != category:
            reason = (
                f"data set name under two categories: {brief(dataset)} is also a data set of "
                f"{first}; skipped (rename one of the folders)"
            )
            problems.append(Problem("merge", printable(path.relative_to(root)), None, reason))
            continue
        file_records, file_problems = read_questions_file(
            root, split_folder, category, path, images=images, answers=answers
        )
        records.extend(file_records)
        problems.extend(file_problems)
    return records, problems


def locate_questions(
    path: str | Path, split_folder: str = "validation-public"
) -> list[tuple[Path, str, str, Path]]:
    """``(root, split folder, category, file)`` of every questions file a user's path names.

    ``path`` is one questions file (an answered ``withGT`` copy too, when named), a tree root
    (then its ``split_folder``), or any folder inside a tree (every questions file beneath it).
    Split folder, category and data set are read off each file's place in the tree; a split
    folder named in either spelling (``validation-public`` for ``validation_public``) is found.
    Raises naming the path when it does not exist or holds no questions file.
    """
    path = Path(path).resolve()
    named = canonical_split_folder(path.name)
    if named in SPLIT_FOLDERS and split_folder_path(path.parent, named).is_dir():
        path = split_folder_path(path.parent, named)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.is_file():
        files = [path]
    else:
        if present_split_folders(path):
            if not split_folder_path(path, split_folder).is_dir():
                raise ValueError(f"{path} is a FLARE tree without a {split_folder}/ folder")
            path = split_folder_path(path, split_folder)
        files = sorted(p for p in path.rglob(QUESTIONS_GLOB) if is_questions_file(p))
    if not files:
        raise ValueError(f"{path}: no questions file ({QUESTIONS_GLOB}, not *withGT*) found")
    located = []
    for file in files:
        category_dir = file.parent.parent
        split_dir = category_dir.parent
        located.append(
            (split_dir.parent, canonical_split_folder(split_dir.name), category_dir.name, file)
        )
    return located


def read_questions(
    path: str | Path, split_folder: str = "validation-public", *, images: bool
) -> tuple[list[Record], list[Problem]]:
    """Records and problems of every questions file :func:`locate_questions` finds at ``path``."""
    return read_files(locate_questions(path, split_folder), images=images)


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
        # the message carries the reasons itself: Snakemake removes a failed job's outputs,
        # problems_path among them
        detail = ""
        if problems:
            reasons = ", ".join(f"{kind} ({n})" for kind, n in summary["skipped"].items())
            first = problems[0]
            detail = f": {reasons}; the first: {first.file} entry {first.entry}: {first.reason}"
        raise ValueError(
            f"no usable questions under {root} in {split_folders}; {len(problems)} problem(s)"
            + detail
        )
    write_jsonl(records_path, records)
    write_json(summary_path, summary)
    return summary
