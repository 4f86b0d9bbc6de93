"""Parameter trees: flat ``a/b/c`` names, the shapes a config implies, random init, and the
config a checkpoint's shapes imply."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from medvlm.models.paligemma.config import GemmaConfig, PaliGemmaConfig, ViTConfig
from medvlm.models.paligemma.gemma import INIT_STDDEV
from medvlm.models.paligemma.model import PaliGemma

SEP = "/"


def flatten(tree: dict) -> dict[str, object]:
    """``{"a": {"b": x}}`` → ``{"a/b": x}``, in the tree's order: the keys of a checkpoint npz."""
    return traverse_util.flatten_dict(tree, sep=SEP)


def unflatten(flat: dict[str, object]) -> dict:
    return traverse_util.unflatten_dict(flat, sep=SEP)


def _dummy_inputs(config: PaliGemmaConfig):
    size = config.img.image_size
    return jnp.zeros((1, size, size, 3), jnp.uint8), jnp.zeros((1, 2), jnp.int32)


def param_shapes(config: PaliGemmaConfig) -> dict[str, tuple[int, ...]]:
    """Every parameter's name and shape, computed without allocating (``jax.eval_shape``)."""
    image, text = _dummy_inputs(config)
    model = PaliGemma(config)
    tree = jax.eval_shape(lambda: model.init(jax.random.key(0), image, text, text))["params"]
    return {name: tuple(leaf.shape) for name, leaf in flatten(tree).items()}


def init_params(config: PaliGemmaConfig, seed: int = 0) -> dict:
    """Random float32 parameters (the image head is zero, as big_vision initialises it)."""
    image, text = _dummy_inputs(config)
    model = PaliGemma(config)
    return jax.jit(model.init)(jax.random.key(seed), image, text, text)["params"]


def count(shapes: dict[str, tuple[int, ...]]) -> int:
    return sum(math.prod(shape) for shape in shapes.values())


def infer_config(shapes: dict[str, tuple[int, ...]], final_softcap: float = 0.0) -> PaliGemmaConfig:
    """The config whose parameter shapes these are (Gemma 2 when the post-norms are present)."""
    block = "img/Transformer/encoderblock/"
    patch, _, _, vit_width = shapes["img/embedding/kernel"]
    n_tokens = shapes["img/pos_embedding"][1]
    depth, _, vit_heads, _ = shapes[block + "MultiHeadDotProductAttention_0/query/kernel"]
    img = ViTConfig(
        width=vit_width,
        depth=depth,
        mlp_dim=shapes[block + "MlpBlock_0/Dense_0/kernel"][2],
        num_heads=vit_heads,
        patch=patch,
        image_size=math.isqrt(n_tokens) * patch,
    )
    vocab, width = shapes["llm/embedder/input_embedding"]
    if "llm/layers/attn/qkv_einsum/w" in shapes:
        layers, _, heads, _, head_dim = shapes["llm/layers/attn/qkv_einsum/w"]
        kv_heads = heads
    else:
        layers, heads, _, head_dim = shapes["llm/layers/attn/q_einsum/w"]
        kv_heads = shapes["llm/layers/attn/kv_einsum/w"][2]
    gemma2 = "llm/layers/post_attention_norm/scale" in shapes
    llm = GemmaConfig(
        width=width,
        depth=layers,
        mlp_dim=shapes["llm/layers/mlp/gating_einsum"][3],
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        vocab_size=vocab,
        post_norms=gemma2,
        attn_softcap=50.0 if gemma2 else 0.0,
        final_softcap=final_softcap,
        # Gemma 2 27B (width 4608) is the one size that scales queries by width/heads.
        query_scaling="width_per_head" if gemma2 and width == 4608 else "head_dim",
    )
    return PaliGemmaConfig(img=img, llm=llm)


def ordered_location_rows(width: int, count: int) -> np.ndarray:
    """Embedding rows for ``count`` location tokens that vary smoothly with the location.

    A pretrained PaliGemma has learnt that ``<loc0500>`` lies between ``<loc0499>`` and
    ``<loc0501>``; random rows know nothing of it, and with tied input/output embeddings a tiny
    model would have to learn each of the 1024 tokens from the few times it is a target. Row
    ``i`` holds ``sin`` and ``cos`` of ``i`` at ``width / 2`` frequencies spaced evenly on a log
    scale, from one half-turn over all locations to a period of 8 locations: near locations get
    near rows, far ones nearly orthogonal ones. Each row is scaled to the random rows' RMS.
    """
    if width < 2:
        raise ValueError(f"location rows need a width of at least 2, not {width}")
    half = width // 2
    turns = np.geomspace(0.5, count / 8, half)  # full turns over the ``count`` locations
    angles = 2 * np.pi * np.arange(count)[:, None] / count * turns[None, :]
    rows = np.zeros((count, width))
    rows[:, :half], rows[:, half : 2 * half] = np.sin(angles), np.cos(angles)
    rms = np.sqrt(np.mean(rows**2, axis=1, keepdims=True))
    return (rows / rms * INIT_STDDEV).astype(np.float32)


def cast(params: dict, dtype) -> dict:
    return jax.tree.map(lambda x: np.asarray(x).astype(dtype), params)
