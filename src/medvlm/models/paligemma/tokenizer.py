"""The PaliGemma sentencepiece tokenizer, and a small demo one built the same way.

The real ``paligemma_tokenizer.model`` ends with 1024 location tokens ``<loc0000>``..``<loc1023>``
and 128 segmentation tokens ``<seg000>``..``<seg127>``; pad 0, eos 1, bos 2. The demo tokenizer
is trained on the demo's own texts and then gets the same 1152 tokens appended, so code that
reads or writes location tokens runs for real on the demo.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from pathlib import Path

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2

from medvlm.io import atomic_path

PAD, EOS, BOS, UNK = 0, 1, 2, 3
NUM_LOC, NUM_SEG = 1024, 128
LOC_SEG_TOKENS = tuple(f"<loc{i:04d}>" for i in range(NUM_LOC)) + tuple(
    f"<seg{i:03d}>" for i in range(NUM_SEG)
)


class Tokenizer:
    """sentencepiece from a local ``.model`` file, checked for PaliGemma's special ids."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.sp = spm.SentencePieceProcessor()
        try:
            self.sp.Load(str(self.path))
        except (OSError, RuntimeError) as error:
            raise ValueError(f"{self.path}: not a sentencepiece model ({error})") from None
        ids = (self.sp.pad_id(), self.sp.eos_id(), self.sp.bos_id())
        if ids != (PAD, EOS, BOS):
            raise ValueError(f"{self.path}: pad/eos/bos ids are {ids}, PaliGemma needs (0, 1, 2)")
        self.vocab_size = self.sp.GetPieceSize()
        self.loc_offset = self.vocab_size - len(LOC_SEG_TOKENS)
        if self.sp.IdToPiece(self.loc_offset) != LOC_SEG_TOKENS[0]:
            raise ValueError(
                f"{self.path}: the last {len(LOC_SEG_TOKENS)} pieces are not <loc0000>..<seg127>"
            )

    def encode(self, text: str) -> list[int]:
        return self.sp.EncodeAsIds(text)

    def decode(self, ids: Iterable[int]) -> str:
        return self.sp.DecodeIds([int(i) for i in ids])

    def loc_id(self, index: int) -> int:
        """Id of ``<loc{index:04d}>`` (``index`` in 0..1023)."""
        if not 0 <= index < NUM_LOC:
            raise ValueError(f"location index {index} outside 0..{NUM_LOC - 1}")
        return self.loc_offset + index


def build_demo_tokenizer(texts: Iterable[str], out_path: str | os.PathLike, vocab_size: int = 800):
    """Train a sentencepiece BPE model on ``texts``, append the loc/seg tokens, write it.

    ``vocab_size`` is raised where needed to hold the 256 byte-fallback pieces, the special
    pieces and every character of ``texts``.
    """
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ValueError("the demo tokenizer needs at least one non-empty text")
    needed = 256 + 5 + len(set("".join(texts))) + 8
    model = io.BytesIO()
    spm.SentencePieceTrainer.Train(
        sentence_iterator=iter(texts),
        model_writer=model,
        model_type="bpe",
        vocab_size=max(vocab_size, needed),
        hard_vocab_limit=False,
        pad_id=PAD,
        eos_id=EOS,
        bos_id=BOS,
        unk_id=UNK,
        byte_fallback=True,
        split_digits=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=False,
        user_defined_symbols=["\n"],
        character_coverage=1.0,
        minloglevel=2,
    )
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model.getvalue())
    for token in LOC_SEG_TOKENS:
        proto.pieces.add(
            piece=token,
            score=0.0,
            type=sentencepiece_model_pb2.ModelProto.SentencePiece.USER_DEFINED,
        )
    with atomic_path(out_path) as tmp:
        tmp.write_bytes(proto.SerializeToString())
    return Tokenizer(out_path)
