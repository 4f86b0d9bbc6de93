"""Box frames (medvlm.tasks.box_frame, medvlm.tasks.framed_answers): normalised targets, their way
back to pixels of the original image, the prompt and the constrained grammar of each frame."""

from __future__ import annotations

import pytest
from PIL import Image

from medvlm.constrain.grammar import language
from medvlm.constrain.matchers import RowConstraint
from medvlm.constrain.vocab import sentencepiece_vocabulary
from medvlm.metrics.items import Item
from medvlm.metrics.profiles import default
from medvlm.models.paligemma.tokenizer import build_demo_tokenizer
from medvlm.records import Record, TaskType
from medvlm.tasks import task_spec
from medvlm.tasks.box_frame import NORMALIZED, PIXELS, box_from_frame, box_to_frame
from medvlm.tasks.framed_answers import (
    answer_in_pixels,
    answers_in_pixels,
    frame_prompt,
    frame_target,
)

DET_Q = "Define the position of the lesion in this image using its bounding box coordinates."
XYWH_Q = "Where is the lesion? Give the box as [x, y, width, height]."
INST_Q = "Locate every chromosome and give the bounding boxes of each, keyed by number."


def image(tmp_path, size, name="img.png"):
    path = tmp_path / name
    Image.new("L", size).save(path)
    return str(path)


def record(path, task=TaskType.DETECTION, question=DET_Q, answer="[0, 0, 1, 1]", uid="u1"):
    return Record(
        uid=uid,
        dataset="d",
        category="c",
        split_folder="training",
        source_file="d_questions_train.json",
        entry_index=0,
        task=task,
        task_raw=task,
        question=question,
        answer=answer,
        modality="x",
        image_names=["img.png"],
        image_paths=[path],
    )


@pytest.mark.parametrize("size", [(800, 600), (1500, 300), (97, 61), (61, 2400)])
def test_every_pixel_comes_back_within_one_step(size):
    width, height = size
    for x in range(width + 1):
        y = x * height // width
        back = box_from_frame(box_to_frame((x, y, x, y), size), size)
        # one step is width / 1000 pixels across, height / 1000 down (at least one pixel,
        # since the way back rounds to whole pixels); exact on an axis of <= 1000 pixels
        assert abs(back[0] - x) <= max(1, width / 1000)
        assert abs(back[1] - y) <= max(1, height / 1000)
        if width <= 1000:
            assert back[0] == x
        if height <= 1000:
            assert back[1] == y


def test_normalised_coordinates_are_per_axis_not_square():
    # 800 x 600: x 400 -> 400 / 800 * 1000 = 500; y 300 -> 300 / 600 * 1000 = 500;
    # x 800 -> 1000; y 150 -> 250
    assert box_to_frame((400, 300, 800, 150), (800, 600)) == (500, 500, 1000, 250)
    assert box_from_frame((500, 500, 1000, 250), (800, 600)) == (400, 300, 800, 150)


def test_detection_target_round_trip_on_a_non_square_image(tmp_path):
    rec = record(image(tmp_path, (800, 600)), answer="[[100, 60, 420, 390], [500, 0, 800, 600]]")
    target = frame_target(rec, NORMALIZED)
    # x / 800 * 1000, y / 600 * 1000: 100 -> 125, 60 -> 100, 420 -> 525, 390 -> 650
    assert target == "[[125, 100, 525, 650], [625, 0, 1000, 1000]]"
    assert frame_target(rec, PIXELS) == "[[100, 60, 420, 390], [500, 0, 800, 600]]"
    back = answer_in_pixels(rec, target, NORMALIZED)
    assert task_spec(TaskType.DETECTION).parse(back, DET_Q) == task_spec(TaskType.DETECTION).parse(
        rec.answer, DET_Q
    )


def test_xywh_questions_keep_their_format_in_the_frame(tmp_path):
    rec = record(image(tmp_path, (200, 400)), question=XYWH_Q, answer="[20, 40, 100, 200]")
    # corners (20, 40, 120, 240) -> (100, 100, 600, 600) -> x, y, w, h = 100, 100, 500, 500
    assert frame_target(rec, NORMALIZED) == "[100, 100, 500, 500]"
    assert answer_in_pixels(rec, "[100, 100, 500, 500]", NORMALIZED) == "[20, 40, 100, 200]"


def test_instance_target_round_trip(tmp_path):
    answer = '{"2": [[10, 20, 30, 90]], "1": [[0, 0, 50, 10], [60, 70, 99, 99]]}'
    rec = record(image(tmp_path, (100, 200)), TaskType.INSTANCE_DETECTION, INST_Q, answer)
    target = frame_target(rec, NORMALIZED)
    # x * 10, y * 5; ids sorted by the task's target
    assert target == '{"1": [[0, 0, 500, 50], [600, 350, 990, 495]], "2": [[100, 100, 300, 450]]}'
    spec = task_spec(TaskType.INSTANCE_DETECTION)
    assert spec.parse(answer_in_pixels(rec, target, NORMALIZED), INST_Q) == spec.parse(
        answer, INST_Q
    )


def test_other_tasks_and_unreadable_outputs_are_left_alone(tmp_path):
    path = image(tmp_path, (300, 100))
    cls = record(path, TaskType.CLASSIFICATION, "Is it? A. No, B. Yes", "A")
    assert frame_target(cls, NORMALIZED) == "A"
    assert answer_in_pixels(cls, "[500, 500, 600, 600]", NORMALIZED) == "[500, 500, 600, 600]"
    assert answer_in_pixels(record(path), "no box here", NORMALIZED) == "no box here"


def test_a_missing_image_leaves_the_output_and_names_the_question(tmp_path, caplog):
    rec = record(str(tmp_path / "gone.png"), uid="q7")
    with pytest.raises(ValueError, match="gone.png"):
        frame_target(rec, NORMALIZED)
    assert answers_in_pixels([rec], ["[1, 2, 3, 4]"], NORMALIZED) == ["[1, 2, 3, 4]"]
    assert "q7" in caplog.text and "gone.png" in caplog.text


def test_the_scorer_sees_pixels_of_the_original_image(tmp_path):
    # a perfect answer in the normalised frame scores F1 1 once converted, 0 if read as pixels
    rec = record(image(tmp_path, (640, 160)), answer="[64, 16, 320, 80]")
    output = frame_target(rec, NORMALIZED)  # what a perfect model writes: [100, 100, 500, 500]
    assert output == "[100, 100, 500, 500]"

    def f1(text):
        item = Item(rec.uid, "d", TaskType.DETECTION, DET_Q, rec.answer, text, "img")
        return default.score([item], bootstrap=0)[TaskType.DETECTION]["pooled"]["f1@0.5"]

    assert f1(answers_in_pixels([rec], [output], NORMALIZED)[0]) == 1.0
    assert f1(output) == 0.0
    assert answers_in_pixels([rec], [output], PIXELS) == [output]  # pixels stay pixels


def test_the_prompt_names_the_frame(tmp_path):
    rec = record(image(tmp_path, (10, 10)))
    assert frame_prompt(rec, PIXELS).endswith("as [x_min, y_min, x_max, y_max] in pixels.")
    assert "0 to 1000 across the image width and height" in frame_prompt(rec, NORMALIZED)
    inst = record(rec.image_paths[0], TaskType.INSTANCE_DETECTION, INST_Q, '{"1": [[0, 0, 1, 1]]}')
    assert "0 to 1000" in frame_prompt(inst, NORMALIZED)
    cls = record(rec.image_paths[0], TaskType.CLASSIFICATION, "Is it? A. No, B. Yes", "A")
    assert frame_prompt(cls, NORMALIZED) == frame_prompt(cls, PIXELS)
    with pytest.raises(ValueError, match="unknown box frame 'inches'"):
        frame_prompt(rec, "inches")


@pytest.fixture(scope="module")
def sp(tmp_path_factory):
    texts = ["[1000, 0, 999, 12]", "[[5, 6, 7, 8], [9, 10, 11, 12]]", '{"1": [[1, 2, 3, 4]]}']
    tokenizer = build_demo_tokenizer(texts * 20, tmp_path_factory.mktemp("sp") / "t.model", 300)
    return tokenizer, sentencepiece_vocabulary(tokenizer)


def accepts(sp, text, lang, budget=200) -> bool:
    tokenizer, vocab = sp
    row = RowConstraint(lang, vocab, budget)
    return all(row.matcher.consume_token(t) for t in tokenizer.encode(text)) and (
        row.matcher.is_accepting()
    )


@pytest.mark.parametrize(
    ("text", "pixels", "normalized"),
    [
        ("[0, 10, 1000, 1000]", True, True),
        ("[0, 10, 1001, 1200]", True, False),  # past the frame's 1000
        ("[0, 10, 2500, 9999]", True, False),
        ("[[5, 6, 7, 8], [9, 10, 999, 1000]]", True, True),
    ],
)
def test_the_grammar_follows_the_frame(sp, text, pixels, normalized):
    assert accepts(sp, text, language(TaskType.DETECTION, DET_Q, PIXELS)) == pixels
    assert accepts(sp, text, language(TaskType.DETECTION, DET_Q, NORMALIZED)) == normalized
    boxes = '{"1": ' + (text if text.startswith("[[") else f"[{text}]") + "}"
    assert (
        accepts(sp, boxes, language(TaskType.INSTANCE_DETECTION, INST_Q, NORMALIZED)) == normalized
    )


def test_every_normalised_target_is_in_the_normalised_grammar(sp, tmp_path):
    rec = record(image(tmp_path, (333, 77)), answer="[[0, 0, 333, 77], [12, 5, 200, 70]]")
    target = frame_target(rec, NORMALIZED)
    assert target == "[[0, 0, 1000, 1000], [36, 65, 601, 909]]"  # 12/333 -> 36, 5/77 -> 65...
    assert accepts(sp, target, language(TaskType.DETECTION, DET_Q, NORMALIZED))
