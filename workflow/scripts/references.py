"""Rule references: one folder's answered questions, read from the tree without images."""

from medvlm.data.references import write_references
from medvlm.logs import setup_logging

setup_logging(snakemake.log[0])
write_references(
    snakemake.params.root,
    snakemake.wildcards.split,
    snakemake.params.filters,
    snakemake.output.records,
    snakemake.output.problems,
)
