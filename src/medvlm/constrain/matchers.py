"""Constrained decoding of a batch: one llguidance matcher per output, masks for every step.

Each row decodes under its question's language (:mod:`.grammar`), first bounded by the token
budget in bytes; as tokens turn out to carry several bytes each, the bound grows to
``bytes so far + tokens left`` and the row's matcher is rebuilt on the looser grammar and fed
the tokens so far. Every prefix the matcher allows can still be completed within the tokens
left, so the answer is complete when the budget runs out.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import llguidance
import llguidance.numpy as llg_numpy
import numpy as np

from medvlm.constrain.boxorder import still_ordered
from medvlm.constrain.grammar import TaskLanguage
from medvlm.constrain.vocab import Vocabulary

GROWTH = 1.5  # rebuild a row's matcher once its reachable length grows by half,
NEAR = 32  # or once the answer comes within this many bytes of the bound;
STEP = 32  # long bounds are multiples of this (fewer rebuilds, grammars shared between rows)


@functools.lru_cache(maxsize=1)
def _executor() -> llguidance.LLExecutor:
    return llguidance.LLExecutor()


@functools.lru_cache(maxsize=512)
def _fresh_matcher(lark: str, tokenizer: llguidance.LLTokenizer) -> llguidance.LLMatcher:
    """A matcher at the start of a grammar; rows take copies (building one costs milliseconds,
    a copy microseconds)."""
    grammar = llguidance.LLMatcher.grammar_from_lark(lark)
    matcher = llguidance.LLMatcher(tokenizer, grammar, log_level=0)
    if matcher.is_error():
        raise ValueError(f"output grammar does not compile: {matcher.get_error()}\n{lark}")
    return matcher


class RowConstraint:
    """The output of one question, decoded within ``max_tokens`` new tokens."""

    def __init__(self, language: TaskLanguage, vocab: Vocabulary, max_tokens: int):
        self.language, self.vocab = language, vocab
        self.remaining, self.units, self.tokens, self.text = max_tokens, 0, [], ""
        self.finished = False
        self.budget = max_tokens
        self.matcher = self._matcher(max_tokens)

    def _matcher(self, budget: int) -> llguidance.LLMatcher:
        matcher = _fresh_matcher(self.language.grammar(budget), self.vocab.tokenizer).deep_copy()
        if self.tokens and not matcher.consume_tokens(self.tokens):
            raise RuntimeError(f"looser grammar rejects {self.text!r}: {matcher.get_error()}")
        return matcher

    def consume(self, token: int) -> None:
        if self.finished:
            return
        if not self.matcher.consume_token(token):
            raise RuntimeError(
                f"{self.language.task} output {self.text!r} + token {token} breaks its grammar: "
                f"{self.matcher.get_error()}"
            )
        self.remaining -= 1
        if token in self.vocab.eos:
            self.finished = True
            return
        self.tokens.append(token)
        self.units += self.vocab.units(token)
        if self.language.corners:
            self.text += self.vocab.text(token)
        reach = self.units + self.remaining
        bound = reach if reach < 4 * STEP else reach - reach % STEP
        near = self.units + NEAR >= self.budget
        if bound > self.budget and (near or bound >= GROWTH * self.budget):
            self.budget = bound
            self.matcher = self._matcher(bound)

    def keep_ordered(self, allowed: np.ndarray) -> None:
        """Drop from a row of the mask the tokens that would put a box's corners out of order."""
        for token in np.flatnonzero(allowed):
            text = self.vocab.text(int(token))
            if text and not still_ordered(self.text + text, self.language.frame):
                allowed[token] = False


class BatchConstraint:
    """Masks for a batch of outputs; rows that have ended allow ``after_end`` tokens only
    (``None``: every token)."""

    def __init__(
        self,
        languages: Sequence[TaskLanguage],
        vocab: Vocabulary,
        max_tokens: int,
        after_end: Sequence[int] | None = None,
    ):
        self.vocab = vocab
        self.rows = [RowConstraint(language, vocab, max_tokens) for language in languages]
        self.after_end = after_end
        self._bits = llg_numpy.allocate_token_bitmask(len(self.rows), vocab.size)

    def consume(self, tokens: Sequence[int]) -> None:
        for row, token in zip(self.rows, tokens, strict=True):
            row.consume(int(token))

    def allowed(self, width: int) -> np.ndarray:
        """``bool [B, width]``: the tokens each row may take next (ids past the tokenizer's
        vocabulary, such as padded embedding rows, never)."""
        active = [(row.matcher, i) for i, row in enumerate(self.rows) if not row.finished]
        self._bits.fill(-1)
        if active:
            llg_numpy.fill_next_token_bitmask_par(_executor(), active, self._bits)
        bits = np.unpackbits(self._bits.view(np.uint8), axis=1, bitorder="little")
        mask = np.zeros((len(self.rows), width), bool)
        size = min(width, self.vocab.size)
        mask[:, :size] = bits[:, :size].view(bool)
        for i, row in enumerate(self.rows):
            if row.finished and self.after_end is not None:
                mask[i] = False
                mask[i, list(self.after_end)] = True
            elif not row.finished and row.language.corners:
                row.keep_ordered(mask[i])
        return mask
