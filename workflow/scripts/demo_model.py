"""Rule demo_model: a tiny random model of one family, in its real checkpoint format."""

from medvlm.logs import setup_logging
from medvlm.models.demo import build_demo_model

setup_logging(snakemake.log[0])
build_demo_model(
    snakemake.wildcards.family, snakemake.input.train, snakemake.output[0], snakemake.params.cfg
)
