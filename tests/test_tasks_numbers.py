"""Counting and regression: one number out of model output; report generation: cleaned text."""

import pytest

from medvlm.tasks import task_spec

COUNTING = task_spec("counting")
REGRESSION = task_spec("regression")
REPORT = task_spec("report_generation")
CELLS = "What is the cell count for this particular microscope image?"
ABR = "Evaluate the ABR% from the bone levels shown in this orthopantomogram."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24", 24),
        ("24.", 24),
        ("There are 24 cells.", 24),
        ("1,234", 1234),
        ("about 12,345,678 cells", 12345678),
        ("21.67%", 21.67),
        ("21.67 %", 21.67),
        ("-3.5", -3.5),
        ("The angle is −12.5 degrees", -12.5),
        ("+7", 7),
        # several numbers: the first one after the last "Answer:"
        ("Between 10 and 20 cells. Answer: 15", 15),
        ("answer is: 8 (of 10 fields)", 8),
        # else the first number
        ("12 or 13", 12),
        # a hyphen is no minus sign, digits glued to letters are no number
        ("COVID-19 study", 19),
        ("T2 weighted, 5 lesions", 5),
        ("3rd field shows 40", 40),
        # "1,23" has no three-digit group: 1 is the first number
        ("1,23", 1),
        ("Answer: none", None),
        ("no cells", None),
        ("", None),
        ("9" * 400, None),  # overflows to infinity: not a number
    ],
)
def test_numbers(text, expected):
    assert COUNTING.parse(text, CELLS) == expected
    assert REGRESSION.parse(text, ABR) == expected


def test_regression_prefers_a_percentage():
    text = "Tooth 22 shows an ABR of 21.67%, tooth 23 of 30%"
    assert REGRESSION.parse(text, ABR) == 21.67
    assert COUNTING.parse(text, CELLS) == 22
    assert REGRESSION.parse("Tooth 22: 18.5% Answer: tooth 22, 20%", ABR) == 20


@pytest.mark.parametrize(
    ("answer", "target"),
    [("24", "24"), ("1,234", "1234"), ("20.0", "20.0"), ("21.67%", "21.67%"), ("−4.5", "-4.5")],
)
def test_number_targets_keep_the_number_as_written(answer, target):
    assert REGRESSION.target(answer, ABR) == target
    assert REGRESSION.parse(target, ABR) == REGRESSION.parse(answer, ABR)


def test_number_target_rejects_a_reference_without_a_number():
    with pytest.raises(ValueError, match="no number"):
        COUNTING.target("many", CELLS)


@pytest.mark.parametrize(
    ("text", "counting", "regression"),
    [
        ("24", True, True),
        ("24.5", True, True),
        ("-3", False, True),
        ("21.67%", False, True),
        ("1,234", False, False),
        (" 24", False, False),
        ("24 cells", False, False),
        ("", False, False),
    ],
)
def test_numbers_well_formed(text, counting, regression):
    assert COUNTING.is_well_formed(text, CELLS) is counting
    assert REGRESSION.is_well_formed(text, ABR) is regression


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The heart is normal.", "The heart is normal."),
        ("Answer:  The heart\n\nis  normal. ", "The heart is normal."),
        ("<start_of_turn>model\nNo effusion.<end_of_turn><eos>", "No effusion."),
        ("assistant\nLungs are clear.", "Lungs are clear."),
        ("Answer: Answer: clear", "clear"),
        ("  <eos> ", None),
    ],
)
def test_report_parse(text, expected):
    assert REPORT.parse(text, "Describe the findings.") == expected


def test_report_target_and_format():
    question = "Describe heart size."
    target = REPORT.target("Answer: Cardiac contours\nare within normal limits. ", question)
    assert target == "Cardiac contours are within normal limits."
    assert REPORT.is_well_formed(target, question)
    assert not REPORT.is_well_formed("Cardiac contours  are normal.", question)
    assert not REPORT.is_well_formed("Answer: normal", question)
    assert REPORT.prompt(question) == question
    with pytest.raises(ValueError, match="empty"):
        REPORT.target("  ", question)
