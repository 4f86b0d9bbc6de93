"""The selection score (medvlm.metrics.selection): hand-computed values per task and combined."""

from __future__ import annotations

import pytest

from medvlm.metrics.items import Item
from medvlm.metrics.selection import closeness, selection_score, spread

CLS_Q = "Is this abnormal? A. No, B. Yes"
ML_Q = "Which diseases are present? Select all that apply from: Atelectasis, Cardiomegaly, Nodule."
DET_Q = "Define the position of the lesion in this image using its bounding box coordinates."
COUNT_Q = "How many cells are visible in this image?"
REG_Q = "What is the angle of progression (in degrees) in this image?"
REPORT_Q = "Describe the findings of this chest X-ray."


def item(n, dataset, task, question, reference, prediction):
    return Item(f"u{n}", dataset, task, question, reference, prediction, f"img{n}")


def mixed_items():
    rows = [
        # classification: refs A B, preds A A -> recall(A) 1, recall(B) 0 -> BA 0.5
        ("cls", "classification", CLS_Q, "A", "A"),
        ("cls", "classification", CLS_Q, "B", "A"),
        # multi-label: ref {Atelectasis, Cardiomegaly}, pred {Atelectasis}: TP 1, FP 0, FN 1
        # -> F1 = 2 / (2 + 0 + 1) = 2/3
        ("ml", "multi_label", ML_Q, "Atelectasis, Cardiomegaly", "Atelectasis"),
        # detection: ref 10x10 box, pred its top half -> IoU 50 / 100 = 0.5: a hit at 0.3, 0.4,
        # 0.5, a miss at 0.6, 0.7 -> F1 1, 1, 1, 0, 0 -> f1_mean 0.6
        ("det", "detection", DET_Q, "[0, 0, 10, 10]", "[0, 0, 10, 5]"),
        # counting, one data set: refs 2 4 9 -> median 4, spread (2 + 0 + 5) / 3 = 7/3;
        # preds 2 4 6 -> MAE 3 / 3 = 1 -> (7/3) / (7/3 + 1) = 0.7
        ("cnt", "counting", COUNT_Q, "2", "2"),
        ("cnt", "counting", COUNT_Q, "4", "4"),
        ("cnt", "counting", COUNT_Q, "9", "6"),
        # regression R1: refs 10 20 -> median 15, spread 5; preds 10 30 -> MAE 5 -> 5 / 10 = 0.5
        ("r1", "regression", REG_Q, "10", "10"),
        ("r1", "regression", REG_Q, "20", "30"),
        # regression R2: refs 7 7 -> spread 0, unit scale; preds 7 9 -> MAE 1 -> 1 / 2 = 0.5
        # regression = mean over data sets (0.5 + 0.5) / 2 = 0.5
        ("r2", "regression", REG_Q, "7", "7"),
        ("r2", "regression", REG_Q, "7", "9"),
        # report: the same text -> ROUGE-L 1
        ("rep", "report_generation", REPORT_Q, "The heart is normal.", "The heart is normal."),
    ]
    return [item(n, *row) for n, row in enumerate(rows)]


def test_spread_is_the_mae_of_the_median_answer():
    # refs 2 4 9: median 4, |2-4| + |4-4| + |9-4| = 7, / 3
    assert spread([2, 4, 9]) == pytest.approx(7 / 3)
    assert spread([7, 7]) == 0.0
    assert spread([]) == 0.0


def test_closeness_is_one_half_at_the_spread_and_uses_a_unit_scale_without_one():
    assert closeness(0.0, 3.0) == 1.0
    assert closeness(3.0, 3.0) == 0.5  # no better than the best constant answer
    assert closeness(1.0, 0.0) == 0.5  # 1 / (1 + 1)
    assert closeness(9.0, 3.0) == pytest.approx(0.25)  # 3 / 12


def test_each_task_part_and_the_mean_by_hand():
    selection = selection_score(mixed_items())
    assert selection.parts == pytest.approx(
        {
            "classification": 0.5,
            "multi_label": 2 / 3,
            "detection": 0.6,
            "counting": 0.7,
            "regression": 0.5,
            "report_generation": 1.0,
        }
    )
    # (0.5 + 2/3 + 0.6 + 0.7 + 0.5 + 1.0) / 6 = 3.9667 / 6
    assert selection.score == pytest.approx((0.5 + 2 / 3 + 0.6 + 0.7 + 0.5 + 1.0) / 6)


def test_each_task_type_counts_once_whatever_its_size():
    # 1 classification question right (part 1) and 9 counting questions no better than the
    # median (part 0.5): the mean is 0.75, not (1 + 9 * 0.5) / 10
    rows = [item(0, "cls", "classification", CLS_Q, "A", "A")]
    refs = [1, 2, 3, 4, 5, 6, 7, 8, 9]  # median 5; any constant 5 answer has MAE = spread
    rows += [item(i + 1, "cnt", "counting", COUNT_Q, str(r), "5") for i, r in enumerate(refs)]
    selection = selection_score(rows)
    assert selection.parts["counting"] == pytest.approx(0.5)
    assert selection.score == pytest.approx(0.75)


def test_unparsable_numbers_are_penalised_not_dropped():
    # refs 10 20, preds "x" (unparsable -> worst in-range answer 20, error 10) and 20:
    # MAE (10 + 0) / 2 = 5, spread 5 -> 0.5; dropping the failure would give 1.0
    rows = [
        item(0, "r", "regression", REG_Q, "10", "no idea"),
        item(1, "r", "regression", REG_Q, "20", "20"),
    ]
    assert selection_score(rows).parts["regression"] == pytest.approx(0.5)


def test_better_answers_score_higher_and_nothing_scores_none():
    worse = [item(0, "det", "detection", DET_Q, "[0, 0, 10, 10]", "[50, 50, 60, 60]")]
    better = [item(0, "det", "detection", DET_Q, "[0, 0, 10, 10]", "[0, 0, 10, 9]")]
    assert selection_score(worse).score == 0.0
    assert selection_score(better).score == 1.0  # IoU 0.9: a hit at every threshold
    assert selection_score([]).score is None
    assert selection_score([]).parts == {}
