"""Rule train: fine-tune one run; resume state lives outside the rule's output."""

from pathlib import Path

from medvlm.logs import setup_logging
from medvlm.models.base import SplitData, get_family

setup_logging(snakemake.log[0])
run = snakemake.params.run
shard = {name: Path(snakemake.input[f"{name}_shard"]).parent for name in ("train", "val")}
get_family(run["family"]).train(
    run,
    SplitData(Path(snakemake.input.train), shard["train"]),
    SplitData(Path(snakemake.input.val), shard["val"]),
    Path(snakemake.output[0]),
    Path(snakemake.params.resume_dir),
)
