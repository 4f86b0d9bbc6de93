"""PaliGemma: image tokens from the ViT, prepended to the text, through the Gemma decoder.

``model.apply({"params": p}, image, text, mask_ar) -> (text_logits, out)`` as in big_vision;
``prefill`` / ``extend`` are the KV-cache steps the decoder (decode.py) drives.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from medvlm.models.paligemma.config import PaliGemmaConfig
from medvlm.models.paligemma.gemma import Gemma, make_attn_mask
from medvlm.models.paligemma.vit import ViT


def normalise_image(image):
    """uint8 pixels → ``x/127.5 - 1``; float images are taken as already in [-1, 1]."""
    if image.dtype == jnp.uint8:
        return image.astype(jnp.float32) / 127.5 - 1.0
    return image.astype(jnp.float32)


def positions_of(input_mask):
    """Position of each token counting only real tokens before it (``arange`` without padding)."""
    return jnp.maximum(jnp.cumsum(input_mask, axis=1) - 1, 0)


class PaliGemma(nn.Module):
    config: PaliGemmaConfig
    remat: bool = False

    def setup(self):
        self.img = ViT(self.config.img, self.config.llm.width, self.remat)
        self.llm = Gemma(self.config.llm, self.remat)

    def embed_image(self, image):
        """``[B,S,S,3]`` → ``[B,N,D]``; views ``[B,V,S,S,3]`` → ``[B,V·N,D]`` (not scaled)."""
        image = normalise_image(image)
        if image.ndim == 5:
            b, views = image.shape[:2]
            tokens = self.img(image.reshape(b * views, *image.shape[2:]))
            return tokens.reshape(b, views * tokens.shape[1], tokens.shape[2])
        return self.img(image)

    def embed(self, image, text, mask_ar, input_mask=None, image_mask=None):
        """Image tokens (``mask_ar`` 0) then text; returns ``(x, input_mask, mask_ar)``."""
        zimg = self.embed_image(image)
        ztxt = self.llm.embed(text)
        n_img = zimg.shape[1]
        if input_mask is None:
            input_mask = jnp.ones(text.shape, bool)
        if image_mask is None:
            img_mask = jnp.ones((text.shape[0], n_img), bool)
        else:  # [B, V] → one flag per image token
            img_mask = jnp.repeat(image_mask.astype(bool), n_img // image_mask.shape[1], axis=1)
        x = jnp.concatenate([zimg, ztxt.astype(zimg.dtype)], axis=1)
        input_mask = jnp.concatenate([img_mask, input_mask.astype(bool)], axis=1)
        mask_ar = jnp.concatenate([jnp.zeros((text.shape[0], n_img), jnp.int32), mask_ar], axis=1)
        return x, input_mask, mask_ar

    def __call__(self, image, text, mask_ar, input_mask=None, image_mask=None):
        x, input_mask, mask_ar = self.embed(image, text, mask_ar, input_mask, image_mask)
        n_img = x.shape[1] - text.shape[1]
        pre_logits, _ = self.llm(x, positions_of(input_mask), make_attn_mask(input_mask, mask_ar))
        logits = self.llm.logits(pre_logits[:, n_img:])
        return logits, {"img/zimg": x[:, :n_img], "text_tokens": jnp.argmax(logits, axis=-1)}

    def prefill(self, image, text, input_mask, image_mask, cache_size: int):
        """Run the prompt (full attention inside it) into a fresh cache of ``cache_size`` slots.

        Returns the logits after each prompt's last real token, the cache, the prompt's key mask
        ``[B, P]`` and the next position of each example.
        """
        mask_ar = jnp.zeros(text.shape, jnp.int32)
        x, input_mask, _ = self.embed(image, text, mask_ar, input_mask, image_mask)
        b, p, _ = x.shape
        cfg = self.config.llm
        shape = (cfg.depth, b, cache_size, cfg.num_kv_heads, cfg.head_dim)
        cache = (jnp.zeros(shape, jnp.float32), jnp.zeros(shape, jnp.float32))
        keys = jnp.zeros((b, cache_size), bool).at[:, :p].set(input_mask)
        mask = jnp.logical_and(keys[:, None, :], input_mask[:, :, None])
        positions = positions_of(input_mask)
        out, cache = self.llm(x, positions, mask, cache, 0)
        last = jnp.argmax(jnp.where(input_mask, jnp.arange(p), -1), axis=1)
        logits = self.llm.logits(out[jnp.arange(b), last])
        return logits, cache, input_mask, positions[jnp.arange(b), last] + 1

    def extend(self, token, cache, index, position, key_mask):
        """One new token per example at cache slot ``index``; ``key_mask [B, cache_size]``."""
        x = self.llm.embed(token[:, None])
        out, cache = self.llm(x, position[:, None], key_mask[:, None, :], cache, index)
        return self.llm.logits(out[:, 0]), cache
