"""The sharded, jitted training computation of a run, built from parameter shapes alone.

Nothing here reads a weight's value: shardings, the optimizer and the jitted update depend only on
the shapes and dtypes of the trained and frozen weights. So the same :class:`TrainStep` trains
(:class:`medvlm.models.paligemma.train.Trainer` adds the weights) and is compiled ahead of time on
``jax.ShapeDtypeStruct`` inputs to plan memory (:mod:`medvlm.models.paligemma.memory`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from medvlm.models.experts import Experts
from medvlm.models.paligemma.lora import merge, merge_adapters
from medvlm.models.paligemma.loss import text_loss
from medvlm.models.paligemma.model import PaliGemma
from medvlm.models.paligemma.optim import optimizer, schedule
from medvlm.models.paligemma.params import unflatten
from medvlm.models.paligemma.settings import TrainSettings
from medvlm.models.paligemma.sharding import fsdp_shardings


def shapes_of(tree):
    """``tree`` with every array leaf replaced by its ``jax.ShapeDtypeStruct``."""
    return jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype), tree)


def all_finite(tree) -> jax.Array:
    """Whether every floating-point value in ``tree`` is finite."""
    leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.array([jnp.all(jnp.isfinite(x)) for x in leaves]))


def _owned_by(path, adapters: tuple[str, ...], own: tuple[str, ...]) -> bool:
    """Whether the leaf at ``path`` (of the factors or of the optimizer state) belongs to one of
    the ``own`` adapters or to no adapter at all (a step count)."""
    for entry in path:
        key = getattr(entry, "key", None)
        if isinstance(key, str) and key.startswith(adapters):
            return key.startswith(own)
    return True


class TrainStep:
    """Shardings and jitted functions for flat ``trainable`` and ``frozen`` weight dicts (arrays
    or shapes): ``update(trainable, opt_state, frozen, batch) -> (trainable, opt_state, loss,
    grad_norm)`` (trainable and optimizer state donated; ``grad_norm`` is the global gradient
    norm before clipping, the one ``max_grad_norm`` clips by), ``loss_sums(trainable, frozen,
    batch)`` (the weighted sum of the examples' losses and the sum of their weights),
    ``init_opt(trainable)``, ``all_finite(tree)``; ``lr`` is the schedule. Losses and norms come
    back replicated, so every process can read them.

    With ``experts`` (:mod:`medvlm.models.experts`) ``update`` and ``loss_sums`` take the
    batch's ``group`` (static: one compilation per group): the model runs with the common
    adapters and the group's, and an update changes those adapters' factors and optimizer
    state only (the step count, so the schedule, is shared)."""

    def __init__(
        self,
        model: PaliGemma,
        settings: TrainSettings,
        mesh: Mesh,
        trainable: dict,
        frozen: dict,
        experts: Experts | None = None,
    ):
        self.model, self.settings, self.mesh = model, settings, mesh
        self.experts = experts
        if settings.batch_size % mesh.devices.size:
            raise ValueError(
                f"train.batch_size {settings.batch_size} is not a multiple of the "
                f"{mesh.devices.size} devices"
            )
        min_bytes = settings.fsdp_min_mib * 2**20
        self.param_shardings = fsdp_shardings(trainable, mesh, min_bytes)
        self.frozen_shardings = fsdp_shardings(frozen, mesh, min_bytes)
        self.tx = optimizer(settings)
        self.lr = schedule(settings)
        self.opt_shapes = jax.eval_shape(self.tx.init, shapes_of(trainable))
        self.opt_shardings = fsdp_shardings(self.opt_shapes, mesh, min_bytes)
        self.init_opt = jax.jit(self.tx.init, out_shardings=self.opt_shardings)
        self.update = jax.jit(
            self._update,
            out_shardings=(self.param_shardings, self.opt_shardings, None, None),
            donate_argnums=(0, 1),
            static_argnames="group",
        )
        self.loss_sums = jax.jit(self._loss_sums, static_argnames="group")
        self.all_finite = jax.jit(all_finite)

    def weights(self, trainable, frozen, group: str | None = None) -> dict:
        """The flat weights the model runs with: frozen + trained, or frozen + LoRA merged
        (with experts: the common adapters, and ``group``'s where given)."""
        if self.experts is not None:
            adapters = self.experts.common if group is None else self.experts.adapters(group)
            alpha, rank = self.settings.lora_alpha, self.settings.lora_rank
            return merge_adapters(frozen, trainable, adapters, alpha, rank)
        if self.settings.lora_rank:
            return merge(frozen, trainable, self.settings.lora_alpha, self.settings.lora_rank)
        return {**frozen, **trainable}

    def _example_losses(self, trainable, frozen, batch, group=None):
        return text_loss(self.model, unflatten(self.weights(trainable, frozen, group)), batch)

    def _loss_sums(self, trainable, frozen, batch, group=None):
        losses = self._example_losses(trainable, frozen, batch, group)
        return jnp.sum(losses * batch["weights"]), jnp.sum(batch["weights"])

    def _update(self, trainable, opt_state, frozen, batch, group=None):
        def mean_loss(trainable):
            losses = self._example_losses(trainable, frozen, batch, group)
            weights = batch["weights"]
            return jnp.sum(losses * weights) / jnp.maximum(jnp.sum(weights), 1.0)

        loss, grads = jax.value_and_grad(mean_loss)(trainable)
        grad_norm = optax.tree.norm(grads)  # what clip_by_global_norm computes: shared, no cost
        updates, new_state = self.tx.update(grads, opt_state, trainable)
        new = optax.apply_updates(trainable, updates)
        if group is not None:  # the other groups' adapters stay as they were
            adapters = tuple(f"{a}/" for a in self.experts.all_adapters)
            own = tuple(f"{a}/" for a in self.experts.adapters(group))

            def keep(path, updated, old):
                return updated if _owned_by(path, adapters, own) else old

            new = jax.tree_util.tree_map_with_path(keep, new, trainable)
            new_state = jax.tree_util.tree_map_with_path(keep, new_state, opt_state)
        return new, new_state, loss, grad_norm
