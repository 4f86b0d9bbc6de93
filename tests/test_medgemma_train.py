"""LoRA fine-tuning of the tiny demo Gemma 3: outputs, learning, and resuming after a kill."""

import csv
import json
import logging

import pytest
import torch
from safetensors.torch import load_file

from medvlm.io import read_jsonl
from medvlm.models.base import TRAIN_LOG_COLUMNS
from medvlm.models.best_weights import score_answers
from medvlm.models.medgemma.checkpoints import last_complete_checkpoint
from medvlm.models.medgemma.demo_model import build_demo_model
from medvlm.models.medgemma.predict import predict
from medvlm.models.medgemma.train import train
from tests.support.medgemma_data import colour_split, demo_texts
from tests.support.training import kill_training

ADAPTER = "adapter_model.safetensors"


@pytest.fixture(scope="module")
def colours(tmp_path_factory):
    root = tmp_path_factory.mktemp("medgemma-train")
    train_data = colour_split(root / "data", "train", 48, views=2)
    val_data = colour_split(root / "data", "val", 12, seed=1)
    model_dir = root / "demo-model"
    build_demo_model(model_dir, demo_texts(train_data, val_data), {})
    return model_dir, train_data, val_data


def run_config(model_dir, **train):
    settings = {
        "batch_size": 8,
        "grad_accum": 1,
        "learning_rate": 5e-3,
        "warmup_fraction": 0,
        "activation_checkpointing": False,
        **train,
    }
    return {
        "family": "medgemma",
        "checkpoint": str(model_dir),
        "seed": 0,
        "train": settings,
        "decode": {"batch_size": 12, "max_new_tokens": {"classification": 3, "regression": 4}},
    }


def accuracy(path):
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return sum(row["parsed"] == row["answer"] for row in rows) / len(rows)


def predictions(path):
    return [json.loads(line)["prediction"] for line in path.read_text().splitlines()]


def read_log(path):
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return reader.fieldnames, list(reader)


def test_trained_adapter_beats_the_untrained_model(colours, tmp_path):
    model_dir, train_data, val_data = colours
    run = run_config(model_dir, steps=30, val_every=12, save_every=20, log_every=5, select="loss")
    out = tmp_path / "model"
    train(run, train_data, val_data, out, tmp_path / "resume")

    columns, rows = read_log(out / "train_log.csv")
    assert tuple(columns) == TRAIN_LOG_COLUMNS
    assert [int(r["step"]) for r in rows] == [5, 10, 12, 15, 20, 24, 25, 30]
    evaluated = {int(r["step"]): float(r["val_loss"]) for r in rows if r["val_loss"]}
    assert list(evaluated) == [12, 24, 30]  # every 12 updates, and at the end
    training = [r for r in rows if r["loss"]]
    assert [int(r["step"]) for r in training] == [5, 10, 15, 20, 25, 30]
    assert all(float(r["examples_per_s"]) > 0 and float(r["lr"]) > 0 for r in training)
    best = json.loads((out / "best" / "best.json").read_text())
    assert best["step"] == min(evaluated, key=evaluated.get)
    assert best["loss"] == pytest.approx(min(evaluated.values()))
    assert all(r["val_score"] == "" for r in rows)  # select: loss decodes nothing
    assert (out / "final" / ADAPTER).is_file()

    predict(run, out, val_data, tmp_path / "trained.jsonl")
    predict(run, model_dir, val_data, tmp_path / "untrained.jsonl")
    trained, untrained = (
        accuracy(tmp_path / "trained.jsonl"),
        accuracy(tmp_path / "untrained.jsonl"),
    )
    assert trained >= 0.9 > untrained + 0.5, (trained, untrained)

    unmerged = {**run, "decode": {**run["decode"], "merge_adapter": False}}
    predict(unmerged, out, val_data, tmp_path / "unmerged.jsonl")
    assert predictions(tmp_path / "unmerged.jsonl") == predictions(tmp_path / "trained.jsonl")


def test_the_kept_adapter_is_the_best_scoring_one(colours, tmp_path):
    """select: score answers the validation sample at every evaluation; the kept adapter is
    the one whose answers scored highest, and answering with it gives that score again."""
    model_dir, train_data, val_data = colours
    run = run_config(model_dir, steps=12, val_every=3, save_every=6, log_every=3, batch_size=4)
    out = tmp_path / "model"
    train(run, train_data, val_data, out, tmp_path / "resume")
    _, rows = read_log(out / "train_log.csv")
    scores = {int(r["step"]): float(r["val_score"]) for r in rows}
    assert list(scores) == [3, 6, 9, 12] and all(0 <= v <= 1 for v in scores.values())
    best = json.loads((out / "best" / "best.json").read_text())
    assert best["score"] == pytest.approx(max(scores.values()))
    predict(run, out, val_data, tmp_path / "best.jsonl")
    answers = {row["uid"]: row["prediction"] for row in read_jsonl(tmp_path / "best.jsonl")}
    assert score_answers(val_data.records(), answers).score == pytest.approx(best["score"])


def test_training_resumes_after_a_kill(colours, tmp_path):
    """Kill a training process after its first checkpoint; rerunning continues from it and ends
    where an uninterrupted run ends."""
    model_dir, train_data, val_data = colours
    run = run_config(model_dir, steps=9, val_every=3, save_every=3, log_every=3, batch_size=4)
    train(run, train_data, val_data, tmp_path / "whole", tmp_path / "whole-resume")
    assert not (tmp_path / "whole-resume").exists()

    out, resume = tmp_path / "killed", tmp_path / "killed-resume"
    kill_training(run, train_data, val_data, out, resume, last_complete_checkpoint)
    killed_at = last_complete_checkpoint(resume)
    assert killed_at is not None and killed_at.name in ("checkpoint-3", "checkpoint-6")
    assert not (out / "final").exists()

    train(run, train_data, val_data, out, resume)
    assert not resume.exists()  # removed once the outputs are complete
    _, rows = read_log(out / "train_log.csv")
    assert [int(r["step"]) for r in rows] == [3, 6, 9]
    assert all(r["loss"] and r["val_loss"] for r in rows)

    whole_dir = tmp_path / "whole"
    whole = load_file(whole_dir / "final" / ADAPTER)
    resumed = load_file(out / "final" / ADAPTER)
    assert whole.keys() == resumed.keys()
    for name, tensor in whole.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=0, atol=0, msg=name)
    _, whole_rows = read_log(tmp_path / "whole" / "train_log.csv")
    for a, b in zip(rows, whole_rows, strict=True):
        assert float(a["val_loss"]) == pytest.approx(float(b["val_loss"]), rel=1e-4)
        assert a["val_score"] == b["val_score"] != ""  # select: score, decided the same way
    kept, whole_kept = (
        json.loads((d / "best" / "best.json").read_text()) for d in (out, whole_dir)
    )
    assert (kept["step"], kept["score"]) == (whole_kept["step"], whole_kept["score"])


def adapter(path):
    return load_file(path / "final" / ADAPTER)


def test_changed_training_data_is_trained_afresh(colours, tmp_path, caplog):
    """The workflow's paths stay when a split changes: the state of a killed run on the old
    split is discarded, and the adapter is that of a fresh run on the new split."""
    model_dir, _, val_data = colours
    run = run_config(model_dir, steps=6, val_every=3, save_every=2, log_every=3, batch_size=4)
    old = colour_split(tmp_path / "data", "train", 24)
    train(run, old, val_data, tmp_path / "old", tmp_path / "old-resume")
    out, resume = tmp_path / "model", tmp_path / "resume"
    kill_training(run, old, val_data, out, resume, last_complete_checkpoint)

    new = colour_split(tmp_path / "data", "train", 18, seed=4)  # same paths, other questions
    assert new == old
    with caplog.at_level(logging.WARNING, logger="medvlm.models.base"):
        train(run, new, val_data, out, resume)
    assert "discarding the resume state of another training: its train records" in caplog.text
    train(run, new, val_data, tmp_path / "fresh", tmp_path / "fresh-resume")

    fresh, rerun, before = adapter(tmp_path / "fresh"), adapter(out), adapter(tmp_path / "old")
    assert fresh.keys() == rerun.keys() == before.keys()
    for name, tensor in fresh.items():
        torch.testing.assert_close(rerun[name], tensor, rtol=0, atol=0, msg=name)
    assert any(not torch.equal(before[name], rerun[name]) for name in before)
