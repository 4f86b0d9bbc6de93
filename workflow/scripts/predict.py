"""Rule predict: answer every question of one split with one run's model."""

from pathlib import Path

from medvlm.logs import setup_logging
from medvlm.models.base import SplitData, get_family

setup_logging(snakemake.log[0])
run = snakemake.params.run
get_family(run["family"]).predict(
    run,
    Path(snakemake.input.model),
    SplitData(Path(snakemake.input.records), Path(snakemake.input.shard).parent),
    Path(snakemake.output[0]),
)
