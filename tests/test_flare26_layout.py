"""A tree laid out as FLARE 2026 Task 3-2D (``FLARE-MedFM/FLARE-MLLM-2D``) lays it out, read by
``medvlm check-data`` and the merge (docs/data-format.md, "FLARE 2026").

What differs from FLARE 2025: the split folders ``validation_public/`` and
``validation_hidden/`` are spelt with ``_``; ``testing/`` is released (questions without answers,
``*_questions_test.json``); the hidden folder holds the organisers' answered
``*_questions_val_withGT.json`` copies beside the files to answer; task types come spelt as in
2025 or with the 2026 evaluator's names (``disease_diagnosis_classification``, ``cell_counting``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medvlm.data.check import check_tree
from medvlm.data.flare import locate_questions, merge_tree, present_split_folders
from medvlm.data.split import SplitConfig, split_records
from tests.support.cli import run_medvlm

TRAINING, PUBLIC, HIDDEN, TESTING = "training", "validation_public", "validation_hidden", "testing"


def entry(task: str, image: str, question: str, answer, split: str | None) -> dict:
    fields = {"TaskType": task, "Modality": "X-ray", "ImageName": image, "Question": question}
    if answer is not None:
        fields["Answer"] = answer
    if split is not None:
        fields["Split"] = split
    return fields


def write_dataset(
    root: Path,
    folder: str,
    category: str,
    dataset: str,
    images: str,
    stem: str,
    entries: list[dict],
) -> Path:
    """One data set folder: a PNG per image the entries name, and the questions file."""
    dataset_dir = root / folder / category / dataset
    (dataset_dir / images).mkdir(parents=True)
    rng = np.random.default_rng(len(entries))
    for fields in entries:
        names = fields["ImageName"]
        for name in [names] if isinstance(names, str) else names:
            pixels = rng.integers(0, 256, (12, 16), dtype=np.uint8)
            Image.fromarray(pixels).save(dataset_dir / name)
    path = dataset_dir / f"{dataset}_questions_{stem}.json"
    path.write_text(json.dumps(entries))
    return path


def entries(task: str, images: str, stem: str, question: str, answers, split: str) -> list[dict]:
    """One entry per answer (None: unanswered), entry ``i`` on image ``<images>/<stem>_<i>.png``."""
    return [
        entry(task, f"{images}/{stem}_{i:05d}.png", question, answer, split)
        for i, answer in enumerate(answers)
    ]


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """Five data sets over the four 2026 split folders, each with a few images."""
    root = tmp_path_factory.mktemp("flare26") / "FLARE-MLLM-2D"
    options = "Options: A: Normal B: Caries C: Impacted"
    dental = entries("Classification", "imagesTr", "dental", options, "ABCA", "train")
    write_dataset(root, TRAINING, "Xray", "dental", "imagesTr", "train", dental)
    count = "What is the cell count?"
    cells = entries("cell_counting", "imagesTr", "cell", count, ["0", "10", "20"], "train")
    write_dataset(root, TRAINING, "Microscopy", "neurips22cell", "imagesTr", "train", cells)
    findings = "Which findings? Labels: effusion, nodule"
    chestdr = entries("multi-label classification", "imagesVal", "chestdr", findings,
                      ["effusion, nodule", "nodule"], "val")  # fmt: skip
    # a second question on an image, with the 2026 evaluator's name for the task type
    chestdr.append(entry("disease_diagnosis_classification", "imagesVal/chestdr_00000.png",
                         options, "A", "validation"))  # fmt: skip
    write_dataset(root, PUBLIC, "Xray", "chestdr", "imagesVal", "val", chestdr)
    locate = "Locate every chromosome."
    chromosome = entries("instance_detection", "imagesVal", "chromosome", locate, [None] * 2, "val")
    path = write_dataset(root, HIDDEN, "Microscopy", "chromosome", "imagesVal", "val", chromosome)
    boxes = {"1": [[1, 1, 5, 5]], "2": [[6, 2, 9, 8]]}
    answered = [{**fields, "Answer": boxes} for fields in chromosome]
    path.with_name("chromosome_questions_val_withGT.json").write_text(json.dumps(answered))
    estimate = "Estimate the bone resorption (%)."
    bone = entries("regression", "imagesTs", "bone", estimate, [None] * 2, "test")
    write_dataset(root, TESTING, "Xray", "boneresorption", "imagesTs", "test", bone)
    return root


def test_check_data_reads_the_2026_split_folders(tree, tmp_path):
    report = tmp_path / "check.json"
    result = run_medvlm("check-data", tree, "--json", report)
    assert result.returncode == 0, result.stderr
    checked = json.loads(report.read_text())
    summary = checked["summary"]
    # every folder found under its canonical name, none of it skipped
    assert summary["split_folders"] == {
        "training": 7,
        "validation-public": 3,
        "validation-hidden": 2,
        "testing": 2,
    }
    assert checked["problems"] == []
    assert summary["images"] == 4 + 3 + 2 + 2 + 2 and summary["images_failed"] == 0
    assert summary["by_dataset"] == {
        "boneresorption": {"regression": 2},
        "chestdr": {"classification": 1, "multi_label": 2},
        "chromosome": {"instance_detection": 2},
        "dental": {"classification": 4},
        "neurips22cell": {"counting": 3},
    }
    assert "14 usable questions on 13 images" in result.stdout
    assert "validation-public 3" in result.stdout
    # a canonical folder name picks the folder spelt with "_"
    only = run_medvlm("check-data", tree, "--no-decode", "--split-folders", "validation-hidden")
    assert only.returncode == 0, only.stderr
    assert "2 usable questions" in only.stdout and "validation-hidden 2" in only.stdout


def test_merge_keeps_canonical_names_and_the_hidden_answers_withheld(tree):
    assert present_split_folders(tree) == [
        "training",
        "validation-public",
        "validation-hidden",
        "testing",
    ]
    records, problems = merge_tree(tree, ["training", "validation-public", "validation-hidden"])
    assert problems == []
    hidden = [r for r in records if r.split_folder == "validation-hidden"]
    # the answered copy beside the hidden file is not read; the hidden questions have no answer
    assert [r.uid for r in hidden] == [
        "validation-hidden/chromosome/chromosome_questions_val/0",
        "validation-hidden/chromosome/chromosome_questions_val/1",
    ]
    assert all(r.answer == "" for r in hidden)
    assert (
        hidden[0].source_file
        == "validation_hidden/Microscopy/chromosome/chromosome_questions_val.json"
    )
    # the split puts validation_public/ in test, as validation-public/ in 2025
    splits = split_records(records, SplitConfig(val_fraction=0.0))
    assert {r.dataset for r in splits["test"]} == {"chestdr"}
    assert {r.dataset for r in splits["train"]} == {"dental", "neurips22cell"}


def test_a_split_folder_named_either_way_is_found(tree, tmp_path):
    for named in (tree / "validation-hidden", tree / "validation_hidden"):
        located = locate_questions(named)
        assert [(folder, category, path.name) for _, folder, category, path in located] == [
            ("validation-hidden", "Microscopy", "chromosome_questions_val.json")
        ]
    from_root = locate_questions(tree, "validation-public")
    assert [path.name for *_, path in from_root] == ["chestdr_questions_val.json"]
    (tmp_path / "tree" / "training").mkdir(parents=True)
    with pytest.raises(ValueError, match="without a validation-public/ folder"):
        locate_questions(tmp_path / "tree", "validation-public")
    with pytest.raises(ValueError, match="no split folder"):
        check_tree(tmp_path)
