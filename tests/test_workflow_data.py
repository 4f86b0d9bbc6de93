"""The data part of the DAG with real Snakemake on a small synthetic tree.

Runs the workflow once (synthetic tree → merge → split → shards), then checks the outputs, that
every planted fault lands in a problems file, and that config changes rerun exactly what they
should.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from medvlm.io import read_jsonl
from medvlm.records import read_records
from tests.support.snakemake_runner import planned_jobs, run_snakemake, small_synthetic_config

pytestmark = pytest.mark.workflow


def snakemake(workdir, config, *args):
    return run_snakemake(workdir, config, "--cores", "2", *args)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow")
    config = small_synthetic_config(workdir)
    result = snakemake(workdir, config)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir, config


def test_outputs_exist_and_are_consistent(finished_run):
    workdir, _ = finished_run
    data = workdir / "results" / "data"
    records = read_records(data / "records.jsonl")
    splits = {
        name: read_records(data / "splits" / f"{name}.jsonl") for name in ("train", "val", "test")
    }
    assert {r.dataset for r in records} == {r.dataset for r in splits["train"]}
    assert len({r.dataset for r in records}) == 19
    assert {r.split_folder for r in splits["test"]} == {"validation-public"}
    for name, split in splits.items():
        images = np.load(
            data / "shards" / name / "32" / "images.npy", mmap_mode="r", allow_pickle=False
        )
        assert images.dtype == np.uint8 and images.shape[1:] == (32, 32, 3)
        index = json.loads((data / "shards" / name / "32" / "index.json").read_text())
        assert index["size"] == 32
        rows = index["records"]
        assert set(rows) <= {r.uid for r in split}
        assert all(0 <= row < len(images) for uid_rows in rows.values() for row in uid_rows)
    seen = [{p for r in split for p in r.image_paths} for split in splits.values()]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])


def test_every_planted_fault_is_reported(finished_run):
    workdir, config = finished_run
    root = Path(config["data"]["root"])
    manifest = json.loads((root / "synthetic_manifest.json").read_text())
    data = workdir / "results" / "data"
    problems = list(read_jsonl(data / "problems.jsonl"))
    for shard_problems in sorted((data / "shards").glob("*/32/problems.jsonl")):
        problems += list(read_jsonl(shard_problems))
    kinds = {fault["kind"] for fault in manifest["faults"]}
    assert len(kinds) >= 6
    reported = " ".join(f"{p['file']} {p.get('entry')} {p['reason']}" for p in problems)
    for fault in manifest["faults"]:
        name = Path(fault["image"] or fault["file"]).name
        assert name in reported, f"planted fault not reported: {fault}"


def test_rerun_plans_exactly_what_changed(finished_run):
    workdir, config = finished_run
    assert planned_jobs(snakemake(workdir, config, "-n")) == {}

    changed_split = {**config, "split": {"val_fraction": 0.3}}
    plan = planned_jobs(snakemake(workdir, changed_split, "-n"))
    assert plan == {"split": 1, "shards": 3, "all": 1}

    new_size = {**config, "shards": {"image_sizes": [32, 48], "threads": 2}}
    plan = planned_jobs(snakemake(workdir, new_size, "-n"))
    assert plan == {"shards": 3, "all": 1}


def test_a_wrong_config_value_stops_the_run_naming_the_key(tmp_path):
    config = small_synthetic_config(tmp_path)
    config["split"]["val_fraction"] = 2
    result = snakemake(tmp_path, config, "-n")
    assert result.returncode != 0
    assert "config key split.val_fraction" in result.stderr + result.stdout
