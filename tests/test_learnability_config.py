"""config/learnability.yaml plans on its own, from the repository root as `make learn` runs it:
a config given with --configfile replaces the demo's instead of being merged into it."""

from __future__ import annotations

import subprocess

from medvlm.config import load_config
from medvlm.runs import expand_runs
from tests.support.snakemake_runner import REPO, SNAKEMAKE, planned_jobs


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
    result = subprocess.run(
        [str(SNAKEMAKE), "-n", "--configfile", "config/learnability.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    jobs = planned_jobs(result)
    assert jobs["train"] == 2 and jobs["predict"] == 4  # not the demo's runs as well
    assert "paligemma_tiny" not in result.stdout + result.stderr
    assert "results/learnability/synthetic" in result.stdout
