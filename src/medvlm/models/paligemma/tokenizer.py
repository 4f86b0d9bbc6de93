"""The PaliGemma tokenizer, from its sentencepiece model or a transformers ``tokenizer.json``,
and a small demo one built the same way.

The real ``paligemma_tokenizer.model`` ends with 1024 location tokens ``<loc0000>``..``<loc1023>``
and 128 segmentation tokens ``<seg000>``..``<seg127>``; pad 0, eos 1, bos 2. A transformers
folder's ``tokenizer.json`` holds the same pieces (converted from that model) plus ``<image>``
after them. The demo tokenizer is trained on the demo's own texts and then gets the same 1152
tokens appended, so code that reads or writes location tokens runs for real on the demo.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable
from pathlib import Path

from medvlm.io import atomic_path

PAD, EOS, BOS, UNK = 0, 1, 2, 3
NUM_LOC, NUM_SEG = 1024, 128
LOC_SEG_TOKENS = tuple(f"<loc{i:04d}>" for i in range(NUM_LOC)) + tuple(
    f"<seg{i:03d}>" for i in range(NUM_SEG)
)

# Where a checkpoint folder keeps its tokenizer, in order of preference.
TOKENIZER_FILES = ("tokenizer.model", "paligemma_tokenizer.model", "tokenizer.json")
_BYTE_PIECE = re.compile(r"<0x[0-9A-F]{2}>")


def find_tokenizer(folder: str | os.PathLike) -> Path:
    """The tokenizer file of a checkpoint folder (:data:`TOKENIZER_FILES`, first found)."""
    folder = Path(folder)
    for name in TOKENIZER_FILES:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"{folder}: no tokenizer ({' or '.join(TOKENIZER_FILES)})")


def load_tokenizer(path: str | os.PathLike) -> Tokenizer | JsonTokenizer:
    """A ``.json`` file through the tokenizers library, anything else as sentencepiece."""
    return JsonTokenizer(path) if Path(path).suffix == ".json" else Tokenizer(path)


class Tokenizer:
    """sentencepiece from a local ``.model`` file, checked for PaliGemma's special ids."""

    HF_NAME = "tokenizer.model"  # its name in a transformers folder

    def __init__(self, path: str | os.PathLike):
        import sentencepiece as spm

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

    def pieces(self) -> list[tuple[str, str]]:
        """Every piece with its kind (``special``, ``byte`` or ``text``), for constrained
        decoding (:func:`medvlm.constrain.vocab.sentencepiece_vocabulary`)."""
        sp, kinds = self.sp, []
        for token in range(self.vocab_size):
            if token >= self.loc_offset or sp.IsControl(token) or sp.IsUnknown(token):
                kinds.append((sp.IdToPiece(token), "special"))
            else:
                kinds.append((sp.IdToPiece(token), "byte" if sp.IsByte(token) else "text"))
        return kinds

    def special_pieces(self) -> tuple[str, str, str, str]:
        """The pad, eos, bos and unk pieces."""
        return tuple(self.sp.IdToPiece(i) for i in (PAD, EOS, BOS, self.sp.unk_id()))

    def after_vocabulary(self) -> list[str]:
        """Tokens with ids past the model's vocabulary (none in a sentencepiece model)."""
        return []


class JsonTokenizer(Tokenizer):
    """A transformers ``tokenizer.json`` (converted from PaliGemma's sentencepiece model) read
    with the tokenizers library; the interface of :class:`Tokenizer`. Ids past the location and
    segmentation tokens (``<image>``) are not part of the model's vocabulary."""

    HF_NAME = "tokenizer.json"
    _SPECIALS = ({"<pad>"}, {"<eos>", "</s>"}, {"<bos>", "<s>"})

    def __init__(self, path: str | os.PathLike):
        from tokenizers import Tokenizer as Backend

        self.path = Path(path)
        try:
            self.backend = Backend.from_file(str(self.path))
        except Exception as error:  # the library raises a bare Exception for bad files
            raise ValueError(f"{self.path}: not a tokenizers JSON file ({error})") from None
        if type(self.backend.decoder).__name__ == "ByteLevel":
            raise ValueError(f"{self.path}: a byte-level tokenizer; PaliGemma's is sentencepiece")
        found = tuple(self.backend.id_to_token(i) for i in (PAD, EOS, BOS))
        if any(piece not in names for piece, names in zip(found, self._SPECIALS, strict=True)):
            raise ValueError(f"{self.path}: ids 0, 1, 2 are {found}, PaliGemma needs pad/eos/bos")
        ids = [self.backend.token_to_id(token) for token in LOC_SEG_TOKENS]
        if ids[0] is None or ids != list(range(ids[0], ids[0] + len(ids))):
            raise ValueError(
                f"{self.path}: no consecutive <loc0000>..<loc1023>, <seg000>..<seg127> tokens; "
                "PaliGemma's vocabulary ends with them"
            )
        self.loc_offset = ids[0]
        self.vocab_size = self.loc_offset + len(LOC_SEG_TOKENS)
        added = self.backend.get_added_tokens_decoder()
        self._special = {i for i, token in added.items() if token.special} | {PAD, EOS, BOS}

    def encode(self, text: str) -> list[int]:
        return self.backend.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Iterable[int]) -> str:
        """As sentencepiece decodes: control tokens give nothing, location tokens their text."""
        kept = [int(i) for i in ids if int(i) not in (PAD, EOS, BOS) and int(i) < self.vocab_size]
        return self.backend.decode(kept, skip_special_tokens=False)

    def pieces(self) -> list[tuple[str, str]]:
        kinds = []
        for token in range(self.vocab_size):
            piece = self.backend.id_to_token(token)
            if token >= self.loc_offset or token in self._special:
                kinds.append((piece, "special"))
            else:
                kinds.append((piece, "byte" if _BYTE_PIECE.fullmatch(piece) else "text"))
        return kinds

    def special_pieces(self) -> tuple[str, str, str, str]:
        unk = "<unk>" if self.backend.token_to_id("<unk>") is not None else None
        return (*(self.backend.id_to_token(i) for i in (PAD, EOS, BOS)), unk)

    def after_vocabulary(self) -> list[str]:
        size = self.backend.get_vocab_size(with_added_tokens=True)
        return [self.backend.id_to_token(i) for i in range(self.vocab_size, size)]


def build_demo_tokenizer(texts: Iterable[str], out_path: str | os.PathLike, vocab_size: int = 800):
    """Train a sentencepiece BPE model on ``texts``, append the loc/seg tokens, write it.

    ``vocab_size`` is raised where needed to hold the 256 byte-fallback pieces, the special
    pieces and every character of ``texts``.
    """
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

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
