"""The question record every stage passes along, and the one task-type normaliser.

FLARE files spell task types many ways (``Classification``, ``Multi-label Classification``,
``instance_detection``, ``Report_Generation``, the 2026 ``disease_diagnosis_classification``...).
Everything downstream of the merge sees only the seven canonical names, :class:`TaskType`.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from medvlm.io import brief


class TaskType(enum.StrEnum):
    """The canonical task types. A member is its name (equal, same hash, the same text in
    f-strings, ``str()``, ``repr()``, JSON, CSV and YAML), so files and columns read as before."""

    CLASSIFICATION = "classification"
    MULTI_LABEL = "multi_label"
    DETECTION = "detection"
    INSTANCE_DETECTION = "instance_detection"
    COUNTING = "counting"
    REGRESSION = "regression"
    REPORT_GENERATION = "report_generation"

    def __repr__(self) -> str:
        # The plain string's repr, so messages that show a task (or a tuple of them) read as
        # they did when task types were strings.
        return repr(self.value)


TASK_TYPES = tuple(TaskType)
# ``yaml.safe_dump`` writes only exact built-in types: a member is written as its name too.
yaml.SafeDumper.add_representer(TaskType, yaml.SafeDumper.represent_str)

# Each canonical name as the normaliser's key (``_`` read as a space), then the other spellings.
_TASK_ALIASES = {task.value.replace("_", " "): task for task in TaskType} | {
    "disease diagnosis classification": TaskType.CLASSIFICATION,
    "disease diagnosis": TaskType.CLASSIFICATION,
    "multilabel classification": TaskType.MULTI_LABEL,
    "multi label classification": TaskType.MULTI_LABEL,
    "multilabel": TaskType.MULTI_LABEL,
    "object detection": TaskType.DETECTION,
    "cell counting": TaskType.COUNTING,
    "report": TaskType.REPORT_GENERATION,
}

# The fields a FLARE questions entry must carry; ``Split`` is optional.
REQUIRED_FIELDS = ("Question", "Answer", "TaskType", "Modality", "ImageName")


class UnknownTaskType(ValueError):
    """A TaskType value that maps to none of the canonical task types."""


def normalise_task_type(raw: str) -> TaskType:
    """Map any spelling of a FLARE task type to its canonical name.

    Lower-cases, treats ``_``, ``-`` and whitespace alike, then looks the result up in the
    alias table. Raises :class:`UnknownTaskType` naming the value when nothing matches.
    """
    if not isinstance(raw, str):
        raise UnknownTaskType(f"task type must be a string, got {brief(raw)}")
    key = re.sub(r"[\s_\-]+", " ", raw.strip().lower()).strip()
    try:
        return _TASK_ALIASES[key]
    except KeyError:
        raise UnknownTaskType(f"unknown task type {brief(raw)}") from None


def answer_text(answer: Any) -> str:
    """The canonical text of an answer: strings as they are, anything else as compact JSON."""
    if isinstance(answer, str):
        return answer
    return json.dumps(answer, separators=(", ", ": "))


@dataclass(frozen=True)
class Record:
    """One question about one or more images, normalised, with where it came from."""

    uid: str  # unique and stable: "<split folder>/<data set>/<questions file stem>/<entry index>"
    dataset: str
    category: str
    split_folder: str  # "training", "validation-public", ...
    source_file: str  # the questions file, relative to the data root
    entry_index: int  # position of the entry in that file
    task: str  # one of TASK_TYPES
    task_raw: str  # the TaskType as written
    modality: str
    question: str
    answer: str
    image_names: list[str] = field(default_factory=list)  # as written in ImageName
    image_paths: list[str] = field(default_factory=list)  # resolved, absolute

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> Record:
        return cls(**json.loads(line))


def iter_records(path) -> Iterator[Record]:
    """Yield the records of a records/split JSONL file; a line that is not a record, or a
    repeated uid, raises naming the file and the record number."""
    from medvlm.io import read_jsonl

    uids: set[str] = set()
    for number, row in enumerate(read_jsonl(path), start=1):
        try:
            record = Record(**row)
        except TypeError as error:
            raise ValueError(f"{path}: record {number} is not a valid record ({error})") from None
        if record.uid in uids:
            raise ValueError(f"{path}: record {number} repeats uid {record.uid!r}")
        uids.add(record.uid)
        yield record


def read_records(path) -> list[Record]:
    """All records of a records/split JSONL file (see :func:`iter_records`)."""
    return list(iter_records(path))
