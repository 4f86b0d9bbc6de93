"""LoRA on the PaliGemma LLM: factor shapes, exact zero start, merge, and training the factors."""

import jax
import numpy as np
import pytest

from medvlm.models.paligemma.config import tiny
from medvlm.models.paligemma.lora import init_lora, merge
from medvlm.models.paligemma.model import PaliGemma
from medvlm.models.paligemma.params import flatten, init_params
from medvlm.models.paligemma.settings import TRAINABLE_PRESETS, TrainSettings
from medvlm.models.paligemma.train import Trainer
from medvlm.settings import from_mapping

# width D=16, heads N=4 of H=4, kv heads K=2, MLP F=32, depth L=2 (shapes printed off init).
CONFIG = tiny(vocab_size=48, image_size=16, width=16, depth=2, patch=8)
DEFAULT_TARGETS = TrainSettings().lora_targets


@pytest.fixture(scope="module")
def flat():
    return flatten(jax.device_get(init_params(CONFIG)))


def batch():
    rng = np.random.default_rng(0)
    return {
        "images": rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8),
        "tokens": rng.integers(3, 48, (4, 10)).astype(np.int32),
        "mask_ar": np.array([[0] * 4 + [1] * 6] * 4, np.int32),
        "mask_loss": np.array([[0] * 4 + [1] * 6] * 4, np.int32),
        "mask_input": np.ones((4, 10), bool),
        "weights": np.ones(4, np.float32),
    }


def test_factor_shapes_for_the_five_leaf_kinds(flat):
    factors = init_lora(flat, DEFAULT_TARGETS, rank=3, seed=0)
    # (A, B) = (L, in, r), (L, r, out): D is the input of q/kv/gating, the output of the rest.
    expected = {
        "llm/layers/attn/q_einsum/w": ((2, 16, 3), (2, 3, 4 * 4)),  # (L,N,D,H)
        "llm/layers/attn/kv_einsum/w": ((2, 16, 3), (2, 3, 2 * 2 * 4)),  # (L,2,K,D,H)
        "llm/layers/attn/attn_vec_einsum/w": ((2, 4 * 4, 3), (2, 3, 16)),  # (L,N,H,D)
        "llm/layers/mlp/gating_einsum": ((2, 16, 3), (2, 3, 2 * 32)),  # (L,2,D,F)
        "llm/layers/mlp/linear": ((2, 32, 3), (2, 3, 16)),  # (L,F,D)
    }
    got = {
        name: (factors[name + "/lora_a"].shape, factors[name + "/lora_b"].shape)
        for name in expected
    }
    assert got == expected and len(factors) == 2 * len(expected)
    assert all(not np.any(factors[name + "/lora_b"]) for name in expected)


def test_zero_b_merges_to_the_base_weights_exactly(flat):
    factors = init_lora(flat, DEFAULT_TARGETS, rank=2, seed=1)
    merged = jax.device_get(merge(flat, factors, alpha=16.0, rank=2))
    assert set(merged) == set(flat)
    for name, value in flat.items():
        np.testing.assert_array_equal(merged[name], value, err_msg=name)


def test_merge_adds_the_scaled_product_in_the_leaf_layout(flat):
    # One entry by hand: attn_vec (L,N,H,D) has input (N,H) flattened n*H + h, output D.
    # With A = 1 at (layer 1, input 1*4+2, r 0) and B = 1 at (layer 1, r 0, output 5), only
    # W[1, 1, 2, 5] moves, by alpha/rank = 8/2 = 4.
    name = "llm/layers/attn/attn_vec_einsum/w"
    a, b = np.zeros((2, 16, 2), np.float32), np.zeros((2, 2, 16), np.float32)
    a[1, 1 * 4 + 2, 0] = b[1, 0, 5] = 1.0
    merged = np.asarray(merge(flat, {name + "/lora_a": a, name + "/lora_b": b}, 8.0, 2)[name])
    delta = merged - flat[name]
    assert delta[1, 1, 2, 5] == pytest.approx(4.0)
    delta[1, 1, 2, 5] = 0.0
    assert not np.any(delta)


def test_training_moves_only_the_factors_and_lowers_the_loss(flat):
    settings = TrainSettings(
        batch_size=4, optimizer="adam", learning_rate=0.01, lora_rank=2, frozen_dtype="float32"
    )
    trainer = Trainer(PaliGemma(CONFIG), jax.device_get(init_params(CONFIG)), settings)
    sizes = {k: v.size for k, v in init_lora(flat, DEFAULT_TARGETS, 2, 0).items()}
    assert {k: v.size for k, v in trainer.initial.items()} == sizes
    # attention: 2*(16*2 + 2*16) + 2*(16*2 + 2*16) + 2*(16*2 + 2*16), MLP: 2*(16*2 + 2*64) +
    # 2*(32*2 + 2*16): 384 + 320 + 192 = 896 trainable numbers.
    assert sum(sizes.values()) == 896
    trainable, opt = trainer.init_state()
    start = trainer.params(trainable)
    curve = []
    for _ in range(5):
        trainable, opt, loss, _ = trainer.step(trainable, opt, batch())
        curve.append(float(loss))
    assert curve[-1] < curve[0]
    for name, value in jax.device_get(trainer.frozen).items():
        np.testing.assert_array_equal(value, flat[name], err_msg=name)  # base untouched
    before, after = flatten(start), flatten(trainer.params(trainable))
    changed = {n for n in flat if not np.array_equal(before[n], after[n])}
    assert changed == {n[: -len("/lora_a")] for n in sizes if n.endswith("/lora_a")}
    for name in flat:  # the merged start is the base model exactly
        np.testing.assert_array_equal(before[name], flat[name], err_msg=name)


def test_settings_checks_and_defaults():
    default = TrainSettings()
    assert default.lora_rank == 0 and default.trainable_regex == TRAINABLE_PRESETS["attention"]
    with pytest.raises(ValueError, match=r"train\.lora_rank"):
        from_mapping(TrainSettings, {"lora_rank": -1}, "train")
    with pytest.raises(ValueError, match=r"lora_alpha: must be positive"):
        TrainSettings(lora_alpha=0.0)
    with pytest.raises(ValueError, match=r"lora_targets: '\(' is not a regular expression"):
        TrainSettings(lora_targets="(")
    with pytest.raises(
        ValueError, match=r"train\.lora_rnak: unknown key; did you mean 'lora_rank'"
    ):
        from_mapping(TrainSettings, {"lora_rnak": 2}, "train")


def test_unsupported_target_leaf_is_named(flat):
    with pytest.raises(ValueError, match=r"train\.lora_targets: 'llm/layers/pre_ffw_norm"):
        init_lora(flat, r"llm/layers/pre_ffw_norm/scale", 2, 0)
    with pytest.raises(ValueError, match="matches no parameter"):
        init_lora(flat, r"nothing/.*", 2, 0)
