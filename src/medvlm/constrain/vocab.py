"""A family's tokenizer as llguidance sees it: the bytes of every token, specials marked.

llguidance matches grammars against token bytes. Special tokens (control tokens, PaliGemma's
``<locNNNN>``/``<segNNN>``, Gemma's turn and image markers) are marked with a leading 0xFF byte:
a grammar never produces them from text, only where it names them (``<[id]>``), so text
answers can never contain them. Built offline from the tokenizer in memory (no hub).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import llguidance

SPECIAL = b"\xff"


@dataclass(eq=False)
class Vocabulary:
    """llguidance's tokenizer plus what decoding needs per token: its text and its units."""

    tokenizer: llguidance.LLTokenizer
    eos: tuple[int, ...]
    _texts: dict[int, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.tokenizer.vocab_size

    def text(self, token: int) -> str:
        """The text a token adds to the output (empty for special tokens)."""
        if token not in self._texts:
            special = self.tokenizer.is_special_token(token)
            self._texts[token] = "" if special else self.tokenizer.decode_str([token])
        return self._texts[token]

    def units(self, token: int) -> int:
        """Budget units of a token: its UTF-8 bytes, 1 for a special token (see grammar.py)."""
        if self.tokenizer.is_special_token(token):
            return 1
        return len(self.tokenizer.decode_bytes([token]))


class _PieceTokenizer:
    """The duck-typed tokenizer ``llguidance.TokenizerWrapper`` wraps."""

    def __init__(self, encode, tokens: Sequence[bytes], eos: int, bos: int):
        self.encode, self.tokens = encode, tokens
        self.eos_token_id, self.bos_token_id = eos, bos

    def __call__(self, text: bytes) -> list[int]:
        return self.encode(text.decode("utf-8", errors="replace"))


def sentencepiece_vocabulary(tokenizer) -> Vocabulary:
    """The vocabulary of a PaliGemma tokenizer (:mod:`medvlm.models.paligemma.tokenizer`: the
    sentencepiece model, or its ``tokenizer.json``), from its pieces and their kinds."""
    from medvlm.models.paligemma.tokenizer import BOS, EOS

    tokens = []
    for piece, kind in tokenizer.pieces():
        if kind == "special":
            tokens.append(SPECIAL + piece.encode("utf-8"))
        elif kind == "byte":
            tokens.append(bytes([int(piece[3:5], 16)]))  # "<0x41>"
        else:
            tokens.append(piece.replace("\u2581", " ").encode("utf-8"))
    wrapper = llguidance.TokenizerWrapper(_PieceTokenizer(tokenizer.encode, tokens, EOS, BOS))
    return Vocabulary(llguidance.LLTokenizer(wrapper), (EOS,))


def hf_vocabulary(tokenizer, eos: Sequence[int]) -> Vocabulary:
    """The vocabulary of a fast Hugging Face tokenizer, ending outputs with any of ``eos``."""
    import llguidance.hf

    return Vocabulary(llguidance.hf.from_tokenizer(tokenizer, eos_token=list(eos)), tuple(eos))
