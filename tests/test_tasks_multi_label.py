"""Multi-label: labels split against the question's list, separators, strict format."""

import pytest

from medvlm.tasks import task_spec

SPEC = task_spec("multi_label")
PERIAPICAL = (
    "As a dental imaging specialist, what abnormalities would you report on tooth 22? Select all "
    "that apply from the following, separate multiple selections with a semicolon: Dental "
    "Caries, Periradicular Lesions, Pulp Diseases, Chronic Injury of Tooth Hard Tissues, "
    "Disturbances of Eruption of Teeth, Periodontal Diseases, Endodontic Treatment, Restorative "
    "Treatment, and Complications"
)
ENDO = "endodontic treatment, restorative treatment, and complications"
CHEST = (
    "Which diseases are present in this chest radiograph? Select all that apply from: "
    "Atelectasis, Cardiomegaly, Effusion, Nodule, Pleural thickening, Pneumothorax"
)
UNLISTED = "Which findings are present?"


@pytest.mark.parametrize(
    ("question", "text", "expected"),
    [
        (
            PERIAPICAL,
            "Dental Caries; Periradicular Lesions",
            {"dental caries", "periradicular lesions"},
        ),
        # the comma label stays whole, whichever separator the model used
        (PERIAPICAL, f"{ENDO}; Pulp Diseases", {ENDO, "pulp diseases"}),
        (PERIAPICAL, f"Pulp Diseases, {ENDO}", {ENDO, "pulp diseases"}),
        (PERIAPICAL, f"{ENDO}", {ENDO}),
        (PERIAPICAL, "dental  caries;pulp diseases", {"dental caries", "pulp diseases"}),
        (PERIAPICAL, '["Pulp Diseases", "Dental Caries"]', {"dental caries", "pulp diseases"}),
        (PERIAPICAL, "Dental Caries and Pulp Diseases", {"dental caries", "pulp diseases"}),
        (PERIAPICAL, "Dental Caries\nPulp Diseases\n", {"dental caries", "pulp diseases"}),
        (PERIAPICAL, "Answer: Dental Caries; Dental Caries", {"dental caries"}),
        # an unlisted label is kept (it is wrong, and must count as wrong)
        (PERIAPICAL, "Fracture; Dental Caries", {"fracture", "dental caries"}),
        (CHEST, "Atelectasis, Effusion", {"atelectasis", "effusion"}),
        (CHEST, "pleural thickening, nodule.", {"pleural thickening", "nodule"}),
        # no list in the question: ";" when present, else ","
        (UNLISTED, "Mass; Calcification, coarse", {"mass", "calcification, coarse"}),
        (UNLISTED, "Mass, Calcification , and Edema", {"mass", "calcification", "edema"}),
        (UNLISTED, "MASS", {"mass"}),
        (CHEST, "", None),
        (CHEST, " ; , ", None),
        (UNLISTED, "[]", None),
    ],
)
def test_parse(question, text, expected):
    parsed = SPEC.parse(text, question)
    assert parsed == (None if expected is None else frozenset(expected))


@pytest.mark.parametrize(
    ("question", "answer", "target"),
    [
        # the question's order and spelling, joined by the separator it asks for
        (PERIAPICAL, "pulp diseases, dental caries", "Dental Caries; Pulp Diseases"),
        (
            PERIAPICAL,
            f"{ENDO}; Dental Caries",
            "Dental Caries; Endodontic Treatment, Restorative Treatment, and Complications",
        ),
        (CHEST + ". Separate them with commas.", "Nodule; Atelectasis", "Atelectasis, Nodule"),
        # nothing asked: "; " (chestdr's ", " references become "; ")
        (CHEST, "Effusion, Atelectasis", "Atelectasis; Effusion"),
        (UNLISTED, "Mass, Edema", "Mass; Edema"),
    ],
)
def test_target_and_round_trip(question, answer, target):
    assert SPEC.target(answer, question) == target
    assert SPEC.parse(target, question) == SPEC.parse(answer, question)
    assert SPEC.is_well_formed(target, question)


def test_target_rejects_an_empty_reference():
    with pytest.raises(ValueError, match="names no label"):
        SPEC.target(" ; ", CHEST)


@pytest.mark.parametrize(
    ("question", "text", "expected"),
    [
        (PERIAPICAL, "Dental Caries; Pulp Diseases", True),
        (PERIAPICAL, "Pulp Diseases; Dental Caries", True),  # order is free
        (PERIAPICAL, f"{ENDO}", True),
        (PERIAPICAL, "Dental Caries, Pulp Diseases", False),  # asked for semicolons
        (PERIAPICAL, "Dental Caries;Pulp Diseases", False),
        (PERIAPICAL, "Dental Caries; Dental Caries", False),
        (PERIAPICAL, "Dental Caries; Fracture", False),  # not listed
        (PERIAPICAL, "Dental Caries; ", False),
        (CHEST, "Atelectasis; Nodule", True),
        (UNLISTED, "Mass; Edema", True),
        (UNLISTED, "", False),
    ],
)
def test_is_well_formed(question, text, expected):
    assert SPEC.is_well_formed(text, question) is expected


def test_prompt_names_the_separator():
    assert SPEC.prompt(PERIAPICAL).startswith(PERIAPICAL)
    assert "';'" in SPEC.prompt(PERIAPICAL)
