"""The PaliGemma family end to end on a tiny labelled set: demo model, training (best/final,
log, resume after a kill), predictions in the shared format."""

import csv
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medvlm.data.shards import build_shards
from medvlm.io import read_jsonl, write_jsonl
from medvlm.models.base import TRAIN_LOG_COLUMNS, SplitData, get_family
from medvlm.models.best_weights import score_answers
from medvlm.models.paligemma.checkpoint import read_npz
from medvlm.models.paligemma.resume import saved_steps
from medvlm.models.paligemma.settings import PaliGemmaRun
from medvlm.models.paligemma.tokenizer import NUM_LOC, Tokenizer
from medvlm.records import Record
from tests.support.training import kill_training

QUESTION = "Is the image bright or dark? Options: A: bright B: dark"
SIZE = 16


def make_split(root: Path, name: str, n: int, seed: int) -> SplitData:
    """Grey images, bright (answer A) or dark (B); record 0 has three views (neojaundice)."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        bright = bool(i % 2)
        level = int(rng.integers(170, 250) if bright else rng.integers(5, 80))
        paths = []
        for view in range(3 if i == 0 else 1):
            path = root / f"{name}_{i}_{view}.png"
            Image.new("RGB", (20, 20), (level,) * 3).save(path)
            paths.append(str(path))
        records.append(
            Record(
                uid=f"{name}/{i}",
                dataset="neojaundice" if i == 0 else "toy",
                category="Clinical",
                split_folder="training",
                source_file="q.json",
                entry_index=i,
                task="classification",
                task_raw="Classification",
                modality="photo",
                question=QUESTION,
                answer="A" if bright else "B",
                image_names=[p.rsplit("/", 1)[-1] for p in paths],
                image_paths=paths,
            )
        )
    split = root / f"{name}.jsonl"
    write_jsonl(split, records)
    build_shards(split, root / f"shard_{name}", SIZE)
    return SplitData(split, root / f"shard_{name}")


def make_run(checkpoint, **train):
    return {
        "family": "paligemma",
        "checkpoint": str(checkpoint),
        "image_size": SIZE,
        "seed": 0,
        "train": {
            "steps": 12,
            "batch_size": 4,
            "optimizer": "adam",
            "learning_rate": 0.01,
            "trainable": "full",
            "val_every": 6,
            "save_every": 3,
            "log_every": 3,
            "seqlen": 40,
            "val_examples": 8,
            **train,
        },
        "decode": {"batch_size": 4, "prompt_len": 36, "max_new_tokens": {"classification": 3}},
    }


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("pg")
    train, val = make_split(root, "train", 24, 0), make_split(root, "val", 8, 1)
    family = get_family("paligemma")
    texts = [QUESTION + " Answer with the option letter.", "A", "B"] * 5
    family.build_demo_model(root / "demo", texts, {"image_size": SIZE, "patch": 8, "width": 16})
    return root, family, train, val


@pytest.fixture(scope="module")
def trained(setup):
    root, family, train, val = setup
    run = make_run(root / "demo")
    family.train(run, train, val, root / "model", root / "resume")
    return run, root / "model"


def test_demo_model_is_a_real_checkpoint(setup):
    root, *_ = setup
    tokenizer = Tokenizer(root / "demo" / "tokenizer.model")
    arrays = read_npz(root / "demo" / "params.npz")
    assert arrays["llm/embedder/input_embedding"].shape[0] == tokenizer.vocab_size
    assert str(arrays["img/head/kernel"].dtype) == "bfloat16"
    assert np.abs(arrays["img/head/kernel"].astype(np.float32)).max() > 0  # head perturbed


def test_demo_location_rows_are_ordered_by_location(setup):
    """Near locations get near embedding rows, far ones unrelated rows, as after pretraining;
    the text rows stay random."""
    root, *_ = setup
    tokenizer = Tokenizer(root / "demo" / "tokenizer.model")
    table = read_npz(root / "demo" / "params.npz")["llm/embedder/input_embedding"]
    table = table.astype(np.float32)
    locs = table[tokenizer.loc_id(0) : tokenizer.loc_id(NUM_LOC - 1) + 1]
    unit = locs / np.linalg.norm(locs, axis=1, keepdims=True)
    near = np.mean(np.sum(unit[:-1] * unit[1:], axis=1))
    far = np.mean(np.abs(np.sum(unit[:-500] * unit[500:], axis=1)))
    assert near > 0.9 and far < 0.3, (near, far)
    text = table[: tokenizer.loc_offset]
    assert abs(np.sqrt(np.mean(locs**2)) - np.sqrt(np.mean(text**2))) < 0.004  # same scale


def test_training_writes_weights_and_log_and_learns(trained):
    _, model_dir = trained
    for name in ("final.npz", "best.npz", "config.json", "tokenizer.model"):
        assert (model_dir / name).is_file()
    with open(model_dir / "train_log.csv") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames == list(TRAIN_LOG_COLUMNS)
    assert [int(r["step"]) for r in rows] == [3, 6, 9, 12]
    assert [r["val_loss"] == "" for r in rows] == [True, False, True, False]
    assert [r["val_score"] == "" for r in rows] == [True, False, True, False]
    assert all(0 <= float(r["val_score"]) <= 1 for r in rows if r["val_score"])
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    assert float(rows[1]["lr"]) > float(rows[-1]["lr"])  # cosine decay after the warm-up


def test_predictions_in_the_shared_format(setup, trained):
    root, family, _, val = setup
    run, model_dir = trained
    family.predict(run, model_dir, val, root / "pred.jsonl")
    rows = list(read_jsonl(root / "pred.jsonl"))
    assert [r["uid"] for r in rows] == [f"val/{i}" for i in range(8)]
    assert {"prediction", "parsed", "well_formed", "answer", "task"} <= set(rows[0])
    assert all(isinstance(r["prediction"], str) for r in rows)


def val_answers(family, run, model_dir, val, out):
    family.predict(run, model_dir, val, out)
    return {row["uid"]: row["prediction"] for row in read_jsonl(out)}


def test_the_kept_weights_are_the_best_scoring_ones(setup, tmp_path):
    """select: score keeps the weights whose decoded validation answers scored highest: the
    kept weights answer the validation sample (all 8 questions here) with exactly the best
    logged score; select: final keeps the last weights."""
    root, family, train, val = setup
    run = make_run(root / "demo", steps=16, val_every=2, learning_rate=0.003)
    family.train(run, train, val, tmp_path / "model", tmp_path / "resume")
    with open(tmp_path / "model" / "train_log.csv") as handle:
        rows = [r for r in csv.DictReader(handle) if r["val_score"]]
    scores = {int(r["step"]): float(r["val_score"]) for r in rows}
    assert sorted(scores) == list(range(2, 17, 2))
    assert len(set(scores.values())) > 1  # the answers changed as it learnt
    answers = val_answers(family, run, tmp_path / "model", val, tmp_path / "best.jsonl")
    assert score_answers(val.records(), answers).score == pytest.approx(max(scores.values()))

    final = make_run(root / "demo", steps=16, val_every=2, learning_rate=0.003, select="final")
    family.train(final, train, val, tmp_path / "final_model", tmp_path / "final_resume")
    assert_same_weights(tmp_path / "model" / "final.npz", tmp_path / "final_model" / "best.npz")


def test_run_settings_reject_unknown_keys(setup):
    root, *_ = setup
    with pytest.raises(ValueError, match="train.learning_rat"):
        PaliGemmaRun.from_run(make_run(root / "demo", learning_rat=0.1))
    with pytest.raises(ValueError, match="run.model"):
        PaliGemmaRun.from_run({**make_run(root / "demo"), "model": {}})


def state_saved(resume: Path) -> bool:
    return bool(saved_steps(resume))


def assert_same_weights(a: Path, b: Path) -> None:
    first, second = read_npz(a), read_npz(b)
    assert first.keys() == second.keys()
    for name in first:
        np.testing.assert_array_equal(second[name], first[name], err_msg=name)


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_killed_training_resumes_to_the_same_weights(setup, tmp_path, lora):
    root, family, train, val = setup
    changes = {"lora_rank": 2, "learning_rate": 0.05} if lora else {}
    run = make_run(root / "demo", steps=60, save_every=4, val_every=30, log_every=10, **changes)
    family.train(run, train, val, tmp_path / "whole_model", tmp_path / "whole_resume")
    assert not (tmp_path / "whole_resume").exists()  # removed once the outputs are complete

    killed, resume = tmp_path / "killed_model", tmp_path / "killed_resume"
    kill_training(run, train, val, killed, resume, state_saved)
    assert not (killed / "final.npz").exists(), "training ended before the kill"
    assert 0 < saved_steps(resume)[-1] < 60

    family.train(run, train, val, killed, resume)
    assert not resume.exists()
    assert_same_weights(tmp_path / "whole_model" / "final.npz", killed / "final.npz")
    assert_same_weights(tmp_path / "whole_model" / "best.npz", killed / "best.npz")
    with open(killed / "train_log.csv") as handle:
        assert [int(r["step"]) for r in csv.DictReader(handle)] == [10, 20, 30, 40, 50, 60]


def test_changed_training_data_is_trained_afresh(setup, tmp_path, caplog):
    """The workflow's paths stay when a split changes: the state of a killed run on the old
    split is discarded, and the weights are those of a fresh run on the new split."""
    root, family, _, val = setup
    run = make_run(root / "demo", steps=24, save_every=2, val_every=12, log_every=4)
    old = make_split(tmp_path, "train", 24, 0)
    family.train(run, old, val, tmp_path / "old_model", tmp_path / "old_resume")
    kill_training(run, old, val, tmp_path / "model", tmp_path / "resume", state_saved)

    new = make_split(tmp_path, "train", 20, 5)  # same paths, other questions and images
    assert new == old
    with caplog.at_level(logging.WARNING, logger="medvlm.models.base"):
        family.train(run, new, val, tmp_path / "model", tmp_path / "resume")
    assert "discarding the resume state of another training: its train records" in caplog.text
    family.train(run, new, val, tmp_path / "fresh_model", tmp_path / "fresh_resume")

    assert_same_weights(tmp_path / "fresh_model" / "final.npz", tmp_path / "model" / "final.npz")
    before = read_npz(tmp_path / "old_model" / "final.npz")
    after = read_npz(tmp_path / "model" / "final.npz")
    assert any(not np.array_equal(before[name], after[name]) for name in before)
