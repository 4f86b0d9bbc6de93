"""Rule export: a trained run's model in the configured format, with its model card."""

from pathlib import Path

from medvlm.logs import setup_logging
from medvlm.models.export import export_model

setup_logging(snakemake.log[0])
export_model(
    snakemake.input.model,
    snakemake.params.export["format"],
    snakemake.output[0],
    weights=snakemake.params.weights,
    dtype=snakemake.params.export.get("dtype"),
    data_dir=Path(snakemake.input.train).parent.parent,  # results/data/splits/train.jsonl
    scores=snakemake.input.get("scores"),
)
