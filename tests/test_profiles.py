"""The four public-evaluator profiles, on small item lists that hit each evaluator's pitfalls.

Every expected value is worked out by hand in the comment above it. Boxes are 10 high
(y from 0 to 10), so an IoU is (overlap width * 10) / (100 + 100 - overlap width * 10).
"""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medvlm.metrics.items import Item
from medvlm.metrics.profiles import flare26, paligemma, qwen3vl, qwen25vl
from medvlm.records import TASK_TYPES

# sklearn warns when a predicted class never occurs in the references; that is expected here.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

_counter = iter(range(10**6))


def item(task, reference, prediction, dataset="ds", image="img", question="q"):
    return Item(f"u{next(_counter)}", dataset, task, question, reference, prediction, image)


# R1 = [0,0,10,10], R2 = [3,0,13,10]; P1 = [2,0,12,10], P2 = [4,0,14,10].
# IoU(P1,R1) = 80/120 = 2/3; IoU(P1,R2) = 90/110 = 9/11; IoU(P2,R1) = 60/140 = 3/7;
# IoU(P2,R2) = 90/110 = 9/11.
REFS_R1_R2 = "[[0, 0, 10, 10], [3, 0, 13, 10]]"
PREDS_P1_P2 = "[[2, 0, 12, 10], [4, 0, 14, 10]]"
# IoU([0,0,10,10], [0,0,10,5]) = 50 / (100 + 50 - 50) = 0.5 exactly (integers; 50/100 is exact).
HALF_REF, HALF_PRED = "[[0, 0, 10, 10]]", "[[0, 0, 10, 5]]"
COMMA_LABEL = "Endodontic Treatment, Restorative Treatment, and Complications"


def under_id(boxes: str) -> str:
    """An instance-detection answer holding ``boxes`` under chromosome id "1"."""
    return '{"1": ' + boxes + "}"


# --- greedy order against optimal matching ------------------------------------------------


def test_greedy_order_decides_detection_f1_differently_in_each_evaluator():
    items = [item("detection", REFS_R1_R2, PREDS_P1_P2)]
    # QWen2.5VL, predictions in order: P1 takes R2 (9/11 > 2/3); P2 is left with R1 at 3/7,
    # not > 0.5. TP 1, FP 1, FN 1: precision = recall = F1 = 0.5 (optimal matching gives 1.0).
    assert qwen25vl.score(items)["detection"]["f1_score"] == pytest.approx(0.5)
    # PaliGemma, references in order: R1 takes P1 (2/3 > 3/7), R2 takes P2 (9/11): F1 = 1.0.
    assert paligemma.score(items)["detection"]["detection_f1"] == pytest.approx(1.0)
    # FLARE26, pairs >= 0.5 sorted in reverse: (9/11,R2,P2), (9/11,R2,P1), (2/3,R1,P1);
    # R2-P2 then R1-P1: TP 2, F1 = 2*2 / (2*2 + 0 + 0) = 1.0.
    assert flare26.score(items)["detection"]["f1_iou_0.5"] == pytest.approx(1.0)
    # QWen3VL reads one box per ;-separated segment: a list of lists has 8 numbers, no box.
    # TP = FP = FN = 0, so every F1 is 0.
    assert qwen3vl.score(items)["detection"]["f1_at_0.5"] == 0.0


def test_qwen3vl_detection_thresholds_on_separated_boxes():
    items = [item("detection", "[0, 0, 10, 10]; [3, 0, 13, 10]", "[2, 0, 12, 10]; [4, 0, 14, 10]")]
    metrics = qwen3vl.score(items)["detection"]
    # 0.3: P1-R2 (9/11), P2-R1 (3/7 > 0.3): F1 1.0. 0.5: P2-R1 fails: TP 1, FP 1, FN 1, F1 0.5.
    # 0.75: 9/11 > 0.75 still matches, 3/7 does not: F1 0.5. Mean (1 + 0.5 + 0.5) / 3 = 2/3.
    assert metrics["f1_at_0.3"] == pytest.approx(1.0)
    assert metrics["f1_at_0.5"] == pytest.approx(0.5)
    assert metrics["f1_at_0.75"] == pytest.approx(0.5)
    assert metrics["f1_mean"] == pytest.approx(2 / 3)


def test_paligemma_instance_ties_go_to_the_first_pair_and_lose_a_match():
    items = [item("instance_detection", under_id(REFS_R1_R2), under_id(PREDS_P1_P2))]
    # Global maximum 9/11 is tied between (R2,P1) and (R2,P2); the row-major scan keeps the first,
    # (R2,P1). R1 is left with P2 at 3/7 < 0.5. TP 1, FP 1, FN 1: F1 0.5 (FLARE26 above: 1.0).
    assert paligemma.score(items)["instance_detection"]["instance_f1"] == pytest.approx(0.5)


def test_global_greedy_loses_a_match_that_optimal_matching_finds():
    # G1 = [3,0,13,10], G2 = [7,0,17,10]; Q1 = [4,0,14,10], Q2 = [0,0,10,10].
    # IoU(G1,Q1) = 90/110 = 9/11, IoU(G1,Q2) = 70/130 = 7/13, IoU(G2,Q1) = 70/130 = 7/13,
    # IoU(G2,Q2) = 30/170 = 3/17. Optimal: G1-Q2 and G2-Q1, both >= 0.5, F1 1.0.
    gold, preds = "[[3, 0, 13, 10], [7, 0, 17, 10]]", "[[4, 0, 14, 10], [0, 0, 10, 10]]"
    # FLARE26 takes G1-Q1 (9/11) first; G2-Q2 is 3/17. TP 1, FP 1, FN 1: 2 / (2 + 1 + 1) = 0.5.
    metrics = flare26.score([item("detection", gold, preds)])["detection"]
    assert metrics["f1_iou_0.5"] == pytest.approx(0.5)
    assert (metrics["tp"], metrics["fp"], metrics["fn"]) == (1.0, 1.0, 1.0)
    # QWen2.5VL in prediction order: Q1 takes G1 (9/11), Q2 has only G2 at 3/17: F1 0.5.
    assert qwen25vl.score([item("detection", gold, preds)])["detection"]["f1_score"] == 0.5
    # The same boxes listed Q2 first: Q2 takes G1 (7/13 > 0.5), Q1 takes G2 (7/13): F1 1.0.
    reordered = "[[0, 0, 10, 10], [4, 0, 14, 10]]"
    assert qwen25vl.score([item("detection", gold, reordered)])["detection"]["f1_score"] == 1.0


# --- ">" against ">=" at an IoU of exactly 0.5 ----------------------------------------------


def test_iou_of_exactly_one_half_counts_only_where_the_threshold_is_inclusive():
    detection = [item("detection", HALF_REF, HALF_PRED)]
    instance = [item("instance_detection", under_id(HALF_REF), under_id(HALF_PRED))]
    # Strict > 0.5: 0.5 is no match, TP 0, F1 0.
    assert qwen25vl.score(detection)["detection"]["f1_score"] == 0.0
    assert paligemma.score(detection)["detection"]["detection_f1"] == 0.0
    assert qwen25vl.score(instance)["instance_detection"]["f1_score"] == 0.0
    # Inclusive >= 0.5: one true positive, F1 1.0.
    assert paligemma.score(instance)["instance_detection"]["instance_f1"] == 1.0
    assert flare26.score(detection)["detection"]["f1_iou_0.5"] == 1.0
    assert flare26.score(instance)["detection"]["f1_iou_0.5"] == 1.0


def test_qwen25vl_instance_sweep_around_one_half():
    instance = [item("instance_detection", under_id(HALF_REF), under_id(HALF_PRED))]
    metrics = qwen25vl.score(instance)["instance_detection"]
    # 0.5 > 0.3 and > 0.4 match (F1 1); not > 0.5, 0.6, 0.7 (F1 0). Mean (1+1+0+0+0)/5 = 0.4.
    detailed = metrics["detailed_metrics"]
    assert metrics["f1_score_at_03"] == detailed["IoU_0.4"]["f1_score"] == 1.0
    assert metrics["f1_score_at_05"] == 0.0
    assert detailed["IoU_0.5"] == {"f1_score": 0.0, "precision": 0.0, "recall": 0.0,
                                   "tp": 0, "fp": 1, "fn": 1}  # fmt: skip
    assert metrics["average_f1"] == pytest.approx(0.4)
    # precision and recall follow F1 here (one box each side): means 0.4 too
    assert metrics["coco_style_metrics"] == pytest.approx(
        {"average_f1": 0.4, "average_precision": 0.4, "average_recall": 0.4}
    )
    assert metrics["metrics_version"] == "v2"


def test_qwen25vl_per_chromosome_counts_absent_and_extra_ids():
    gold = '{"1": [[0, 0, 10, 10]], "2": [[20, 0, 30, 10], [40, 0, 50, 10]]}'
    # id 1 right; id 2 finds one of its two boxes (IoU([20,0,30,10],[23,0,33,10]) = 70/130 =
    # 0.538 >= 0.3); id 3 is not in the reference (two extra boxes); one box of id 2 has five
    # numbers and is ignored at IoU 0.3 (no false positive) but breaks the sweep.
    pred = (
        '{"1": [[0, 0, 10, 10]], "2": [[23, 0, 33, 10], [40, 0, 50, 10, 1]], '
        '"3": [[0, 0, 5, 5], [5, 5, 9, 9]]}'
    )
    metrics = qwen25vl.score([item("instance_detection", gold, pred)])["instance_detection"]
    assert metrics["metrics_version"] == "v1_original_only"
    assert metrics["error"] == "too many values to unpack (expected 4)"
    assert "per_chromosome_metrics" not in metrics
    # The primary F1 (guarded IoU > 0.5): TP id1 + id2's 0.538 = 2; FP: the 5-number box and
    # id 3's two = 3; FN: id 2's second box = 1. P 2/5, R 2/3, F1 = 2PR/(P+R) = 0.5.
    assert metrics["f1_score"] == pytest.approx(0.5)
    fixed = pred.replace("50, 10, 1]", "50, 10]")
    metrics = qwen25vl.score([item("instance_detection", gold, fixed)])["instance_detection"]
    per_id = metrics["per_chromosome_metrics"]
    assert per_id["1"] == {
        "f1_score": 1.0,
        "precision": 1.0,
        "recall": 1.0,
        "tp": 1,
        "fp": 0,
        "fn": 0,
    }
    assert (per_id["2"]["tp"], per_id["2"]["fp"], per_id["2"]["fn"]) == (2, 0, 0)
    # id 3: two predictions with no reference: P 0, R 0 (nothing to find), F1 0
    assert per_id["3"] == {
        "f1_score": 0.0,
        "precision": 0.0,
        "recall": 0.0,
        "tp": 0,
        "fp": 2,
        "fn": 0,
    }
    # at IoU > 0.7 the 0.538 box fails: TP 2 (id 1, id 2's exact box), FP 3 (it, id 3's two),
    # FN 1 (id 2's first box) -> P 2/5, R 2/3, F1 = 2 * (4/15) / (16/15) = 0.5
    assert metrics["detailed_metrics"]["IoU_0.7"] == pytest.approx(
        {"f1_score": 0.5, "precision": 0.4, "recall": 2 / 3, "tp": 2, "fp": 3, "fn": 1}
    )
    absent = '{"1": [[0, 0, 10, 10]]}'  # id 2 absent from the prediction: both boxes missed
    metrics = qwen25vl.score([item("instance_detection", gold, absent)])["instance_detection"]
    assert metrics["per_chromosome_metrics"]["2"] == {
        "f1_score": 0.0, "precision": 0.0, "recall": 0.0, "tp": 0, "fp": 0, "fn": 2
    }  # fmt: skip
    # TP 1, FN 2: P 1, R 1/3, F1 = 2 * (1/3) / (4/3) = 0.5
    assert metrics["f1_score"] == pytest.approx(0.5)


def test_qwen25vl_detection_reads_swapped_corners_as_written():
    # Reference [10,10,20,20]; the prediction swaps the corners: [20,20,10,10]. IoU as written:
    # right = min(20, 10) = 10 <= left = max(10, 20) = 20: no overlap, IoU 0 -> TP 0, FP 1, FN 1
    metrics = qwen25vl.score([item("detection", "[[10, 10, 20, 20]]", "[[20, 20, 10, 10]]")])
    assert metrics["detection"]["f1_score"] == 0.0
    assert metrics["detection"]["valid_examples"] == 1


def test_qwen25vl_instance_sweep_disappears_when_a_box_has_the_wrong_length():
    gold = '{"1": [[0, 0, 10, 10], [20, 0, 30, 10]]}'
    pred = '{"1": [[0, 0, 10, 10], [1, 2, 3]]}'
    metrics = qwen25vl.score([item("instance_detection", gold, pred)])["instance_detection"]
    # Guarded primary: the 3-number box scores IoU 0. TP 1, FP 1, FN 1: F1 0.5. The sweep's
    # unguarded IoU fails on it, so the evaluator reports the primary metrics only.
    assert metrics["f1_score"] == pytest.approx(0.5)
    assert set(metrics) == {"f1_score", "precision", "recall", "valid_samples", "metrics_version",
                            "error", "num_examples", "valid_examples",
                            "skipped_examples"}  # fmt: skip
    assert metrics["error"] == "not enough values to unpack (expected 4, got 3)"


def test_qwen3vl_instance_regex_fallback_and_primary_at_0_3():
    items = [item("instance_detection", under_id(HALF_REF), "1: [0, 0, 10, 5]")]
    metrics = qwen3vl.score(items)["instance_detection"]
    # Not JSON: the regex fallback reads id "1" with box [0,0,10,5], IoU 0.5. Matches at 0.3
    # and 0.4 only: f1_primary (F1 at 0.3) = 1.0, f1_mean = 2/5.
    assert metrics["f1_primary"] == 1.0
    assert metrics["f1_at_0.5"] == 0.0
    assert metrics["f1_mean"] == pytest.approx(0.4)


# --- labels that contain the separator ------------------------------------------------------


def test_qwen25vl_comma_label_is_split_when_no_semicolon_is_present():
    reference = f"Caries; {COMMA_LABEL}"
    items = [
        item("multi_label", reference, f"Caries, {COMMA_LABEL}"),
        item("multi_label", reference, f"caries; {COMMA_LABEL}"),
        item("multi_label", "", "Caries"),
    ]
    metrics = qwen25vl.score(items)["multi_label"]
    # 1: split on ",": {Caries, Endodontic Treatment, Restorative Treatment, and Complications}
    #    vs {Caries, <label>}: TP 1, FP 3, FN 1; P 1/4, R 1/2, F1 = (2 * 1/8) / (3/4) = 1/3.
    # 2: case-sensitive, "caries" != "Caries": TP 1, FP 1, FN 1; F1 1/2.
    # 3: empty reference, skipped. Mean F1 (1/3 + 1/2) / 2 = 5/12 over 2 samples.
    assert metrics["f1_score"] == pytest.approx(5 / 12)
    assert metrics["valid_samples"] == 2.0


def test_paligemma_splits_both_sides_on_commas_and_credits_half_a_label():
    items = [item("multi_label", f"Caries; {COMMA_LABEL}", "Caries; Endodontic Treatment")]
    # Reference split on [;,]: {caries, endodontic treatment, restorative treatment,
    # and complications}; prediction {caries, endodontic treatment}: TP 2, FP 0, FN 2.
    # Micro P 1, R 1/2, F1 2/3 although the predicted label is not the reference label.
    assert paligemma.score(items)["multi_label"]["f1_score"] == pytest.approx(2 / 3)


def test_flare26_splits_on_semicolons_first():
    reference = f"Caries; {COMMA_LABEL}"
    items = [
        item("multi_label", reference, f"Caries, {COMMA_LABEL}"),
        item("multi_label", reference, f"Caries; {COMMA_LABEL}"),
        item("multi_label", "none", ""),
    ]
    # 1: no ";" in the prediction, so it splits on ",": 4 labels vs 2, TP 1, FP 3, FN 1:
    #    2 / (2 + 3 + 1) = 1/3. 2: ";" keeps the label whole: 1.0. 3: "none" and "" are both no
    #    label: 1.0. Mean (1/3 + 1 + 1) / 3 = 7/9.
    assert flare26.score(items)["multi_label"]["f1_score"] == pytest.approx(7 / 9)


def test_qwen3vl_splits_labels_into_words():
    items = [
        item("multi_label", f"Caries; {COMMA_LABEL}", f"Caries, {COMMA_LABEL}"),
        item("multi_label", f"Caries; {COMMA_LABEL}", "caries; restorative treatment"),
    ]
    metrics = qwen3vl.score(items)["multi_label"]
    # Words of the reference: {CARIES, ENDODONTIC, TREATMENT, RESTORATIVE, AND, COMPLICATIONS}.
    # 1: same 6 words, F1 1. 2: {CARIES, RESTORATIVE, TREATMENT}: TP 3, FN 3, P 1, R 1/2, F1 2/3.
    # Macro (1 + 2/3) / 2 = 5/6. Micro TP 9, FP 0, FN 3: R 3/4, F1 = 1.5 / 1.75 = 6/7.
    assert metrics["f1_macro"] == pytest.approx(5 / 6)
    assert metrics["f1_micro"] == pytest.approx(6 / 7)


# --- classification: letters past E, cleanup, pooling ----------------------------------------


def test_qwen25vl_letter_regex_stops_at_e():
    items = [
        item("classification", "K", "Option K: a dense fibrosis"),
        item("classification", "B", "B"),
        item("classification", "C", "C"),
        item("classification", "K", "The answer is K"),
    ]
    metrics = qwen25vl.score(items)["classification"]
    # 1: [A-E] finds the article "A" ("A " after "K:"): predicted A. 4: no A-E letter stands
    # alone, the last word "K" is taken. Recalls K 1/2, B 1, C 1: (0.5 + 1 + 1) / 3 = 5/6.
    assert metrics["balanced_accuracy"] == pytest.approx(5 / 6)
    assert metrics["accuracy"] == pytest.approx(3 / 4)


def test_qwen25vl_output_cleanup():
    items = [
        item("classification", "A", "system\nYou are a radiologist.\nuser\nWhich?\nassistant\nA"),
        item("classification", "B", "Answer: B"),
        item("classification", "C", "The model says.\nassistant\nAnswer: C)"),
        item("classification", "C", "Assistant: E"),
    ]
    metrics = qwen25vl.score(items)["classification"]
    # After the last "assistant\n" / "assistant:" and the last "Answer:": A, B, "C)" -> C, E.
    # Recalls A 1, B 1, C 1/2: (1 + 1 + 0.5) / 3 = 5/6; accuracy 3/4.
    assert metrics["balanced_accuracy"] == pytest.approx(5 / 6)
    assert metrics["accuracy"] == pytest.approx(3 / 4)


def test_qwen25vl_reports_zeros_when_exactly_two_labels_occur():
    items = [item("classification", "A", "A"), item("classification", "B", "B")]
    # Perfect answers, but two distinct labels make the evaluator ask sklearn for a binary F1
    # with pos_label=1, which raises on string labels; its handler returns zeros. Both samples
    # were still valid examples of the task (the counts beside the metrics say so).
    assert qwen25vl.score(items)["classification"] == {
        "balanced_accuracy": 0.0,
        "accuracy": 0.0,
        "f1_score": 0.0,
        "valid_samples": 0.0,
        "num_examples": 2,
        "valid_examples": 2,
        "skipped_examples": 0,
    }


def _two_data_sets():
    return [
        item("classification", "A", "A", dataset="one"),
        item("classification", "B", "B", dataset="one"),
        item("classification", "A", "C", dataset="two"),
        item("classification", "C", "C", dataset="two"),
    ]


def test_classification_labels_are_pooled_over_data_sets():
    # Pooled: A 1 of 2, B 1 of 1, C 1 of 1: (1/2 + 1 + 1) / 3 = 5/6 (within each data set and
    # then averaged it would be (1 + 1/2) / 2 = 3/4).
    assert qwen25vl.score(_two_data_sets())["classification"]["balanced_accuracy"] == (
        pytest.approx(5 / 6)
    )
    assert paligemma.score(_two_data_sets())["classification"]["balanced_accuracy"] == (
        pytest.approx(5 / 6)
    )
    assert flare26.score(_two_data_sets())["classification"]["balanced_accuracy"] == (
        pytest.approx(5 / 6)
    )


def test_qwen3vl_weights_data_sets_by_their_valid_samples():
    metrics = qwen3vl.score(_two_data_sets())["classification"]
    # One: 1.0 on 2 samples. Two: A 0/1, C 1/1 -> 0.5 on 2 samples. (2*1 + 2*0.5) / 4 = 0.75.
    # Accuracy from the summed counts: 3 correct of 4.
    assert metrics["balanced_accuracy"] == pytest.approx(0.75)
    assert metrics["accuracy"] == pytest.approx(0.75)
    assert (metrics["valid_samples"], metrics["correct_predictions"]) == (4.0, 3.0)


def test_qwen3vl_drops_empty_predictions_and_extracts_no_letter():
    items = [
        item("classification", "A", "a"),
        item("classification", "B", "   "),
        item("classification", "C", "C. Pneumonia"),
    ]
    metrics = qwen3vl.score(items)["classification"]
    # The blank prediction is dropped. "a" -> "A" matches; "C. PNEUMONIA" != "C". Recalls A 1,
    # C 0 over 2 samples: balanced accuracy 0.5, accuracy 0.5.
    assert metrics["valid_samples"] == 2.0
    assert metrics["balanced_accuracy"] == pytest.approx(0.5)


def test_paligemma_applies_the_inference_cleanup_first():
    items = [
        item("classification", "B", "Looking at the image.\nB"),
        item("classification", "A", "A\n"),
        item("classification", "C", "Question: ...\nPlease provide a clear and concise answer.\nC"),
    ]
    # inference.py drops the first of several lines and an echoed prompt: B, A, C, all right.
    assert paligemma.score(items)["classification"]["balanced_accuracy"] == 1.0
    # Submitted, the same texts are scored as written (eval.py's strip().lower()): only "A\n"
    # equals its reference. Recalls B 0, A 1, C 0 -> balanced accuracy 1/3.
    submitted = [dataclasses.replace(i, submitted=True) for i in items]
    assert paligemma.score(submitted)["classification"]["balanced_accuracy"] == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    "task, reference, answer, raw_mae",
    [
        ("counting", "24", "about 24", 0.0),  # cleaned: the first number, "24"
        ("counting", "24", "", 24.0),  # cleaned: no number gives "0"
        ("regression", "21.67", "21.67%", 0.0),  # cleaned: "21.67"
        ("regression", "20", "twenty", 20.0),  # cleaned: "0"
    ],
)
def test_paligemma_scores_a_submitted_number_as_written(task, reference, answer, raw_mae):
    raw = item(task, reference, answer)
    assert paligemma.score([raw])[task]["mean_absolute_error"] == pytest.approx(raw_mae)
    # eval.py: float(answer) fails on a submitted Answer that is not a plain number -> inf
    submitted = dataclasses.replace(raw, submitted=True)
    assert math.isinf(paligemma.score([submitted])[task]["mean_absolute_error"])


def test_paligemma_scores_every_item_given_pairing_is_the_callers_job():
    # eval.py pairs rows on "ImageName||Question" and a repeated key keeps only its last row;
    # here that would leave (A -> B) and (B -> B): recalls A 0, B 1, balanced accuracy 0.5.
    # The profile scores the items it is given, repeated keys included: A 1/2, B 1: 0.75.
    items = [
        item("classification", "A", "A", image="x.png", question="Which?"),
        item("classification", "A", "B", image="x.png", question="Which?"),
        item("classification", "B", "B", image="y.png", question="Which?"),
    ]
    assert paligemma.score(items)["classification"]["balanced_accuracy"] == pytest.approx(0.75)


# --- detection text the evaluators cannot read ---------------------------------------------


def test_paligemma_detection_skips_unparsable_samples_and_splits_flat_boxes():
    box = "[[0, 0, 10, 10]]"
    skipped = [item("detection", box, box), item("detection", box, "no lesion seen")]
    # "no lesion seen" is no Python literal: the sample is skipped, not a false negative. F1 1.0.
    assert paligemma.score(skipped)["detection"]["detection_f1"] == 1.0
    # "5" is a literal but not a list: the reference box is a false negative. TP 1, FN 1:
    # P 1, R 1/2, F1 2/3.
    missed = [item("detection", box, box), item("detection", box, "5")]
    assert paligemma.score(missed)["detection"]["detection_f1"] == pytest.approx(2 / 3)
    # A flat reference is four numbers, none a box: FN 4, and the flat prediction FP 4. F1 0.
    flat = [item("detection", "[0, 0, 10, 10]", "[0, 0, 10, 10]")]
    assert paligemma.score(flat)["detection"]["detection_f1"] == 0.0


def test_flare26_folds_instances_into_labelled_detection():
    items = [
        item(
            "instance_detection",
            '{"1": [[0, 0, 10, 10]], "2": [[20, 0, 30, 10]]}',
            '{"1": [[20, 0, 30, 10]], "2": [[0, 0, 10, 10]]}',
        ),
        item("detection", "[0, 0, 10, 10]", '{"x": 0, "y": 0, "width": 10, "height": 10}'),
    ]
    result = flare26.score(items)
    # Instance rows count as detection with the ids as labels: the swapped ids never match
    # (FP 2, FN 2). The x/y/width/height box is [0,0,10,10], unlabelled: TP 1.
    # F1 = 2 / (2 + 2 + 2) = 1/3.
    assert set(result) == {"detection"}
    assert result["detection"]["f1_iou_0.5"] == pytest.approx(1 / 3)
    assert result["detection"]["count"] == 2.0


def test_flare26_unparsable_reference_names_the_item():
    bad = Item("val/chestdr/7", "chestdr", "counting", "q", "many", "3", "img")
    with pytest.raises(ValueError, match=r"val/chestdr/7.*chestdr"):
        flare26.score([bad])


# --- numbers that do not parse: dropped, zero or inf ------------------------------------------

COUNTS = [
    ("24", "There are 30 cells in the image"),
    ("10", "I cannot tell"),
    ("5", "To determine the count we need to look closer"),
]


def test_qwen25vl_drops_unparsable_counts():
    metrics = qwen25vl.score([item("counting", r, p) for r, p in COUNTS])["counting"]
    # 30 (the only number) vs 24: error 6. "I cannot tell" has no number and the
    # "to determine" answer is treated as incomplete: both dropped. MAE 6 over 1 sample.
    assert metrics["mean_absolute_error"] == 6.0
    assert metrics["valid_samples"] == 1.0
    assert (metrics["num_examples"], metrics["valid_examples"], metrics["skipped_examples"]) == (
        3,
        1,
        2,
    )


def test_qwen25vl_skips_empty_answers_and_bad_references_and_counts_them():
    items = [
        item("counting", "24", ""),  # nothing to parse: skipped
        item("counting", "12 cells", "12"),  # int(float("12 cells")) fails: skipped
        item("counting", "inf", "5"),  # int(float("inf")) overflows: skipped
        item("counting", "8", "8"),
        item("counting", "10", "total 13"),  # the explicit "total N" pattern: 13
    ]
    metrics = qwen25vl.score(items)["counting"]
    # pairs (8, 8) and (13, 10): errors 0 and 3, MAE 1.5; RMSE sqrt((0 + 9) / 2) = 2.1213
    assert metrics["mean_absolute_error"] == pytest.approx(1.5)
    assert metrics["root_mean_squared_error"] == pytest.approx(math.sqrt(4.5))
    assert (metrics["valid_examples"], metrics["skipped_examples"]) == (2, 3)


def test_qwen25vl_mae_is_inf_when_nothing_parses():
    metrics = qwen25vl.score([item("counting", "10", "I cannot tell")])["counting"]
    assert metrics["mean_absolute_error"] == float("inf")


def test_qwen25vl_drops_a_percent_reference():
    items = [
        item("regression", "21.67%", "20%"),
        item("regression", "20.0", "about 25.5% resorption"),
    ]
    # float("21.67%") fails: dropped. 25.5 (the first number before %) vs 20: MAE 5.5.
    metrics = qwen25vl.score(items)["regression"]
    assert metrics["mean_absolute_error"] == pytest.approx(5.5)
    assert metrics["valid_samples"] == 1.0


def test_paligemma_counts_an_unparsable_answer_as_zero_and_a_bad_reference_as_inf():
    counts = paligemma.score([item("counting", r, p) for r, p in COUNTS[:2]])["counting"]
    # inference.py keeps the first number or "0": 30 vs 24 -> 6, 0 vs 10 -> 10. MAE 8.
    assert counts["mean_absolute_error"] == pytest.approx(8.0)
    # float("21.67%") fails on the reference side: the task's MAE is inf.
    regression = paligemma.score([item("regression", "21.67%", "21.67")])["regression"]
    assert math.isinf(regression["mean_absolute_error"])


def test_qwen3vl_ignores_a_data_set_with_no_parsable_pair():
    items = [item("counting", r, p, dataset="cells") for r, p in COUNTS[:2]]
    items.append(item("counting", "7", "unsure", dataset="other"))
    metrics = qwen3vl.score(items)["counting"]
    # "cells": first numbers 30 vs 24 -> MAE 6 on 1 pair. "other": no pair, MAE inf with weight
    # 0, which only counts when no data set has weight. Result 6, valid samples 1.
    assert metrics["mae"] == pytest.approx(6.0)
    assert metrics["valid_samples"] == 1.0


def test_flare26_counts_an_unparsable_answer_as_zero_and_drops_commas():
    items = [item("counting", r, p) for r, p in COUNTS[:2]]
    items.append(item("counting", "1234", "1,234 cells"))
    # 30 vs 24 -> 6; no number -> 0 vs 10 -> 10; "1,234" -> 1234 -> 0. MAE 16/3.
    assert flare26.score(items)["counting"]["mean_absolute_error"] == pytest.approx(16 / 3)


# --- report generation ---------------------------------------------------------------------

SHORT, LONG = "the heart is normal", "the heart is normal in size"


def test_flare25_bleu_and_qwen3vl_rouge():
    items = [item("report_generation", LONG, SHORT)]
    # Every 1- to 4-gram of the prediction is in the reference: precisions 4/4, 3/3, 2/2, 1/1.
    # 4 predicted words against 6: brevity penalty exp(1 - 6/4) = exp(-0.5).
    assert qwen25vl.score(items)["report_generation"]["bleu_score"] == pytest.approx(math.exp(-0.5))
    metrics = qwen3vl.score(items)["report_generation"]
    # ROUGE-1: 4 shared words, P 1, R 4/6, F1 0.8. ROUGE-2: 3 shared bigrams of 3 and 5, R 3/5,
    # F1 0.75. ROUGE-L: common subsequence of 4 words, as ROUGE-1: 0.8.
    assert metrics["bleu_score"] == pytest.approx(math.exp(-0.5))
    assert metrics["rouge1_f"] == pytest.approx(0.8)
    assert metrics["rouge2_f"] == pytest.approx(0.75)
    assert metrics["rougeL_f"] == pytest.approx(0.8)


def test_green_needs_a_judge():
    items = [
        item("report_generation", "No acute findings.", "Findings:\nNo acute findings."),
        item("report_generation", "Cardiomegaly.", "Cardiomegaly."),
    ]
    for profile in (paligemma, flare26):
        metrics = profile.score(items)["report_generation"]
        assert metrics["green_not_scored_no_judge"] == 1.0
        assert "green_score" not in metrics
    calls = []

    def exact_match_judge(references, predictions):
        calls.append((references, predictions))
        return sum(r == p for r, p in zip(references, predictions, strict=True)) / len(references)

    # PaliGemma drops the first of several lines before judging: both reports match, 1.0.
    assert paligemma.score(items, green_judge=exact_match_judge)["report_generation"][
        "green_score"
    ] == pytest.approx(1.0)
    assert calls[-1][0] == ["No acute findings.", "Cardiomegaly."]  # references first
    # FLARE26 judges the stripped generation as it is: 1 of 2 match, 0.5.
    assert flare26.score(items, green_judge=exact_match_judge)["report_generation"][
        "green_score"
    ] == pytest.approx(0.5)


def test_unknown_task_names_the_item():
    bad = Item("val/x/3", "x", "segmentation", "q", "a", "b", "img")
    with pytest.raises(ValueError, match="val/x/3"):
        qwen25vl.score([bad])


# --- no prediction text makes a profile raise -------------------------------------------------

REFERENCES = {
    "classification": "B",
    "multi_label": f"Caries; {COMMA_LABEL}",
    "detection": "[[10, 20, 30, 40]]",
    "instance_detection": '{"1": [[550, 505, 624, 572]], "2": [[619, 361, 690, 423]]}',
    "counting": "24",
    "regression": "21.67",
    "report_generation": "The heart is normal in size.",
}
TRICKY = [
    "",
    "nan",
    "-inf",
    "1e999",
    "9" * 400,
    "[" * 300,
    "[" * 3000 + "]" * 3000,
    '{"labels": ' * 900 + "[]" + "}" * 900,
    '{"1": 5}',
    '{"1": [[1, 2, 3, 4], [1, 2, 3]]}',
    '{"1": [[1e999, 0, 1, 1]], "2": [[' + "9" * 400 + ", 0, 1, 1]]}",
    '{"x": null, "y": 0, "width": 1, "height": 1}',
    "[NaN, 1, 2, 3]",
    "{[1]: 2}",
    "(1, 2, 3, 4)",
    "assistant\nAnswer: K",
    "1: [a, b, c, d]",
]
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=12,
)
PREDICTIONS = st.one_of(st.text(max_size=80), st.sampled_from(TRICKY), _json_values.map(json.dumps))


@pytest.mark.parametrize("profile", [qwen25vl, paligemma, qwen3vl, flare26])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prediction=PREDICTIONS)
def test_no_prediction_text_makes_a_profile_raise(profile, prediction):
    items = [item(task, REFERENCES[task], prediction) for task in TASK_TYPES]
    result = profile.score(items)
    assert set(result) <= set(TASK_TYPES)
    for metrics in result.values():
        numbers = [v for v in metrics.values() if not isinstance(v, dict | str)]
        assert all(isinstance(v, float | int) for v in numbers)
    json.dumps(result)  # nested breakdowns hold plain values only
