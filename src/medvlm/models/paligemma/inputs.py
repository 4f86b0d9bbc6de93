"""Model inputs: token rows with PaliGemma's prefix-LM masks, and images (views tiled or kept).

Training text is ``BOS + prefix + "\\n"`` (mask_ar 0, mask_loss 0) followed by
``suffix + EOS`` (mask_ar 1, mask_loss 1), padded with zeros to ``seqlen`` (pad: mask_ar 1,
mask_loss 0, mask_input 0). A prompt for decoding is the prefix part alone, left-aligned.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from medvlm.models.paligemma.tokenizer import BOS, EOS, Tokenizer

MULTI_IMAGE_MODES = ("tile", "concat")


@dataclass(frozen=True)
class TextBatch:
    tokens: np.ndarray  # int32 [B, T]
    mask_ar: np.ndarray  # int32 [B, T]: 0 = full attention (prefix), 1 = causal
    mask_loss: np.ndarray  # int32 [B, T]: 1 where the token is a training target
    mask_input: np.ndarray  # bool [B, T]: False on padding
    truncated: int  # rows cut to seqlen


def _rows(parts: Sequence[tuple[list[int], list[int], list[int]]], seqlen: int) -> TextBatch:
    """Rows from ``(BOS + prefix, separator, suffix)`` ids. A row too long loses the end of its
    prefix first (BOS and the separator stay, so the target survives), then its suffix's end."""
    shape = (len(parts), seqlen)
    tokens = np.zeros(shape, np.int32)
    mask_ar = np.ones(shape, np.int32)
    mask_loss = np.zeros(shape, np.int32)
    mask_input = np.zeros(shape, bool)
    truncated = 0
    for row, (head, sep, suffix) in enumerate(parts):
        if len(head) + len(sep) + len(suffix) > seqlen:
            truncated += 1
            head = head[: max(seqlen - len(sep) - len(suffix), 1)]
            suffix = suffix[: max(seqlen - len(head) - len(sep), 0)]
        prefix = (head + sep)[:seqlen]
        n_prefix, n = len(prefix), len(prefix) + len(suffix)
        tokens[row, :n] = prefix + suffix
        mask_ar[row, :n_prefix] = 0
        mask_loss[row, n_prefix:n] = 1
        mask_input[row, :n] = True
    return TextBatch(tokens, mask_ar, mask_loss, mask_input, truncated)


def _prefix(tokenizer: Tokenizer, prefix: str) -> tuple[list[int], list[int]]:
    return [BOS, *tokenizer.encode(prefix)], tokenizer.encode("\n")


def training_text(
    tokenizer: Tokenizer, prefixes: Sequence[str], suffixes: Sequence[str], seqlen: int
) -> TextBatch:
    return _rows(
        [
            (*_prefix(tokenizer, p), [*tokenizer.encode(s), EOS])
            for p, s in zip(prefixes, suffixes, strict=True)
        ],
        seqlen,
    )


def prompt_text(tokenizer: Tokenizer, prefixes: Sequence[str], seqlen: int) -> TextBatch:
    """Prompts for decoding, left-aligned; one too long loses the end of its question text."""
    return _rows([(*_prefix(tokenizer, p), []) for p in prefixes], seqlen)


def tile_views(views: np.ndarray) -> np.ndarray:
    """Views ``[V, S, S, 3]`` uint8 on a ⌈√V⌉² grid of one ``S×S`` image (one view: itself)."""
    count, size = views.shape[0], views.shape[1]
    if count == 1:
        return views[0]
    grid = math.ceil(math.sqrt(count))
    cell = size // grid
    out = np.zeros((size, size, 3), np.uint8)
    for i, view in enumerate(views):
        small = Image.fromarray(view).resize((cell, cell), Image.Resampling.BILINEAR)
        row, col = divmod(i, grid)
        out[row * cell : (row + 1) * cell, col * cell : (col + 1) * cell] = np.asarray(small)
    return out


def batch_images(images: np.ndarray, image_mask: np.ndarray, mode: str):
    """A loader batch's ``[B, V, S, S, 3]`` uint8 views as model input: ``(images, image_mask)``.

    ``tile``: each record's present views tiled into one image, mask None. ``concat``: every view
    kept, its tokens concatenated; the mask hides empty view slots.
    """
    if mode == "concat":
        return images, image_mask
    if mode != "tile":
        raise ValueError(f"multi_image must be one of {MULTI_IMAGE_MODES}, got {mode!r}")
    return np.stack([tile_views(v[m]) for v, m in zip(images, image_mask, strict=True)]), None
