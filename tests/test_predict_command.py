"""``medvlm predict`` run as the installed command on a tiny PaliGemma model: the organisers'
submission list for an unlabelled folder, our rows beside it, and how a model folder is read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medvlm.data.flare import run_merge
from medvlm.data.synthetic import SyntheticConfig, write_synthetic_tree
from medvlm.io import read_jsonl, write_json
from medvlm.models.demo import build_demo_model
from medvlm.models.saved import RUN_FILE, model_run, save_run
from tests.support.cli import run_medvlm

DECODE = json.dumps(
    {
        "batch_size": 8,
        "max_new_tokens": {"classification": 8, "counting": 6, "instance_detection": 24},
    }
)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tree with hidden questions (BUSI, chromosome, the 3-view neojaundice) and a tiny model."""
    base = tmp_path_factory.mktemp("predict")
    root = base / "tree"
    config = SyntheticConfig(train_images_per_dataset=3, val_images_per_dataset=1,
                             hidden_images_per_dataset=3,
                             datasets=("BUSI", "chromosome", "neojaundice"))  # fmt: skip
    write_synthetic_tree(root, config)
    data = base / "data"
    run_merge(root, ["training"], data / "r.jsonl", data / "p.jsonl", data / "s.json")
    model = base / "model"
    cfg = {"image_size": 32, "patch": 16, "width": 32, "depth": 1, "vocab_size": 400}
    build_demo_model("paligemma", data / "r.jsonl", model, cfg)
    return root, model


def hidden_questions(root):
    questions = []
    for path in sorted((root / "validation-hidden").rglob("*_questions_val.json")):
        questions += [(path, i, e) for i, e in enumerate(json.loads(path.read_text()))]
    return questions


def test_a_submission_answers_every_question_once_in_order(setup, tmp_path):
    root, model = setup
    tree = tmp_path / "tree"
    shutil.copytree(root, tree)
    questions = hidden_questions(tree)
    busi = next(i for i, (path, _, _) in enumerate(questions) if "BUSI" in path.name)
    missing = tree / "validation-hidden/Ultrasound/BUSI" / questions[busi][2]["ImageName"]
    missing.unlink()

    out = tmp_path / "out" / "predictions.json"
    result = run_medvlm("predict", "--model", model, "--questions", tree, "--split-folder",
                        "validation-hidden", "--out", out, "--decode", DECODE)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    submitted = json.loads(out.read_text())
    # every entry copied as given, in input order, with "Answer" added; the organisers'
    # *_withGT.json copies lie beside them and are not read
    assert [{k: v for k, v in e.items() if k != "Answer"} for e in submitted] == [
        entry for _, _, entry in questions
    ]
    assert submitted[busi]["Answer"] == ""  # its image is missing
    assert "BUSI_questions_val.json entry" in result.stderr and missing.name in result.stderr
    answered = [e for i, e in enumerate(submitted) if i != busi]
    assert all(e["Answer"] for e in answered)
    assert "predict:" in result.stderr  # the progress bar

    rows = {row["uid"]: row for row in read_jsonl(out.with_suffix(".jsonl"))}
    assert len(rows) == len(questions) - 1  # every question the merge could read
    for position, (path, index, _) in enumerate(questions):
        uid = f"validation-hidden/{path.parent.name}/{path.stem}/{index}"
        if position == busi:
            assert uid not in rows
            continue
        assert rows[uid]["prediction"] == submitted[position]["Answer"]
        if rows[uid]["task"] == "classification":  # constrained: always one of the options
            assert rows[uid]["well_formed"], rows[uid]
    assert not list(out.parent.glob(".medvlm-predict-*"))  # the decoded images are gone


def test_unanswered_questions_are_answered_whatever_their_folder_is_called(setup, tmp_path):
    # a download kept under another name than validation-hidden/ or testing/: no Answer needed
    root, model = setup
    busi = tmp_path / "flare-hidden-2025" / "Ultrasound" / "BUSI"
    shutil.copytree(root / "validation-hidden" / "Ultrasound" / "BUSI", busi)
    questions = json.loads((busi / "BUSI_questions_val.json").read_text())
    assert questions and not any("Answer" in entry for entry in questions)
    out = tmp_path / "predictions.json"
    result = run_medvlm("predict", "--model", model, "--questions", busi.parent.parent,
                        "--out", out, "--decode", DECODE)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    submitted = json.loads(out.read_text())
    assert len(submitted) == len(questions) and all(entry["Answer"] for entry in submitted)
    assert "missing field" not in result.stderr and "empty Answer" not in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--out", "{tmp}/predictions.jsonl"], "name a .json file"),
        (["--model", "{tmp}"], "not a model folder medvlm knows"),
        (["--model", "{tmp}/nowhere"], "does not exist"),
        (["--questions", "{tmp}"], "no questions file"),
        (["--decode", "[1, 2]"], "a mapping of decoding settings"),
    ],
)
def test_bad_arguments_fail_with_a_message_and_write_nothing(setup, tmp_path, args, message):
    root, model = setup
    given = {"--model": str(model), "--questions": str(root), "--out": f"{tmp_path}/p.json"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        given[flag] = value.format(tmp=tmp_path)
    result = run_medvlm("predict", *[part for pair in given.items() for part in pair])
    assert result.returncode == 1
    assert message in result.stderr
    assert not list(tmp_path.glob("p.json*"))


def test_a_model_folder_says_its_run_and_overrides_win(tmp_path):
    trained = tmp_path / "trained"
    trained.mkdir()
    run = {"family": "medgemma", "checkpoint": "base", "image_size": 64, "seed": 1,
           "train": {"max_steps": 3}, "decode": {"batch_size": 2}}  # fmt: skip
    save_run(trained, run)
    saved = json.loads((trained / RUN_FILE).read_text())
    assert saved["checkpoint"] == str(Path("base").resolve())  # usable from anywhere
    assert "decode" not in saved  # decoding belongs to each prediction
    assert model_run(trained)["image_size"] == 64
    overridden = model_run(trained, image_size=96, decode={"batch_size": 4})
    assert overridden["image_size"] == 96 and overridden["decode"] == {"batch_size": 4}
    assert overridden["train"] == {"max_steps": 3}


def test_a_plain_checkpoint_is_recognised_by_its_files(setup, tmp_path):
    _, model = setup
    run = model_run(model)  # a big_vision .npz + tokenizer: PaliGemma, size from config.json
    assert (run["family"], run["image_size"], run["checkpoint"]) == ("paligemma", 32, str(model))
    gemma = tmp_path / "gemma"
    gemma.mkdir()
    write_json(gemma / "config.json", {"model_type": "gemma3"})
    with pytest.raises(ValueError, match="give --image-size"):
        model_run(gemma)
    write_json(gemma / "preprocessor_config.json", {"size": {"height": 896, "width": 896}})
    assert model_run(gemma)["image_size"] == 896
    assert model_run(gemma, family="paligemma", image_size=224)["family"] == "paligemma"
