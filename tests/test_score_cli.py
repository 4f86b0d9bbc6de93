"""``medvlm score`` end to end, run as the installed command: records JSONL and FLARE trees as
references, our JSONL and the organisers' predictions.json list as predictions, bad input."""

from __future__ import annotations

import json

import pytest

from medvlm.io import write_jsonl
from medvlm.metrics import profiles
from medvlm.metrics.items import Item
from medvlm.metrics.profiles import ProfileUnavailable, load_profile
from medvlm.metrics.scoring import score_items
from medvlm.records import Record
from tests.support.cli import run_medvlm

RETINO_Q = "Question: What is the DR grade? Options: A: No DR B: Mild DR C: Severe DR"
BUSI_Q = "Question: Is the lesion benign or malignant? Options: A: Benign B: Malignant"
COUNT_Q = "What is the cell count in this image?"
DET_Q = "Define the position of the lesion using its bounding box coordinates."
NEO_Q = "Question: Does the newborn need treatment? Options: A: No Treatment B: Treatment Required"

# (uid, data set, task, question, answer, image names, prediction)
ROWS = [
    ("v/retino/0", "retino", "classification", RETINO_Q, "B", ["imagesVal/r0.jpg"], "B"),
    ("v/retino/1", "retino", "classification", RETINO_Q, "A", ["imagesVal/r1.jpg"], "Answer: C."),
    ("v/busi/0", "BUSI", "classification", BUSI_Q, "B", ["imagesVal/b0.png"], None),  # missing
    (
        "v/neo/0",
        "neojaundice",
        "classification",
        NEO_Q,
        "A",
        ["imagesVal/n0a.jpg", "imagesVal/n0b.jpg"],
        "A",
    ),
    ("v/cell/0", "neurips22cell", "counting", COUNT_Q, "24", ["imagesVal/c0.tif"], "24"),
    ("v/cell/1", "neurips22cell", "counting", COUNT_Q, "30", ["imagesVal/c1.tif"], "about thirty"),
    (
        "v/det/0",
        "BUSI-det",
        "detection",
        DET_Q,
        "[10, 10, 50, 50]",
        ["imagesVal/d0.png"],
        "[10, 10, 50, 50]",
    ),
]


def _record(uid, dataset, task, question, answer, names):
    return Record(
        uid=uid,
        dataset=dataset,
        category="Test",
        split_folder="validation-public",
        source_file=f"{dataset}_questions_val.json",
        entry_index=int(uid[-1]),
        task=task,
        task_raw=task,
        modality="test",
        question=question,
        answer=answer,
        image_names=names,
    )


@pytest.fixture
def references(tmp_path):
    path = tmp_path / "refs.jsonl"
    write_jsonl(path, [_record(*row[:6]) for row in ROWS])
    return path


def _by_uid(path):
    rows = [{"uid": r[0], "prediction": r[6]} for r in ROWS if r[6] is not None]
    write_jsonl(path, [*rows, {"uid": "v/ghost/0", "prediction": "A"}, {"text": "no key"}])
    return path


def _by_image(path):
    rows = [
        {"ImageName": r[5][0] if len(r[5]) == 1 else r[5], "Question": r[3], "Answer": r[6]}
        for r in ROWS
        if r[6] is not None
    ]
    write_jsonl(path, rows)
    return path


def score(references, predictions, out, *extra):
    """``medvlm score``; its process result."""
    args = ["--references", references, "--predictions", predictions, "--out", out]
    return run_medvlm("score", *args, *extra)


def _run(references, predictions, out, *extra):
    result = score(references, predictions, out, "--profiles", "default,study", "--bootstrap", "50",
                   *extra)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))


def test_scores_by_uid(references, tmp_path):
    scores = _run(references, _by_uid(tmp_path / "pred.jsonl"), tmp_path / "s.json")
    missing = scores["missing"]
    assert missing["references_without_prediction"] == ["v/busi/0"]
    assert missing["predictions_without_reference"] == ["v/ghost/0"]
    assert missing["n_bad_rows"] == 1 and "entry 8" in missing["bad_rows"][0]

    cls = scores["profiles"]["default"]["classification"]
    # retino: refs B A, preds B C -> recall(B) 1, recall(A) 0 -> 0.5; BUSI: B missed -> 0;
    # neojaundice: A right -> 1. Mean over data sets (0.5 + 0 + 1) / 3 = 0.5.
    # Pooled: A (retino/1 wrong, neo right) 1/2; B (retino/0 right, BUSI wrong) 1/2 -> 0.5
    # accuracy 2/4; unparsable: the missing BUSI answer; wrong format: "Answer: C." and ""
    assert cls["n"] == 4
    assert cls["pooled"]["balanced_accuracy"] == pytest.approx(0.5)
    assert cls["pooled"]["accuracy"] == pytest.approx(0.5)
    assert cls["pooled"]["n_unparsable"] == 1
    assert cls["pooled"]["n_wrong_format"] == 2
    assert cls["by_dataset"]["retino"]["balanced_accuracy"] == pytest.approx(0.5)
    lo, hi = cls["ci"]["balanced_accuracy"]
    assert lo <= 0.5 <= hi

    count = scores["profiles"]["default"]["counting"]["pooled"]
    # "about thirty" is unparsable: replaced by 24, the reference farthest from 30 -> errors 0, 6
    assert count["mae"] == pytest.approx(3.0)
    assert count["parse_rate"] == pytest.approx(0.5)
    assert scores["profiles"]["default"]["detection"]["pooled"]["f1@0.5"] == 1.0
    # study: exact match on raw text -> "B" and "A" match; "Answer: C." and "" do not -> 2/4
    assert scores["profiles"]["study"]["classification"]["pooled"]["exact_match"] == 0.5


def test_scores_by_image_and_question_match_scores_by_uid(references, tmp_path):
    by_uid = _run(references, _by_uid(tmp_path / "a.jsonl"), tmp_path / "a.json")
    by_image = _run(references, _by_image(tmp_path / "b.jsonl"), tmp_path / "b.json")
    assert by_image["missing"]["references_without_prediction"] == ["v/busi/0"]
    assert by_image["missing"]["n_predictions_without_reference"] == 0
    assert by_image["profiles"] == by_uid["profiles"]


def test_bad_profile_and_bad_input_fail_with_a_clear_message(references, tmp_path):
    predictions = _by_uid(tmp_path / "p.jsonl")
    out = tmp_path / "x.json"
    result = score(references, predictions, out, "--profiles", "default,nosuch")
    assert result.returncode == 1 and "nosuch" in result.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = score(empty, predictions, out)
    assert result.returncode == 1 and "no usable reference" in result.stderr
    assert not out.exists()


def test_unwritten_profile_module_is_named(monkeypatch):
    monkeypatch.setitem(profiles._MODULES, "flare26", "medvlm.metrics.profiles.not_written_yet")
    with pytest.raises(ProfileUnavailable, match="'flare26' is not available"):
        load_profile("flare26")


def test_score_items_without_bootstrap_is_deterministic_and_json_safe():
    items = [
        Item("u1", "d", "regression", "Bone loss?", "20.0%", "12", "i1"),
        Item("u2", "d", "regression", "Bone loss?", "20.0%", "no idea", "i2"),
    ]
    # both references 20: R² undefined -> null; u2 unparsable, flat range -> imputed 20
    scores = score_items(items, ["default"], bootstrap=0)
    pooled = scores["profiles"]["default"]["regression"]["pooled"]
    assert pooled["r2"] is None
    assert pooled["mae"] == pytest.approx(4.0)  # errors 8 and 0
    assert scores["profiles"]["default"]["regression"]["ci"] == {}


# --- FLARE trees and the organisers' predictions.json ---------------------------------------

REG_Q = "What percentage of bone is resorbed?"


def flare_entry(task, image, answer, question=COUNT_Q):
    return {"Question": question, "Answer": answer, "TaskType": task, "Modality": "microscopy",
            "ImageName": image, "Split": "val"}  # fmt: skip


@pytest.fixture
def tree(tmp_path):
    """validation-public questions with answers, and no image on disk: scoring reads none."""
    root = tmp_path / "flare"
    cells = root / "validation-public/Microscopy/neurips22cell"
    cells.mkdir(parents=True)
    counting = [
        flare_entry("Counting", "imagesVal/c0.tif", "24"),
        flare_entry("Counting", "imagesVal/c1.tif", "30"),
        flare_entry("Counting", "imagesVal/c2.tif", "12"),
        flare_entry("Counting", "imagesVal/c3.tif", "50"),  # 3: gets no prediction
        flare_entry("Counting", "imagesVal/c4.tif", "7"),  # 4 and 5 share image and question
        flare_entry("Counting", "imagesVal/c4.tif", "9"),
    ]
    (cells / "neurips22cell_questions_val.json").write_text(json.dumps(counting))
    bones = root / "validation-public/Xray/boneresorption"
    bones.mkdir(parents=True)
    regression = [
        flare_entry("regression", "imagesVal/r0.png", "20.0", REG_Q),
        flare_entry("regression", "imagesVal/r1.png", "40.0", REG_Q),
    ]
    (bones / "boneresorption_questions_val.json").write_text(json.dumps(regression))
    hidden = root / "validation-hidden/Xray/boneresorption"
    hidden.mkdir(parents=True)
    unanswered = [{k: v for k, v in e.items() if k != "Answer"} for e in regression]
    (hidden / "boneresorption_questions_val.json").write_text(json.dumps(unanswered))
    return root


# The model's answer to each question above, in the tree's order (None: not answered).
ANSWERS = ["24", "about 30", "", None, "7", "9", "25%", "40.0"]


def questions_in_order(root):
    entries = []
    for path in sorted((root / "validation-public").rglob("*_questions_val.json")):
        entries += json.loads(path.read_text())
    return entries


def submission(root, path, answers=ANSWERS):
    """The organisers' format: every answered entry copied, "Answer" filled in."""
    entries = [
        {**entry, "Answer": answer}
        for entry, answer in zip(questions_in_order(root), answers, strict=True)
        if answer is not None
    ]
    entries.append(flare_entry("Counting", "imagesVal/elsewhere.tif", "3"))  # not a question here
    path.write_text(json.dumps(entries, indent=2))
    return path


def raw_rows(root, path):
    """The same answers as raw model output in JSONL (our predictor's ``prediction`` field)."""
    rows = [
        {"ImageName": e["ImageName"], "Question": e["Question"], "prediction": answer}
        for e, answer in zip(questions_in_order(root), ANSWERS, strict=True)
        if answer is not None
    ]
    write_jsonl(path, rows)
    return path


def public(scores, profile, task):
    return scores["profiles"][profile][task]["pooled"]


def test_a_submission_list_against_a_flare_tree(tree, tmp_path):
    predictions = submission(tree, tmp_path / "predictions.json")
    out = tmp_path / "scores.json"
    result = score(tree, predictions, out, "--profiles", "qwen25vl,paligemma", "--bootstrap", "0")
    assert result.returncode == 0, result.stderr
    scores = json.loads(out.read_text())
    missing = scores["missing"]
    assert missing["references_without_prediction"] == [
        "validation-public/neurips22cell/neurips22cell_questions_val/3"
    ]
    assert missing["predictions_without_reference"] == ["imagesVal/elsewhere.tif||" + COUNT_Q]
    assert missing["ambiguous_keys"] == ["imagesVal/c4.tif||" + COUNT_Q]
    assert scores["inputs"]["n_items"] == 8

    counting = public(scores, "qwen25vl", "counting")
    # evaluate_model.py: "24" -> 24, "about 30" -> 30 (its only number), "" -> nothing: skipped;
    # the missing answer to 50 is scored as "": skipped. The two questions on c4 take "7" and
    # "9" in input order: errors 0 and 0 (crossed they would be 2 and 2). MAE 0 over 4 pairs.
    assert counting["mean_absolute_error"] == 0.0
    assert (counting["num_examples"], counting["valid_examples"]) == (6, 4)
    assert counting["skipped_examples"] == 2
    regression = public(scores, "qwen25vl", "regression")
    # "25%" -> 25 (a number before %), "40.0" -> 40: errors 5 and 0, MAE 2.5
    assert regression["mean_absolute_error"] == pytest.approx(2.5)
    assert regression["valid_examples"] == 2 and regression["skipped_examples"] == 0

    # eval.py reads a submitted Answer as written: float("about 30") and float("25%") fail,
    # so both MAEs are inf, as the original reports them.
    assert public(scores, "paligemma", "counting")["mean_absolute_error"] == "inf"
    assert public(scores, "paligemma", "regression")["mean_absolute_error"] == "inf"


def test_raw_model_output_gets_the_inference_cleanup_first(tree, tmp_path):
    out = tmp_path / "scores.json"
    result = score(tree, raw_rows(tree, tmp_path / "raw.jsonl"), out, "--profiles", "paligemma")
    assert result.returncode == 0, result.stderr
    scores = json.loads(out.read_text())
    # inference.py keeps the first number, else "0": 24, 30, 0, (missing: "" scored as written,
    # so the task's MAE would be inf) ...
    assert public(scores, "paligemma", "counting")["mean_absolute_error"] == "inf"
    # ... regression has every answer: "25%" -> "25", "40.0": errors 5 and 0, MAE 2.5
    assert public(scores, "paligemma", "regression")["mean_absolute_error"] == pytest.approx(2.5)
    answered = tmp_path / "answered.jsonl"
    rows = [json.loads(line) for line in open(tmp_path / "raw.jsonl")]
    rows.insert(3, {"ImageName": "imagesVal/c3.tif", "Question": COUNT_Q, "prediction": "50"})
    write_jsonl(answered, rows)
    assert score(tree, answered, out, "--profiles", "paligemma").returncode == 0
    # 24, 30, "" -> "0" (error 12), 50, 7, 9: errors 0 0 12 0 0 0, MAE 12 / 6 = 2
    counting = public(json.loads(out.read_text()), "paligemma", "counting")
    assert counting["mean_absolute_error"] == pytest.approx(2.0)


def test_references_from_one_questions_file_or_a_split_folder(tree, tmp_path):
    predictions = submission(tree, tmp_path / "predictions.json")
    one_file = tree / "validation-public/Xray/boneresorption/boneresorption_questions_val.json"
    scores = _run(one_file, predictions, tmp_path / "a.json")
    assert scores["inputs"]["n_items"] == 2
    assert len(scores["missing"]["predictions_without_reference"]) == 6  # 5 counts, elsewhere
    folder = _run(tree / "validation-public", predictions, tmp_path / "b.json")
    whole = _run(tree, predictions, tmp_path / "c.json")
    assert folder["profiles"] == whole["profiles"]


@pytest.mark.parametrize(
    "case, message",
    [
        ("object", "not a JSON list or JSONL"),
        ("repeated_uid", "uid 'v/retino/0' at"),
        ("too_many_rows", "3 rows"),
        ("answers_other_questions", "none of its 2 row(s) matches a question of"),
        ("unlabelled_references", "no usable reference questions"),
        ("no_such_references", "do not exist"),
    ],
)
def test_unreadable_input_names_the_file_and_writes_nothing(tree, tmp_path, case, message):
    references = tree
    predictions = submission(tree, tmp_path / "predictions.json")
    if case == "object":
        predictions.write_text(json.dumps({"Answer": "24", "ImageName": "x"}, indent=2))
    elif case == "repeated_uid":
        write_jsonl(predictions, [{"uid": "v/retino/0", "prediction": "A"}] * 2)
    elif case == "too_many_rows":
        entries = json.loads(predictions.read_text())
        predictions.write_text(json.dumps([*entries, entries[4]]))  # a third row for c4
    elif case == "answers_other_questions":  # e.g. a submission for validation-hidden
        other = [flare_entry("Counting", f"imagesVal/other{i}.tif", "3") for i in range(2)]
        predictions.write_text(json.dumps(other))
    elif case == "unlabelled_references":
        references = tree / "validation-hidden"
    else:
        references = tree / "nowhere"
    out = tmp_path / "scores.json"
    result = score(references, predictions, out)
    assert result.returncode == 1
    assert message in result.stderr
    unreadable = ("object", "repeated_uid", "too_many_rows", "answers_other_questions")
    shown = predictions if case in unreadable else references
    assert shown.name in result.stderr
    assert not out.exists()
