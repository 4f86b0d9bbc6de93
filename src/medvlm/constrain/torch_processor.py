"""MedGemma's logits-processor hook (:mod:`medvlm.models.medgemma.generate`) for constraints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from transformers import LogitsProcessor

from medvlm.constrain.grammar import TaskLanguage, language
from medvlm.constrain.matchers import BatchConstraint
from medvlm.constrain.vocab import Vocabulary, hf_vocabulary
from medvlm.records import Record
from medvlm.tasks.box_frame import PIXELS

END_OF_TURN = "<end_of_turn>"


class ConstrainedLogits(LogitsProcessor):
    """Sets the logits of tokens outside each row's grammar to ``-inf``.

    ``generate`` calls it once per new token with every id so far (prompt included): the last
    id of a row past ``prompt_length`` is the token just chosen. An ended row may only take
    ``vocab.eos[0]``, so ``generate`` stops it (or pads it).
    """

    def __init__(
        self,
        languages: Sequence[TaskLanguage],
        vocab: Vocabulary,
        max_tokens: int,
        prompt_length: int,
    ):
        self.constraint = BatchConstraint(languages, vocab, max_tokens, after_end=vocab.eos[:1])
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor):
        if input_ids.shape[1] > self.prompt_length:
            self.constraint.consume(input_ids[:, -1].tolist())
        allowed = torch.from_numpy(self.constraint.allowed(scores.shape[1]))
        return scores.masked_fill(~allowed.to(scores.device), float("-inf"))


def end_ids(tokenizer) -> tuple[int, ...]:
    """The ids that end an answer: EOS, and Gemma's ``<end_of_turn>`` where the vocabulary has
    it (instruction-tuned Gemma 3 stops on both)."""
    ids = [tokenizer.eos_token_id]
    turn = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    if isinstance(turn, int) and turn != tokenizer.unk_token_id and turn not in ids:
        ids.append(turn)
    return tuple(ids)


class ConstraintFactory:
    """A ``LogitsProcessorFactory``: per batch (one task type), one :class:`ConstrainedLogits`
    with the task's ``max_new_tokens`` as budget; detection boxes in ``frame``."""

    def __init__(self, max_new_tokens: Mapping[str, int], frame: str = PIXELS):
        self.max_new_tokens = dict(max_new_tokens)
        self.frame = frame
        self._vocab: tuple[object, Vocabulary] | None = None

    def vocabulary(self, tokenizer) -> Vocabulary:
        if self._vocab is None or self._vocab[0] is not tokenizer:
            self._vocab = (tokenizer, hf_vocabulary(tokenizer, end_ids(tokenizer)))
        return self._vocab[1]

    def __call__(self, records: list[Record], tokenizer, prompt_length: int) -> list:
        languages = [language(r.task, r.question, self.frame) for r in records]
        budget = self.max_new_tokens[records[0].task]
        return [ConstrainedLogits(languages, self.vocabulary(tokenizer), budget, prompt_length)]
