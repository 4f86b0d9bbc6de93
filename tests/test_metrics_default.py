"""Per-task metrics on parsed values (hand-computed), the study's metrics, the default profile."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import balanced_accuracy_score

from medvlm.metrics import report_pairs
from medvlm.metrics.boxes import (
    detection_scores,
    instance_scores,
    iou,
    iou_matrix,
    optimal_matching,
    true_positives,
)
from medvlm.metrics.classification import classification_scores
from medvlm.metrics.items import Item
from medvlm.metrics.multilabel import multilabel_scores
from medvlm.metrics.numeric import numeric_scores, r_squared
from medvlm.metrics.profiles import default
from medvlm.metrics.profiles.study import coordinate_scores, exact_match, matched_coordinate_r2
from medvlm.metrics.report_text import report_text_scores

# --- classification -------------------------------------------------------------------------


def test_balanced_accuracy_within_data_sets_differs_from_pooled():
    # X: refs A A A B, preds A A A A -> recall(A) = 3/3, recall(B) = 0/1 -> BA_X = 0.5
    # Y: refs A B,     preds B B     -> recall(A) = 0/1, recall(B) = 1/1 -> BA_Y = 0.5
    # mean over data sets = 0.5
    # pooled: A has 4 refs, 3 right -> 0.75; B has 2 refs, 1 right -> 0.5; BA = 0.625
    # accuracy: 4 right of 6 = 2/3
    scores = classification_scores(
        ["A", "A", "A", "B", "A", "B"], ["A", "A", "A", "A", "B", "B"], ["X"] * 4 + ["Y"] * 2
    )
    assert scores["balanced_accuracy"] == pytest.approx(0.5)
    assert scores["balanced_accuracy_pooled"] == pytest.approx(0.625)
    assert scores["accuracy"] == pytest.approx(2 / 3)


def test_unparsable_classification_counts_as_wrong_not_dropped():
    # refs A B B, preds None B None: recall(A) = 0/1, recall(B) = 1/2 -> BA = 0.25
    # (dropping the unparsable answers would give recall(B) = 1/1 and no A at all: 1.0)
    scores = classification_scores(["A", "B", "B"], [None, "B", None], ["X"] * 3)
    assert scores["balanced_accuracy"] == pytest.approx(0.25)
    assert scores["accuracy"] == pytest.approx(1 / 3)


labels = st.sampled_from(["A", "B", "C", "D"])


@pytest.mark.filterwarnings("ignore::UserWarning")  # sklearn on classes absent from y_true
@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(labels, st.one_of(st.none(), labels), st.sampled_from(["X", "Y"])), min_size=1
    )
)
def test_classification_in_range_order_free_and_pooled_matches_sklearn(rows):
    refs, preds, datasets = map(list, zip(*rows, strict=True))
    scores = classification_scores(refs, preds, datasets)
    assert all(0 <= v <= 1 for v in scores.values())
    reordered = classification_scores(refs[::-1], preds[::-1], datasets[::-1])
    assert reordered == pytest.approx(scores)
    # sklearn pooled, with unparsable answers as a class of their own
    expected = balanced_accuracy_score(refs, [p or "<unparsable>" for p in preds])
    assert scores["balanced_accuracy_pooled"] == pytest.approx(expected)


# --- multi-label ----------------------------------------------------------------------------


def test_multilabel_sample_and_micro_f1():
    # 1: ref {a,b} pred {a}   -> TP1 FP0 FN1 -> F1 = 2/3
    # 2: ref {c}   pred {c,d} -> TP1 FP1 FN0 -> F1 = 2/3
    # 3: ref {}    pred {}    -> nothing to find, nothing claimed -> F1 = 1
    # 4: ref {a}   pred None  -> unparsable -> F1 = 0, FN1
    # sample mean = (2/3 + 2/3 + 1 + 0) / 4 = 7/12; micro: TP2 FP1 FN2 -> 4 / (4+1+2) = 4/7
    f = frozenset
    scores = multilabel_scores([f("ab"), f("c"), f(), f("a")], [f("a"), f("cd"), f(), None])
    assert scores["f1_sample"] == pytest.approx(7 / 12)
    assert scores["f1_micro"] == pytest.approx(4 / 7)


label_sets = st.frozensets(st.sampled_from("abcd"), max_size=3)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(label_sets, st.one_of(st.none(), label_sets)), min_size=1))
def test_multilabel_in_range_and_order_free(rows):
    refs, preds = map(list, zip(*rows, strict=True))
    scores = multilabel_scores(refs, preds)
    assert all(0 <= v <= 1 for v in scores.values())
    assert multilabel_scores(refs[::-1], preds[::-1]) == pytest.approx(scores)


# --- boxes ----------------------------------------------------------------------------------


def test_iou_exactly_half_is_a_true_positive_under_greater_or_equal():
    # ref 10x10, pred its top half: intersection 50, union 100 -> IoU exactly 0.5
    assert iou((0, 0, 10, 10), (0, 0, 10, 5)) == 0.5
    scores = detection_scores([[(0, 0, 10, 10)]], [[(0, 0, 10, 5)]])
    assert scores["f1@0.5"] == 1.0  # TP 1
    assert scores["f1@0.6"] == 0.0  # TP 0, FP 1, FN 1
    # thresholds 0.3, 0.4, 0.5 hit; 0.6, 0.7 miss -> mean 3/5
    assert scores["f1_mean"] == pytest.approx(0.6)


def test_degenerate_and_disjoint_boxes_have_zero_iou():
    assert iou((0, 0, 0, 10), (0, 0, 0, 10)) == 0.0
    assert iou((0, 0, 5, 5), (6, 6, 9, 9)) == 0.0
    assert iou_matrix([], [(0, 0, 1, 1)]).shape == (0, 1)


def test_optimal_matching_keeps_the_match_greedy_loses():
    # All boxes span y 0..10, so IoU is the overlap of the x intervals:
    #   A = x 0..10, B = x 4..14 (references); p1 = x 3..13, p2 = x 5..15 (predictions)
    #   IoU(p1, A) = 70/130 = 0.538   IoU(p1, B) = 90/110 = 0.818
    #   IoU(p2, A) = 50/150 = 0.333   IoU(p2, B) = 90/110 = 0.818
    # Greedy in prediction order: p1 takes B (its best), p2 is left with A at 0.333 < 0.5:
    #   1 TP -> F1 = 2/(2+1+1) = 0.5. Optimal: p1-A and p2-B, both >= 0.5: 2 TP -> F1 = 1.
    refs = [(0, 0, 10, 10), (4, 0, 14, 10)]
    preds = [(3, 0, 13, 10), (5, 0, 15, 10)]
    assert iou(preds[0], refs[0]) == pytest.approx(7 / 13)
    assert iou(preds[1], refs[0]) == pytest.approx(1 / 3)
    assert true_positives(refs, preds, [0.5]) == [2]
    assert detection_scores([refs], [preds])["f1@0.5"] == 1.0


def test_matching_maximises_true_positives_not_summed_iou():
    # Maximising summed IoU picks the diagonal (0.95 + 0.45 = 1.4 > 0.5 + 0.5) and gets one
    # pair at >= 0.5; the off-diagonal pairing has two.
    ious = np.array([[0.95, 0.5], [0.5, 0.45]])
    assert sorted(optimal_matching(ious, 0.5)) == [(0, 1), (1, 0)]
    # at 0.3 both pairings have two matches: the larger total IoU (diagonal) wins the tie
    assert sorted(optimal_matching(ious, 0.3)) == [(0, 0), (1, 1)]


def test_detection_f1_with_empty_sides():
    box = (0, 0, 10, 10)
    assert detection_scores([[]], [[]])["f1@0.5"] == 1.0  # nothing to find, nothing claimed
    assert detection_scores([[box]], [[]])["f1@0.5"] == 0.0  # FN 1
    assert detection_scores([[]], [[box]])["f1@0.5"] == 0.0  # FP 1
    assert detection_scores([[box]], [None])["f1@0.5"] == 0.0  # unparsable: FN 1
    # micro over images: image 1 TP1, image 2 FN1, image 3 both empty -> 2/(2+0+1) = 2/3
    assert detection_scores([[box], [box], []], [[box], [], []])["f1@0.5"] == pytest.approx(2 / 3)


def test_instance_detection_matches_only_within_an_id():
    a, c = (0, 0, 10, 10), (50, 50, 60, 60)
    # id 1: TP 1; id 2: reference box missed (FN 1); id 3: box under an id the reference
    # lacks (FP 1), even though it sits exactly on id 2's box -> F1 = 2/(2+1+1) = 0.5
    scores = instance_scores([{"1": [a], "2": [c]}], [{"1": [a], "3": [c]}])
    assert scores["f1@0.5"] == pytest.approx(0.5)
    assert scores["f1@0.3"] == pytest.approx(0.5)
    assert instance_scores([{"1": [a]}], [None])["f1@0.5"] == 0.0


coordinate = st.integers(0, 40)
boxes_strategy = st.lists(
    st.tuples(coordinate, coordinate, st.integers(1, 20), st.integers(1, 20)).map(
        lambda b: (b[0], b[1], b[0] + b[2], b[1] + b[3])
    ),
    max_size=4,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(boxes_strategy, boxes_strategy), min_size=1, max_size=5))
def test_detection_in_range_and_independent_of_order(rows):
    refs, preds = map(list, zip(*rows, strict=True))
    for r, p in rows:
        ious = iou_matrix(r, p)
        assert ((ious >= 0) & (ious <= 1)).all()
        assert np.allclose(iou_matrix(p, r), ious.T)
    scores = detection_scores(refs, preds)
    assert all(0 <= v <= 1 for v in scores.values())
    shuffled = detection_scores([r[::-1] for r in refs[::-1]], [p[::-1] for p in preds[::-1]])
    assert shuffled == pytest.approx(scores)
    # a stricter threshold never finds more matches, and box counts are fixed, so F1 falls
    f1 = [scores[f"f1@{t}"] for t in ("0.3", "0.4", "0.5", "0.6", "0.7")]
    assert f1 == sorted(f1, reverse=True)


# --- counting and regression ----------------------------------------------------------------


def test_unparsable_number_penalised_with_worst_in_range_answer():
    # D: refs 10 20 40, preds 12 None 40 -> None becomes 40 (|20-40| = 20 > |20-10| = 10)
    # E: ref 5 alone, pred None -> E's range is flat, so the task's range 5..40 is used -> 40
    # errors: 2, 20, 0, 35 -> MAE 57/4 = 14.25; RMSE sqrt((4+400+0+1225)/4) = sqrt(407.25)
    # R²: refs mean 18.75, SS_tot = 76.5625+1.5625+451.5625+189.0625 = 718.75, SS_res = 1629
    # within ±5: errors 2 and 0 -> 2/4; parse rate 2/4
    scores = numeric_scores([10, 20, 40, 5], [12, None, 40, None], ["D", "D", "D", "E"])
    assert scores["mae"] == pytest.approx(14.25)
    assert scores["rmse"] == pytest.approx(math.sqrt(407.25))
    assert scores["r2"] == pytest.approx(1 - 1629 / 718.75)
    assert scores["acc_within_5"] == pytest.approx(0.5)
    assert scores["parse_rate"] == pytest.approx(0.5)


def test_non_finite_prediction_is_unparsable():
    # ref 1 and 3; inf is treated as unparsable -> worst in-range for ref 1 is 3 -> MAE 2/2
    scores = numeric_scores([1, 3], [math.inf, 3], ["D", "D"])
    assert scores["mae"] == pytest.approx(1.0)
    assert scores["parse_rate"] == pytest.approx(0.5)


def test_r_squared():
    # refs 1 2 3: mean 2, SS_tot 2; preds 1 2 4: SS_res 1 -> R² = 0.5
    assert r_squared(np.array([1, 2, 3]), np.array([1, 2, 4])) == pytest.approx(0.5)
    assert r_squared(np.array([4, 4]), np.array([4, 5])) is None  # no variance: undefined


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 500),
            st.one_of(st.none(), st.integers(0, 500)),
            st.sampled_from(["X", "Y"]),
        ),
        min_size=1,
    )
)
def test_numeric_in_range_and_order_free(rows):
    refs, preds, datasets = map(list, zip(*rows, strict=True))
    scores = numeric_scores(refs, preds, datasets)
    assert 0 <= scores["mae"] <= scores["rmse"] <= 500
    assert 0 <= scores["acc_within_5"] <= 1
    assert scores["r2"] is None or scores["r2"] <= 1
    assert numeric_scores(refs[::-1], preds[::-1], datasets[::-1]) == pytest.approx(scores)


# --- report text ----------------------------------------------------------------------------


def test_report_pairs_reproduce_report_text_on_the_full_set():
    refs = [
        "The heart is normal in size. No pleural effusion.",
        "Lungs are clear. No pneumothorax.",
        "Mild cardiomegaly.",
    ]
    preds = ["Heart size is normal, no effusion.", None, "Mild cardiomegaly."]
    parts = report_pairs.summarise(report_pairs.per_item(refs, preds))
    whole = report_text_scores(refs, [p or "" for p in preds])
    assert parts["bleu4"] == pytest.approx(whole["bleu4"])
    assert parts["rougeL"] == pytest.approx(whole["rougeL"])
    assert 0 < parts["bleu4"] < 1


# --- the study's metrics --------------------------------------------------------------------


def test_study_exact_match_is_raw_and_case_sensitive():
    # " A" == "A " after stripping; "B" != "b"; "c" == "c" -> 2/3
    assert exact_match([" A", "B", "c"], ["A ", "b", "c"]) == pytest.approx(2 / 3)


def test_study_per_coordinate_mae_and_r2():
    # pair 1: ref (0,0,10,10) vs first predicted (1,0,10,12); pair 2: (10,10,30,30) vs
    # (10,12,30,30); question 3 has two reference boxes (skipped); question 4 unparsable.
    # x_min: truth 0,10 guess 1,10 -> MAE 0.5; SS_tot 50, SS_res 1 -> R² 0.98
    # y_min: truth 0,10 guess 0,12 -> MAE 1;   SS_res 4 -> R² 0.92
    # x_max: exact -> MAE 0, R² 1;  y_max: truth 10,30 guess 12,30 -> MAE 1, 1 - 4/200 = 0.98
    scores = coordinate_scores(
        [[(0, 0, 10, 10)], [(10, 10, 30, 30)], [(5, 5, 7, 7), (1, 1, 2, 2)], [(0, 0, 1, 1)]],
        [[(1, 0, 10, 12)], [(10, 12, 30, 30), (0, 0, 1, 1)], [(5, 5, 7, 7)], None],
    )
    assert scores["n_pairs"] == 2 and scores["n_no_box"] == 1
    assert scores["x_min_mae"] == pytest.approx(0.5)
    assert scores["x_min_r2"] == pytest.approx(0.98)
    assert scores["y_min_mae"] == pytest.approx(1.0)
    assert scores["y_min_r2"] == pytest.approx(0.92)
    assert scores["x_max_mae"] == 0.0 and scores["x_max_r2"] == pytest.approx(1.0)
    assert scores["y_max_r2"] == pytest.approx(0.98)


def test_study_r2_over_matched_instance_coordinates():
    # id 1: (0,0,10,10) matches (0,0,10,11) at IoU 100/110; (20,20,30,30) matches (20,20,30,32)
    # at 100/120. Truth 0 0 10 10 20 20 30 30 (mean 15, SS_tot 2*225+2*25+2*25+2*225 = 1000),
    # guess 0 0 10 11 20 20 30 32 (SS_res 1 + 4 = 5) -> R² = 0.995. Id 2's box is unmatched.
    scores = matched_coordinate_r2(
        [{"1": [(0, 0, 10, 10), (20, 20, 30, 30)], "2": [(50, 50, 60, 60)]}],
        [{"1": [(20, 20, 30, 32), (0, 0, 10, 11)]}],
    )
    assert scores["n_matched"] == 2
    assert scores["coord_r2"] == pytest.approx(0.995)


# --- the default profile --------------------------------------------------------------------

QUESTION = "Question: Which grade? Options: A: none B: mild C: severe"


def _items():
    rows = [
        ("u0", "X", "A", "A", "i0"),
        ("u1", "X", "B", "answer is B", "i0"),
        ("u2", "X", "C", "", "i1"),
        ("u3", "Y", "A", "C", "i2"),
        ("u4", "Y", "B", "B", "i3"),
        ("u5", "Y", "no such option", "A", "i4"),
    ]
    return [Item(u, d, "classification", QUESTION, r, p, k) for u, d, r, p, k in rows]


def test_default_profile_lists_unparsable_references_and_counts_formats():
    entry = default.score(_items(), bootstrap=100, seed=1)["classification"]
    # u5's reference names no option: left out and listed. Kept: X refs A B C, preds A B None
    # -> BA_X = (1 + 1 + 0)/3 = 2/3; Y refs A B, preds C B -> BA_Y = 1/2; mean 7/12.
    assert entry["unparsable_references"] == ["u5"]
    assert entry["n"] == 5
    assert entry["pooled"]["balanced_accuracy"] == pytest.approx(7 / 12)
    assert entry["pooled"]["n_unparsable"] == 1  # the empty output
    assert entry["pooled"]["n_wrong_format"] == 2  # "answer is B" and ""
    assert entry["by_dataset"]["Y"]["balanced_accuracy"] == pytest.approx(0.5)
    lo, hi = entry["ci"]["balanced_accuracy"]
    assert lo <= 7 / 12 <= hi


def test_default_profile_does_not_depend_on_row_order():
    items = _items()
    forward = default.score(items, bootstrap=100, seed=1)
    backward = default.score(items[::-1], bootstrap=100, seed=1)
    assert backward["classification"]["pooled"] == pytest.approx(
        forward["classification"]["pooled"]
    )
    for metric, interval in forward["classification"]["ci"].items():
        assert backward["classification"]["ci"][metric] == pytest.approx(interval)
