"""Rule tables: every run's score file on one split → CSV and Markdown tables."""

from medvlm.logs import setup_logging
from medvlm.metrics.tables import load_scores, write_tables

setup_logging(snakemake.log[0])
write_tables(load_scores(dict(snakemake.input.items())), snakemake.output[0])
