"""The one seam between the workflow and the model families.

A family trains and predicts from what the data stages wrote — a split's records and its image
shard for the run's image size — and writes its own checkpoint format. The workflow never imports
JAX or torch: each family module imports its framework lazily.

Resume state belongs to exactly one training. Before training, a family computes the
:func:`training_fingerprint` of what the training reads and calls :func:`claim_resume_dir`,
which keeps the state in the resume directory only when it was written under the same
fingerprint (and removes it, saying why, otherwise); once the run's outputs are complete the
family calls :func:`release_resume_dir`. A killed run leaves its state and resumes from it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from medvlm.io import JSONError, parse_json, write_json, write_text
from medvlm.records import Record, read_records

log = logging.getLogger(__name__)

# ``train_log.csv``, which both families write into a run's output and the loss plot reads: one
# row per logged update; a cell is empty where that value was not measured at that step.
TRAIN_LOG = "train_log.csv"
# val_score: the selection score of the decoded validation sample (medvlm.models.best_weights).
TRAIN_LOG_COLUMNS = ("step", "loss", "val_loss", "val_score", "lr", "examples_per_s")


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


FINGERPRINT_FILE = "fingerprint.json"
# Files up to this size are hashed whole; bigger ones (weights) by size, modification time and
# _SAMPLES blocks of _BLOCK bytes spread evenly from the first byte to the last.
_WHOLE_FILE = 8 << 20
_SAMPLES, _BLOCK = 32, 64 << 10


def file_digest(path: Path, whole: bool = False) -> str:
    """A digest of one file's content; cheap for big files unless ``whole``.

    A big file is identified by its size, its modification time in nanoseconds and 32 blocks of
    64 KiB (first and last block included): 2 MiB read whatever the file's size, where hashing
    a 50 GB checkpoint whole would read all of it at every training start. Any rewrite changes
    the modification time, and weights trained further differ in every sampled block; a copy
    that keeps the time (``cp -p``, ``rsync -t``) keeps the digest.
    """
    hasher = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as handle:
        if whole or size <= _WHOLE_FILE:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                hasher.update(chunk)
        else:
            hasher.update(f"{size} {path.stat().st_mtime_ns}".encode())
            for i in range(_SAMPLES):
                handle.seek((size - _BLOCK) * i // (_SAMPLES - 1))
                hasher.update(handle.read(_BLOCK))
    return hasher.hexdigest()


def checkpoint_digest(files: Iterable[Path], root: Path) -> str:
    """A digest of a checkpoint's files (names relative to ``root``, and their content)."""
    hasher = hashlib.sha256()
    for path in sorted(files):
        hasher.update(f"{path.relative_to(root).as_posix()} {file_digest(path)}\n".encode())
    return hasher.hexdigest()


def checkpoint_dir_files(checkpoint: Path) -> list[Path]:
    """Every regular file under a checkpoint directory (or the file itself)."""
    if checkpoint.is_file():
        return [checkpoint]
    return [path for path in checkpoint.rglob("*") if path.is_file()]


def training_fingerprint(
    settings, checkpoint_files: Iterable[Path], root: Path, train: SplitData, val: SplitData
) -> dict[str, str]:
    """Everything a training reads, as digests by part: the run's training settings (a
    :class:`medvlm.settings.RunSettings`; decoding settings and the checkpoint's path left
    out), the initial checkpoint's files (names relative to ``root``), and the content of the
    train and val records and of their shards (the index whole, the images sampled: a rebuilt
    shard counts as changed)."""
    from medvlm.data.shards import IMAGES_FILE, INDEX_FILE

    training = {
        "family": settings.FAMILY,
        "image_size": settings.image_size,
        "seed": settings.seed,
        "train": settings.train.model_dump(),
    }
    text = json.dumps(training, sort_keys=True, default=str)
    return {
        "training settings": hashlib.sha256(text.encode()).hexdigest(),
        "initial checkpoint": checkpoint_digest(checkpoint_files, root),
        "train records": file_digest(train.records_path, whole=True),
        "val records": file_digest(val.records_path, whole=True),
        "train shard index": file_digest(train.shard_dir / INDEX_FILE, whole=True),
        "val shard index": file_digest(val.shard_dir / INDEX_FILE, whole=True),
        "train shard images": file_digest(train.shard_dir / IMAGES_FILE),
        "val shard images": file_digest(val.shard_dir / IMAGES_FILE),
    }


def claim_resume_dir(resume_dir: Path, fingerprint: dict[str, str]) -> bool:
    """Keep the state in ``resume_dir`` only if it was written under ``fingerprint``; return
    whether it was kept. State of another training is removed with a log line naming what
    changed; the directory is left holding ``fingerprint`` alone."""
    resume_dir = Path(resume_dir)
    if resume_dir.exists():
        try:
            old = parse_json((resume_dir / FINGERPRINT_FILE).read_bytes())
        except (OSError, JSONError):
            old = None
        if old == fingerprint:
            log.info("%s holds the state of this training; resuming from it", resume_dir)
            return True
        if isinstance(old, dict):
            changed = [part for part, digest in fingerprint.items() if old.get(part) != digest]
            why = f"its {', '.join(changed)} changed"
        else:
            why = f"it has no readable {FINGERPRINT_FILE}"
        log.warning("%s: discarding the resume state of another training: %s", resume_dir, why)
        shutil.rmtree(resume_dir)
    write_json(resume_dir / FINGERPRINT_FILE, fingerprint)
    return False


def release_resume_dir(resume_dir: Path) -> None:
    """Remove the resume state of a training whose outputs are complete."""
    if Path(resume_dir).exists():
        shutil.rmtree(resume_dir)
        log.info("outputs complete; removed the resume state in %s", resume_dir)


class Family(Protocol):
    name: str

    def build_demo_model(self, out_dir: Path, vocab_texts: list[str], cfg: dict) -> None:
        """Write a tiny random model + tokenizer to ``out_dir`` in the real checkpoint format."""

    def train(
        self,
        run: dict,
        train: SplitData,
        val: SplitData,
        out_dir: Path,
        resume_dir: Path,
        curves_dir: Path | None = None,
    ) -> None:
        """Fine-tune ``run["checkpoint"]``; write best + final weights and :data:`TRAIN_LOG` to
        ``out_dir``; keep resumable state in ``resume_dir`` (not a rule output) under the
        run's :func:`training_fingerprint`, and remove it once ``out_dir`` is complete; write
        live curves to ``curves_dir`` (:mod:`medvlm.models.curves`; None: none). Raise
        :class:`medvlm.models.divergence.Diverged` when the training diverges."""

    def predict(self, run: dict, model_dir: Path, data: SplitData, out_path: Path) -> None:
        """Answer every question of ``data``; write the predictions file (medvlm.predictions)."""


@dataclass(frozen=True)
class FamilyHome:
    """Where a family lives: its package, the family class in ``<package>.family`` and the run
    settings class in ``<package>.settings``."""

    package: str
    family_class: str
    settings_class: str

    def load(self, module: str, attribute: str):
        import importlib

        return getattr(importlib.import_module(f"{self.package}.{module}"), attribute)


_FAMILIES = {
    "paligemma": FamilyHome("medvlm.models.paligemma", "PaliGemmaFamily", "PaliGemmaRun"),
    "medgemma": FamilyHome("medvlm.models.medgemma", "MedGemmaFamily", "MedGemmaRun"),
}
FAMILY_NAMES = tuple(_FAMILIES)


def _home(name: str) -> FamilyHome:
    try:
        return _FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown model family {name!r}; known: {', '.join(FAMILY_NAMES)}") from None


def get_family(name: str) -> Family:
    """The family called ``name``; its framework is imported only now."""
    home = _home(name)
    return home.load("family", home.family_class)()


def run_settings(name: str):
    """The run settings class (a :class:`medvlm.settings.RunSettings`) of the family called
    ``name``: it reads and checks a run without importing the family's framework."""
    home = _home(name)
    return home.load("settings", home.settings_class)
