"""Rule shards: one split's images, decoded once and resized, → images.npy + index.json."""

from pathlib import Path

from medvlm.data.shards import build_shards
from medvlm.logs import setup_logging

setup_logging(snakemake.log[0])
build_shards(
    snakemake.input.records,
    Path(snakemake.output.index).parent,
    size=int(snakemake.wildcards.size),
    threads=snakemake.threads,
    max_pixels=snakemake.params.max_pixels,
)
