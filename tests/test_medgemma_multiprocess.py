"""Data-parallel training of the tiny demo Gemma 3 in two torchrun workers on the CPU (gloo)."""

import csv
import json
import re

import pytest

from medvlm.models.base import SplitData, get_family
from medvlm.models.launch import in_worker, read_spec, workers_dir
from medvlm.models.medgemma.demo_model import build_demo_model
from medvlm.models.medgemma.settings import MedGemmaRun
from medvlm.models.medgemma.train import train
from tests.support.medgemma_data import colour_split, demo_texts


@pytest.fixture(scope="module")
def colours(tmp_path_factory):
    root = tmp_path_factory.mktemp("medgemma-multiprocess")
    train_data = colour_split(root / "data", "train", 16)
    val_data = colour_split(root / "data", "val", 4, seed=1)
    model_dir = root / "demo-model"
    build_demo_model(model_dir, demo_texts(train_data, val_data), {})
    return model_dir, train_data, val_data


def run_config(checkpoint):
    return {
        "family": "medgemma",
        "checkpoint": str(checkpoint),
        "seed": 0,
        "train": {
            "batch_size": 2,
            "grad_accum": 1,
            "epochs": 1,
            "warmup_fraction": 0,
            "val_every": 100,
            "save_every": 2,
            "log_every": 1,
            "activation_checkpointing": False,
            "processes": 2,
        },
    }


@pytest.mark.slow
def test_two_workers_share_each_epoch(colours, tmp_path, capfd):
    model_dir, train_data, val_data = colours
    out, resume = tmp_path / "model", tmp_path / "resume"
    get_family("medgemma").train(run_config(model_dir), train_data, val_data, out, resume)

    stderr = capfd.readouterr().err
    assert "training as rank 0 of 2" in stderr and "training as rank 1 of 2" in stderr

    # Rank 0 alone wrote the outputs: no leftover temporary directory from a second writer.
    assert sorted(path.name for path in out.iterdir()) == ["best", "final", "train_log.csv"]
    assert (out / "final" / "adapter_model.safetensors").is_file()
    with open(out / "train_log.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # 16 questions, 2 per worker and step: two workers need 4 steps for the epoch, one needs 8.
    assert [int(row["step"]) for row in rows] == [1, 2, 3, 4]
    assert rows[-1]["val_loss"]  # the closing validation, whose loss both workers computed
    assert not workers_dir(resume).exists()  # the launch spec and logs go after a success
    assert not resume.exists()  # and so does the resume state


@pytest.mark.slow
def test_a_failed_worker_raises_with_its_logs(colours, tmp_path):
    _, train_data, val_data = colours
    resume = tmp_path / "resume"
    with pytest.raises(RuntimeError, match="exited with code 1; worker logs under") as error:
        get_family("medgemma").train(
            run_config(tmp_path / "no-model"), train_data, val_data, tmp_path / "out", resume
        )
    logs = workers_dir(resume) / "logs"
    assert str(logs) in str(error.value)
    errors = "".join(path.read_text() for path in logs.rglob("stderr.log"))
    assert "no-model" in errors  # each worker's traceback names the missing checkpoint


def test_processes_must_be_positive():
    run = run_config("model")
    run["train"]["processes"] = 0
    with pytest.raises(ValueError, match="run.train.processes: must be at least 1"):
        MedGemmaRun.from_run(run)


def test_the_worker_function_alone_refuses_several_processes(monkeypatch, tmp_path):
    """Only the family starts workers: train() called alone with processes: 2 would train
    one process where two were asked for."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    split = SplitData(tmp_path / "r.jsonl", tmp_path / "s")
    message = r"run.train.nodes × processes is 2 but this training has 1"
    with pytest.raises(ValueError, match=message):
        train(run_config(tmp_path / "model"), split, split, tmp_path / "out", tmp_path / "res")


def test_a_launched_worker_never_relaunches(monkeypatch):
    for name in ("LOCAL_RANK", "WORLD_SIZE", "MEDVLM_WORKER"):
        monkeypatch.delenv(name, raising=False)
    assert not in_worker()
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert in_worker()
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert in_worker()


def test_a_broken_launch_spec_names_its_file(tmp_path):
    spec = tmp_path / "launch.json"
    spec.write_text(json.dumps({"run": {}, "train": ["a", "b"]}))
    message = rf"{re.escape(str(spec))}: not a valid launch spec .*'val'"
    with pytest.raises(ValueError, match=message):
        read_spec(spec)
