"""``medvlm check-data`` run as the installed command on synthetic trees with planted faults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medvlm.data.synthetic import MANIFEST, SyntheticConfig, write_synthetic_tree
from tests.support.cli import run_medvlm


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    root = tmp_path_factory.mktemp("check") / "tree"
    config = SyntheticConfig(seed=2, train_images_per_dataset=3, val_images_per_dataset=1,
                             hidden_images_per_dataset=1, fault_rate=0.1,
                             datasets=("BUSI", "chromosome", "dental", "neojaundice"))  # fmt: skip
    write_synthetic_tree(root, config)
    return root


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_every_planted_fault_is_named_and_nothing_is_written(faulty, tmp_path):
    before = listing(faulty)
    report = tmp_path / "check.json"
    result = run_medvlm("check-data", faulty, "--json", report)
    assert result.returncode == 0, result.stderr
    assert listing(faulty) == before  # no shard, no records, nothing left in the tree
    checked = json.loads(report.read_text())
    summary, problems = checked["summary"], checked["problems"]
    assert set(summary["split_folders"]) == {"training", "validation-public", "validation-hidden"}
    named = " ".join(f"{p['file']} {p['entry']} {p['reason']}" for p in problems)
    for fault in json.loads((faulty / MANIFEST).read_text())["faults"]:
        assert Path(fault["image"] or fault["file"]).name in named, fault
    # the truncated image is found only by decoding it, as the shard stage would
    truncated = [p for p in problems if p["stage"] == "shards"]
    assert truncated and summary["images_failed"] == len(truncated)
    assert summary["images_decoded"] + summary["images_failed"] == summary["images"]
    # the report a person reads: counts per data set and task, problems by reason, the first few
    assert f"{summary['questions']} usable questions" in result.stdout
    assert "chromosome       instance_detection" in result.stdout
    assert "image not found" in result.stdout and "cannot decode" in result.stdout
    without = run_medvlm("check-data", faulty, "--no-decode", "--split-folders", "training")
    assert without.returncode == 0 and "images decoded" not in without.stdout
    assert "validation-public" not in without.stdout


def test_a_tree_with_nothing_usable_or_no_tree_fails(tmp_path):
    questions = tmp_path / "tree/training/Xray/dental/dental_questions_train.json"
    questions.parent.mkdir(parents=True)
    entry = {"Question": "Which?", "Answer": "A", "TaskType": "classification",
             "Modality": "Xray", "ImageName": "imagesTr/gone.png"}  # fmt: skip
    questions.write_text(json.dumps([entry]))
    result = run_medvlm("check-data", tmp_path / "tree")
    assert result.returncode == 1 and "0 usable questions" in result.stdout
    assert "dental_questions_train.json entry 0: image not found" in result.stdout
    result = run_medvlm("check-data", tmp_path / "nowhere")
    assert result.returncode == 1 and "no split folder" in result.stderr
