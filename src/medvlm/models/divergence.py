"""The divergence guard both families' training loops run after every update.

A training stops with :class:`Diverged`, and a log line naming the update and the value, at

- the first update whose loss or gradient norm is not finite (NaN or infinite), or whose
  validation loss is not finite,
- an update after which the trained weights (or the optimizer state) are not finite, found
  before they would be written (a finite gradient times a large learning rate can overflow), or
- the loss spike that makes more than ``train.max_loss_spikes`` of them (null: spikes never
  stop a run). An update's loss is a *spike* when it is above :data:`SPIKE_FACTOR` times the
  median of the :data:`SPIKE_WINDOW` update losses before it; the first ``SPIKE_WINDOW``
  updates are never spikes (the median needs a full window, and a loss falling from its
  starting value is not a spike anyway). A diverging run's loss jumps by orders of magnitude
  and stays there, so it makes a spike at every update until the window has caught up; a
  healthy run's update losses stay within a few times their median.

The guard's state (the window and the spike count) travels with the resume state, so a resumed
run counts exactly as an uninterrupted one. Each family checks every update before it writes
any weights (:mod:`medvlm.models.paligemma.train`, :mod:`medvlm.models.medgemma.guard`), so the
resume state and the kept weights are always those of finite updates.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections import deque

log = logging.getLogger(__name__)

SPIKE_FACTOR = 10.0
SPIKE_WINDOW = 100


class Diverged(RuntimeError):
    """The training diverged at update ``step``: ``what`` was ``value`` (None: not a number)."""

    def __init__(self, step: int, what: str, value: float | None, why: str):
        self.step, self.what, self.value = step, what, value
        shown = "" if value is None else f" {value:.6g}"
        super().__init__(f"training diverged at step {step}: {what}{shown} {why}")


class DivergenceGuard:
    """Checks each update's loss and gradient norm, in step order (see the module docstring).

    ``recent`` and ``spikes`` come from :meth:`state` of the guard of an interrupted run.
    """

    def __init__(self, max_spikes: int | None, recent=(), spikes: int = 0):
        self.max_spikes, self.spikes = max_spikes, spikes
        self.recent = deque((float(loss) for loss in recent), maxlen=SPIKE_WINDOW)

    def state(self) -> dict:
        """What a resumed run needs to go on counting (plain JSON)."""
        return {"recent": list(self.recent), "spikes": self.spikes}

    def check(self, step: int, loss: float, grad_norm: float | None = None) -> None:
        """Raise :class:`Diverged` (logging its message) if update ``step`` stops the run."""
        self.check_finite(step, "loss", loss)
        if grad_norm is not None:
            self.check_finite(step, "gradient norm", grad_norm)
        if len(self.recent) == SPIKE_WINDOW:
            median = statistics.median(self.recent)
            if loss > SPIKE_FACTOR * median:
                self.spikes += 1
                why = (
                    f"is above {SPIKE_FACTOR:g} × {median:.6g}, the median of the last "
                    f"{SPIKE_WINDOW} updates' losses: loss spike {self.spikes}"
                )
                if self.max_spikes is not None and self.spikes > self.max_spikes:
                    why += f", more than train.max_loss_spikes ({self.max_spikes})"
                    self._stop(Diverged(step, "loss", loss, why))
                log.warning("step %d: loss %.6g %s", step, loss, why)
        self.recent.append(float(loss))

    def check_finite(self, step: int, what: str, value: float) -> None:
        """Raise :class:`Diverged` if ``value`` (``what`` at update ``step``) is not finite."""
        if not math.isfinite(value):
            self._stop(Diverged(step, what, value, "is not finite"))

    def check_weights(self, step: int, finite: bool) -> None:
        """Raise :class:`Diverged` unless the weights after update ``step`` are ``finite``."""
        if not finite:
            self._stop(Diverged(step, "the updated weights", None, "are not finite"))

    @staticmethod
    def _stop(error: Diverged):
        log.error("%s; the resume state and the kept weights are those of earlier steps", error)
        raise error
