"""The PaliGemma decoder's per-step hook (``Decoder.greedy(..., hook=...)``) for a batch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from medvlm.constrain.grammar import TaskLanguage
from medvlm.constrain.matchers import BatchConstraint
from medvlm.constrain.vocab import Vocabulary


class ConstraintHook:
    """``hook(step, generated [B, step], allowed [B, V]) -> allowed``: before each step it feeds
    each row's previous token to its matcher and narrows ``allowed`` to the grammar's tokens.

    One hook serves one ``greedy`` call (matchers are stateful); make a new one per batch.
    """

    def __init__(self, languages: Sequence[TaskLanguage], vocab: Vocabulary, max_tokens: int):
        self.constraint = BatchConstraint(languages, vocab, max_tokens)
        self.step = 0

    def __call__(self, step: int, generated: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        if step != self.step:
            raise ValueError(f"constraint hook called for step {step}, expected {self.step}")
        if step:
            self.constraint.consume(generated[:, -1])
        self.step += 1
        return allowed & self.constraint.allowed(allowed.shape[1])
