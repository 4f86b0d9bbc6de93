"""Rule plot_metrics: headline metrics with intervals, and wrong-format counts, across runs."""

from medvlm.logs import setup_logging
from medvlm.plots import plot_metrics_overview, plot_wrong_format, run_palette

setup_logging(snakemake.log[0])
names = snakemake.params.names
scores = {name: snakemake.input[name] for name in names}
palette = run_palette(names)
plot_metrics_overview(scores, snakemake.output.metrics, palette=palette)
plot_wrong_format(scores, snakemake.output.wrong_format, palette=palette)
