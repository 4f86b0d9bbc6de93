"""A score-only config with real Snakemake: external predictions in the organisers' format,
scored against validation-public of a tree with no training/ folder and no image on disk."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from medvlm.data.synthetic import SyntheticConfig, write_synthetic_tree
from tests.support.snakemake_runner import planned_jobs, run_snakemake

pytestmark = pytest.mark.workflow


def test_external_predictions_are_scored_with_no_training_folder_and_no_images(tmp_path):
    root = tmp_path / "flare"
    write_synthetic_tree(
        root, SyntheticConfig(train_images_per_dataset=1, val_images_per_dataset=2)
    )
    shutil.rmtree(root / "training")
    for image in [p for p in root.rglob("*") if p.is_file() and p.suffix != ".json"]:
        image.unlink()

    entries = []  # an oracle: every question answered with its own answer, one left out
    for path in sorted((root / "validation-public").rglob("*_questions_val.json")):
        entries += json.loads(path.read_text())
    entries.pop(0)  # the first question of Clinical/neojaundice
    predictions = tmp_path / "predictions.json"
    predictions.write_text(json.dumps(entries))
    config = {
        "results": str(tmp_path / "results"),
        "data": {"root": str(root)},
        "external": {"oracle": {"predictions": str(predictions), "split": "validation-public"}},
        "evaluate": {"bootstrap": 10},
    }
    plan = planned_jobs(run_snakemake(tmp_path, config, "--cores", "2", "-n"))
    assert "merge" not in plan and "split" not in plan and "shards" not in plan
    result = run_snakemake(tmp_path, config, "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]

    results = tmp_path / "results"
    scores = json.loads((results / "scores/oracle/validation-public.json").read_text())
    assert scores["inputs"]["n_items"] == len(entries) + 1
    assert scores["missing"]["n_references_without_prediction"] == 1
    assert scores["missing"]["references_without_prediction"] == [
        "validation-public/neojaundice/neojaundice_questions_val/0"
    ]
    default = scores["profiles"]["default"]
    assert default["multi_label"]["pooled"]["f1_sample"] == 1.0
    assert default["detection"]["pooled"]["f1@0.5"] == 1.0
    assert default["counting"]["pooled"]["mae"] == 0.0
    summary = list(csv.DictReader(open(results / "tables/validation-public/summary.csv")))
    assert [row["run"] for row in summary] == ["oracle"]
    assert (results / "plots/validation-public/metrics.png").stat().st_size > 0
    assert not (results / "data" / "merge_summary.json").exists()
