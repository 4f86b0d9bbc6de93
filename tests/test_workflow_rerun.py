"""A partial rerun after the training split changed trains afresh, and questions added to a real
tree rerun the merge, with real Snakemake."""

import copy
import json
import os
import shutil

import numpy as np
import pytest

from medvlm.data.synthetic import SyntheticConfig, write_synthetic_tree
from medvlm.models.paligemma.checkpoint import read_npz
from tests.support.snakemake_runner import planned_jobs, run_snakemake, tiny_runs_config

pytestmark = [pytest.mark.workflow, pytest.mark.slow]


def build(workdir, config, *runs):
    targets = [f"{config['results']}/models/{run}" for run in runs]
    result = run_snakemake(workdir, config, "--cores", "2", *targets)
    assert result.returncode == 0, result.stderr[-6000:]


def weights(config, run):
    return read_npz(f"{config['results']}/models/{run}/final.npz")


def same(first: dict, second: dict) -> bool:
    return first.keys() == second.keys() and all(
        np.array_equal(first[name], second[name]) for name in first
    )


def test_a_changed_training_split_gives_new_weights(tmp_path):
    config = tiny_runs_config(tmp_path)
    config["runs"] = {"pg": config["runs"]["pg"]}  # a demo run: checkpoint "demo"
    build(tmp_path, config, "pg")
    results = tmp_path / "results"
    # The same run from a fixed checkpoint: only the data changes below.
    shutil.copytree(results / "demo_models" / "paligemma", tmp_path / "checkpoint")
    config["runs"]["pg_fixed"] = {
        **config["runs"]["pg"],
        "checkpoint": str(tmp_path / "checkpoint"),
    }
    build(tmp_path, config, "pg_fixed")
    before = {run: weights(config, run) for run in ("pg", "pg_fixed")}
    assert not (results / "checkpoints").exists() or not any((results / "checkpoints").iterdir())

    changed = copy.deepcopy(config)
    changed["split"]["seed"] = 7  # other images go to training and validation
    changed["runs"]["pg_fresh"] = copy.deepcopy(config["runs"]["pg_fixed"])
    plan = planned_jobs(run_snakemake(tmp_path, changed, "--cores", "2", "-n"))
    assert plan["split"] == 1 and plan["train"] == 3
    build(tmp_path, changed, "pg", "pg_fixed", "pg_fresh")

    after = {run: weights(changed, run) for run in ("pg", "pg_fixed", "pg_fresh")}
    assert not same(after["pg"], before["pg"])
    assert not same(after["pg_fixed"], before["pg_fixed"])
    assert same(after["pg_fixed"], after["pg_fresh"])  # exactly a fresh run on the new split
    assert not any((results / "checkpoints").iterdir())


def test_questions_added_to_a_real_tree_rerun_the_merge(tmp_path):
    root = tmp_path / "tree"  # a tree the workflow does not write: no `synthetic:` block
    synthetic = SyntheticConfig(train_images_per_dataset=2, val_images_per_dataset=1,
                                datasets=("BUSI", "chestdr"))  # fmt: skip
    write_synthetic_tree(root, synthetic)
    config = {"results": str(tmp_path / "results"), "data": {"root": str(root)}}
    records = tmp_path / "results" / "data" / "records.jsonl"

    def plan():
        return planned_jobs(run_snakemake(tmp_path, config, "--cores", "1", "-n", str(records)))

    def merged():
        result = run_snakemake(tmp_path, config, "--cores", "1", str(records))
        assert result.returncode == 0, result.stderr[-3000:]
        return records.read_text().count("\n")

    before = merged()
    assert plan() == {}
    busi = root / "training" / "Ultrasound" / "BUSI"
    questions = busi / "BUSI_questions_train.json"
    os.utime(questions)  # touched, content unchanged: nothing to redo
    assert plan() == {}
    entries = json.loads(questions.read_text())
    questions.write_text(json.dumps([*entries, entries[0]]))  # one more question
    assert plan() == {"merge": 1}
    after = merged()
    assert after == before + 1
    shutil.copytree(busi, busi.with_name("BUSI2"))  # a data set downloaded later
    assert plan() == {"merge": 1}
    assert merged() == after + len(entries) + 1  # the copy's questions file
    assert plan() == {}
