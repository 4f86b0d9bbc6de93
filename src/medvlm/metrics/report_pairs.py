"""Report text scores split into per-pair parts, so bootstrap replicates need no re-scoring.

``report_text`` scores a whole corpus: BLEU-4 from n-gram counts summed over all pairs, ROUGE-L as
the mean of per-pair F-measures. Both are sums over pairs, so each pair's share is computed once
(n-gram matches and totals, lengths, ROUGE-L) and any subset of pairs is scored by adding shares.
BLEU is put together with sacrebleu's defaults, the ones ``report_text`` uses (``exp``
smoothing, 4-grams); the tests check that the full set gives ``report_text``'s own numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sacrebleu
from sacrebleu.metrics import BLEU

from medvlm.metrics.report_text import report_text_scores


def per_item(
    references: Sequence[str], predictions: Sequence[str | None], datasets: Sequence[str] = ()
) -> dict[str, np.ndarray]:
    """Per pair: BLEU n-gram matches/totals (4 columns each), lengths and ROUGE-L F-measure.
    An unparsable prediction (``None``) is scored as the empty report."""
    counts, totals, lengths, rouge = [], [], [], []
    for reference, prediction in zip(references, predictions, strict=True):
        text = prediction or ""
        bleu = sacrebleu.corpus_bleu([text], [[reference]])
        counts.append(bleu.counts)
        totals.append(bleu.totals)
        lengths.append((bleu.sys_len, bleu.ref_len))
        rouge.append(report_text_scores([reference], [text])["rougeL"])
    lengths_array = np.asarray(lengths, dtype=int).reshape(-1, 2)
    return {
        "bleu_counts": np.asarray(counts, dtype=int).reshape(-1, 4),
        "bleu_totals": np.asarray(totals, dtype=int).reshape(-1, 4),
        "sys_len": lengths_array[:, 0],
        "ref_len": lengths_array[:, 1],
        "rougeL": np.asarray(rouge, dtype=float),
    }


def summarise(columns: dict[str, np.ndarray]) -> dict[str, float | None]:
    """Corpus BLEU-4 and mean ROUGE-L, both in [0, 1], of the pairs in ``columns``."""
    if len(columns["rougeL"]) == 0:
        return {"bleu4": None, "rougeL": None}
    bleu = BLEU.compute_bleu(
        correct=[int(c) for c in columns["bleu_counts"].sum(axis=0)],
        total=[int(t) for t in columns["bleu_totals"].sum(axis=0)],
        sys_len=int(columns["sys_len"].sum()),
        ref_len=int(columns["ref_len"].sum()),
        smooth_method="exp",
    )
    return {"bleu4": bleu.score / 100.0, "rougeL": float(np.mean(columns["rougeL"]))}
