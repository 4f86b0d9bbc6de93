"""PaliGemma model: big_vision's parameter tree, and numerics checked against a NumPy model
written from the facts in docs/paligemma.md."""

import jax
import numpy as np
import pytest

from medvlm.models.paligemma.config import tiny, variant
from medvlm.models.paligemma.gemma import make_attn_mask
from medvlm.models.paligemma.model import PaliGemma
from medvlm.models.paligemma.params import count, flatten, init_params, param_shapes, unflatten

# The doc's tree of PaliGemma2-3B-224; L = 27 ViT blocks, G = 26 Gemma layers.
BLOCK = "img/Transformer/encoderblock/"
MHA = BLOCK + "MultiHeadDotProductAttention_0/"
EXPECTED_3B_224 = {
    "img/embedding/kernel": (14, 14, 3, 1152),
    "img/embedding/bias": (1152,),
    "img/pos_embedding": (1, 256, 1152),
    BLOCK + "LayerNorm_0/scale": (27, 1152),
    BLOCK + "LayerNorm_0/bias": (27, 1152),
    BLOCK + "LayerNorm_1/scale": (27, 1152),
    BLOCK + "LayerNorm_1/bias": (27, 1152),
    BLOCK + "MlpBlock_0/Dense_0/kernel": (27, 1152, 4304),
    BLOCK + "MlpBlock_0/Dense_0/bias": (27, 4304),
    BLOCK + "MlpBlock_0/Dense_1/kernel": (27, 4304, 1152),
    BLOCK + "MlpBlock_0/Dense_1/bias": (27, 1152),
    **{MHA + f"{n}/kernel": (27, 1152, 16, 72) for n in ("query", "key", "value")},
    **{MHA + f"{n}/bias": (27, 16, 72) for n in ("query", "key", "value")},
    MHA + "out/kernel": (27, 16, 72, 1152),
    MHA + "out/bias": (27, 1152),
    "img/Transformer/encoder_norm/scale": (1152,),
    "img/Transformer/encoder_norm/bias": (1152,),
    "img/head/kernel": (1152, 2304),
    "img/head/bias": (2304,),
    "llm/embedder/input_embedding": (257152, 2304),
    "llm/layers/attn/q_einsum/w": (26, 8, 2304, 256),
    "llm/layers/attn/kv_einsum/w": (26, 2, 4, 2304, 256),
    "llm/layers/attn/attn_vec_einsum/w": (26, 8, 256, 2304),
    "llm/layers/mlp/gating_einsum": (26, 2, 2304, 9216),
    "llm/layers/mlp/linear": (26, 9216, 2304),
    **{
        f"llm/layers/{n}/scale": (26, 2304)
        for n in ("pre_attention_norm", "post_attention_norm", "pre_ffw_norm", "post_ffw_norm")
    },
    "llm/final_norm/scale": (2304,),
}


def test_paligemma2_3b_224_tree_matches_big_vision():
    shapes = param_shapes(variant("paligemma2-3b-224"))  # jax.eval_shape: nothing allocated
    assert shapes == EXPECTED_3B_224
    assert count(shapes) == 3_032_094_960


def test_other_variants_shapes():
    pg1 = param_shapes(variant("paligemma-3b-224"))
    assert pg1["llm/layers/attn/kv_einsum/w"] == (18, 2, 1, 2048, 256)  # one kv head
    assert "llm/layers/post_ffw_norm/scale" not in pg1  # Gemma 1: no post norms
    assert pg1["llm/layers/mlp/linear"] == (18, 16384, 2048)
    big = param_shapes(variant("paligemma2-10b-448"))
    assert big["img/pos_embedding"] == (1, 1024, 1152)  # 448 / 14 = 32 → 32² tokens
    assert big["llm/layers/attn/q_einsum/w"] == (42, 16, 3584, 256)
    with pytest.raises(ValueError, match="paligemma2-3b-224"):
        variant("paligemma2-3b-300")


# ---- a NumPy PaliGemma written from the doc, to check the Flax numerics against ----


def np_layernorm(x, scale, bias):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-6) * scale + bias


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_vit(p, image, cfg):
    x = image.astype(np.float64) / 127.5 - 1
    n, size = x.shape[0], x.shape[1]
    g = size // cfg.patch
    patches = x.reshape(n, g, cfg.patch, g, cfg.patch, 3).transpose(0, 1, 3, 2, 4, 5)
    patches = patches.reshape(n, g * g, -1)
    kernel = p["img/embedding/kernel"].reshape(-1, cfg.width)
    x = patches @ kernel + p["img/embedding/bias"] + p["img/pos_embedding"]
    for layer in range(cfg.depth):
        q = {k: v[layer] for k, v in p.items() if k.startswith(BLOCK)}
        y = np_layernorm(x, q[BLOCK + "LayerNorm_0/scale"], q[BLOCK + "LayerNorm_0/bias"])
        qkv = [
            np.einsum("btd,dnh->btnh", y, q[MHA + f"{m}/kernel"]) + q[MHA + f"{m}/bias"]
            for m in ("query", "key", "value")
        ]
        att = softmax(np.einsum("btnh,bsnh->bnts", qkv[0], qkv[1]) / np.sqrt(qkv[0].shape[-1]))
        y = np.einsum("bnts,bsnh->btnh", att, qkv[2])
        x = x + np.einsum("btnh,nhd->btd", y, q[MHA + "out/kernel"]) + q[MHA + "out/bias"]
        y = np_layernorm(x, q[BLOCK + "LayerNorm_1/scale"], q[BLOCK + "LayerNorm_1/bias"])
        mlp = BLOCK + "MlpBlock_0/"
        y = gelu_tanh(y @ q[mlp + "Dense_0/kernel"] + q[mlp + "Dense_0/bias"])
        x = x + y @ q[mlp + "Dense_1/kernel"] + q[mlp + "Dense_1/bias"]
    norm = "img/Transformer/encoder_norm/"
    x = np_layernorm(x, p[norm + "scale"], p[norm + "bias"])
    return x @ p["img/head/kernel"] + p["img/head/bias"]


def rms(x, scale):
    return x / np.sqrt((x**2).mean(-1, keepdims=True) + 1e-6) * (1 + scale)


def rope(x, positions):
    half = x.shape[-1] // 2
    timescale = 10_000 ** (2 * np.arange(half) / x.shape[-1])
    angle = positions[:, :, None, None] / timescale
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate(
        [x1 * np.cos(angle) - x2 * np.sin(angle), x2 * np.cos(angle) + x1 * np.sin(angle)], -1
    )


def np_gemma(p, x, mask, cfg):
    positions = np.arange(x.shape[1])[None].repeat(x.shape[0], 0)
    group = cfg.num_heads // cfg.num_kv_heads
    for layer in range(cfg.depth):
        q = {k.removeprefix("llm/layers/"): v[layer] for k, v in p.items() if "llm/layers/" in k}
        y = rms(x, q["pre_attention_norm/scale"])
        query = rope(np.einsum("btd,ndh->btnh", y, q["attn/q_einsum/w"]), positions)
        key, value = np.einsum("bsd,ckdh->cbskh", y, q["attn/kv_einsum/w"])
        key = np.repeat(rope(key, positions), group, axis=2)  # head n reads kv head n // group
        value = np.repeat(value, group, axis=2)
        logits = np.einsum("btnh,bsnh->bnts", query * cfg.head_dim**-0.5, key)
        logits = np.tanh(logits / 50) * 50  # soft cap before the mask
        logits = np.where(mask[:, None], logits, -2.3819763e38)
        y = np.einsum("bnts,bsnh->btnh", softmax(logits), value)
        y = rms(
            np.einsum("btnh,nhd->btd", y, q["attn/attn_vec_einsum/w"]),
            q["post_attention_norm/scale"],
        )
        x = x + y
        y = rms(x, q["pre_ffw_norm/scale"])
        w = q["mlp/gating_einsum"]
        y = (gelu_tanh(y @ w[0]) * (y @ w[1])) @ q["mlp/linear"]
        x = x + rms(y, q["post_ffw_norm/scale"])
    return rms(x, p["llm/final_norm/scale"]) @ p["llm/embedder/input_embedding"].T


@pytest.fixture(scope="module")
def tiny_model():
    config = tiny(vocab_size=64, image_size=16, width=16, depth=2, patch=8)
    rng = np.random.default_rng(0)
    flat = {k: np.asarray(v) for k, v in flatten(jax.device_get(init_params(config))).items()}
    for name in flat:  # zero inits (norm scales, image head) would hide mistakes
        flat[name] = rng.normal(0, 0.3, flat[name].shape).astype(np.float32)
    return config, flat


def test_logits_match_numpy_reference(tiny_model):
    config, flat = tiny_model
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    text = rng.integers(0, 64, (2, 5)).astype(np.int32)
    mask_ar = np.array([[0, 0, 1, 1, 1], [0, 1, 1, 1, 1]], np.int32)
    logits, out = PaliGemma(config).apply({"params": unflatten(flat)}, image, text, mask_ar)

    p = {k: v.astype(np.float64) for k, v in flat.items()}
    zimg = np_vit(p, image, config.img)  # image tokens: not scaled
    ztxt = p["llm/embedder/input_embedding"][text] * np.sqrt(config.llm.width)
    full_ar = np.concatenate([np.zeros((2, zimg.shape[1]), np.int32), mask_ar], axis=1)
    cum = np.cumsum(full_ar, axis=1)
    mask = cum[:, None, :] <= cum[:, :, None]
    expected = np_gemma(p, np.concatenate([zimg, ztxt], 1), mask, config.llm)[:, zimg.shape[1] :]
    np.testing.assert_allclose(out["img/zimg"], zimg, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-3)


def test_final_softcap_bounds_logits(tiny_model):
    config, flat = tiny_model
    capped = PaliGemma(config.replace(final_softcap=0.5))
    image = np.zeros((1, 16, 16, 3), np.uint8)
    text = np.array([[2, 3, 4]], np.int32)
    logits, _ = capped.apply({"params": unflatten(flat)}, image, text, np.zeros_like(text))
    plain, _ = PaliGemma(config).apply({"params": unflatten(flat)}, image, text, text * 0)
    np.testing.assert_allclose(logits, np.tanh(np.asarray(plain) / 0.5) * 0.5, atol=1e-5)


def test_prefix_lm_mask_by_hand():
    # mask_ar [0 0 1 1 0(pad→masked)]: cumsum 0 0 1 2 2; the pad is not an input.
    mask = np.asarray(
        make_attn_mask(np.array([[1, 1, 1, 1, 0]], bool), np.array([[0, 0, 1, 1, 1]]))
    )[0]
    expected = np.array(
        [
            [1, 1, 0, 0, 0],  # prefix tokens see the whole prefix only
            [1, 1, 0, 0, 0],
            [1, 1, 1, 0, 0],  # suffix: causal
            [1, 1, 1, 1, 0],
            [0, 0, 0, 0, 0],  # padding sees nothing and is seen by nothing
        ],
        bool,
    )
    np.testing.assert_array_equal(mask, expected)
