"""Live training curves: TensorBoard event files that both families write while they train.

With ``train.report_to: [tensorboard]`` (the default) the main process of a training writes to
``<results>/logs/tensorboard/<run>/`` (the train rule's ``params.curves_dir``): watch it with
``tensorboard --logdir results/logs/tensorboard``. The tags are the ones transformers'
TensorBoard callback gives, so both families' curves sit side by side:

==========================  ==================================================================
``train/loss``              mean training loss since the previous point (``train_log.csv``)
``train/learning_rate``     the schedule's learning rate
``train/grad_norm``         gradient norm before clipping (PaliGemma: mean since the previous
                            point; MedGemma: transformers' value, the last update's)
``train/examples_per_s``    training throughput, validation and saving left out
``eval/loss``               validation loss of the fixed sample
``eval/score``              selection score of the sample's answers (``select: score``)
``eval/score/<task type>``  each task type's part of it (:mod:`medvlm.metrics.selection`)
==========================  ==================================================================

The writer is tensorboardX's (``tensorboardX``: a small package, numpy and protobuf only, no
TensorFlow, kept in step with TensorBoard's event format), in both families: PaliGemma writes
through it directly, MedGemma hands it to transformers' own ``TensorBoardCallback``. A resumed
training redoes the updates after its last saved state: its writer marks a restart at that step
(``purge_step``), so TensorBoard hides what the killed run wrote past it and each step has one
point. A training that starts afresh removes the event files of the training before it.

The folder is neither an output nor a log of the rule: it never makes a job rerun, survives a
failed or killed job (like the resume state) and is appended to when the job runs again.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from medvlm.metrics.selection import Selection

TENSORBOARD = "tensorboard"
EVENT_FILES = "events.out.tfevents.*"

TRAIN_LOSS = "train/loss"
LEARNING_RATE = "train/learning_rate"
GRAD_NORM = "train/grad_norm"
EXAMPLES_PER_S = "train/examples_per_s"
EVAL_LOSS = "eval/loss"
EVAL_SCORE = "eval/score"


def score_curves(selection: Selection) -> dict[str, float]:
    """The ``eval/score`` points of one evaluation: the score and each task type's part."""
    points = {f"{EVAL_SCORE}/{task}": value for task, value in selection.parts.items()}
    if selection.score is not None:
        points[EVAL_SCORE] = selection.score
    return points


def open_writer(log_dir: Path, start_step: int):
    """A tensorboardX ``SummaryWriter`` for a training that goes on after update
    ``start_step`` (0: a fresh start, which removes the event files already in ``log_dir``)."""
    from tensorboardX import SummaryWriter

    log_dir = Path(log_dir)
    if start_step == 0 and log_dir.is_dir():
        for old in log_dir.glob(EVENT_FILES):
            old.unlink()
    log_dir.mkdir(parents=True, exist_ok=True)
    # the file is named by the second it opens and its start step, which orders two writers of
    # the same second as TensorBoard reads them (and keeps the second from overwriting the first)
    return SummaryWriter(
        logdir=str(log_dir), purge_step=start_step + 1, filename_suffix=f".{start_step:012d}"
    )


class Curves:
    """The curves of one training (the main process only): :meth:`add` writes points and
    flushes them, so TensorBoard shows them at once."""

    def __init__(self, log_dir: Path, start_step: int):
        self.writer = open_writer(log_dir, start_step)

    def add(self, step: int, points: Mapping[str, float]) -> None:
        for tag, value in points.items():
            self.writer.add_scalar(tag, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
