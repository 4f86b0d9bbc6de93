"""config/learnability.yaml plans on its own, from the repository root as `make learn` runs it:
a config given with --configfile replaces the demo's instead of being merged into it."""

from __future__ import annotations

import subprocess

from medvlm.config import load_config
from medvlm.runs import expand_runs
from tests.support.snakemake_runner import REPO, SNAKEMAKE, planned_jobs


def dry_run(config: str) -> subprocess.CompletedProcess:
    """``snakemake -n --forceall`` with ``config`` alone, from the repository root (every job,
    whether or not an earlier ``make learn`` left its outputs)."""
    return subprocess.run(
        [str(SNAKEMAKE), "-n", "--forceall", "--configfile", config],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_learnability_config_plans_only_its_own_runs():
    config = load_config(REPO / "config" / "learnability.yaml")
    runs = expand_runs(config["runs"], config["sweeps"])
    families = sorted((run["family"], bool(run["zero_shot"])) for run in runs.values())
    assert families == [
        ("medgemma", False),
        ("medgemma", True),
        ("paligemma", False),
        ("paligemma", True),
    ]
    result = dry_run("config/learnability.yaml")
    jobs = planned_jobs(result)
    assert jobs["train"] == 2 and jobs["predict"] == 4  # not the demo's runs as well
    assert "paligemma_tiny" not in result.stdout + result.stderr
    assert "results/learnability/synthetic" in result.stdout


def test_the_levers_config_plans_its_runs_on_an_unbalanced_tree():
    """config/levers.yaml (`make learn-levers`): every lever's run beside its baseline on the
    same budget, on a tree where chromosome has 10x the training images of the other data
    sets."""
    config = load_config(REPO / "config" / "levers.yaml")
    synthetic = config["data"]["synthetic"]
    assert synthetic["train_images_by_dataset"] == {
        "chromosome": 10 * synthetic["train_images_per_dataset"]
    }
    runs = expand_runs(config["runs"], config["sweeps"])
    trained = {name: run["train"] for name, run in runs.items() if not run["zero_shot"]}
    budgets = {(train["steps"], train["batch_size"]) for train in trained.values()}
    assert len(budgets) == 1
    assert trained["pg_mixture"]["mixture"]["temperature"] >= 2
    assert trained["mg_experts"]["experts"] == "task_type"
    assert trained["mg_lora"]["lora_rank"] == trained["mg_experts"]["lora_rank"] > 0
    result = dry_run("config/levers.yaml")
    jobs = planned_jobs(result)
    assert jobs["train"] == 4 and jobs["predict"] == 5
    assert "results/levers/synthetic" in result.stdout


def test_the_instances_config_trains_instance_detection_alone_on_many_images():
    """config/instances.yaml (`make learn-instances`): PaliGemma on the chromosome data set
    alone, far more images of it than the other benchmarks give, next to its untrained self."""
    config = load_config(REPO / "config" / "instances.yaml")
    assert config["data"]["datasets"] == ["chromosome"]
    synthetic = config["data"]["synthetic"]
    assert synthetic["train_images_by_dataset"]["chromosome"] >= 4 * 1500
    runs = expand_runs(config["runs"], config["sweeps"])
    assert sorted((run["family"], bool(run["zero_shot"])) for run in runs.values()) == [
        ("paligemma", False),
        ("paligemma", True),
    ]
    result = dry_run("config/instances.yaml")
    jobs = planned_jobs(result)
    assert jobs["train"] == 1 and jobs["predict"] == 2
    assert "results/instances/synthetic" in result.stdout
