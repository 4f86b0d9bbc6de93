"""SigLIP vision transformer with big_vision's parameter names (``img/...``)."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from medvlm.models.paligemma.config import ViTConfig

_DENSE = dict(
    kernel_init=nn.initializers.xavier_uniform(),
    bias_init=nn.initializers.normal(stddev=1e-6),
)


class MlpBlock(nn.Module):
    mlp_dim: int

    @nn.compact
    def __call__(self, x):
        width = x.shape[-1]
        x = nn.gelu(nn.Dense(self.mlp_dim, **_DENSE)(x))  # tanh approximation, as big_vision
        return nn.Dense(width, **_DENSE)(x)


class Encoder1DBlock(nn.Module):
    """Pre-LayerNorm block; a scan body, so it takes and returns ``(carry, per-layer output)``."""

    mlp_dim: int
    num_heads: int

    @nn.compact
    def __call__(self, x, _):
        y = nn.LayerNorm()(x)
        y = nn.MultiHeadDotProductAttention(
            num_heads=self.num_heads, kernel_init=nn.initializers.xavier_uniform()
        )(y, y)
        x = x + y
        y = nn.LayerNorm()(x)
        x = x + MlpBlock(self.mlp_dim)(y)
        return x, None


class Encoder(nn.Module):
    depth: int
    mlp_dim: int
    num_heads: int
    remat: bool = False

    @nn.compact
    def __call__(self, x):
        block = nn.remat(Encoder1DBlock) if self.remat else Encoder1DBlock
        x, _ = nn.scan(
            block,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            in_axes=nn.broadcast,
            length=self.depth,
        )(self.mlp_dim, self.num_heads, name="encoderblock")(x, None)
        return nn.LayerNorm(name="encoder_norm")(x)


class ViT(nn.Module):
    """Images ``[N, S, S, 3]`` in [-1, 1] → tokens ``[N, (S/patch)², out_width]``."""

    config: ViTConfig
    out_width: int
    remat: bool = False

    @nn.compact
    def __call__(self, image):
        cfg = self.config
        x = nn.Conv(
            cfg.width, (cfg.patch, cfg.patch), strides=cfg.patch, padding="VALID", name="embedding"
        )(jnp.asarray(image, jnp.float32))
        n, h, w, c = x.shape
        x = jnp.reshape(x, (n, h * w, c))
        pos = self.param(
            "pos_embedding",
            nn.initializers.normal(stddev=1 / np.sqrt(cfg.width)),
            (1, h * w, cfg.width),
        )
        x = x + pos
        x = Encoder(cfg.depth, cfg.mlp_dim, cfg.num_heads, self.remat, name="Transformer")(x)
        # Zero-initialised like big_vision: a fresh model's image tokens are all zero.
        return nn.Dense(self.out_width, kernel_init=nn.initializers.zeros, name="head")(x)
