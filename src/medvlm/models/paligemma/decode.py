"""Batched greedy decoding: prefill the prompts into a KV cache, then one token per step.

An ``allowed`` hook sees, before each step, the tokens generated so far and the mask of tokens
allowed next; it returns the mask to use. Constrained decoding plugs in there::

    hook(step: int, generated: int32 [B, step], allowed: bool [B, V]) -> bool [B, V]
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from medvlm.models.paligemma.model import PaliGemma
from medvlm.models.paligemma.tokenizer import EOS, PAD

AllowedHook = Callable[[int, np.ndarray, np.ndarray], np.ndarray]


def _pick(logits, allowed):
    if allowed is not None:
        logits = jnp.where(allowed, logits, -jnp.inf)
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)


def _until_eos(tokens: np.ndarray) -> np.ndarray:
    """Tokens after each row's first EOS become PAD."""
    after = np.cumsum(tokens == EOS, axis=1) - (tokens == EOS) > 0
    return np.where(after, PAD, tokens)


class Decoder:
    """Greedy decoding with a KV cache for one model and its parameters."""

    def __init__(self, model: PaliGemma, params: dict):
        self.model, self.params = model, params
        self.vocab_size = model.config.llm.vocab_size
        self._prefill = jax.jit(self._prefill_fn, static_argnames="cache_size")
        self._extend = jax.jit(self._extend_fn, donate_argnames="cache")
        self._forward = jax.jit(self._forward_fn)

    def _prefill_fn(self, params, images, tokens, input_mask, image_mask, allowed, cache_size):
        logits, cache, prompt_mask, position = self.model.apply(
            {"params": params},
            images,
            tokens,
            input_mask,
            image_mask,
            cache_size,
            method=PaliGemma.prefill,
        )
        return _pick(logits, allowed), cache, prompt_mask, position

    def _extend_fn(self, params, token, cache, index, position, key_mask, allowed):
        logits, cache = self.model.apply(
            {"params": params}, token, cache, index, position, key_mask, method=PaliGemma.extend
        )
        return _pick(logits, allowed), cache

    def _forward_fn(self, params, images, tokens, mask_ar, input_mask, image_mask, allowed):
        logits, _ = self.model.apply(
            {"params": params},
            images,
            tokens,
            mask_ar,
            input_mask=input_mask,
            image_mask=image_mask,
        )
        last = jnp.argmax(jnp.where(input_mask, jnp.arange(tokens.shape[1]), -1), axis=1)
        return _pick(logits[jnp.arange(tokens.shape[0]), last], allowed)

    def greedy(
        self,
        images,
        tokens: np.ndarray,
        input_mask: np.ndarray,
        max_new_tokens: int,
        image_mask=None,
        hook: AllowedHook | None = None,
    ) -> np.ndarray:
        """New tokens ``[B, max_new_tokens]`` for left-aligned prompts ``tokens [B, T]``; PAD
        after each row's EOS. Stops early once every row has emitted EOS."""
        batch = tokens.shape[0]
        generated = np.zeros((batch, 0), np.int32)
        allowed = self._allowed(hook, 0, generated)
        n_prompt = self._prompt_tokens(images, tokens)
        token, cache, prompt_mask, position = self._prefill(
            self.params,
            images,
            tokens,
            input_mask,
            image_mask,
            allowed,
            cache_size=n_prompt + max_new_tokens,
        )
        generated = np.asarray(token)[:, None]
        for step in range(1, max_new_tokens):
            if (generated == EOS).any(axis=1).all():
                break
            new_slots = jnp.arange(max_new_tokens) < step
            key_mask = jnp.concatenate(
                [prompt_mask, jnp.broadcast_to(new_slots, (batch, max_new_tokens))], axis=1
            )
            token, cache = self._extend(
                self.params,
                token,
                cache,
                n_prompt + step - 1,
                position + step - 1,
                key_mask,
                self._allowed(hook, step, generated),
            )
            generated = np.concatenate([generated, np.asarray(token)[:, None]], axis=1)
        out = np.full((batch, max_new_tokens), PAD, np.int32)
        out[:, : generated.shape[1]] = _until_eos(generated)
        return out

    def greedy_recompute(
        self, images, tokens, input_mask, max_new_tokens, image_mask=None, hook=None
    ) -> np.ndarray:
        """The reference: one full forward pass over prompt + tokens so far per new token.

        The text is always ``T + max_new_tokens`` long (future slots masked out), so the forward
        pass compiles once.
        """
        batch, length = tokens.shape
        text = np.concatenate([tokens, np.zeros((batch, max_new_tokens), np.int32)], axis=1)
        mask_ar = np.concatenate(
            [np.zeros_like(tokens), np.ones((batch, max_new_tokens), np.int32)], axis=1
        )
        for step in range(max_new_tokens):
            generated = text[:, length : length + step]
            if step and (generated == EOS).any(axis=1).all():
                break
            mask = np.concatenate(
                [
                    input_mask,
                    np.broadcast_to(np.arange(max_new_tokens) < step, text[:, length:].shape),
                ],
                axis=1,
            )
            token = self._forward(
                self.params,
                images,
                text,
                mask_ar,
                mask,
                image_mask,
                self._allowed(hook, step, generated),
            )
            text[:, length + step] = np.asarray(token)
        return _until_eos(text[:, length:])

    def _allowed(self, hook, step, generated):
        if hook is None:
            return None
        allowed = hook(step, generated, np.ones((generated.shape[0], self.vocab_size), bool))
        if allowed.shape != (generated.shape[0], self.vocab_size) or allowed.dtype != bool:
            raise ValueError(f"decode hook returned {allowed.dtype} {allowed.shape}, not a mask")
        return jnp.asarray(allowed)

    def _prompt_tokens(self, images, tokens) -> int:
        cfg = self.model.config.img
        views = images.shape[1] if images.ndim == 5 else 1
        return views * cfg.num_tokens + tokens.shape[1]


def decode_text(tokenizer, rows: np.ndarray) -> list[str]:
    """Text of each row of new tokens, up to its EOS."""
    texts = []
    for row in rows:
        ids = row.tolist()
        texts.append(tokenizer.decode(ids[: ids.index(EOS)] if EOS in ids else ids))
    return texts
