"""What a question offers: lettered options, label lists and the requested separator."""

import pytest

from medvlm.tasks.options import (
    lettered_options,
    offered_labels,
    requested_separator,
    split_label_list,
)

PERIAPICAL = (
    "As a dental imaging specialist, what abnormalities would you report on tooth 22? Select all "
    "that apply from the following, separate multiple selections with a semicolon: Dental "
    "Caries, Periradicular Lesions, Pulp Diseases, Chronic Injury of Tooth Hard Tissues, "
    "Disturbances of Eruption of Teeth, Periodontal Diseases, Endodontic Treatment, Restorative "
    "Treatment, and Complications"
)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (
            "Question: What is shown? Options: A: Normal bone marrow B: Myelofibrosis "
            "C: Acute myeloid leukemia",
            {"A": "Normal bone marrow", "B": "Myelofibrosis", "C": "Acute myeloid leukemia"},
        ),
        (
            "What is the interpretation? Options: A) Benign lesion present B) Malignant lesion "
            "present C) No lesion, only normal tissue",
            {
                "A": "Benign lesion present",
                "B": "Malignant lesion present",
                "C": "No lesion, only normal tissue",
            },
        ),
        (
            "Does it need treatment? A. No Treatment, B. Treatment Required",
            {"A": "No Treatment", "B": "Treatment Required"},
        ),
        ("Grade? (A) Mild (B) Severe", {"A": "Mild", "B": "Severe"}),
        (
            "Which?\nA. Polyp\nB. Ulcer\nC. Normal Z-line",
            {"A": "Polyp", "B": "Ulcer", "C": "Normal Z-line"},
        ),
        # the last option ends at the line break, not at the instruction after it
        ("Which? A) Yes B) No\nAnswer with a letter.", {"A": "Yes", "B": "No"}),
        ("Which? A) Yes B) No, never. Answer with a letter.", {"A": "Yes", "B": "No, never"}),
        # "Vitamin D:" and "Type B." inside option text do not break the A, B, C chain
        (
            "Options: A: Vitamin D: low B: Hepatitis Type B. C: None",
            {"A": "Vitamin D: low", "B": "Hepatitis Type B", "C": "None"},
        ),
        ("Is the lesion benign or malignant?", {}),
        ("A lone A: option is no list", {}),
    ],
)
def test_lettered_options(question, expected):
    assert lettered_options(question) == expected


def test_letters_run_past_e():
    letters = [chr(ord("A") + i) for i in range(20)]  # endo: A..T
    question = "Which finding? Options: " + " ".join(f"{x}: finding {x.lower()}" for x in letters)
    options = lettered_options(question)
    assert list(options) == letters
    assert options["T"] == "finding t"


def test_offered_labels_keep_a_label_that_contains_commas():
    assert offered_labels(PERIAPICAL) == (
        "Dental Caries",
        "Periradicular Lesions",
        "Pulp Diseases",
        "Chronic Injury of Tooth Hard Tissues",
        "Disturbances of Eruption of Teeth",
        "Periodontal Diseases",
        "Endodontic Treatment, Restorative Treatment, and Complications",
    )


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (
            "Which diseases are present? Select all that apply from: Atelectasis, Effusion, "
            "Nodule, and Pneumothorax.",
            ("Atelectasis", "Effusion", "Nodule", "Pneumothorax"),
        ),
        ("Choose from the following: Benign; Malignant", ("Benign", "Malignant")),
        # an instruction after the list is no part of the last label
        ("Select all from: Mass, Nodule. Separate them with commas.", ("Mass", "Nodule")),
        ("Findings, one of the following:\n- Mass\n- Calcification\n", ("Mass", "Calcification")),
        ("Select from the following: Mass", ()),  # one label is no list
        ("Is the lesion benign or malignant?", ()),
        # a colon after ordinary words is no list cue
        ("Based on the view from the left: is it benign, malignant or normal?", ()),
    ],
)
def test_offered_labels(question, expected):
    assert offered_labels(question) == expected


def test_split_label_list_only_keeps_known_comma_labels_whole():
    assert split_label_list(
        "Caries, Endodontic Treatment, Restorative Treatment, and Complications"
    ) == [
        "Caries",
        "Endodontic Treatment, Restorative Treatment, and Complications",
    ]
    assert split_label_list("x, y, and z") == ["x", "y", "z"]


@pytest.mark.parametrize(
    ("question", "separator"),
    [
        (PERIAPICAL, "; "),
        ("Select all that apply; separate multiple selections with a comma: a, b", ", "),
        ("Answer with labels separated by ','.", ", "),
        ("Select all that apply from: a, b", "; "),  # nothing asked: the semicolon default
    ],
)
def test_requested_separator(question, separator):
    assert requested_separator(question) == separator
