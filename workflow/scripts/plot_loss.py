"""Rule plot_loss: one run's training and validation loss curves."""

from pathlib import Path

from medvlm.logs import setup_logging
from medvlm.plots import plot_loss

setup_logging(snakemake.log[0])
run = snakemake.wildcards.run
plot_loss(
    {run: Path(snakemake.input[0]) / "train_log.csv"},
    snakemake.output[0],
    log_scale=snakemake.params.log_scale,
)
