"""KV-cache greedy decoding: exactly the tokens of repeated full forward passes; the hook."""

import jax
import numpy as np
import pytest

from medvlm.models.paligemma.config import tiny
from medvlm.models.paligemma.decode import Decoder
from medvlm.models.paligemma.model import PaliGemma
from medvlm.models.paligemma.params import flatten, init_params, unflatten
from medvlm.models.paligemma.tokenizer import EOS, PAD

MAX_LEN = 8


@pytest.fixture(scope="module")
def decoder():
    config = tiny(vocab_size=48, image_size=16, width=16, depth=2, patch=8)
    rng = np.random.default_rng(0)
    flat = flatten(jax.device_get(init_params(config)))
    flat = {k: rng.normal(0, 0.4, v.shape).astype(np.float32) for k, v in flat.items()}
    return Decoder(PaliGemma(config), unflatten(flat))


@pytest.fixture(scope="module")
def prompts():
    rng = np.random.default_rng(1)
    # Left-aligned prompts of lengths 5, 2 and 3: padding sits between prompt and answer.
    tokens = np.array([[2, 5, 6, 7, 8], [2, 9, 0, 0, 0], [2, 10, 11, 0, 0]], np.int32)
    images = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    return images, tokens, tokens != 0


def test_cached_decoding_equals_full_forward_argmax(decoder, prompts):
    images, tokens, mask = prompts
    cached = decoder.greedy(images, tokens, mask, MAX_LEN)
    reference = decoder.greedy_recompute(images, tokens, mask, MAX_LEN)
    np.testing.assert_array_equal(cached, reference)
    assert len({tuple(row) for row in cached}) > 1  # the images and prompts matter


def test_several_views_with_empty_slots(decoder, prompts):
    images, tokens, mask = prompts
    views = np.stack([images, images[::-1], images[:, ::-1]], axis=1)  # [B, 3, S, S, 3]
    image_mask = np.array([[True, True, True], [True, False, False], [True, True, False]])
    cached = decoder.greedy(views, tokens, mask, MAX_LEN, image_mask=image_mask)
    reference = decoder.greedy_recompute(views, tokens, mask, MAX_LEN, image_mask=image_mask)
    np.testing.assert_array_equal(cached, reference)


def test_hook_forbidding_a_token_is_obeyed(decoder, prompts):
    images, tokens, mask = prompts
    free = decoder.greedy(images, tokens, mask, MAX_LEN)
    banned = int(free[0, 0])
    seen = []

    def forbid(step, generated, allowed):
        seen.append((step, generated.shape))
        allowed[:, banned] = False
        return allowed

    constrained = decoder.greedy(images, tokens, mask, MAX_LEN, hook=forbid)
    assert banned not in constrained and constrained[0, 0] != banned
    assert seen[:2] == [(0, (3, 0)), (1, (3, 1))]  # called before every step with the history
    reference = decoder.greedy_recompute(images, tokens, mask, MAX_LEN, hook=forbid)
    np.testing.assert_array_equal(constrained, reference)


def test_stops_at_eos_and_pads_after_it(decoder, prompts):
    images, tokens, mask = prompts
    calls = []

    def eos_at_step_two(step, generated, allowed):
        calls.append(step)
        if step == 2:
            allowed[:] = False
            allowed[:, EOS] = True
        return allowed

    out = decoder.greedy(images, tokens, mask, MAX_LEN, hook=eos_at_step_two)
    assert (out[:, 2] == EOS).all() and (out[:, 3:] == PAD).all()
    assert calls == [0, 1, 2]  # every row ended: no further step was run
