"""Rule split: records.jsonl → splits/{train,val,test}.jsonl."""

from medvlm.data.split import SplitConfig, run_split
from medvlm.logs import setup_logging
from medvlm.records import read_records

setup_logging(snakemake.log[0])
settings = {
    key: tuple(value) if isinstance(value, list) else value
    for key, value in snakemake.params.split.items()
}
run_split(
    read_records(snakemake.input.records),
    SplitConfig(**settings),
    out_paths={name: snakemake.output[name] for name in ("train", "val", "test")},
    summary_path=snakemake.output.summary,
)
