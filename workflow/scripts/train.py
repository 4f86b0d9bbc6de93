"""Rule train: fine-tune one run; resume state and TensorBoard curves live outside the rule's
output; the run is saved beside the weights (run.json)."""

from pathlib import Path

from medvlm.logs import setup_logging
from medvlm.models.base import SplitData, get_family
from medvlm.models.saved import save_run

setup_logging(snakemake.log[0])
run = snakemake.params.run
shard = {name: Path(snakemake.input[f"{name}_shard"]).parent for name in ("train", "val")}
get_family(run["family"]).train(
    run,
    SplitData(Path(snakemake.input.train), shard["train"]),
    SplitData(Path(snakemake.input.val), shard["val"]),
    Path(snakemake.output[0]),
    Path(snakemake.params.resume_dir),
    Path(snakemake.params.curves_dir),
)
save_run(snakemake.output[0], run)  # so that `medvlm predict` can use the folder alone
