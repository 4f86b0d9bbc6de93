"""PaliGemma location tokens: boxes to ``<locNNNN>`` and back, targets, decoding to task text."""

import json

import pytest
from PIL import Image

from medvlm.models.paligemma.batches import target_of
from medvlm.models.paligemma.location_tokens import (
    answers_from_locations,
    box_tokens,
    decode_locations,
    location_target,
    tokens_box,
)
from medvlm.records import Record, TaskType
from medvlm.tasks import task_spec
from medvlm.tasks.box_frame import NORMALIZED, PIXELS
from medvlm.tasks.framed_answers import image_size

QUESTION = "Define the position of the lesion in this image using its bounding box coordinates."
XYWH = "Give the box of the lesion as [x, y, width, height]."


def test_a_box_becomes_y_x_locations_of_the_original_size():
    # 640 x 480 image: x 320 -> 320/640*1023 = 511.5 -> 512; y 120 -> 120/480*1023 = 255.75 -> 256
    # x 640 -> 1023; y 480 -> 1023; order y1 x1 y2 x2
    assert box_tokens((320, 120, 640, 480), (640, 480)) == ("<loc0256><loc0512><loc1023><loc1023>")


@pytest.mark.parametrize("size", [(640, 480), (97, 1500), (3000, 211), (1023, 1023)])
def test_round_trip_is_within_one_quantisation_step(size):
    width, height = size
    # half a location step plus half a pixel (boxes come back as integer pixels), which is
    # within one step for images of 1023 pixels and more
    tolerance = (max(width, height) / 1023) / 2 + 0.5
    for i in range(40):
        box = (i * width // 97, i * height // 89, width - i * width // 113, height - i * 2)
        back = tokens_box(box_tokens(box, size), size)
        assert max(abs(a - b) for a, b in zip(back, box, strict=True)) <= tolerance, (box, back)


def test_tokens_back_to_sorted_integer_corners():
    # locations written in the wrong order come back as corners: x 1023 -> 200, 0 -> 0
    assert tokens_box("<loc1023><loc1023><loc0000><loc0000>", (200, 100)) == (0, 0, 200, 100)


def test_targets_and_their_decoding_agree_with_the_task():
    # 640 x 480: y 48 -> 102.3 -> 102, x 64 -> 102.3, y 240 -> 511.5 -> 512 (half to even),
    # x 320 -> 512; y 20 -> 42.6 -> 43, x 10 -> 15.98 -> 16
    answer = "[[64, 48, 320, 240], [0, 0, 10, 20]]"
    target = location_target(TaskType.DETECTION, answer, QUESTION, (640, 480))
    assert target == (
        "<loc0102><loc0102><loc0512><loc0512> object ; <loc0000><loc0000><loc0043><loc0016> object"
    )
    decoded = decode_locations(TaskType.DETECTION, target, QUESTION, (640, 480))
    assert task_spec(TaskType.DETECTION).is_well_formed(decoded, QUESTION)
    assert task_spec(TaskType.DETECTION).parse(decoded, QUESTION) == [
        (64, 48, 320, 240),
        (0, 0, 10, 20),
    ]


def test_instance_ids_group_boxes_and_xywh_questions_get_xywh():
    answer = json.dumps({"2": [[10, 10, 50, 30]], "1": [[0, 0, 1023, 1023], [5, 5, 9, 9]]})
    target = location_target(TaskType.INSTANCE_DETECTION, answer, QUESTION, (1023, 1023))
    decoded = decode_locations(TaskType.INSTANCE_DETECTION, target, QUESTION, (1023, 1023))
    assert decoded == '{"1": [[0, 0, 1023, 1023], [5, 5, 9, 9]], "2": [[10, 10, 50, 30]]}'
    # [x, y, width, height] questions: the corner box (10, 20, 50, 60) is written 10, 20, 40, 40
    text = box_tokens((10, 20, 50, 60), (1023, 1023)) + " object"
    assert decode_locations(TaskType.DETECTION, text, XYWH, (1023, 1023)) == "[10, 20, 40, 40]"


def test_no_object_and_text_that_is_not_location_syntax():
    assert decode_locations(TaskType.DETECTION, "", QUESTION, (10, 10)) == "[]"
    assert decode_locations(TaskType.INSTANCE_DETECTION, "", QUESTION, (10, 10)) == "{}"
    assert (
        decode_locations(TaskType.DETECTION, "<loc0001><loc0002> object", QUESTION, (9, 9)) is None
    )
    assert decode_locations(TaskType.DETECTION, "[1, 2, 3, 4]", QUESTION, (9, 9)) is None


def _record(tmp_path, task, answer, size=(300, 200)):
    path = tmp_path / "image.png"
    Image.new("RGB", size).save(path)
    return Record(
        uid="u1",
        dataset="d",
        category="c",
        split_folder="training",
        source_file="f.json",
        entry_index=0,
        task=task,
        task_raw=task,
        modality="m",
        question=QUESTION,
        answer=answer,
        image_names=["image.png"],
        image_paths=[str(path)],
    )


def test_records_use_their_image_size_from_the_file_header(tmp_path):
    record = _record(tmp_path, TaskType.DETECTION, "[0, 0, 150, 100]")
    assert image_size(record.image_paths[0]) == (300, 200)
    # 150/300*1023 = 511.5 -> 512 (x); 100/200*1023 -> 512 (y)
    assert (
        target_of(record, True, NORMALIZED, "id") == "<loc0000><loc0000><loc0512><loc0512> object"
    )
    assert target_of(record, False, PIXELS, "id") == "[0, 0, 150, 100]"
    assert target_of(record, False, NORMALIZED, "id") == "[0, 0, 500, 500]"  # 150/300, 100/200
    other = _record(tmp_path, TaskType.CLASSIFICATION, "A")
    outputs = ["<loc0000><loc0000><loc0512><loc0512> object", "<loc0001> A"]
    assert answers_from_locations([record, other], outputs) == ["[0, 0, 150, 100]", "<loc0001> A"]


def test_a_missing_image_leaves_the_answer_as_written(tmp_path, caplog):
    record = _record(tmp_path, TaskType.DETECTION, "[0, 0, 1, 1]")
    missing = Record(**{**record.__dict__, "image_paths": [str(tmp_path / "gone.png")]})
    text = "<loc0000><loc0000><loc0512><loc0512> object"
    assert answers_from_locations([missing], [text]) == [text]
    assert "gone.png" in caplog.text


def labels_and_tops(target: str) -> list[tuple[str, int]]:
    """(id, top edge) of each object of a location-token target, in order."""
    objects = [obj.rpartition(" ") for obj in target.split(" ; ")]
    return [(label, tokens_box(locs, (1023, 1023))[1]) for locs, _, label in objects]


def test_instance_order_by_id_or_in_reading_order():
    instance = TaskType.INSTANCE_DETECTION
    answer = json.dumps({"2": [[10, 10, 50, 30]], "1": [[0, 40, 9, 50], [60, 40, 70, 50]]})
    by_id = location_target(instance, answer, QUESTION, (1023, 1023), "id")
    assert labels_and_tops(by_id) == [("1", 40), ("1", 40), ("2", 10)]
    reading = location_target(instance, answer, QUESTION, (1023, 1023), "reading")
    assert labels_and_tops(reading) == [("2", 10), ("1", 40), ("1", 40)]
    # same top edge: the left one first, whatever its id
    row = json.dumps({"1": [[0, 40, 9, 50], [60, 40, 70, 50]], "2": [[30, 40, 50, 50]]})
    reading = location_target(instance, row, QUESTION, (1023, 1023), "reading")
    assert [label for label, _ in labels_and_tops(reading)] == ["1", "2", "1"]
    # the order is the target's only: both decode to the same answer
    for text in (
        by_id,
        location_target(instance, answer, QUESTION, (1023, 1023), "reading"),
    ):
        assert decode_locations(instance, text, QUESTION, (1023, 1023)) == (
            '{"1": [[0, 40, 9, 50], [60, 40, 70, 50]], "2": [[10, 10, 50, 30]]}'
        )
