"""BLEU-4 and ROUGE-L for generated reports, against values computed by hand."""

import math

import pytest

from medvlm.metrics.report_text import report_text_scores


def test_identical_reports_score_one():
    refs = ["Mild cardiomegaly with small pleural effusion.", "The lungs are clear."]
    scores = report_text_scores(refs, list(refs))
    assert scores == {"bleu4": pytest.approx(1.0), "rougeL": pytest.approx(1.0), "n": 2}


def test_bleu4_by_hand():
    # ref  "the cat sat on the mat", hyp "the cat sat on a mat" (6 tokens each: no brevity penalty)
    # 1-grams: the cat sat on mat match, "a" not      -> 5/6
    # 2-grams: the cat, cat sat, sat on match; on a, a mat not      -> 3/5
    # 3-grams: the cat sat, cat sat on match; sat on a, on a mat not -> 2/4
    # 4-grams: the cat sat on matches; cat sat on a, sat on a mat not -> 1/3
    # BLEU = (5/6 * 3/5 * 2/4 * 1/3) ** (1/4) = (1/12) ** 0.25 = 0.537284...
    scores = report_text_scores(["the cat sat on the mat"], ["the cat sat on a mat"])
    assert scores["bleu4"] == pytest.approx((1 / 12) ** 0.25)


def test_rouge_l_by_hand():
    # pair 1: ref "the cat sat on the mat" (6), hyp "the cat on mat" (4): LCS "the cat on mat" = 4
    #         P = 4/4, R = 4/6, F = 2PR/(P+R) = (4/3)/(5/3) = 0.8
    # pair 2: ref "the mat", hyp "mat the": LCS = 1, P = R = 1/2, F = 0.5
    # mean = (0.8 + 0.5) / 2 = 0.65
    scores = report_text_scores(
        ["the cat sat on the mat", "the mat"], ["the cat on mat", "mat the"]
    )
    assert scores["rougeL"] == pytest.approx(0.65)


def test_empty_prediction_counts_as_a_miss():
    # corpus stats: hyp length 4 (+0), ref length 4 + 4 = 8; every n-gram of "a b c d" matches,
    # so the precisions are all 1 and BLEU = brevity penalty = exp(1 - 8/4) = exp(-1).
    # ROUGE-L: 1.0 for the identical pair, 0.0 for the empty one -> mean 0.5.
    scores = report_text_scores(["a b c d", "e f g h"], ["a b c d", ""])
    assert scores["bleu4"] == pytest.approx(math.exp(-1))
    assert scores["rougeL"] == pytest.approx(0.5)


def test_all_empty_predictions_score_zero():
    scores = report_text_scores(["a b c d"], [""])
    assert scores["bleu4"] == 0.0
    assert scores["rougeL"] == 0.0


@pytest.mark.parametrize(
    ("references", "predictions", "message"),
    [
        ([], [], "at least one"),
        (["a"], ["a", "b"], "1 references and 2 predictions"),
        (["a", None], ["a", "b"], "reference 1 must be a string"),
        (["a"], [3], "prediction 0 must be a string"),
    ],
)
def test_bad_input_is_named(references, predictions, message):
    with pytest.raises(ValueError, match=message):
        report_text_scores(references, predictions)
