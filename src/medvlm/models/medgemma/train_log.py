"""``train_log.csv`` (:data:`medvlm.models.base.TRAIN_LOG_COLUMNS`) from the trainer's log history.

The history lives in the trainer state, which every resume checkpoint carries, so a resumed
run's log is whole.
"""

from __future__ import annotations

import time
from pathlib import Path

from transformers import TrainerCallback

from medvlm.models.base import TRAIN_LOG_COLUMNS, write_train_log

THROUGHPUT_KEY = "examples_per_s"
SCORE_KEY = "eval_score"  # the selection score KeepBest adds to an evaluation's entry


def log_rows(log_history: list[dict]) -> list[dict]:
    """One row per step that logged a training loss or a validation loss, in step order."""
    rows: dict[int, dict] = {}
    for entry in log_history:
        step = entry.get("step")
        if step is None or not ("loss" in entry or "eval_loss" in entry):
            continue
        row = rows.setdefault(step, dict.fromkeys(TRAIN_LOG_COLUMNS, ""))
        row["step"] = step
        if "loss" in entry:
            row["loss"] = entry["loss"]
            row["lr"] = entry.get("learning_rate", "")
            row["examples_per_s"] = entry.get(THROUGHPUT_KEY, "")
        if "eval_loss" in entry:
            row["val_loss"] = entry["eval_loss"]
            score = entry.get(SCORE_KEY)
            row["val_score"] = "" if score is None else score
    return [rows[step] for step in sorted(rows)]


def write_history(path: Path, log_history: list[dict]) -> None:
    write_train_log(path, log_rows(log_history))


class TrainLog(TrainerCallback):
    """Adds examples/s to each training-loss entry (and its logs, for the curves) and rewrites
    ``train_log.csv`` at each log.

    Throughput counts the wall time from one optimiser update to the next (data loading
    included), leaving out the time spent validating and saving.
    """

    def __init__(self, path: Path, examples_per_update: int):
        self.path = path
        self.examples_per_update = examples_per_update
        self._clock = None
        self._seconds = 0.0
        self._updates = 0

    def _restart_clock(self, *_, **__):
        self._clock = time.perf_counter()

    on_train_begin = _restart_clock
    on_evaluate = _restart_clock
    on_save = _restart_clock

    def on_step_end(self, args, state, control, **kwargs):
        now = time.perf_counter()
        self._seconds += now - self._clock
        self._updates += 1
        self._clock = now

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs and self._seconds > 0:
            rate = self._updates * self.examples_per_update / self._seconds
            state.log_history[-1][THROUGHPUT_KEY] = rate
            logs[THROUGHPUT_KEY] = rate  # for the TensorBoard callback after this one
            self._seconds, self._updates = 0.0, 0
        if state.is_world_process_zero:
            write_history(self.path, state.log_history)
        self._clock = time.perf_counter()
