"""MedGemma's live curves: transformers' own ``TensorBoardCallback`` writing to the run's
curves folder (:mod:`medvlm.models.curves`).

transformers 5 takes the folder from the ``TENSORBOARD_LOGGING_DIR`` environment variable (there
is no ``logging_dir`` argument any more) and closes its writer when training ends, before the
evaluation that :func:`medvlm.models.medgemma.train.train` runs after the last update. So the
callback is added to the trainer explicitly, with a writer of our own (``tb_writer``, its
documented argument): opened at the step training starts from, so a resumed run hides what the
killed one wrote past its checkpoint, and closed by :meth:`TensorBoardCurves.close` once the last
evaluation is logged. It comes after the callbacks that add ``examples_per_s`` and the selection
score to the logs (:mod:`.train_log`, :class:`medvlm.models.medgemma.train.KeepBest`), so the
curves have them.
"""

from __future__ import annotations

from pathlib import Path

from transformers.integrations import TensorBoardCallback

from medvlm.models.curves import open_writer


class TensorBoardCurves(TensorBoardCallback):
    """transformers' TensorBoard callback, writing to ``log_dir`` (the main process only)."""

    def __init__(self, log_dir: Path):
        super().__init__()
        self.log_dir = Path(log_dir)
        self.logging_dir = str(log_dir)

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero and self.tb_writer is None:
            self.tb_writer = open_writer(self.log_dir, state.global_step)
        super().on_train_begin(args, state, control, **kwargs)

    def on_train_end(self, args, state, control, **kwargs):
        """Kept open for the evaluation after training; :meth:`close` closes it."""

    def close(self) -> None:
        if self.tb_writer is not None:
            self.tb_writer.close()
            self.tb_writer = None
