"""Tokenizer with loc/seg tokens, prefix-LM text rows, and multi-image inputs."""

import numpy as np
import pytest

from medvlm.models.paligemma.inputs import batch_images, prompt_text, tile_views, training_text
from medvlm.models.paligemma.tokenizer import (
    BOS,
    EOS,
    LOC_SEG_TOKENS,
    Tokenizer,
    build_demo_tokenizer,
)

TEXTS = ["What shape is the red mark? A: circle B: square", "The answer is B.", "count 12"] * 20


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return build_demo_tokenizer(TEXTS, tmp_path_factory.mktemp("tok") / "tok.model", 200)


def test_demo_tokenizer_ends_with_loc_and_seg_tokens(tokenizer):
    v = tokenizer.vocab_size
    assert tokenizer.sp.IdToPiece(v - 1152) == "<loc0000>"
    assert tokenizer.sp.IdToPiece(v - 129) == "<loc1023>"
    assert tokenizer.sp.IdToPiece(v - 128) == "<seg000>"
    assert tokenizer.sp.IdToPiece(v - 1) == "<seg127>"
    assert tokenizer.loc_id(5) == v - 1152 + 5
    ids = tokenizer.encode("<loc0005><loc1023> circle")
    assert ids[:2] == [tokenizer.loc_id(5), tokenizer.loc_id(1023)]
    assert tokenizer.decode(ids) == "<loc0005><loc1023> circle"
    assert (tokenizer.sp.pad_id(), tokenizer.sp.eos_id(), tokenizer.sp.bos_id()) == (0, 1, 2)
    assert len(LOC_SEG_TOKENS) == 1152


def test_tokenizer_rejects_other_models(tmp_path):
    (tmp_path / "x.model").write_bytes(b"nonsense")
    with pytest.raises(ValueError, match="x.model"):
        Tokenizer(tmp_path / "x.model")


def test_training_rows_have_the_docs_masks(tokenizer):
    enc = tokenizer.encode
    batch = training_text(tokenizer, ["A: circle"], ["B"], seqlen=len(enc("A: circle")) + 8)
    prefix = [BOS, *enc("A: circle"), *enc("\n")]
    suffix = [*enc("B"), EOS]
    n, m = len(prefix), len(prefix) + len(suffix)
    pad = batch.tokens.shape[1] - m
    assert batch.tokens[0].tolist() == prefix + suffix + [0] * pad
    assert batch.mask_ar[0].tolist() == [0] * n + [1] * (m - n) + [1] * pad
    assert batch.mask_loss[0].tolist() == [0] * n + [1] * (m - n) + [0] * pad
    assert batch.mask_input[0].tolist() == [True] * m + [False] * pad
    assert batch.truncated == 0


def test_too_long_rows_keep_their_target(tokenizer):
    long_prompt = "What shape is the red mark? " * 10
    batch = training_text(tokenizer, [long_prompt], ["B"], seqlen=12)
    suffix = [*tokenizer.encode("B"), EOS]
    sep = tokenizer.encode("\n")
    row = batch.tokens[0].tolist()
    assert batch.truncated == 1 and row[0] == BOS
    assert row[-len(suffix) :] == suffix and row[-len(suffix) - len(sep) : -len(suffix)] == sep
    prompts = prompt_text(tokenizer, [long_prompt, "B"], seqlen=12)
    assert prompts.mask_ar.tolist()[1][:3] == [0, 0, 0] and prompts.truncated == 1
    assert prompts.tokens[1].tolist()[:3] == [BOS, *tokenizer.encode("B"), *sep][:3]


def test_views_tiled_on_a_grid():
    views = np.stack([np.full((8, 8, 3), v, np.uint8) for v in (10, 20, 30)])
    tiled = tile_views(views)  # 3 views → 2×2 grid of 4×4 cells, the last cell black
    assert tiled.shape == (8, 8, 3)
    assert tiled[0, 0, 0] == 10 and tiled[0, 4, 0] == 20 and tiled[4, 0, 0] == 30
    assert tiled[4, 4, 0] == 0
    np.testing.assert_array_equal(tile_views(views[:1]), views[0])


def test_batch_images_tile_uses_present_views_only():
    images = np.zeros((2, 3, 8, 8, 3), np.uint8)
    images[0, 0], images[1] = 100, 50
    mask = np.array([[True, False, False], [True, True, True]])
    tiled, tile_mask = batch_images(images, mask, "tile")
    assert tiled.shape == (2, 8, 8, 3) and tile_mask is None
    assert (tiled[0] == 100).all()  # one view: the image itself, not a grid cell
    kept, kept_mask = batch_images(images, mask, "concat")
    assert kept.shape == images.shape and kept_mask is mask
    with pytest.raises(ValueError, match="multi_image"):
        batch_images(images, mask, "mosaic")
