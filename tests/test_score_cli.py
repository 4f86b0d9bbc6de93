"""The scoring command end to end on a few JSONL rows, in both prediction keying modes."""

from __future__ import annotations

import json

import pytest

from medvlm.io import write_jsonl
from medvlm.metrics import profiles
from medvlm.metrics.items import Item
from medvlm.metrics.profiles import ProfileUnavailable, load_profile
from medvlm.metrics.score import main
from medvlm.metrics.scoring import score_items
from medvlm.records import Record

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


def _run(references, predictions, out, *extra):
    args = ["--references", str(references), "--predictions", str(predictions), "--out", str(out)]
    assert main([*args, "--profiles", "default,study", "--bootstrap", "50", *extra]) == 0
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


def test_bad_profile_and_bad_input_fail_with_a_clear_message(references, tmp_path, capsys):
    predictions = _by_uid(tmp_path / "p.jsonl")
    args = ["--references", str(references), "--predictions", str(predictions), "--out"]
    assert main([*args, str(tmp_path / "x.json"), "--profiles", "default,nosuch"]) == 1
    assert "nosuch" in capsys.readouterr().err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["--references", str(empty), "--predictions", str(predictions), "--out", "x"]) == 1
    assert "no usable reference" in capsys.readouterr().err


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
