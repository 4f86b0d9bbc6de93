"""Figures for people: one module per figure kind, each function writing one PNG atomically.

| module | figure | reads |
|---|---|---|
| ``loss`` | training / validation loss per run | ``results/models/<run>/train_log.csv`` |
| ``metrics`` | headline metrics with 95% intervals, per task and overview | score files |
| ``confusion`` | classification confusion matrix per data set | a predictions file |
| ``detections`` | reference vs predicted boxes on the images | predictions + split records |
| ``wrong_format`` | wrong-format and unparsable counts per task and run | score files |

Every function takes its inputs, then ``out_path``, then keyword options, and returns the numbers
it drew (thin workflow scripts may ignore them). Pass ``palette=run_palette(all_runs)`` for the
same colour per run in every figure. Bad input raises ``ValueError`` naming the file.
"""

from medvlm.plots.confusion import plot_confusion
from medvlm.plots.detections import plot_detections
from medvlm.plots.loss import plot_loss
from medvlm.plots.metrics import plot_metrics_overview, plot_task_metrics
from medvlm.plots.style import run_palette
from medvlm.plots.wrong_format import plot_wrong_format

__all__ = [
    "plot_confusion",
    "plot_detections",
    "plot_loss",
    "plot_metrics_overview",
    "plot_task_metrics",
    "plot_wrong_format",
    "run_palette",
]
