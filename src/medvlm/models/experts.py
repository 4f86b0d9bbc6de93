"""Per-task LoRA experts (``train.experts``): which adapter answers which question, and the
training order whose batches hold one group each. Both families use it; neither JAX nor torch.

A group is a set of task types (``train.experts: task_type`` makes one group per task type of
the training split; a list names the groups, each named by its task types joined with ``+``).
A question goes to the group of its record's task type (:attr:`medvlm.records.Record.task`),
and is answered with the shared adapter (``train.shared_lora``) plus its group's. The groups of
a trained run are written beside its weights (:data:`EXPERTS_FILE`), so prediction and export
route exactly as the training did.

The order (:class:`GroupBatches`): in epoch ``e`` every group's records come in a seeded
permutation (seeded by ``(seed, e, group)``), cut into batches of ``rows``; a group's last batch
is filled up from the start of its permutation, so a group smaller than a batch still fills
one. The epoch's batches are then shuffled (seeded by ``(seed, e)``).

With ``train.mixture`` too (:mod:`medvlm.data.mixture`: a record of mixture group ``m`` is drawn
with probability ``p(m) / n_m``), a batch still holds one expert group, and the mixture decides
both which and what: batch ``step``'s group is draw ``step`` of an endless seeded order over the
groups (a :class:`~medvlm.data.mixture.MixtureOrder` with one entry per group) in which group
``E`` has the mixture's mass of its records, ``sum over r in E of p(m(r)) / n_m(r)``; its rows
are the next ``rows`` draws of the mixture restricted to ``E``'s records (renormalised: a
``MixtureOrder`` over ``E``'s records alone, read from ``rows × the batches E had before``).
An "epoch" (``per_epoch``, for a run's length in epochs) is then just that many batches.

Either way batch ``step`` is a function of the seed and the step alone, so a resumed run draws
what the killed one would have.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medvlm.data.mixture import MixtureOrder, mixture_groups, write_group_log
from medvlm.io import write_text
from medvlm.records import TASK_TYPES, Record
from medvlm.settings import EXPERTS_BY_TASK, MixtureSettings, SettingError, SharedTrainSettings

EXPERTS_FILE = "experts.json"  # beside a trained expert run's weights
SHARED = "shared"  # the shared adapter's name
_ORDER_STREAM = 0x657870  # so these generators never coincide with the loader's or the mixture's
_MIXED_STREAM = 0x6D6F65  # the seeds of a mixture's orders (:meth:`GroupBatches._mixed_seed`)


@dataclass(frozen=True)
class Experts:
    """A run's expert groups (name → task types, in training order) and whether a shared
    adapter is beside them."""

    groups: dict[str, tuple[str, ...]]
    shared: bool

    @property
    def names(self) -> list[str]:
        return list(self.groups)

    def group_of(self, task: str) -> str:
        """The group that answers a question of task type ``task``."""
        for name, tasks in self.groups.items():
            if task in tasks:
                return name
        raise ValueError(
            f"no expert adapter for task type {task!r}: the run trained experts for "
            f"{', '.join(self.names)}"
        )

    @property
    def common(self) -> list[str]:
        """The adapters every question runs with: the shared one, or none."""
        return [SHARED] if self.shared else []

    @property
    def all_adapters(self) -> list[str]:
        return [*self.common, *self.names]

    def adapters(self, group: str) -> list[str]:
        """The adapters a batch of ``group`` runs with: the shared one (if any), then its own."""
        return [*self.common, group]

    def write(self, folder: str | Path) -> None:
        groups = {name: list(tasks) for name, tasks in self.groups.items()}
        text = json.dumps({"groups": groups, "shared": self.shared}, indent=1)
        write_text(Path(folder) / EXPERTS_FILE, text + "\n")

    @classmethod
    def read(cls, folder: str | Path) -> Experts | None:
        """The experts of the run whose outputs are in ``folder``; None for a run without."""
        path = Path(folder) / EXPERTS_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            groups = {str(name): tuple(map(str, tasks)) for name, tasks in data["groups"].items()}
            return cls(groups, bool(data["shared"]))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"{path}: not an experts file ({error!r})") from None


def group_name(tasks: Sequence[str]) -> str:
    return "+".join(tasks)


def experts_for(
    settings: SharedTrainSettings, tasks_present: set[str], where: str, source: str
) -> Experts | None:
    """The experts of a run whose training data has the task types ``tasks_present`` (described
    as ``source`` in errors); None without ``train.experts``. A named task type with no question
    there, or a task type there in no group, raises :class:`SettingError` naming
    ``<where>.experts...``."""
    if settings.experts is None:
        return None
    if settings.experts == EXPERTS_BY_TASK:
        groups = {task: (task,) for task in TASK_TYPES if task in tasks_present}
    else:
        groups = {}
        for i, group in enumerate(settings.experts):
            for j, task in enumerate(group):
                if task not in tasks_present:
                    raise SettingError(
                        f"{where}.experts[{i}][{j}]",
                        f"no question of {source} has task type {task!r}; it has: "
                        f"{', '.join(sorted(tasks_present)) or 'none'}",
                    )
            groups[group_name(group)] = tuple(group)
        covered = {task for tasks in groups.values() for task in tasks}
        left = sorted(tasks_present - covered)
        if left:
            raise SettingError(
                f"{where}.experts",
                f"{source} has task types in no group: {', '.join(left)}; add them to a group",
            )
    if not groups:
        raise SettingError(f"{where}.experts", f"{source} has no questions")
    return Experts(groups, settings.shared_lora)


def split_experts(settings: SharedTrainSettings, records: Sequence[Record], run: str):
    """:func:`experts_for` the training split ``records`` of run ``run``."""
    tasks = {record.task for record in records}
    return experts_for(settings, tasks, f"runs.{run}.train", "the training split")


def check_planned_experts(settings: SharedTrainSettings, data: dict) -> None:
    """At plan time: the groups against the task types the configured data can have
    (:func:`medvlm.data.mixture.planned_groups`); errors name ``train.experts...``."""
    from medvlm.data.mixture import planned_groups

    tasks = planned_groups(data, "task_type")
    if settings.experts is not None and tasks is not None:
        experts_for(settings, tasks, "train", "the configured data (tree and filters)")


def planned_experts(
    settings: SharedTrainSettings, data: dict | None
) -> tuple[Experts | None, str | None]:
    """A run's experts as the memory plan sees them, and the plan's words for its adapters
    (``"8 LoRA adapters (shared + 7 experts)"``); ``(None, None)`` without ``train.experts``.
    The groups come from the task types the configured data ``data`` can have
    (:func:`medvlm.data.mixture.planned_task_types`); where the data does not tell them (a real
    tree, or no ``data``), ``train.experts: task_type`` has one group per task type
    (:data:`TASK_TYPES`, narrowed by ``data.task_types``), and the words say so."""
    from medvlm.data.mixture import planned_task_types

    if settings.experts is None:
        return None, None
    if data is None:
        tasks, known = set(TASK_TYPES), False
    else:
        tasks, known = planned_task_types(data)
    experts = experts_for(settings, tasks, "train", "the configured data (tree and filters)")
    adapters, groups = len(experts.all_adapters), len(experts.names)
    words = (
        f"{adapters} LoRA adapter{'s' * (adapters != 1)} ({'shared + ' * experts.shared}"
        f"{groups} expert{'s' * (groups != 1)})"
    )
    if settings.experts == EXPERTS_BY_TASK and not known:
        words += ", one expert per task type: the plan cannot read the data's task types"
    return experts, words


class GroupBatches:
    """The training batches of an expert run: ``batch(step)`` is ``(group, positions)``, the
    positions (into ``records``) of ``rows`` questions of one group; with ``mixture``, drawn by
    it (see the module docstring; errors name ``<where>.weights...``)."""

    def __init__(
        self,
        records: Sequence[Record],
        experts: Experts,
        rows: int,
        seed: int,
        mixture: MixtureSettings | None = None,
        where: str = "train.mixture",
    ):
        self.experts, self.rows, self.seed = experts, rows, seed
        of_record = [experts.group_of(record.task) for record in records]
        self.members = {
            name: np.array([i for i, g in enumerate(of_record) if g == name], dtype=np.int64)
            for name in experts.names
        }
        self.members = {name: m for name, m in self.members.items() if len(m)}
        self.per_epoch = sum(math.ceil(len(m) / rows) for m in self.members.values())
        self._epoch: tuple[int, list[tuple[str, np.ndarray]]] | None = None
        self.mixture_names: list[str] = []  # the mixture's groups (none without one)
        if mixture is not None:
            self._mix(records, mixture, where)

    def _mixed_seed(self, *tag: int) -> int:
        return int(np.random.SeedSequence([self.seed, _MIXED_STREAM, *tag]).generate_state(1)[0])

    def _mix(self, records: Sequence[Record], mixture: MixtureSettings, where: str) -> None:
        groups, probabilities = mixture_groups(records, mixture, where)
        of_record, sizes = np.array(groups), Counter(groups)
        self.mixture_names = sorted(probabilities)
        self.masses: dict[str, float] = {}  # each expert group's share of the batches
        self.within: dict[str, MixtureOrder] = {}  # the mixture within each group
        for g, (name, members) in enumerate(self.members.items()):
            mine = of_record[members]
            share = {m: probabilities[m] * n / sizes[m] for m, n in Counter(mine).items()}
            self.masses[name] = sum(share.values())
            if self.masses[name] > 0:
                renormalised = {m: value / self.masses[name] for m, value in share.items()}
                self.within[name] = MixtureOrder(mine, renormalised, self._mixed_seed(g))
        self.picks = list(self.masses)
        self.pick = MixtureOrder(self.picks, self.masses, self._mixed_seed())

    def _batches(self, epoch: int) -> list[tuple[str, np.ndarray]]:
        if self._epoch is None or self._epoch[0] != epoch:
            batches = []
            for g, (name, members) in enumerate(self.members.items()):
                rng = np.random.default_rng([self.seed, _ORDER_STREAM, epoch, g])
                permuted = members[rng.permutation(len(members))]
                count = math.ceil(len(members) / self.rows)
                filled = np.resize(permuted, count * self.rows)  # repeats from the start
                rows = self.rows
                batches += [(name, filled[b * rows : (b + 1) * rows]) for b in range(count)]
            order = np.random.default_rng([self.seed, _ORDER_STREAM, epoch]).permutation(
                len(batches)
            )
            self._epoch = (epoch, [batches[i] for i in order])
        return self._epoch[1]

    def batch(self, step: int) -> tuple[str, np.ndarray]:
        if self.mixture_names:
            name = self.picks[int(self.pick.positions(step, step + 1)[0])]
            before = self.pick.counts(step)[name] * self.rows
            return name, self.members[name][self.within[name].positions(before, before + self.rows)]
        epoch, index = divmod(step, self.per_epoch)
        return self._batches(epoch)[index]

    def counts(self, batches: int) -> dict[str, int]:
        """With a mixture, the examples drawn from each of its groups by the first ``batches``
        batches."""
        drawn = dict.fromkeys(self.mixture_names, 0)
        for name, count in self.pick.counts(batches).items():
            if count:
                for group, n in self.within[name].counts(count * self.rows).items():
                    drawn[group] += n
        return drawn

    def write_log(self, path: str | Path, steps: Iterable[int], per_step: int) -> None:
        """With a mixture, :data:`~medvlm.data.mixture.GROUP_LOG`: the examples drawn so far per
        mixture group at each of ``steps``, ``per_step`` batches an update."""
        write_group_log(path, self.mixture_names, steps, lambda s: self.counts(s * per_step))
