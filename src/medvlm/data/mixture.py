"""Data mixtures: the order of training examples when ``train.mixture`` draws them by group.

A record's group is its data set, its task type, or both (``<data set>/<task type>``). Group
``g`` with ``n_g`` training records and weight ``w_g`` (1 unless ``train.mixture.weights`` names
it) is drawn with probability

    p(g) = w_g * n_g ** (1 / T) / sum_h w_h * n_h ** (1 / T)

and a record uniformly within its group, so a record of ``g`` is drawn with probability
``p(g) / n_g``. ``T = 1`` without weights is uniform over records (today's sampling, in another
order); ``T -> inf`` is uniform over groups.

The order is endless and a function of the seed alone, so both families read it by position:
draw ``i`` of the training is :meth:`MixtureOrder.positions` ``(i, i + 1)`` whichever process
asks and however often the run was killed and resumed, and every process cuts its own slice out
of the same global order. Draws come in blocks of :data:`BLOCK` whose groups are seeded by
``(seed, block)``; within a group the records come in seeded shuffled passes (pass ``c`` of
group ``g`` seeded by ``(seed, g, c)``), so a small group drawn often cycles through all of
its records rather than repeating a few at random.

With ``train.experts`` too, every batch still holds one expert group: the mixture picks the
group of each batch and the rows within it (:class:`medvlm.models.experts.GroupBatches`).

Without ``train.mixture`` nothing here runs: each family keeps its own per-epoch permutation.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from medvlm.io import write_text
from medvlm.records import TASK_TYPES, Record
from medvlm.settings import MixtureSettings, SettingError

log = logging.getLogger(__name__)

BLOCK = 4096  # draws whose groups one seeded generator picks
# ``train_log.csv``'s companion when a mixture is on: per logged step, the examples drawn so far
# from each group (the column ``step``, then one column per group).
GROUP_LOG = "examples_per_group.csv"
# Stream tags, so the mixture's generators never coincide with the loader's (seed, epoch) ones.
_GROUP_STREAM, _RECORD_STREAM = 0x6D6978, 0x726563


def group_of(record: Record, by: str) -> str:
    """The group ``record`` belongs to under ``train.mixture.by``."""
    if by == "dataset":
        return record.dataset
    if by == "task_type":
        return record.task
    if by == "dataset_task":
        return f"{record.dataset}/{record.task}"
    raise ValueError(f"unknown mixture grouping {by!r}")


def group_probabilities(
    sizes: dict[str, int], temperature: float, weights: dict[str, float]
) -> dict[str, float]:
    """``p(g) ∝ weights[g] * sizes[g] ** (1 / temperature)`` (weight 1 where not given)."""
    raw = {g: weights.get(g, 1.0) * n ** (1.0 / temperature) for g, n in sizes.items()}
    total = sum(raw.values())
    if total <= 0:
        raise ValueError("every group has weight 0")
    return {g: value / total for g, value in raw.items()}


class MixtureOrder:
    """The endless seeded order of record positions (indices into the records it was built from)
    under group probabilities ``probabilities``."""

    def __init__(self, groups: Sequence[str], probabilities: dict[str, float], seed: int):
        self.names = sorted(probabilities)
        index = {name: i for i, name in enumerate(self.names)}
        of_record = np.array([index[g] for g in groups], dtype=np.int64)
        self.members = [np.flatnonzero(of_record == i) for i in range(len(self.names))]
        cdf = np.cumsum([probabilities[name] for name in self.names])
        self._cdf = cdf / cdf[-1]
        self.probabilities = {name: probabilities[name] for name in self.names}
        self.seed = seed
        self._before = [np.zeros(len(self.names), dtype=np.int64)]  # group counts before block b
        self._passes: dict[tuple[int, int], np.ndarray] = {}
        self._last: tuple[int, np.ndarray] | None = None

    def _block(self, block: int) -> np.ndarray:
        """The group index of each draw of ``block`` (the last block asked for is kept)."""
        if self._last is None or self._last[0] != block:
            draws = np.random.default_rng([self.seed, _GROUP_STREAM, block]).random(BLOCK)
            self._last = (block, np.searchsorted(self._cdf, draws, side="right"))
        return self._last[1]

    def _counts_before(self, block: int) -> np.ndarray:
        while len(self._before) <= block:
            counts = np.bincount(self._block(len(self._before) - 1), minlength=len(self.names))
            self._before.append(self._before[-1] + counts)
        return self._before[block]

    def _pass(self, group: int, number: int) -> np.ndarray:
        """Pass ``number`` through group ``group``'s records: a seeded permutation of them."""
        key = (group, number)
        if key not in self._passes:
            if len(self._passes) > 4 * len(self.names):
                self._passes.clear()
            rng = np.random.default_rng([self.seed, _RECORD_STREAM, group, number])
            self._passes[key] = self.members[group][rng.permutation(len(self.members[group]))]
        return self._passes[key]

    def positions(self, start: int, stop: int) -> np.ndarray:
        """The record positions of draws ``start`` to ``stop`` (exclusive) of the order."""
        if not 0 <= start <= stop:
            raise ValueError(f"draws {start}..{stop} are not a range of the order")
        out = np.empty(stop - start, dtype=np.int64)
        for block in range(start // BLOCK, -(-stop // BLOCK)):
            first = block * BLOCK
            lo, hi = max(start, first) - first, min(stop, first + BLOCK) - first
            groups = self._block(block)
            before = self._counts_before(block)
            for g in np.unique(groups[lo:hi]):
                in_block = np.flatnonzero(groups == g)
                wanted = in_block[(in_block >= lo) & (in_block < hi)]
                # occurrence number of each wanted draw among all draws of group g
                occurrence = before[g] + np.searchsorted(in_block, wanted)
                size = len(self.members[g])
                for number in np.unique(occurrence // size):
                    here = occurrence // size == number
                    out[wanted[here] + first - start] = self._pass(g, number)[
                        occurrence[here] % size
                    ]
        return out

    def counts(self, stop: int) -> dict[str, int]:
        """Examples drawn from each group among the first ``stop`` draws."""
        block, within = divmod(stop, BLOCK)
        counts = self._counts_before(block).copy()
        if within:
            counts += np.bincount(self._block(block)[:within], minlength=len(self.names))
        return {name: int(count) for name, count in zip(self.names, counts, strict=True)}

    def write_log(self, path: str | os.PathLike, steps: Iterable[int], per_step: int) -> None:
        """:data:`GROUP_LOG`: for each of ``steps``, the examples drawn so far per group, with
        ``per_step`` draws an update (written atomically)."""
        write_group_log(path, self.names, steps, lambda step: self.counts(step * per_step))


def write_group_log(
    path: str | os.PathLike,
    names: Sequence[str],
    steps: Iterable[int],
    counts: Callable[[int], dict[str, int]],
) -> None:
    """:data:`GROUP_LOG` (written atomically): for each of ``steps``, ``counts(step)`` (the
    examples drawn so far per group) in the columns ``names``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["step", *names])
    for step in steps:
        drawn = counts(step)
        writer.writerow([step, *(drawn[name] for name in names)])
    write_text(path, out.getvalue())


def mixture_order(
    records: Sequence[Record], mixture: MixtureSettings, seed: int, where: str
) -> MixtureOrder:
    """The order of ``records`` (a training split) under ``mixture`` (see
    :func:`mixture_groups`)."""
    return MixtureOrder(*mixture_groups(records, mixture, where), seed)


def mixture_groups(
    records: Sequence[Record], mixture: MixtureSettings, where: str
) -> tuple[list[str], dict[str, float]]:
    """Each of ``records``' (a training split's) group under ``mixture``, and the groups'
    probabilities (logged). A weight for a group with no record in the split raises
    :class:`SettingError` naming ``<where>.weights.<group>``."""
    groups = [group_of(record, mixture.by) for record in records]
    sizes: dict[str, int] = {}
    for group in groups:
        sizes[group] = sizes.get(group, 0) + 1
    _check_weights(mixture, sizes, where, "the training split")
    try:
        probabilities = group_probabilities(sizes, mixture.temperature, mixture.weights)
    except ValueError as error:
        raise SettingError(f"{where}.weights", str(error)) from None
    log.info(
        "training mixture by %s at temperature %g: %s",
        mixture.by,
        mixture.temperature,
        ", ".join(f"{g} {sizes[g]} records p={probabilities[g]:.4f}" for g in sorted(sizes)),
    )
    return groups, probabilities


def planned_groups(data: dict, by: str) -> set[str] | None:
    """The groups the training split can have under ``data`` (the config's ``data:`` block), as
    far as the plan can tell before the split exists: task types (and data sets) of the
    synthetic tree or of a real tree's ``training/`` folders, narrowed by the data filters;
    None where the data sets cannot be known yet (a real tree not there, no ``data.datasets``)."""
    tasks = set(data.get("task_types") or TASK_TYPES)
    pairs = _planned_pairs(data)
    if pairs is None:
        if by == "task_type":
            return tasks
        if by == "dataset" and data.get("datasets"):
            return set(data["datasets"])
        return None
    pairs = {(dataset, task) for dataset, task in pairs if task in tasks}
    if by == "dataset":
        return {dataset for dataset, _ in pairs}
    if by == "task_type":
        return {task for _, task in pairs}
    return {f"{dataset}/{task}" for dataset, task in pairs}


def planned_task_types(data: dict) -> tuple[set[str], bool]:
    """The task types the training split can have (:func:`planned_groups`), and whether the
    configured data tells them: only the synthetic tree's specs name each data set's task types;
    a real tree's questions are not read at plan time, so there every task type (narrowed by
    ``data.task_types``) is assumed."""
    return planned_groups(data, "task_type"), "synthetic" in data


def _planned_pairs(data: dict) -> set[tuple[str, str]] | None:
    """(data set, task type) pairs the merge can find; None where unknown. Task types of a real
    tree are not read here (the plan opens no questions file), so its pairs have every type."""
    datasets, categories = set(data.get("datasets") or ()), set(data.get("categories") or ())

    def kept(dataset: str, category: str) -> bool:
        return (not datasets or dataset in datasets) and (not categories or category in categories)

    if "synthetic" in data:
        from medvlm.data.synthetic.specs import DATASETS

        return {
            (spec.name, task)
            for spec in DATASETS
            if kept(spec.name, spec.category)
            for task in spec.task_types
        }
    training = Path(data["root"]) / "training"
    if "training" not in data.get("split_folders", ["training"]) or not training.is_dir():
        return None
    return {
        (dataset_dir.name, task)
        for category_dir in training.iterdir()
        if category_dir.is_dir()
        for dataset_dir in category_dir.iterdir()
        if dataset_dir.is_dir() and kept(dataset_dir.name, category_dir.name)
        for task in TASK_TYPES
    }


def check_planned_weights(mixture: MixtureSettings, data: dict) -> None:
    """At plan time: every weighted group must be one the training split can have
    (:func:`planned_groups`); raises :class:`SettingError` naming
    ``train.mixture.weights.<group>`` (relative to the run)."""
    known = planned_groups(data, mixture.by)
    if known is not None:
        _check_weights(mixture, known, "train.mixture", "the configured data (tree and filters)")


def _check_weights(mixture: MixtureSettings, groups, where: str, source: str) -> None:
    """Every group ``mixture`` weights must be one of ``groups``, the groups ``source`` has;
    else :class:`SettingError` naming ``<where>.weights.<group>``."""
    for group in mixture.weights:
        if group not in groups:
            raise SettingError(
                f"{where}.weights.{group}",
                f"no question of {source} is in this group (by {mixture.by}); {source} has the "
                f"groups: {', '.join(sorted(groups)) or 'none'}",
            )
