"""Which weights a training run keeps (``train.select``), shared by both families.

- ``score`` (the default): every ``val_every`` updates the run decodes a fixed sample of
  validation questions with the same constrained decoder ``predict`` uses, scores the answers
  with the default profile and keeps the weights with the highest selection score
  (:mod:`medvlm.metrics.selection`); a tie keeps the weights with the lower validation loss.
- ``loss``: keeps the weights with the lowest validation loss. Cross-entropy punishes confident
  near-misses, so it can rise while the answers improve (a box that is off by a few pixels).
- ``final``: keeps the last weights.

``decode.weights: best`` answers with the kept weights; ``final`` with the last ones.

The sample is drawn once from the validation split, seeded by the run's seed: the task types
take turns (each in its own seeded order), so every task type present gets an equal share of
``val_examples`` (or all of its questions, when it has fewer). Every evaluation and a resumed run
decode the same questions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from medvlm.metrics.items import Item
from medvlm.metrics.selection import Selection, selection_score
from medvlm.records import TASK_TYPES, Record
from medvlm.settings import SELECT


def validation_sample(records: Sequence[Record], n: int | None, seed: int) -> list[Record]:
    """``n`` questions (all when None or more than there are), task types taking turns, each in
    a seeded order; returned in split order."""
    if n is None or n >= len(records):
        return list(records)
    rng = np.random.default_rng(seed)
    queues = []
    for task in TASK_TYPES:
        positions = [i for i, record in enumerate(records) if record.task == task]
        if positions:
            queues.append([positions[j] for j in rng.permutation(len(positions))])
    chosen: list[int] = []
    while len(chosen) < n:
        for queue in queues:
            if queue and len(chosen) < n:
                chosen.append(queue.pop(0))
    return [records[i] for i in sorted(chosen)]


def score_answers(records: Sequence[Record], answers: Mapping[str, str]) -> Selection:
    """The selection score of answers (uid -> text, in pixels of the original image) to
    ``records``; a question without an answer counts as an empty one."""
    items = [
        Item(
            uid=record.uid,
            dataset=record.dataset,
            task=record.task,
            question=record.question,
            reference=record.answer,
            prediction=answers.get(record.uid, ""),
            image_key="|".join(record.image_names),
        )
        for record in records
    ]
    return selection_score(items)


@dataclass(frozen=True)
class Candidate:
    """One evaluation of the weights: the step, validation loss and selection score."""

    step: int
    loss: float | None
    score: float | None


def _lower(value: float | None) -> float:
    return math.inf if value is None or math.isnan(value) else value


def _higher(value: float | None) -> float:
    return -math.inf if value is None or math.isnan(value) else value


def is_better(select: str, candidate: Candidate, best: Candidate | None) -> bool:
    """Whether ``select`` keeps ``candidate`` over the weights kept so far (``best``)."""
    if select not in SELECT:
        raise ValueError(f"train.select must be one of {SELECT}, got {select!r}")
    if best is None or select == "final":
        return True
    if select == "loss":
        return _lower(candidate.loss) < _lower(best.loss)
    if _higher(candidate.score) != _higher(best.score):
        return _higher(candidate.score) > _higher(best.score)
    return _lower(candidate.loss) < _lower(best.loss)
