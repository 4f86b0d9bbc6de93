"""Answer FLARE questions with a saved model, outside the workflow (``medvlm predict``).

The questions are read like the merge reads them (none needs an ``Answer``), their images
decoded once into a temporary shard at the model's image size, and answered through the family's
own ``predict`` (the same path the workflow's predict rule takes, constrained decoding included).
Questions are answered in uid order, as the workflow orders a split, so a run answers the same
questions identically here and in the workflow. Two files come out: the organisers' submission
list (``out``, see :mod:`medvlm.submission`) and, beside it, our JSONL rows (raw text, parsed
answer, well-formed flag; :mod:`medvlm.predictions`).
"""

from __future__ import annotations

import logging
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from medvlm.data.flare import Problem, locate_questions, read_files
from medvlm.data.shards import PROBLEMS_FILE, build_shards
from medvlm.io import read_jsonl, write_jsonl
from medvlm.models.base import SplitData, get_family
from medvlm.models.saved import model_run
from medvlm.submission import prediction_answers, write_submission

log = logging.getLogger(__name__)


@contextmanager
def _work_dir(work_dir: str | os.PathLike | None, beside: Path):
    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
        yield Path(work_dir)
        return
    beside.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".medvlm-predict-", dir=beside) as tmp:
        yield Path(tmp)


def _unanswerable(problems: list[Problem], shard_dir: Path) -> list[str]:
    """What kept questions from being answered: unusable entries, then undecodable images."""
    lines = [f"{p.file} entry {p.entry}: {p.reason}" for p in problems if p.action == "skipped"]
    if (shard_dir / PROBLEMS_FILE).is_file():
        for row in read_jsonl(shard_dir / PROBLEMS_FILE):
            lines.append(f"{row['file']}: {row['reason']} (questions {row['entry']})")
    return lines


def predict_questions(
    model_dir: str | os.PathLike,
    questions: str | os.PathLike,
    out: str | os.PathLike,
    *,
    split_folder: str = "validation-public",
    family: str | None = None,
    image_size: int | None = None,
    decode: dict | None = None,
    threads: int = 1,
    work_dir: str | os.PathLike | None = None,
) -> dict[str, int]:
    """Answer every question at ``questions`` with ``model_dir``; write ``out`` (the submission
    list) and ``out`` with suffix ``.jsonl`` (our rows). Returns ``{"questions", "empty"}``."""
    out = Path(out)
    if out.suffix != ".json":
        raise ValueError(f"--out {out}: name a .json file (our JSONL rows go beside it)")
    run = model_run(model_dir, family, image_size, decode)
    files = locate_questions(questions, split_folder)
    records, problems = read_files(files, images=True, answers=False)
    records.sort(key=lambda record: record.uid)
    rows_path = out.with_suffix(".jsonl")
    with _work_dir(work_dir, out.parent) as work:
        records_path = work / "questions.jsonl"
        write_jsonl(records_path, records)
        shard_dir = work / f"shard_{run['image_size']}"
        if records:
            build_shards(records_path, shard_dir, size=int(run["image_size"]), threads=threads)
            get_family(run["family"]).predict(
                run, Path(model_dir), SplitData(records_path, shard_dir), rows_path
            )
        else:
            write_jsonl(rows_path, [])
        unanswerable = _unanswerable(problems, shard_dir)
    if unanswerable:
        log.warning(
            "%d question(s) or image(s) could not be used and get an empty Answer, e.g. %s",
            len(unanswerable),
            "; ".join(unanswerable[:3]),
        )
    return write_submission(files, prediction_answers(rows_path), out)
