"""Rule tables: every run's score file on one split → CSV and Markdown tables, runs in
config order."""

from medvlm.logs import setup_logging
from medvlm.metrics.tables import load_scores, write_tables

setup_logging(snakemake.log[0])
score_files = {name: snakemake.input[name] for name in snakemake.params.names}
write_tables(load_scores(score_files), snakemake.output[0])
