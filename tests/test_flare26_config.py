"""config/flare26.yaml, the FLARE 2026 recipe: valid, planned by ``snakemake -n`` against a
synthetic stand-in tree laid out the 2026 way, and each trained run fits an 80 GB GPU as
configured (``medvlm plan``)."""

import re
import shutil

import pytest
import yaml

from medvlm.config import load_config
from medvlm.data.synthetic import SyntheticConfig, write_synthetic_tree
from medvlm.memory_plan import family_module
from medvlm.runs import expand_runs, family_run
from tests.support.cli import run_medvlm
from tests.support.snakemake_runner import REPO, planned_jobs, run_snakemake

pytestmark = pytest.mark.workflow

CONFIG = REPO / "config" / "flare26.yaml"
H100_MIB = 81_559  # an 80 GB GPU as nvidia-smi reports it (medvlm.memory_plan.GPU_SIZES_MIB)


def write_2026_tree(root):
    """The demo's synthetic tree moved into the 2026 layout: ``validation_public/``,
    ``validation_hidden/``, and a ``testing/`` folder of unanswered ``*_questions_test.json``."""
    write_synthetic_tree(
        root,
        SyntheticConfig(
            train_images_per_dataset=2, val_images_per_dataset=1, hidden_images_per_dataset=1
        ),
    )
    (root / "validation-public").rename(root / "validation_public")
    (root / "validation-hidden").rename(root / "validation_hidden")
    shutil.copytree(root / "validation_hidden", root / "testing")
    for path in (root / "testing").rglob("*.json"):
        if "withGT" in path.name:
            path.unlink()
        else:
            path.rename(path.with_name(path.name.replace("_questions_val", "_questions_test")))


def test_flare26_config_is_valid_and_names_the_recipe():
    config = load_config(CONFIG)
    runs = expand_runs(config["runs"], config["sweeps"])
    assert "synthetic" not in config["data"]
    zero_shot = {name for name, run in runs.items() if run.get("zero_shot")}
    assert zero_shot == {"medgemma15_4b_zero_shot", "paligemma2_3b_448_zero_shot"}
    trained = {name: run["train"] for name, run in runs.items() if name not in zero_shot}
    for family in ("medgemma15_4b", "paligemma2_3b_448"):
        for run in ("mixture", "experts"):  # the experts are trained on the mixture too
            mixture = trained[f"{family}_{run}"]["mixture"]
            assert mixture == {"by": "dataset_task", "temperature": 2}
        assert trained[f"{family}_experts"]["shared_lora"] is True
    # the runner-up's six experts: the 2026 evaluator's task list, instance detection in detection
    assert len(trained["medgemma15_4b_experts"]["experts"]) == 6
    assert trained["paligemma2_3b_448_experts"]["experts"] == "task_type"
    assert "flare26" in config["evaluate"]["profiles"]
    assert config["submit"]["splits"] == ["validation-hidden", "testing"]
    edits = [line for line in CONFIG.read_text().splitlines() if "# EDIT" in line]
    assert len(edits) == 1 + len(runs)  # data.root and every run's checkpoint


def test_recipe_plans_against_a_stand_in_tree_laid_out_the_2026_way(tmp_path):
    root = tmp_path / "FLARE-MLLM-2D"
    write_2026_tree(root)
    config = yaml.safe_load(CONFIG.read_text())
    config["data"]["root"] = str(root)
    config["results"] = str(tmp_path / "results")
    checkpoints = {
        "paligemma": tmp_path / "paligemma2-3b-pt-448",
        "medgemma": tmp_path / "medgemma-1.5-4b-it",
    }
    for path in checkpoints.values():
        path.mkdir()
    # the plan checks a PaliGemma checkpoint's files are there (not read: no weights needed)
    for name in ("paligemma2-3b-pt-448.b16.npz", "paligemma_tokenizer.model"):
        (checkpoints["paligemma"] / name).touch()
    for run in config["runs"].values():
        run["checkpoint"] = str(checkpoints[run["family"]])

    plan = planned_jobs(run_snakemake(tmp_path, config, "--cores", "8", "-n"))

    assert plan["merge"] == 1 and plan["train"] == 4  # two mixture and two expert runs
    assert plan["predict"] == 6 + 6 * 2  # test, then validation-hidden and testing for every run
    assert plan["score"] == 6 and plan["submission"] == 6 * 2
    assert plan["shards"] == 5  # train, val, test, validation-hidden, testing at 448 px


def test_the_plan_knows_each_architecture_from_the_checkpoint_name():
    """Before any weights are here, ``medvlm plan`` reads each architecture off the name in the
    EDIT path: MedGemma 1.5 4B is a known model."""
    config = load_config(CONFIG)
    models = {
        name: family_module(run["family"]).plan_input(family_run(run, "unused"), 256).model
        for name, run in expand_runs(config["runs"], config["sweeps"]).items()
        if not run.get("zero_shot")
    }
    assert len(models) == 4
    for name, model in models.items():
        known = "known medgemma-1.5-4b config" if name.startswith("medgemma15") else "448 px"
        assert known in model and "(named in the path)" in model, (name, model)


@pytest.mark.slow
def test_every_trained_run_fits_an_80_gb_gpu(tmp_path):
    """``medvlm plan config/flare26.yaml`` with a profile of 80 GB GPUs: no run is warned, and
    each configured row (marked *) lists 80 GB among the GPUs it fits."""
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump({"set-resources": {"train": {"gpu_mem_mb": H100_MIB}}}))
    done = run_medvlm(
        "plan", CONFIG, "--profile", profile, "--cache", tmp_path / "cache", cwd=REPO, timeout=1800
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "needs an estimated" not in done.stderr, done.stderr[-3000:]
    headings = re.findall(r"^#### (.+)$", done.stdout, re.MULTILINE)
    assert sorted(name for heading in headings for name in heading.split(", ")) == sorted(
        ["medgemma15_4b_mixture", "medgemma15_4b_experts"]
        + ["paligemma2_3b_448_mixture", "paligemma2_3b_448_experts"]
    )
    configured = re.findall(r"^\| \d\* \|.*\| (.+) \|$", done.stdout, re.MULTILINE)
    assert len(configured) == len(headings) and all("80 GB" in row for row in configured)
    assert "known medgemma-1.5-4b config (named in the path)" in done.stdout
