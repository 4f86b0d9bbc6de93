"""Tiny random demo models, built from the training split so their vocabularies fit the data."""

from __future__ import annotations

from pathlib import Path

from medvlm.models.base import get_family
from medvlm.records import Record, read_records
from medvlm.tasks.box_frame import FRAMES
from medvlm.tasks.framed_answers import BOX_TASKS, frame_prompt, frame_target


def vocab_texts(records: list[Record]) -> list[str]:
    """Every prompt and training target of the records, boxes in every frame: what a demo
    tokenizer must cover."""
    texts = []
    for record in records:
        frames = FRAMES if record.task in BOX_TASKS else FRAMES[:1]
        for frame in frames:
            texts.append(frame_prompt(record, frame))
            try:
                texts.append(frame_target(record, frame))
            except ValueError:
                texts.append(record.answer)
    return texts


def build_demo_model(family: str, train_split: str | Path, out_dir: str | Path, cfg: dict) -> None:
    """Write ``family``'s tiny random model for the texts of ``train_split`` into ``out_dir``."""
    texts = vocab_texts(read_records(train_split))
    get_family(family).build_demo_model(Path(out_dir), texts, dict(cfg))
