"""Rule plot_detections: reference vs predicted boxes drawn on the first detection questions."""

from medvlm.logs import setup_logging
from medvlm.plots import plot_detections

setup_logging(snakemake.log[0])
plot_detections(
    snakemake.input.predictions,
    snakemake.input.records,
    snakemake.output[0],
    n=snakemake.params.examples,
    run=snakemake.wildcards.run,
)
