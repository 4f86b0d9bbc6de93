"""``benchmarks/instance_probe.py``: each instance box of a split's images becomes the image token
under its centre, with its id; the probe's classifier tells apart what is separable."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from medvlm.records import Record, TaskType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import instance_probe  # noqa: E402


def _record(path: Path, task: str, answer: dict | str) -> Record:
    return Record(
        uid=f"training/chromosome/q/{task}",
        dataset="chromosome",
        category="Microscopy",
        split_folder="training",
        source_file="q.json",
        entry_index=0,
        task=task,
        task_raw=task,
        modality="Microscopy",
        question="Locate every chromosome, keyed by chromosome number.",
        answer=answer if isinstance(answer, str) else json.dumps(answer),
        image_names=[path.name],
        image_paths=[str(path)],
    )


def test_each_box_is_the_token_under_its_centre(tmp_path):
    image = tmp_path / "a.png"
    Image.new("RGB", (200, 100)).save(image)  # 200 x 100 px, shards at 96 px in 16-px patches
    boxes = {"3": [[150, 60, 170, 90]], "1": [[0, 0, 20, 10], [190, 90, 200, 100]]}
    records = [
        _record(image, TaskType.INSTANCE_DETECTION, boxes),
        _record(image, TaskType.COUNTING, "3"),  # not an instance question: no bar
        _record(tmp_path / "elsewhere.png", TaskType.INSTANCE_DETECTION, boxes),  # not in shard
    ]
    index = {"paths": ["other.png", str(image)]}
    # centres (160, 75) → column 4, line 4 of 6; (10, 5) → 0, 0; (195, 95) → 5, 5
    assert instance_probe.bars(records, index, 96, 16) == [(1, 28, 3), (1, 0, 1), (1, 35, 1)]


def test_the_probe_separates_what_is_separable_and_not_noise():
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 5, 400)
    colours = np.eye(4)[ids - 1] * 3 + rng.normal(0, 0.3, (400, 4))
    assert instance_probe.probe_accuracy(colours, ids) == 1.0
    assert instance_probe.probe_accuracy(rng.normal(0, 1, (400, 4)), ids) < 0.45
