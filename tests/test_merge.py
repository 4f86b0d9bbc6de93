"""The merge stage on small hand-written FLARE trees: normalisation, provenance, problems."""

import json

import pytest
from PIL import Image

from medvlm.data.flare import locate_questions, merge_tree, read_questions, run_merge
from medvlm.io import read_jsonl
from medvlm.records import UnknownTaskType, normalise_task_type, read_records


def write_image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6), (10, 20, 30)).save(path)


def write_questions(path, entries):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries))


def entry(image, task="Classification", answer="B", **extra):
    return {
        "Question": "Which? Options: A: x B: y",
        "Answer": answer,
        "TaskType": task,
        "Modality": "Xray",
        "ImageName": image,
        "Split": "train",
        **extra,
    }


@pytest.mark.parametrize(
    "raw, canonical",
    [
        ("Classification", "classification"),
        ("classification", "classification"),
        ("disease_diagnosis_classification", "classification"),
        ("Multi-label Classification", "multi_label"),
        ("multi_label_classification", "multi_label"),
        ("detection", "detection"),
        ("Detection", "detection"),
        ("instance_detection", "instance_detection"),
        ("Instance Detection", "instance_detection"),
        ("Counting", "counting"),
        ("cell_counting", "counting"),
        ("regression", "regression"),
        ("Report_Generation", "report_generation"),
        ("  report-generation ", "report_generation"),
    ],
)
def test_task_type_spellings_normalise(raw, canonical):
    assert normalise_task_type(raw) == canonical


@pytest.mark.parametrize("raw", ["segmentation", "", 3, None])
def test_unknown_task_type_names_the_value(raw):
    with pytest.raises(UnknownTaskType, match=repr(raw) if isinstance(raw, str) else "string"):
        normalise_task_type(raw)


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "flare"
    ds = root / "training" / "Xray" / "dental"
    write_image(ds / "imagesTr" / "a.png")
    write_image(ds / "imagesTr" / "b.png")
    write_questions(
        ds / "dental_questions_train.json",
        [
            entry("imagesTr/a.png"),  # 0: fine
            entry("imagesTr/a.png", task="Counting", answer=7),  # 1: non-string answer, repaired
            entry("imagesTr/missing.png"),  # 2: missing image
            entry("imagesTr/b.png", task="segmentation"),  # 3: unknown task type
            {k: v for k, v in entry("imagesTr/b.png").items() if k != "Modality"},  # 4: no field
            "not an object",  # 5
            entry("b.png"),  # 6: basename only, found in imagesTr/
        ],
    )
    write_questions(ds / "dental_questions_train_part2.json", [])
    (ds / "dental_questions_train_part2.json").write_text('[{"Question": "cut')
    jaundice = root / "validation-public" / "Clinical" / "neojaundice"
    for view in ("x_1.jpg", "x_2.jpg", "x_3.jpg"):
        write_image(jaundice / "imagesVal" / view)
    write_questions(
        jaundice / "neojaundice_questions_val.json",
        [entry([f"imagesVal/x_{i}.jpg" for i in (1, 2, 3)], task="classification")],
    )
    return root


def test_merge_keeps_good_entries_with_provenance(tree):
    records, _ = merge_tree(tree, ["training", "validation-public"])
    by_uid = {r.uid: r for r in records}
    assert sorted(by_uid) == [
        "training/dental/dental_questions_train/0",
        "training/dental/dental_questions_train/1",
        "training/dental/dental_questions_train/6",
        "validation-public/neojaundice/neojaundice_questions_val/0",
    ]
    first = by_uid["training/dental/dental_questions_train/0"]
    assert first.category == "Xray"
    assert first.split_folder == "training"
    assert first.source_file == "training/Xray/dental/dental_questions_train.json"
    assert first.entry_index == 0
    assert first.image_paths == [str((tree / "training/Xray/dental/imagesTr/a.png").resolve())]
    assert by_uid["training/dental/dental_questions_train/1"].answer == "7"
    assert by_uid["training/dental/dental_questions_train/1"].task == "counting"
    assert (
        by_uid["training/dental/dental_questions_train/6"].image_paths[0].endswith("imagesTr/b.png")
    )
    multi = by_uid["validation-public/neojaundice/neojaundice_questions_val/0"]
    assert len(multi.image_paths) == 3 and multi.image_names[2] == "imagesVal/x_3.jpg"


def test_every_bad_entry_is_a_problem_naming_file_entry_and_reason(tree):
    _, problems = merge_tree(tree, ["training", "validation-public"])
    found = {(p.file.split("/")[-1], p.entry, p.action): p.reason for p in problems}
    name = "dental_questions_train.json"
    assert "image not found" in found[(name, 2, "skipped")]
    assert "missing.png" in found[(name, 2, "skipped")]
    assert "unknown task type 'segmentation'" in found[(name, 3, "skipped")]
    assert "Modality" in found[(name, 4, "skipped")]
    assert "not an object" in found[(name, 5, "skipped")]
    assert "JSON text '7'" in found[(name, 1, "repaired")]
    assert "not valid JSON" in found[("dental_questions_train_part2.json", None, "skipped")]
    assert len(problems) == 6


def test_run_merge_writes_records_problems_and_summary(tree, tmp_path):
    out = tmp_path / "out"
    summary = run_merge(
        tree,
        ["training", "validation-public"],
        out / "records.jsonl",
        out / "problems.jsonl",
        out / "summary.json",
    )
    assert len(read_records(out / "records.jsonl")) == 4
    assert len(list(read_jsonl(out / "problems.jsonl"))) == 6
    assert summary["by_dataset"]["dental"] == {"classification": 2, "counting": 1}
    assert summary["images"] == 5  # a.png, b.png, and the three neojaundice views
    assert json.loads((out / "summary.json").read_text()) == summary


def test_split_folder_subset_reads_only_those_folders(tree):
    records, _ = merge_tree(tree, ["validation-public"])
    assert [r.dataset for r in records] == ["neojaundice"]


def test_nothing_usable_fails_clearly_and_still_writes_problems(tmp_path):
    root = tmp_path / "flare"
    write_questions(root / "training/Xray/dental/dental_questions_train.json", [entry("x.png")])
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="no usable questions") as error:
        run_merge(root, ["training"], out / "r.jsonl", out / "p.jsonl", out / "s.json")
    # the reasons are in the message too: the workflow removes a failed merge's outputs
    assert "1 problem(s): image not found (1)" in str(error.value)
    assert "dental_questions_train.json entry 0: image not found" in str(error.value)
    assert "image not found" in next(read_jsonl(out / "p.jsonl"))["reason"]
    assert not (out / "r.jsonl").exists()


def test_missing_root_names_the_config_key(tmp_path):
    with pytest.raises(FileNotFoundError, match="data.root"):
        merge_tree(tmp_path / "nowhere", ["training"])


@pytest.fixture
def hidden(tree):
    """A validation-hidden folder: questions without answers, and the organisers' answered copy."""
    busi = tree / "validation-hidden" / "Ultrasound" / "BUSI"
    write_image(busi / "imagesVal" / "h0.png")
    unanswered = {k: v for k, v in entry("imagesVal/h0.png").items() if k != "Answer"}
    write_questions(
        busi / "BUSI_questions_val.json", [unanswered, entry("imagesVal/h0.png", answer="")]
    )
    write_questions(busi / "BUSI_questions_val_withGT.json", [entry("imagesVal/h0.png")] * 2)
    return tree


def test_unlabelled_questions_need_no_answer_and_answered_copies_are_not_read(hidden):
    records, problems = merge_tree(hidden, ["validation-hidden"])
    assert [(r.uid, r.answer) for r in records] == [
        ("validation-hidden/BUSI/BUSI_questions_val/0", ""),
        ("validation-hidden/BUSI/BUSI_questions_val/1", ""),
    ]
    assert problems == []
    # the same entry without an answer in a labelled folder is a problem naming the field
    public = hidden / "validation-public" / "Ultrasound" / "BUSI"
    write_image(public / "imagesVal" / "p0.png")
    unanswered = {k: v for k, v in entry("imagesVal/p0.png").items() if k != "Answer"}
    write_questions(public / "BUSI_questions_val.json", [unanswered])
    _, problems = merge_tree(hidden, ["validation-public"])
    assert [(p.entry, p.reason) for p in problems] == [(0, "missing field(s): Answer")]


def test_reading_questions_without_images_keeps_entries_whose_image_is_missing(tree):
    for image in (tree / "validation-public").rglob("*.jpg"):
        image.unlink()
    records, problems = read_questions(tree, images=False)
    assert [r.uid for r in records] == ["validation-public/neojaundice/neojaundice_questions_val/0"]
    assert records[0].image_paths == [] and len(records[0].image_names) == 3
    assert problems == []
    records, problems = read_questions(tree, images=True)
    assert records == [] and "image not found" in problems[0].reason


def test_locating_questions_from_a_tree_a_folder_or_a_file(hidden):
    def named(located):
        return [(folder, category, file.name) for _, folder, category, file in located]

    # a tree root means its validation-public folder (or the one asked for)
    assert named(locate_questions(hidden)) == [
        ("validation-public", "Clinical", "neojaundice_questions_val.json")
    ]
    assert named(locate_questions(hidden, "validation-hidden")) == [
        ("validation-hidden", "Ultrasound", "BUSI_questions_val.json")
    ]
    # any folder inside the tree: every questions file beneath it, answered copies left out
    assert named(locate_questions(hidden / "training")) == [
        ("training", "Xray", "dental_questions_train.json"),
        ("training", "Xray", "dental_questions_train_part2.json"),
    ]
    # an answered copy named directly is read
    copy = hidden / "validation-hidden/Ultrasound/BUSI/BUSI_questions_val_withGT.json"
    root, *_ = locate_questions(copy)[0]
    assert root == hidden.resolve()
    records, _ = read_questions(copy, images=False)
    assert [r.uid for r in records][1] == "validation-hidden/BUSI/BUSI_questions_val_withGT/1"
    assert records[1].answer == "B"


def test_locating_questions_names_what_is_wrong(tree, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        locate_questions(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="without a testing/ folder"):
        locate_questions(tree, "testing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no questions file"):
        locate_questions(tmp_path / "empty")
