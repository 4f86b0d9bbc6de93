"""The one seam between the workflow and the model families.

A family trains and predicts from what the data stages wrote — a split's records and its image
shard for the run's image size — and writes its own checkpoint format. The workflow never imports
JAX or torch: each family module imports its framework lazily.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from medvlm.io import write_text
from medvlm.records import Record, read_records

# ``train_log.csv``, which both families write into a run's output and the loss plot reads: one
# row per logged update; a cell is empty where that value was not measured at that step.
TRAIN_LOG = "train_log.csv"
TRAIN_LOG_COLUMNS = ("step", "loss", "val_loss", "lr", "examples_per_s")


def write_train_log(path: Path, rows: list[dict]) -> None:
    """Write ``rows`` (dicts keyed by :data:`TRAIN_LOG_COLUMNS`) atomically as a CSV file."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=TRAIN_LOG_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, out.getvalue())


@dataclass(frozen=True)
class SplitData:
    """One split as a family reads it: ``splits/<split>.jsonl`` + ``shards/<split>/<size>/``."""

    records_path: Path
    shard_dir: Path

    def records(self) -> list[Record]:
        return read_records(self.records_path)

    def loader(self, batch_size: int, **options: Any):
        """A :class:`medvlm.data.loader.ShardLoader` over this split (options passed through)."""
        from medvlm.data.loader import ShardLoader

        return ShardLoader(self.shard_dir, self.records_path, batch_size, **options)


class Family(Protocol):
    name: str

    def build_demo_model(self, out_dir: Path, vocab_texts: list[str], cfg: dict) -> None:
        """Write a tiny random model + tokenizer to ``out_dir`` in the real checkpoint format."""

    def train(
        self, run: dict, train: SplitData, val: SplitData, out_dir: Path, resume_dir: Path
    ) -> None:
        """Fine-tune ``run["checkpoint"]``; write best + final weights and :data:`TRAIN_LOG` to
        ``out_dir``; keep resumable state in ``resume_dir`` (not a rule output)."""

    def predict(self, run: dict, model_dir: Path, data: SplitData, out_path: Path) -> None:
        """Answer every question of ``data``; write the predictions file (medvlm.predictions)."""


_FAMILY_CLASSES = {
    "paligemma": ("medvlm.models.paligemma.family", "PaliGemmaFamily"),
    "medgemma": ("medvlm.models.medgemma.family", "MedGemmaFamily"),
}
FAMILY_NAMES = tuple(_FAMILY_CLASSES)


def get_family(name: str) -> Family:
    """The family called ``name``; its framework is imported only now."""
    import importlib

    try:
        module_name, class_name = _FAMILY_CLASSES[name]
    except KeyError:
        raise KeyError(f"unknown model family {name!r}; known: {', '.join(FAMILY_NAMES)}") from None
    return getattr(importlib.import_module(module_name), class_name)()
