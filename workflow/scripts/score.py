"""Rule score: one run's predictions on one split against the references → score file."""

from medvlm.logs import setup_logging
from medvlm.metrics.scoring import score_files

setup_logging(snakemake.log[0])
settings = snakemake.params.evaluate
score_files(
    snakemake.input.references,
    snakemake.input.predictions,
    snakemake.output[0],
    profiles=settings["profiles"],
    bootstrap=settings["bootstrap"],
    seed=settings["seed"],
    green_judge=settings["green_judge"],
    crimson_judge=settings["crimson_judge"],
)
