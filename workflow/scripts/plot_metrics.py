"""Rule plot_metrics: headline metrics with intervals, and wrong-format counts, across runs."""

from medvlm.logs import setup_logging
from medvlm.plots import plot_metrics_overview, plot_wrong_format, run_palette

setup_logging(snakemake.log[0])
scores = dict(snakemake.input.items())
palette = run_palette(snakemake.params.palette)
plot_metrics_overview(scores, snakemake.output.metrics, palette=palette)
plot_wrong_format(scores, snakemake.output.wrong_format, palette=palette)
