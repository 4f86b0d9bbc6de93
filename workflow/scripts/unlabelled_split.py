"""Rule unlabelled_split: the questions of one unlabelled split folder, for its submissions."""

from medvlm.data.split import write_unlabelled_split
from medvlm.logs import setup_logging
from medvlm.records import read_records

setup_logging(snakemake.log[0])
write_unlabelled_split(
    read_records(snakemake.input.records), snakemake.wildcards.unlabelled, snakemake.output[0]
)
