"""Classification: letters in every common shape, option text, label answers, strict format."""

import pytest

from medvlm.tasks import task_spec

SPEC = task_spec("classification")
BUS = (
    "Question: What is the diagnostic interpretation of the contour-bordered area in the "
    "ultrasound image? Options: A) Benign lesion present B) Malignant lesion present "
    "C) No lesion, only normal tissue"
)
MARROW = (
    "What is the diagnosis? Options: A: Normal bone marrow B: Myelofibrosis C: Acute myeloid "
    "leukemia D: Acute lymphoblastic leukemia E: Chronic myeloid leukemia F: Chronic "
    "lymphocytic leukemia G: Multiple myeloma H: Myelodysplastic syndrome I: Lymphoma "
    "infiltration J: Aplastic anemia K: Metastatic carcinoma"
)
CMMD = "Is the lesion in this mammogram benign or malignant?"
LISTED = "Which view is this? Choose from the following: Standard plane, Non-standard plane"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("B", "B"),
        ("B)", "B"),
        ("B.", "B"),
        ("(B)", "B"),
        ("b", "B"),
        ("  **B**  ", "B"),
        ('["B"]', "B"),  # a non-string FLARE answer in its JSON text
        ('"Malignant lesion present"', "B"),
        ("B. Malignant", "B"),
        ("B) Malignant lesion present", "B"),
        ("Answer: B", "B"),
        ("Answer:\nB", "B"),
        ("The answer is B", "B"),
        ("The answer is b.", "B"),
        ("I think the correct option is C because no lesion is seen.", "C"),
        ("Malignant lesion present", "B"),
        ("malignant lesion present.", "B"),
        ("No lesion, only normal tissue", "C"),
        # "A" is an article here: the text names option B
        ("A malignant lesion", "B"),
        ("A benign lesion", "A"),
        ("A. Benign lesion present", "A"),
        # reasoning first, the answer after the last "Answer:"
        ("Option A looks plausible, but Answer: C", "C"),
        ("<start_of_turn>model\nB<end_of_turn>", "B"),
        ("assistant\nC", "C"),
        # a lone letter that is no option is still the answer given (and wrong)
        ("F", "F"),
        ("I cannot tell.", None),
        ("A lesion", None),  # no option text, and "A" is followed by no delimiter
        ("", None),
    ],
)
def test_letters(text, expected):
    assert SPEC.parse(text, BUS) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("K", "K"),
        ("K: Metastatic carcinoma", "K"),
        ("Multiple myeloma", "G"),
        ("Myelofibrosis", "B"),
        # "Chronic myeloid leukemia" contains no other option; "myeloid leukemia" alone is ambiguous
        ("Chronic myeloid leukemia", "E"),
        ("myeloid leukemia", None),
        # "Acute myeloid leukemia" is the longest option text inside the sentence
        ("The smear shows acute myeloid leukemia.", "C"),
    ],
)
def test_letters_past_e_and_option_text(text, expected):
    assert SPEC.parse(text, MARROW) == expected


@pytest.mark.parametrize(
    ("question", "text", "expected"),
    [
        (CMMD, "Benign", "benign"),
        (CMMD, "  MALIGNANT. ", "malignant"),
        (CMMD, "Answer: Malignant", "malignant"),
        (CMMD, '["Malignant"]', "malignant"),
        (LISTED, "non-standard plane", "non-standard plane"),
        # the longest listed label inside the output wins
        (LISTED, "This is a non-standard plane.", "non-standard plane"),
        (LISTED, "Standard plane", "standard plane"),
        (CMMD, "", None),
        (CMMD, "<eos>", None),
    ],
)
def test_label_answers(question, text, expected):
    assert SPEC.parse(text, question) == expected


@pytest.mark.parametrize(
    ("answer", "question", "target"),
    [
        ("B", BUS, "B"),
        ("Malignant lesion present", BUS, "B"),
        ("Myelofibrosis", MARROW, "B"),
        ("Benign", CMMD, "Benign"),
        ("  Benign \n", CMMD, "Benign"),
        ("non-standard plane", LISTED, "Non-standard plane"),  # the question's spelling
    ],
)
def test_target_and_round_trip(answer, question, target):
    assert SPEC.target(answer, question) == target
    assert SPEC.parse(target, question) == SPEC.parse(answer, question)
    assert SPEC.is_well_formed(target, question)


def test_target_rejects_an_unreadable_reference():
    with pytest.raises(ValueError, match="names no option"):
        SPEC.target("no idea", BUS)


@pytest.mark.parametrize(
    ("text", "question", "expected"),
    [
        ("B", BUS, True),
        ("K", MARROW, True),
        ("F", BUS, False),  # not an offered letter
        ("b", BUS, False),
        ("B.", BUS, False),
        (" B", BUS, False),
        ("Malignant lesion present", BUS, False),
        ("Benign", CMMD, True),
        ("Benign ", CMMD, False),
        ("Answer: Benign", CMMD, False),
        ("Standard plane", LISTED, True),
        ("Oblique plane", LISTED, False),  # not a listed label
        ("", CMMD, False),
    ],
)
def test_is_well_formed(text, question, expected):
    assert SPEC.is_well_formed(text, question) is expected


def test_prompt_keeps_the_question_and_asks_for_the_format():
    assert SPEC.prompt(BUS).startswith(BUS)
    assert "letter" in SPEC.prompt(BUS)
    assert SPEC.prompt(CMMD).startswith(CMMD)
    assert "letter" not in SPEC.prompt(CMMD)
