"""Tiny random demo models, built from the training split so their vocabularies fit the data."""

from __future__ import annotations

from pathlib import Path

from medvlm.models.base import get_family
from medvlm.records import Record, read_records
from medvlm.tasks import task_spec


def vocab_texts(records: list[Record]) -> list[str]:
    """Every prompt and training target of the records: what a demo tokenizer must cover."""
    texts = []
    for record in records:
        spec = task_spec(record.task)
        texts.append(spec.prompt(record.question))
        try:
            texts.append(spec.target(record.answer, record.question))
        except ValueError:
            texts.append(record.answer)
    return texts


def build_demo_model(family: str, train_split: str | Path, out_dir: str | Path, cfg: dict) -> None:
    """Write ``family``'s tiny random model for the texts of ``train_split`` into ``out_dir``."""
    texts = vocab_texts(read_records(train_split))
    get_family(family).build_demo_model(Path(out_dir), texts, dict(cfg))
