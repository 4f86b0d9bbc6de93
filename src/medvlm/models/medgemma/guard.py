"""The divergence guard (:mod:`medvlm.models.divergence`) inside TRL's training loop.

transformers computes an update's gradients, clips them, calls ``on_pre_optimizer_step`` and
only then steps the optimizer. :class:`DivergenceStop` checks the update there: the loss of the
update (the sum of its micro-steps' losses, which :class:`GuardedSFTTrainer` hands over, averaged
over the processes) and the norm of its gradients, after clipping where ``max_grad_norm`` is on
(clipping keeps a non-finite norm non-finite). A diverged update is never applied. Before a
step's checkpoint or evaluation (which may keep the adapter) it also checks that the trained
weights are finite (a finite update can still overflow them), and at each evaluation that the
validation loss is. So the checkpoints and the kept adapter are always finite. Every process
checks the same numbers, so all stop together.

The guard's state goes into each checkpoint's trainer state (transformers' ``ExportableState``)
and comes back from it when a run resumes.
"""

from __future__ import annotations

import torch
from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState
from trl import SFTTrainer

from medvlm.models.divergence import DivergenceGuard


class DivergenceStop(TrainerCallback, ExportableState):
    """Raises :class:`~medvlm.models.divergence.Diverged` before a diverged update is applied."""

    def __init__(self, max_spikes: int | None):
        self.max_spikes = max_spikes
        self.guard = DivergenceGuard(max_spikes)
        self.loss: torch.Tensor | None = None  # the current update's loss so far

    def add_loss(self, loss: torch.Tensor) -> None:
        """One micro-step's loss (as the trainer's ``training_step`` returns it)."""
        loss = loss.detach()
        self.loss = loss if self.loss is None else self.loss + loss

    def state(self) -> dict:
        return {
            "args": {"max_spikes": self.max_spikes},
            "attributes": {},
            "guard": self.guard.state(),
        }

    def on_train_begin(self, args, state, control, **kwargs):
        saved = state.stateful_callbacks.get(type(self).__name__)
        if isinstance(saved, dict) and "guard" in saved:  # a resumed run goes on counting
            self.guard = DivergenceGuard(self.max_spikes, **saved["guard"])

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        loss, self.loss = self.loss, None
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(loss)
            loss = loss / torch.distributed.get_world_size()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        norm = torch.nn.utils.get_total_norm(grads) if grads else torch.tensor(0.0)
        self.guard.check(state.global_step + 1, float(loss), float(norm))

    def on_log(self, args, state, control, logs=None, **kwargs):
        if "eval_loss" in (logs or {}):  # before KeepBest's on_evaluate may keep the adapter
            self.guard.check_finite(state.global_step, "validation loss", logs["eval_loss"])

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if control.should_save or control.should_evaluate or control.should_training_stop:
            trained = [p for p in model.parameters() if p.requires_grad]
            finite = all(bool(torch.isfinite(p).all()) for p in trained)
            self.guard.check_weights(state.global_step, finite)


class GuardedSFTTrainer(SFTTrainer):
    """TRL's ``SFTTrainer`` that hands each micro-step's loss to ``divergence``."""

    def __init__(self, *args, divergence: DivergenceStop, **kwargs):
        super().__init__(*args, **kwargs)
        self.divergence = divergence

    def training_step(self, *args, **kwargs):
        loss = super().training_step(*args, **kwargs)
        self.divergence.add_loss(loss)
        return loss
