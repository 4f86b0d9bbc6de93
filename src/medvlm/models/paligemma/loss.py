"""The masked next-token cross-entropy of big_vision's PaliGemma fine-tuning."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def per_example_loss(logits, targets, mask_loss):
    """Mean target log-loss per example: ``logits [B,T,V]`` predict ``targets [B,T]``.

    Each token's loss is weighted by ``mask_loss``, summed per example and divided by
    ``max(sum(mask_loss), 1)``.
    """
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    target_logp = jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
    weights = mask_loss.astype(jnp.float32)
    return -jnp.sum(target_logp * weights, axis=-1) / jnp.clip(jnp.sum(weights, axis=-1), 1)


def text_loss(model, params, batch):
    """Per-example losses of a batch ``{images, image_mask, tokens, mask_ar, mask_loss,
    mask_input}``: the model reads ``tokens[:, :-1]`` and predicts ``tokens[:, 1:]``."""
    tokens = batch["tokens"]
    logits, _ = model.apply(
        {"params": params},
        batch["images"],
        tokens[:, :-1],
        batch["mask_ar"][:, :-1],
        input_mask=batch["mask_input"][:, :-1],
        image_mask=batch.get("image_mask"),
    )
    return per_example_loss(logits, tokens[:, 1:], batch["mask_loss"][:, 1:])
