"""The real-data config plans the full study DAG; a synthetic tree stands in for FLARE."""

import time

import pytest
import yaml

from medvlm.config import load_config
from medvlm.data.synthetic import SyntheticConfig, write_synthetic_tree
from tests.support.snakemake_runner import REPO, planned_jobs, run_snakemake

pytestmark = pytest.mark.workflow


def test_flare25_config_is_valid_and_names_the_study_runs():
    config = load_config(REPO / "config" / "flare25.yaml")
    assert "synthetic" not in config["data"]
    points = config["sweeps"]["paligemma2_3b_study"]["points"]
    assert [(p["train.batch_size"], p["train.learning_rate"]) for p in points] == [
        (8, 5e-05),
        (8, 0.00015),
        (8, 0.0005),
        (16, 0.0001),
        (16, 0.0002),
        (16, 5e-05),
        (16, 0.00015),
    ]


def test_full_study_dag_plans_quickly_against_a_stand_in_tree(tmp_path):
    root = tmp_path / "flare"
    write_synthetic_tree(
        root, SyntheticConfig(train_images_per_dataset=2, val_images_per_dataset=1)
    )
    config = yaml.safe_load((REPO / "config" / "flare25.yaml").read_text())
    config["data"]["root"] = str(root)
    config["results"] = str(tmp_path / "results")
    checkpoints = {"paligemma": tmp_path / "pg2-3b-224", "medgemma": tmp_path / "medgemma-4b-it"}
    for path in checkpoints.values():
        path.mkdir()
    # the plan checks a PaliGemma checkpoint's files are there (not read: no weights needed)
    for name in ("paligemma2-3b-pt-224.b16.npz", "paligemma_tokenizer.model"):
        (checkpoints["paligemma"] / name).touch()
    for run in [*config["runs"].values(), config["sweeps"]["paligemma2_3b_study"]["base"]]:
        run["checkpoint"] = str(checkpoints[run["family"]])

    started = time.perf_counter()
    plan = planned_jobs(run_snakemake(tmp_path, config, "--cores", "8", "-n"))
    seconds = time.perf_counter() - started

    assert plan["train"] == 8  # the study's seven PaliGemma models and its MedGemma LoRA run
    assert plan["predict"] == plan["score"] == 10  # plus the two zero-shot baselines
    assert plan["shards"] == 6  # train, val, test at 224 and 448 px
    assert "demo_model" not in plan and "synthetic_data" not in plan
    assert seconds < 30, f"planning took {seconds:.1f} s"
