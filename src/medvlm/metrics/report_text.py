"""Text-overlap scores for generated reports: corpus BLEU-4 and mean ROUGE-L F-measure.

These are n-gram overlap numbers, not GREEN: they are reported next to GREEN (or instead of it
when no judge checkpoint is configured) and are always labelled ``bleu4`` and ``rougeL``.

- ``bleu4``: ``sacrebleu.corpus_bleu`` with its defaults (13a tokenisation, exponential
  smoothing, n-grams up to 4, brevity penalty over the whole corpus). sacrebleu reports 0..100;
  the value here is divided by 100 so that it lies in [0, 1] like every other score.
- ``rougeL``: ``rouge_score``'s ``rougeL`` (longest common subsequence over the whole report,
  lower-cased, non-alphanumerics dropped, no stemming), F-measure per pair, then the mean.

An empty prediction is a valid (bad) answer: it adds reference length but no matches to BLEU and
scores 0 on ROUGE-L.
"""

from __future__ import annotations

from collections.abc import Sequence

import sacrebleu
from rouge_score import rouge_scorer


def check_report_pairs(references: Sequence[str], predictions: Sequence[str]) -> None:
    """Raise ``ValueError`` unless both are equally long, non-empty lists of strings."""
    if len(references) != len(predictions):
        raise ValueError(
            f"report scores need one prediction per reference: got {len(references)} "
            f"references and {len(predictions)} predictions"
        )
    if not references:
        raise ValueError("report scores need at least one reference/prediction pair, got none")
    for side, texts in (("reference", references), ("prediction", predictions)):
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise ValueError(
                    f"{side} {index} must be a string, got {type(text).__name__}: {text!r}"
                )


def report_text_scores(references: Sequence[str], predictions: Sequence[str]) -> dict:
    """``{"bleu4": corpus BLEU-4, "rougeL": mean ROUGE-L F-measure, "n": pairs}``, in [0, 1]."""
    check_report_pairs(references, predictions)
    bleu = sacrebleu.corpus_bleu(list(predictions), [list(references)])
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    rouge = [
        scorer.score(reference, prediction)["rougeL"].fmeasure
        for reference, prediction in zip(references, predictions, strict=True)
    ]
    return {
        "bleu4": bleu.score / 100.0,
        "rougeL": sum(rouge) / len(rouge),
        "n": len(rouge),
    }
