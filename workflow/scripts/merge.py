"""Rule merge: every questions file of the FLARE tree → records.jsonl + problems.jsonl."""

from medvlm.data.flare import run_merge
from medvlm.logs import setup_logging

setup_logging(snakemake.log[0])
run_merge(
    snakemake.params.root,
    snakemake.params.split_folders,
    records_path=snakemake.output.records,
    problems_path=snakemake.output.problems,
    summary_path=snakemake.output.summary,
)
