"""Small image splits for the model tests: records, PNG files and their built shard.

``colour_split`` asks which colour a noisy square is (red, green or blue): a task a tiny model
can only learn by looking at the image, with (``views``) neojaundice-like records of three
images each. ``medgemma_demo`` and ``paligemma_demo`` build a family's tiny demo model for such
splits, ``medgemma_run`` and ``paligemma_run`` a tiny training of it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from medvlm.data.shards import build_shards
from medvlm.io import write_jsonl
from medvlm.models.base import SplitData, get_family
from medvlm.records import Record, TaskType

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
QUESTION = "Which colour is the square? A. red B. green C. blue"
LETTERS = {"red": "A", "green": "B", "blue": "C"}
SHARD_SIZE = 16
PALIGEMMA_DEMO = {"image_size": 16, "patch": 8, "width": 16}


def _record(uid: str, task: str, question: str, answer: str, paths: list[Path], dataset: str):
    return Record(
        uid=uid,
        dataset=dataset,
        category="Clinical",
        split_folder="training",
        source_file=f"training/Clinical/{dataset}/{dataset}_questions.json",
        entry_index=int(uid.rsplit("-", 1)[-1]),
        task=task,
        task_raw=task,
        modality="photo",
        question=question,
        answer=answer,
        image_names=[p.name for p in paths],
        image_paths=[str(p) for p in paths],
    )


def _square(path: Path, colour: tuple[int, int, int], rng: np.random.Generator) -> Path:
    noise = rng.integers(-25, 26, size=(20, 20, 3))
    pixels = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def colour_records(root: Path, split: str, count: int, seed: int) -> list[Record]:
    rng = np.random.default_rng(seed)
    records = []
    for i in range(count):
        name = list(COLOURS)[i % 3]
        path = _square(root / f"{split}-{i}.png", COLOURS[name], rng)
        records.append(
            _record(
                f"{split}-{i}", TaskType.CLASSIFICATION, QUESTION, LETTERS[name], [path], "colours"
            )
        )
    return records


def multi_view_records(root: Path, split: str, count: int, seed: int) -> list[Record]:
    """Records with three views each; the answer is a number (like neojaundice's bilirubin)."""
    rng = np.random.default_rng(seed + 1)
    records = []
    for i in range(count):
        paths = [
            _square(root / f"{split}-views{i}-{v}.png", list(COLOURS.values())[v], rng)
            for v in range(3)
        ]
        records.append(
            _record(
                f"{split}-views-{i}",
                TaskType.REGRESSION,
                "Estimate the bilirubin level from the three views.",
                f"{10 + i}.5",
                paths,
                "neojaundice",
            )
        )
    return records


def write_split(root: Path, split: str, records: list[Record]) -> SplitData:
    records_path = root / f"{split}.jsonl"
    write_jsonl(records_path, records)
    shard_dir = root / "shards" / split
    build_shards(records_path, shard_dir, SHARD_SIZE)
    return SplitData(records_path, shard_dir)


def colour_split(root: Path, split: str, count: int, seed: int = 0, views: int = 0) -> SplitData:
    """``count`` colour questions, plus ``views`` three-image records, with their shard."""
    root.mkdir(parents=True, exist_ok=True)
    records = colour_records(root, split, count, seed)
    records += multi_view_records(root, split, views, seed)
    return write_split(root, split, records)


def demo_texts(*splits: SplitData) -> list[str]:
    """What the demo tokenizer learns from: every prompt and training target of the splits."""
    from medvlm.tasks import task_spec

    texts = []
    for split in splits:
        for record in split.records():
            spec = task_spec(record.task)
            texts += [spec.prompt(record.question), spec.target(record.answer, record.question)]
    return texts


def medgemma_demo(folder: Path, *splits: SplitData) -> Path:
    """The tiny random MedGemma demo in ``folder``, its tokenizer learnt from ``splits``."""
    from medvlm.models.medgemma.demo_model import build_demo_model

    build_demo_model(folder, demo_texts(*splits), {})
    return folder


def medgemma_run(model_dir: Path, decode: dict | None = None, **train) -> dict:
    """A tiny MedGemma training of ``model_dir``: batches of 2 at learning rate 5e-3, no warmup,
    no activation checkpointing, then ``train``'s settings (and ``decode``'s)."""
    return {
        "family": "medgemma",
        "checkpoint": str(model_dir),
        "seed": 0,
        "train": {
            "batch_size": 2,
            "learning_rate": 5e-3,
            "warmup_fraction": 0,
            "activation_checkpointing": False,
            **train,
        },
        "decode": {"batch_size": 4, **(decode or {})},
    }


def paligemma_demo(folder: Path, *splits: SplitData) -> Path:
    """The tiny random PaliGemma demo (:data:`PALIGEMMA_DEMO`) in ``folder``, its tokenizer
    learnt from ``splits``."""
    get_family("paligemma").build_demo_model(folder, demo_texts(*splits), PALIGEMMA_DEMO)
    return folder


def paligemma_run(model_dir: Path, decode: dict | None = None, **train) -> dict:
    """A tiny PaliGemma training of ``model_dir``: 6 steps of 4 examples of at most 48 tokens,
    logged every 2 and saved at the end, then ``train``'s settings (and ``decode``'s)."""
    return {
        "family": "paligemma",
        "checkpoint": str(model_dir),
        "image_size": PALIGEMMA_DEMO["image_size"],
        "train": {
            "steps": 6,
            "batch_size": 4,
            "log_every": 2,
            "save_every": 6,
            "seqlen": 48,
            **train,
        },
        "decode": {"batch_size": 4, **(decode or {})},
    }
