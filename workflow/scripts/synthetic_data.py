"""Rule synthetic_data: write the demo's synthetic FLARE tree (its root holds the manifest)."""

from pathlib import Path

from medvlm.data.synthetic import SyntheticConfig, write_synthetic_tree
from medvlm.logs import setup_logging

setup_logging(snakemake.log[0])
write_synthetic_tree(
    Path(snakemake.output[0]).parent,
    SyntheticConfig(**snakemake.params.synthetic),
    workers=snakemake.threads,
)
