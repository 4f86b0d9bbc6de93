"""Paired comparison of a run with its baseline (medvlm.metrics.compare), values by hand."""

from __future__ import annotations

import pytest

from medvlm.metrics.compare import compare_task, improvement
from medvlm.metrics.items import Item

CLS_Q = "Is this abnormal? A. No, B. Yes"
REG_Q = "What is the angle of progression (in degrees) in this image?"


def items(task, question, references, predictions):
    return [
        Item(f"u{i}", "d", task, question, ref, pred, f"img{i}")
        for i, (ref, pred) in enumerate(zip(references, predictions, strict=True))
    ]


def test_improvement_is_signed_so_that_positive_is_better():
    assert improvement(0.75, 0.5, "balanced_accuracy") == 0.25
    assert improvement(2.0, 10.0, "mae") == 8.0  # a smaller error is better
    assert improvement(None, 0.5, "f1@0.5") is None


def test_classification_difference_and_its_paired_interval():
    refs = ["A", "B", "A", "B"]
    run = items("classification", CLS_Q, refs, ["A", "B", "A", "B"])  # every class right: 1.0
    base = items("classification", CLS_Q, refs, ["A", "A", "A", "A"])  # recall A 1, B 0: 0.5
    result = compare_task("classification", "balanced_accuracy", run, base, 1000, 0)
    assert (result["n"], result["value"], result["baseline"]) == (4, 1.0, 0.5)
    assert result["improvement"] == 0.5
    # a draw of only A images scores the baseline 1.0 (difference 0), one of only B images
    # scores it 0 (difference 1), each with probability (1/2)^4 = 1/16 > 2.5%; any other draw
    # gives 0.5: the 95% interval is [0, 1]
    assert result["ci"] == [0.0, 1.0]


def test_mae_difference_counts_a_smaller_error_as_better():
    # refs 10 20; run 12 20 (MAE 1), baseline 20 10 (MAE 10): improvement 9.
    # Draws of two images: both image 0 -> 10 - 2 = 8 (p 1/4), both image 1 -> 10 - 0 = 10
    # (p 1/4), one of each -> 9: the 95% interval is [8, 10]
    run = items("regression", REG_Q, ["10", "20"], ["12", "20"])
    base = items("regression", REG_Q, ["10", "20"], ["20", "10"])
    result = compare_task("regression", "mae", run, base, 1000, 0)
    assert (result["value"], result["baseline"], result["improvement"]) == (1.0, 10.0, 9.0)
    assert result["ci"] == [8.0, 10.0]


def test_runs_must_answer_the_same_questions():
    run = items("regression", REG_Q, ["10", "20"], ["12", "20"])
    with pytest.raises(ValueError, match="different questions, e.g. 'u1'"):
        compare_task("regression", "mae", run, run[:1], 10, 0)
