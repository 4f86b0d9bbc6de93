"""Detection and instance detection: boxes in JSON or prose, box objects, cut-off output."""

import pytest

from medvlm.tasks import task_spec

DETECTION = task_spec("detection")
INSTANCES = task_spec("instance_detection")
LESION = "Define the position of the breast lesion using its bounding box coordinates."
CHROMOSOMES = "Locate every chromosome in this karyotype image, keyed by chromosome number."
CHROMOSOMES_XYWH = (
    "Identify and locate all chromosomes in this image. Return a JSON mapping chromosome "
    "identifiers to their bounding box coordinates in [x, y, width, height] format"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[321, 128, 473, 252]", [(321, 128, 473, 252)]),
        ("[[1, 2, 3, 4], [5, 6, 7, 8]]", [(1, 2, 3, 4), (5, 6, 7, 8)]),
        ("[1.5, 2.25, 3, 4]", [(1.5, 2.25, 3, 4)]),
        ("The lesion is at [10, 20, 30, 40] in the image.", [(10, 20, 30, 40)]),
        ("The lesion is at (10, 20, 30, 40).", [(10, 20, 30, 40)]),
        ("```json\n[10, 20, 30, 40]\n```", [(10, 20, 30, 40)]),
        ('{"bbox": [10, 20, 30, 40], "label": "mass"}', [(10, 20, 30, 40)]),
        ('[{"box_2d": [1, 2, 3, 4]}, {"box_2d": [5, 6, 7, 8]}]', [(1, 2, 3, 4), (5, 6, 7, 8)]),
        # width/height objects become corners: (10, 20, 10 + 5, 20 + 6)
        ('{"x": 10, "y": 20, "width": 5, "height": 6}', [(10, 20, 15, 26)]),
        ("{'x': 10, 'y': 20, 'w': 5, 'h': 6}", [(10, 20, 15, 26)]),
        ('{"x_min": 1, "y_min": 2, "x_max": 3, "y_max": 4}', [(1, 2, 3, 4)]),
        ("xmin: 1, ymin: 2, xmax: 3, ymax: 4", [(1, 2, 3, 4)]),
        ("x1=1, y1=2, x2=3, y2=4", [(1, 2, 3, 4)]),
        # corners in the wrong order are sorted
        ("[30, 40, 10, 20]", [(10, 20, 30, 40)]),
        # prose with exactly four numbers is one box
        ("from 10, 20 to 30, 40", [(10, 20, 30, 40)]),
        ("[]", []),
        # a box cut off by the token limit is no box; the finished one stays
        ("[[1, 2, 3, 4], [5, 6, 7, 8", [(1, 2, 3, 4)]),
        ("[1, 2, 3, 4", None),
        ("[1, 2, 3]", None),
        ("No lesion is visible.", None),
        # PaliGemma location tokens are converted by the family, never read as numbers here
        ("<loc0100><loc0200><loc0300><loc0400> lesion", None),
        ("", None),
    ],
)
def test_detection_parse(text, expected):
    assert DETECTION.parse(text, LESION) == expected


def test_declared_width_height_lists_become_corners():
    # [x, y, w, h] = [916, 361, 80, 35] -> corners (916, 361, 996, 396)
    assert DETECTION.parse("[916, 361, 80, 35]", CHROMOSOMES_XYWH) == [(916, 361, 996, 396)]


@pytest.mark.parametrize(
    ("answer", "question", "target"),
    [
        ("[321, 128, 473, 252]", LESION, "[321, 128, 473, 252]"),
        ("[321.0,128,473,252.5]", LESION, "[321, 128, 473, 252.5]"),
        ("[[1,2,3,4],[5,6,7,8]]", LESION, "[[1, 2, 3, 4], [5, 6, 7, 8]]"),
        ("[[1,2,3,4]]", LESION, "[1, 2, 3, 4]"),
        ("[30, 40, 10, 20]", LESION, "[10, 20, 30, 40]"),
        ('{"x": 10, "y": 20, "width": 5, "height": 6}', LESION, "[10, 20, 15, 26]"),
        ("[]", LESION, "[]"),
        # the question's own format is kept: x, y, width, height
        ("[916, 361, 80, 35]", CHROMOSOMES_XYWH, "[916, 361, 80, 35]"),
        ('{"x_min": 1, "y_min": 2, "x_max": 4, "y_max": 7}', CHROMOSOMES_XYWH, "[1, 2, 3, 5]"),
    ],
)
def test_detection_target_and_round_trip(answer, question, target):
    assert DETECTION.target(answer, question) == target
    assert DETECTION.parse(target, question) == DETECTION.parse(answer, question)
    assert DETECTION.is_well_formed(target, question)


def test_detection_target_rejects_a_reference_without_boxes():
    with pytest.raises(ValueError, match="no bounding box"):
        DETECTION.target("somewhere on the left", LESION)


@pytest.mark.parametrize(
    ("text", "question", "expected"),
    [
        ("[1, 2, 3, 4]", LESION, True),
        ("[[1, 2, 3, 4], [5.5, 6, 7, 8]]", LESION, True),
        ("[1,2,3,4]", LESION, True),
        ("[]", LESION, True),
        ("[3, 2, 1, 4]", LESION, False),  # x_min > x_max
        ("[1, 2, 3]", LESION, False),
        ("[1, 2, 3, true]", LESION, False),
        ("[1, 2, 3, NaN]", LESION, False),
        ("[[1, 2, 3, 4], [5, 6]]", LESION, False),
        ("Box: [1, 2, 3, 4]", LESION, False),
        (" [1, 2, 3, 4]", LESION, False),
        ('{"x": 1, "y": 2, "width": 3, "height": 4}', LESION, False),
        ("[916, 361, 80, 35]", CHROMOSOMES_XYWH, True),  # width and height may be below x, y
        ("[916, 361, -80, 35]", CHROMOSOMES_XYWH, False),
    ],
)
def test_detection_is_well_formed(text, question, expected):
    assert DETECTION.is_well_formed(text, question) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"1": [[550, 505, 624, 572], [619, 361, 690, 423]], "2": [[1, 2, 3, 4]]}',
            {"1": [(550, 505, 624, 572), (619, 361, 690, 423)], "2": [(1, 2, 3, 4)]},
        ),
        # cut off by the token limit: keep what is complete
        ('{"1": [[1,2,3,4]], "2": [[5,6,7', {"1": [(1, 2, 3, 4)]}),
        ('{"1": [[1,2,3,4]], "2": [[5,6,7,8], [9,10', {"1": [(1, 2, 3, 4)], "2": [(5, 6, 7, 8)]}),
        ('{"1": [[1,2,3,4]], "2', {"1": [(1, 2, 3, 4)]}),
        # single quotes, unquoted keys, trailing text, a lone box for an id
        (
            "{'1': [[1, 2, 3, 4]], 'X': [5, 6, 7, 8]} Done.",
            {"1": [(1, 2, 3, 4)], "X": [(5, 6, 7, 8)]},
        ),
        (
            "Here: {1: [(1, 2, 3, 4)], 2: [(5, 6, 7, 8),],}",
            {"1": [(1, 2, 3, 4)], "2": [(5, 6, 7, 8)]},
        ),
        # a repeated id collects the boxes of both entries
        ('{"1": [[1,2,3,4]], "1": [[5,6,7,8]]}', {"1": [(1, 2, 3, 4), (5, 6, 7, 8)]}),
        # labelled box objects
        (
            '[{"label": 1, "bbox": [1, 2, 3, 4]}, {"label": "2", "bbox": [5, 6, 7, 8]}]',
            {"1": [(1, 2, 3, 4)], "2": [(5, 6, 7, 8)]},
        ),
        ('{"1": [{"x": 1, "y": 2, "width": 3, "height": 4}]}', {"1": [(1, 2, 4, 6)]}),
        ("{}", {}),
        ('{"1": []}', None),
        ("[[1, 2, 3, 4]]", None),  # boxes without ids
        ('{"1": [[1,2,3', None),
        ("no chromosomes", None),
    ],
)
def test_instance_parse(text, expected):
    assert INSTANCES.parse(text, CHROMOSOMES) == expected


def test_instance_declared_width_height():
    parsed = INSTANCES.parse('{"1": [[916, 361, 80, 35], [844, 640, 48, 74]]}', CHROMOSOMES_XYWH)
    # (916, 361, 916 + 80, 361 + 35) and (844, 640, 844 + 48, 640 + 74)
    assert parsed == {"1": [(916, 361, 996, 396), (844, 640, 892, 714)]}


@pytest.mark.parametrize(
    ("answer", "question", "target"),
    [
        (
            "{'10': [[1,2,3,4]], '2': [[5,6,7,8]], 'X': [[1, 2, 3, 4]], '1': [[9,9,9,9]]}",
            CHROMOSOMES,
            '{"1": [[9, 9, 9, 9]], "2": [[5, 6, 7, 8]], "10": [[1, 2, 3, 4]], "X": [[1, 2, 3, 4]]}',
        ),
        (
            '{"1": [[916, 361, 80, 35]]}',
            CHROMOSOMES_XYWH,
            '{"1": [[916, 361, 80, 35]]}',
        ),
        ("{}", CHROMOSOMES, "{}"),
    ],
)
def test_instance_target_and_round_trip(answer, question, target):
    assert INSTANCES.target(answer, question) == target
    assert INSTANCES.parse(target, question) == INSTANCES.parse(answer, question)
    assert INSTANCES.is_well_formed(target, question)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"1": [[1, 2, 3, 4]], "2": [[5, 6, 7, 8], [1, 1, 2, 2]]}', True),
        ("{}", True),
        ('{"1": [[1, 2, 3, 4]], "2": [[5, 6, 7', False),
        ("{'1': [[1, 2, 3, 4]]}", False),
        ('{"1": [1, 2, 3, 4]}', False),  # a box, not a list of boxes
        ('{"1": [[3, 2, 1, 4]]}', False),
        ("[[1, 2, 3, 4]]", False),
    ],
)
def test_instance_is_well_formed(text, expected):
    assert INSTANCES.is_well_formed(text, CHROMOSOMES) is expected


def test_deep_nesting_neither_crashes_nor_reads_boxes():
    deep = "[" * 5000 + "1, 2, 3, 4" + "]" * 5000
    assert DETECTION.parse(deep, LESION) is None
    assert INSTANCES.parse("{" * 5000, CHROMOSOMES) is None
    assert DETECTION.is_well_formed(deep, LESION) is False
