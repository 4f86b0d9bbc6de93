"""``train.experts`` for MedGemma: PEFT's named adapters, one per group (and ``shared``).

The model is one ``PeftModel`` holding every adapter (``add_adapter`` with the run's
``LoraConfig`` under each name). Every adapter is trainable when the optimizer is made, so it
holds them all; before each batch ``LoraModel.set_adapter`` makes the shared adapter and the
batch's group's active, and marks only those as needing gradients: the others get no gradient,
which AdamW skips, so they stay as they are. A batch's group rides along in the batch
(:data:`EXPERT_KEY`, put there by :class:`ExpertCollator` and taken out before the forward),
so the switch follows the data loader exactly, resumed runs included.

The training order is :class:`medvlm.models.experts.GroupBatches` (batches of one group each,
drawn by ``train.mixture`` where the run has one, whose per-group log it then writes),
handed to the trainer through :meth:`Trainer._get_train_sampler` as the data mixture's is
(:mod:`.mixture`); the run trains ``train.steps`` updates, or (null) ``ceil(epochs × batches an
epoch / grad_accum)``; an update of several micro-batches updates each of their groups'
adapters. Validation batches hold one question each, so each runs with its own
group's adapters. A saved run holds every adapter in PEFT's multi-adapter layout (one folder
per adapter name) and :data:`medvlm.models.experts.EXPERTS_FILE` beside them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

from medvlm.data.mixture import GROUP_LOG
from medvlm.models.base import SplitData
from medvlm.models.experts import Experts, GroupBatches, split_experts
from medvlm.models.medgemma.mixture import GroupLog
from medvlm.models.medgemma.settings import MedGemmaRun

EXPERT_KEY = "expert_group"  # the batch's group, in a batch between the collator and the step


def run_experts(cfg: MedGemmaRun, data: SplitData, run: str) -> Experts | None:
    """The run's experts over its training split; None without ``train.experts``."""
    if cfg.train.experts is None:
        return None
    train = cfg.train
    if train.nodes * train.processes > 1:
        raise ValueError(
            f"runs.{run}.train.experts: MedGemma trains experts in one process for now "
            "(each process's batch would need its own adapters); set nodes and processes to 1"
        )
    return split_experts(train, data.loader(1, shuffle=False).records, run)


def with_adapters(model, config, experts: Experts, seed: int):
    """``model`` as a ``PeftModel`` with one adapter of ``config`` per name (initialised from
    ``seed``), every one of them active and trainable (so the optimizer made next holds them
    all)."""
    from peft import get_peft_model
    from transformers import set_seed

    set_seed(seed)
    first, *others = experts.all_adapters
    peft_model = get_peft_model(model, config, adapter_name=first)
    for name in others:
        peft_model.add_adapter(name, config)
    peft_model.base_model.set_adapter(experts.all_adapters)
    return peft_model


def activate(model, adapters: list[str]) -> None:
    """Make ``adapters`` (and only them) active, and trainable, in a ``PeftModel``."""
    model.base_model.set_adapter(adapters)


def load_experts(base, adapter_dir: Path, experts: Experts):
    """A saved expert run (``adapter_dir``: one folder per adapter) on top of ``base``."""
    from peft import PeftModel

    first, *others = experts.all_adapters
    model = PeftModel.from_pretrained(base, adapter_dir / first, adapter_name=first)
    for name in others:
        model.load_adapter(adapter_dir / name, adapter_name=name)
    return model


class ExpertSampler:
    """The first ``batches`` batches of ``order``, one position at a time (the trainer's data
    loader cuts them back into the same batches of ``batch_size``)."""

    def __init__(self, order: GroupBatches, batches: int):
        self.order, self.batches = order, batches

    def __len__(self) -> int:
        return self.batches * self.order.rows

    def __iter__(self) -> Iterator[int]:
        for step in range(self.batches):
            yield from self.order.batch(step)[1].tolist()


class ExpertCollator:
    """The trainer's collator, with the examples' (one) group put in the batch."""

    def __init__(self, collate):
        self.collate = collate

    def __call__(self, examples: list[dict]):
        groups = {example.pop(EXPERT_KEY) for example in examples}
        if len(groups) != 1:
            raise ValueError(f"a batch of an expert run mixes the groups {sorted(groups)}")
        batch = self.collate(examples)
        batch[EXPERT_KEY] = groups.pop()
        return batch


class ExpertRouting:
    """Switches a training's adapters to each batch's group (see the module docstring); put in
    front of the run's trainer class by :func:`routed_trainer`."""

    experts: Experts

    def _route(self, model, inputs) -> None:
        group = inputs.pop(EXPERT_KEY)
        activate(self.accelerator.unwrap_model(model), self.experts.adapters(group))

    def training_step(self, model, inputs, *args, **kwargs):
        self._route(model, inputs)
        return super().training_step(model, inputs, *args, **kwargs)

    def prediction_step(self, model, inputs, *args, **kwargs):
        self._route(model, inputs)
        return super().prediction_step(model, inputs, *args, **kwargs)

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        # transformers loads every adapter's folder but leaves only one trainable; the
        # optimizer made next (and its resumed state) holds them all
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        activate(self.model, self.experts.all_adapters)


def routed_trainer(trainer_class):
    """``trainer_class`` routing each batch to its group's adapters (:class:`ExpertRouting`)."""
    return type(f"Expert{trainer_class.__name__}", (ExpertRouting, trainer_class), {})


class TrainingExperts:
    """A run's experts in training: the order, how many updates it trains, and how the trainer
    is set up to follow it."""

    def __init__(self, cfg: MedGemmaRun, experts: Experts, records, run: str):
        train = cfg.train
        self.experts, self.grad_accum = experts, train.grad_accum
        where = f"runs.{run}.train.mixture"
        self.order = GroupBatches(
            records, experts, train.batch_size, cfg.seed, train.mixture, where
        )
        epoch_updates = train.epochs * self.order.per_epoch / train.grad_accum
        self.updates = train.steps or max(1, math.ceil(epoch_updates))
        self.batches = self.updates * train.grad_accum

    def install(self, trainer, out_dir: Path) -> None:
        """Make ``trainer`` read the one-group batches and route each to its adapters (and,
        with a mixture, log the examples drawn per mixture group)."""
        sampler = ExpertSampler(self.order, self.batches)
        trainer._get_train_sampler = lambda train_dataset=None: sampler
        trainer.data_collator = ExpertCollator(trainer.data_collator)
        trainer.experts = self.experts
        if self.order.mixture_names:
            log = GroupLog(Path(out_dir) / GROUP_LOG, self.order, self.grad_accum)
            trainer.add_callback(log)
