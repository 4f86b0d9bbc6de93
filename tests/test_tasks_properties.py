"""Properties every task spec keeps: the registry, parse never raising, targets round-tripping."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medvlm.records import TASK_TYPES
from medvlm.tasks import TASKS, task_spec
from medvlm.tasks.options import LABELS_WITH_SEPARATORS

EXAMPLES = settings(max_examples=200, deadline=None)

VOCABULARY = (
    "Dental Caries",
    "Pulp Diseases",
    "Periodontal Diseases",
    "Atelectasis",
    "Pleural thickening",
    "Nodule",
    "Mass",
    "Normal bone marrow",
    "Myelofibrosis",
    "Barrett's esophagus",
    "Non-standard plane",
    "Standard plane",
    *LABELS_WITH_SEPARATORS,
)
QUESTIONS = (
    "What is shown? Options: A: Normal B: Benign lesion C: Malignant lesion",
    "Does it need treatment? A. No Treatment, B. Treatment Required",
    "Which findings? Select all that apply from the following, separate multiple selections "
    "with a semicolon: " + ", ".join(VOCABULARY),
    "Locate the chromosomes as a JSON mapping in [x, y, width, height] format",
    "Is the lesion benign or malignant?",
    "",
)
# text shaped like model output (brackets, numbers, separators), and any text at all
OUTPUT_LIKE = st.text(alphabet="[]{}()<>:;,.\"'%-+ \n0123456789abxyABCloc_=Answer", max_size=120)
ANY_TEXT = st.one_of(st.text(max_size=200), OUTPUT_LIKE)


def test_registry_covers_the_canonical_task_types():
    assert tuple(TASKS) == TASK_TYPES
    assert all(task_spec(name).name == name for name in TASK_TYPES)


def test_unknown_task_type_names_it():
    with pytest.raises(KeyError, match="'Classification'.*canonical"):
        task_spec("Classification")


@pytest.mark.parametrize("name", TASK_TYPES)
@EXAMPLES
@given(text=ANY_TEXT, question=st.one_of(st.sampled_from(QUESTIONS), st.text(max_size=80)))
def test_parse_and_is_well_formed_never_raise(name, text, question):
    spec = task_spec(name)
    spec.parse(text, question)
    assert spec.is_well_formed(text, question) in (True, False)
    assert spec.prompt(question).startswith(question.strip())


def _check_target(name, answer, question):
    """``target`` is well-formed and round-trips; returns the parsed reference."""
    spec = task_spec(name)
    target = spec.target(answer, question)
    assert spec.is_well_formed(target, question), target
    parsed = spec.parse(answer, question)
    assert spec.parse(target, question) == parsed
    return parsed


@EXAMPLES
@given(count=st.integers(2, 26), data=st.data())
def test_classification_letters(count, data):
    letters = [chr(ord("A") + i) for i in range(count)]
    texts = data.draw(st.lists(st.sampled_from(VOCABULARY), min_size=count, max_size=count))
    style = data.draw(st.sampled_from(["{}: {}", "{}) {}", "({}) {}"]))
    question = "Which? Options: " + " ".join(
        style.format(x, t) for x, t in zip(letters, texts, strict=True)
    )
    letter = data.draw(st.sampled_from(letters))
    assert _check_target("classification", letter, question) == letter


@EXAMPLES
@given(
    labels=st.lists(st.sampled_from(VOCABULARY), min_size=2, max_size=6, unique=True),
    data=st.data(),
)
def test_classification_labels(labels, data):
    question = "Which one? Choose from the following: " + "; ".join(labels)
    label = data.draw(st.sampled_from(labels))
    assert _check_target("classification", label, question) == label.casefold()


@EXAMPLES
@given(
    chosen=st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=6, unique=True),
    separator=st.sampled_from(["; ", ", ", ";", "\n"]),
)
def test_multi_label(chosen, separator):
    question = QUESTIONS[2]
    parsed = _check_target("multi_label", separator.join(chosen), question)
    assert parsed == frozenset(label.casefold() for label in chosen)


COORDINATE = st.one_of(
    st.integers(0, 4000), st.floats(0, 4000, allow_nan=False).map(lambda v: round(v, 2))
)


@st.composite
def corner_boxes(draw):
    x1, x2 = sorted(draw(st.tuples(COORDINATE, COORDINATE)))
    y1, y2 = sorted(draw(st.tuples(COORDINATE, COORDINATE)))
    return [x1, y1, x2, y2]


@EXAMPLES
@given(boxes=st.lists(corner_boxes(), min_size=1, max_size=4), flat=st.booleans())
def test_detection(boxes, flat):
    answer = json.dumps(boxes[0] if flat and len(boxes) == 1 else boxes)
    parsed = _check_target("detection", answer, QUESTIONS[0])
    assert parsed == [tuple(box) for box in boxes]


@EXAMPLES
@given(
    instances=st.dictionaries(
        st.one_of(st.integers(1, 24).map(str), st.sampled_from(["X", "Y"])),
        st.lists(corner_boxes(), min_size=1, max_size=3),
        max_size=6,
    )
)
def test_instance_detection(instances):
    parsed = _check_target("instance_detection", json.dumps(instances), "Locate every chromosome.")
    assert parsed == {key: [tuple(box) for box in boxes] for key, boxes in instances.items()}


@EXAMPLES
@given(count=st.integers(0, 10**7), grouped=st.booleans())
def test_counting(count, grouped):
    answer = f"{count:,}" if grouped else str(count)
    assert _check_target("counting", answer, "How many cells?") == count


@EXAMPLES
@given(value=st.floats(-1000, 1000, allow_nan=False), percent=st.booleans())
def test_regression(value, percent):
    written = f"{value:.2f}"
    answer = written + ("%" if percent else "")
    assert _check_target("regression", answer, "What percentage?") == float(written)


def _is_report(text: str) -> bool:
    """A reference report: text the report parser keeps something of (a text made only of
    chat markers such as "<start_of_turn>" is not a report, and ``target`` rejects it)."""
    return bool(task_spec("report_generation").parse(text, "Describe the findings."))


@EXAMPLES
@given(report=st.text(min_size=1, max_size=200).filter(_is_report))
def test_report_generation(report):
    parsed = _check_target("report_generation", report, "Describe the findings.")
    assert parsed == task_spec("report_generation").parse(parsed, "")
