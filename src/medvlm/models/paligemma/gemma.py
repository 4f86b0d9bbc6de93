"""Gemma 1/2 decoder with big_vision's parameter names (``llm/...``) and an optional KV cache.

Axis letters, in einsum strings and shape comments, one meaning each:
B batch; T this call's tokens (the queries); S key/value tokens (the cache's slots with a cache,
else T); D width; N query heads; K key/value heads; G query heads per key/value head (N / K);
H head dim; P projections stored stacked in one weight (q, k, v in ``qkv_einsum``; k, v in
``kv_einsum``); L layers.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from medvlm.models.paligemma.config import GemmaConfig

MASKED_LOGIT = -2.3819763e38  # big_vision's value for masked attention logits
INIT_STDDEV = 0.02  # of every random weight and embedding row
_INIT = nn.initializers.normal(stddev=INIT_STDDEV)


def apply_rope(x, positions, max_wavelength: int = 10_000):
    """Rotary embedding, half-split: ``[x1 cos - x2 sin, x2 cos + x1 sin]``; x is ``[B,T,N,H]``."""
    exponents = 2 * jnp.arange(x.shape[-1] // 2) / x.shape[-1]
    timescale = max_wavelength**exponents
    radians = (positions[..., None] / timescale[None, None, :])[..., None, :]
    sin, cos = jnp.sin(radians), jnp.cos(radians)
    x1, x2 = jnp.split(x, 2, axis=-1)
    return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1).astype(x.dtype)


class Einsum(nn.Module):
    shape: tuple[int, ...]

    @nn.compact
    def __call__(self, equation: str, x):
        return jnp.einsum(equation, x, self.param("w", _INIT, self.shape))


class RMSNorm(nn.Module):
    @nn.compact
    def __call__(self, x):
        scale = self.param("scale", nn.initializers.zeros_init(), (x.shape[-1],))
        normed = x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + 1e-6)
        return normed * (1 + scale)


class Embedder(nn.Module):
    vocab_size: int
    width: int

    def setup(self):
        self.input_embedding = self.param("input_embedding", _INIT, (self.vocab_size, self.width))

    def encode(self, tokens):
        x = self.input_embedding[(tokens,)]
        return (x * jnp.sqrt(self.width).astype(x.dtype)).astype(jnp.float32)

    def decode(self, x):
        return jnp.dot(x, self.input_embedding.T)


class Attention(nn.Module):
    """Grouped-query attention; with a cache, writes this call's keys/values at ``index`` first."""

    config: GemmaConfig

    @nn.compact
    def __call__(self, x, positions, mask, cache, index):
        cfg = self.config
        n, k_heads, d, h = cfg.num_heads, cfg.num_kv_heads, cfg.width, cfg.head_dim
        if cfg.fused_qkv:
            q, k, v = Einsum((3, n, d, h), name="qkv_einsum")("BTD,PNDH->PBTNH", x)
        else:
            q = Einsum((n, d, h), name="q_einsum")("BTD,NDH->BTNH", x)
            k, v = Einsum((2, k_heads, d, h), name="kv_einsum")("BTD,PKDH->PBTKH", x)
        q = apply_rope(q, positions)
        k = apply_rope(k, positions)
        per_head = h if cfg.query_scaling == "head_dim" else d // n
        q = q * per_head**-0.5
        if cache is not None:
            k = jax.lax.dynamic_update_slice_in_dim(cache[0], k.astype(cache[0].dtype), index, 1)
            v = jax.lax.dynamic_update_slice_in_dim(cache[1], v.astype(cache[1].dtype), index, 1)
            cache = (k, v)
        b, t = q.shape[:2]
        q = q.reshape(b, t, k_heads, n // k_heads, h)
        logits = jnp.einsum("BTKGH,BSKH->BKGTS", q, k).astype(jnp.float32)
        if cfg.attn_softcap:
            logits = jnp.tanh(logits / cfg.attn_softcap) * cfg.attn_softcap
        logits = jnp.where(mask[:, None, None, :, :], logits, MASKED_LOGIT)
        probs = jax.nn.softmax(logits, axis=-1).astype(k.dtype)
        encoded = jnp.einsum("BKGTS,BSKH->BTKGH", probs, v).reshape(b, t, n, h)
        out = Einsum((n, h, d), name="attn_vec_einsum")("BTNH,NHD->BTD", encoded)
        return out, cache


class FeedForward(nn.Module):
    """GeGLU: ``gelu_tanh(x W[0]) * (x W[1])`` then ``linear``; big_vision stores no ``/w``."""

    width: int
    mlp_dim: int

    @nn.compact
    def __call__(self, x):
        gating = self.param("gating_einsum", _INIT, (2, self.width, self.mlp_dim))
        hidden = nn.gelu(jnp.dot(x, gating[0])) * jnp.dot(x, gating[1])
        return jnp.dot(hidden, self.param("linear", _INIT, (self.mlp_dim, self.width)))


class Block(nn.Module):
    """One decoder layer; a scan body: ``(x, layer cache) -> (x, new layer cache)``."""

    config: GemmaConfig

    @nn.compact
    def __call__(self, x, cache, positions, mask, index):
        cfg = self.config
        y, cache = Attention(cfg, name="attn")(
            RMSNorm(name="pre_attention_norm")(x), positions, mask, cache, index
        )
        if cfg.post_norms:
            y = RMSNorm(name="post_attention_norm")(y)
        x = x + y
        y = FeedForward(cfg.width, cfg.mlp_dim, name="mlp")(RMSNorm(name="pre_ffw_norm")(x))
        if cfg.post_norms:
            y = RMSNorm(name="post_ffw_norm")(y)
        return x + y, cache


def _scanned(block, depth: int):
    return nn.scan(
        block,
        variable_axes={"params": 0},
        split_rngs={"params": True},
        in_axes=(0, nn.broadcast, nn.broadcast, nn.broadcast),
        length=depth,
    )


class Gemma(nn.Module):
    """``embed`` tokens, run the layers on embeddings (``__call__``), ``logits`` of the output."""

    config: GemmaConfig
    remat: bool = False

    def setup(self):
        cfg = self.config
        self.embedder = Embedder(cfg.vocab_size, cfg.width)
        block = nn.remat(Block, prevent_cse=False) if self.remat else Block
        self.layers = _scanned(block, cfg.depth)(cfg)
        self.final_norm = RMSNorm()

    def embed(self, tokens):
        return self.embedder.encode(tokens)

    def __call__(self, x, positions, mask, cache=None, index=0):
        """``x [B,T,D]``, ``mask [B,T,S]``; cache ``(k, v)`` each ``[L,B,S,K,H]`` or None."""
        x, cache = self.layers(x, cache, positions, mask, index)
        return self.final_norm(x), cache

    def logits(self, x):
        logits = self.embedder.decode(x)
        cap = self.config.final_softcap
        return jnp.tanh(logits / cap) * cap if cap else logits


def make_attn_mask(input_mask, mask_ar):
    """Prefix-LM mask: ``cumsum(ar)[j] <= cumsum(ar)[i]`` and both tokens real; ``[B,T,T]``."""
    cumsum = jnp.cumsum(mask_ar, axis=1)
    causal = cumsum[:, None, :] <= cumsum[:, :, None]
    valid = jnp.logical_and(input_mask[:, None, :], input_mask[:, :, None])
    return jnp.logical_and(causal, valid)
