"""``train.mixture`` for MedGemma: the trainer draws its examples in the mixture's order.

The transformers ``Trainer`` batches whatever sampler :meth:`Trainer._get_train_sampler` gives
(the hook TRL's own trainers override). :class:`MixtureSampler` hands it the first ``updates ×
examples per update`` draws of the one global order (:mod:`medvlm.data.mixture`) as a single
pass, and the run's ``max_steps`` is that many updates. Accelerate gives process ``i`` of ``w``
the global batches ``i, i + w, ...``; ``examples per update`` (``batch_size × grad_accum × w``)
divides the pass, so update ``u`` of every process together reads draws ``u·D`` to ``(u+1)·D``.
A resumed run skips the batches of the updates done (the trainer's own resume) and reads on
from the same pass: the same draws as an uninterrupted run. Without ``train.mixture`` none of
this runs and the trainer keeps its seeded random sampler.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

from transformers import TrainerCallback

from medvlm.data.mixture import GROUP_LOG, MixtureOrder, mixture_order
from medvlm.models.base import SplitData
from medvlm.models.medgemma.settings import MedGemmaRun
from medvlm.models.medgemma.train_log import log_rows

_CHUNK = 1 << 14  # draws computed at a time while the data loader iterates


class MixtureSampler:
    """The first ``draws`` positions of ``order``, as a sampler a data loader iterates."""

    def __init__(self, order: MixtureOrder, draws: int):
        self.order, self.draws = order, draws

    def __len__(self) -> int:
        return self.draws

    def __iter__(self) -> Iterator[int]:
        for start in range(0, self.draws, _CHUNK):
            yield from self.order.positions(start, min(start + _CHUNK, self.draws)).tolist()


class GroupLog(TrainerCallback):
    """Rewrites :data:`~medvlm.data.mixture.GROUP_LOG` beside ``train_log.csv`` at each log:
    the examples drawn per group up to each logged step."""

    def __init__(self, path: Path, order, per_update: int):
        """``order``: a :class:`MixtureOrder` (``per_update`` draws an update) or an expert
        run's :class:`~medvlm.models.experts.GroupBatches` (``per_update`` batches)."""
        self.path, self.order, self.per_update = path, order, per_update

    def on_log(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            steps = [row["step"] for row in log_rows(state.log_history)]
            self.order.write_log(self.path, steps, self.per_update)


class TrainingMixture:
    """A run's mixture: how many updates it trains and the sampler and log that go with them."""

    def __init__(self, order: MixtureOrder, updates: int, per_update: int):
        self.order, self.updates, self.per_update = order, updates, per_update

    @classmethod
    def for_run(cls, cfg: MedGemmaRun, data: SplitData, out_dir: Path) -> TrainingMixture | None:
        """None without ``train.mixture``. ``train.steps`` updates, or (null) as many as
        ``epochs × training questions`` draws take; errors name ``runs.<run>.train.mixture``
        (the run's output folder is named after it)."""
        train = cfg.train
        if train.mixture is None:
            return None
        records = data.loader(1, shuffle=False).records
        where = f"runs.{Path(out_dir).name}.train.mixture"
        order = mixture_order(records, train.mixture, cfg.seed, where)
        per_update = train.batch_size * train.grad_accum * train.nodes * train.processes
        updates = train.steps or max(1, math.ceil(train.epochs * len(records) / per_update))
        return cls(order, updates, per_update)

    def install(self, trainer, out_dir: Path) -> None:
        """Make ``trainer`` draw its training examples in the mixture's order and log them."""
        sampler = MixtureSampler(self.order, self.updates * self.per_update)
        trainer._get_train_sampler = lambda train_dataset=None: sampler
        trainer.add_callback(GroupLog(Path(out_dir) / GROUP_LOG, self.order, self.per_update))
