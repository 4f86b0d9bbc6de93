"""Rule plot_confusion: confusion matrices of one run, one panel per classification data set."""

from medvlm.logs import setup_logging
from medvlm.plots import plot_confusion

setup_logging(snakemake.log[0])
plot_confusion(snakemake.input[0], snakemake.output[0], run=snakemake.wildcards.run)
