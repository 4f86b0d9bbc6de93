"""The PaliGemma family end to end on a tiny labelled set: demo model, training (best/final,
log, resume after a kill), predictions in the shared format."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medvlm.data.shards import build_shards
from medvlm.io import read_jsonl, write_jsonl
from medvlm.models.base import SplitData, get_family
from medvlm.models.paligemma.checkpoint import read_npz
from medvlm.models.paligemma.settings import PaliGemmaRun
from medvlm.models.paligemma.tokenizer import Tokenizer
from medvlm.records import Record

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


def test_training_writes_weights_and_log_and_learns(trained):
    _, model_dir = trained
    for name in ("final.npz", "best.npz", "config.json", "tokenizer.model"):
        assert (model_dir / name).is_file()
    with open(model_dir / "train_log.csv") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames == ["step", "loss", "val_loss", "lr", "examples_per_s"]
    assert [int(r["step"]) for r in rows] == [3, 6, 9, 12]
    assert [r["val_loss"] == "" for r in rows] == [True, False, True, False]
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


def test_run_settings_reject_unknown_keys(setup):
    root, *_ = setup
    with pytest.raises(ValueError, match="train.learning_rat"):
        PaliGemmaRun.from_run(make_run(root / "demo", learning_rat=0.1))
    with pytest.raises(ValueError, match="run.model"):
        PaliGemmaRun.from_run({**make_run(root / "demo"), "model": {}})


KILLED_RUN = """
import json, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_paligemma_family import make_split  # noqa: E402
from medvlm.models.base import SplitData, get_family
run = json.loads({run!r})
root = Path({root!r})
train = SplitData(root / "train.jsonl", root / "shard_train")
val = SplitData(root / "val.jsonl", root / "shard_val")
get_family("paligemma").train(run, train, val, root / "killed_model", root / "killed_resume")
"""


def test_killed_training_resumes_to_the_same_weights(setup, trained):
    root, family, train, val = setup
    run = make_run(root / "demo", steps=60, save_every=4, val_every=30, log_every=10)
    family.train(run, train, val, root / "whole_model", root / "whole_resume")

    script = KILLED_RUN.format(
        tests=str(Path(__file__).parent), run=json.dumps(run), root=str(root)
    )
    process = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy())
    state = root / "killed_resume" / "state.npz"
    deadline = time.monotonic() + 240
    while not state.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (root / "killed_model" / "final.npz").exists(), "training ended before the kill"
    meta = json.loads(str(read_npz(state)["meta"]))
    assert 0 < meta["step"] < 60

    family.train(run, train, val, root / "killed_model", root / "killed_resume")
    whole = read_npz(root / "whole_model" / "final.npz")
    resumed = read_npz(root / "killed_model" / "final.npz")
    assert whole.keys() == resumed.keys()
    for name in whole:
        np.testing.assert_array_equal(resumed[name], whole[name], err_msg=name)
    with open(root / "killed_model" / "train_log.csv") as handle:
        assert [int(r["step"]) for r in csv.DictReader(handle)] == [10, 20, 30, 40, 50, 60]
