"""Which parameters train (a regex, or LoRA factors) and the optax optimizer that trains them."""

from __future__ import annotations

import re

import optax

from medvlm.models.experts import Experts
from medvlm.models.paligemma.lora import init_adapters, init_lora
from medvlm.models.paligemma.settings import TrainSettings


def split_trainable(flat: dict, regex: str) -> tuple[dict, dict]:
    """``(trainable, frozen)`` flat dicts: a name is trainable when ``regex`` matches it fully."""
    pattern = re.compile(regex)
    trainable = {name: value for name, value in flat.items() if pattern.fullmatch(name)}
    if not trainable:
        raise ValueError(f"train.trainable: {regex!r} matches no parameter name")
    frozen = {name: value for name, value in flat.items() if name not in trainable}
    return trainable, frozen


def trainable_and_frozen(
    flat: dict, settings: TrainSettings, seed: int = 0, experts: Experts | None = None
) -> tuple[dict, dict]:
    """``(trainable, frozen)``: with LoRA (``lora_rank`` > 0) the trainable dict holds the
    low-rank factors (one adapter's, or with ``experts`` each adapter's under its name) and every
    weight is frozen; otherwise ``split_trainable``."""
    if settings.lora_rank and experts is not None:
        factors = init_adapters(
            flat, settings.lora_targets, settings.lora_rank, seed, experts.all_adapters
        )
        return factors, dict(flat)
    if settings.lora_rank:
        factors = init_lora(flat, settings.lora_targets, settings.lora_rank, seed)
        return factors, dict(flat)
    return split_trainable(flat, settings.trainable_regex)


def schedule(settings: TrainSettings) -> optax.Schedule:
    """Linear warm-up over ``warmup_fraction`` of the steps, then cosine decay to zero."""
    warmup = int(settings.warmup_fraction * settings.steps)
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=settings.learning_rate,
        warmup_steps=warmup,
        decay_steps=settings.steps,
        end_value=0.0,
    )


def optimizer(settings: TrainSettings) -> optax.GradientTransformation:
    lr = schedule(settings)
    if settings.optimizer == "sgd":
        update = optax.sgd(lr, momentum=settings.momentum)
    elif settings.optimizer == "adam":
        update = optax.adam(lr)
    else:
        update = optax.adamw(lr, weight_decay=settings.weight_decay)
    if settings.max_grad_norm:
        return optax.chain(optax.clip_by_global_norm(settings.max_grad_norm), update)
    return update
