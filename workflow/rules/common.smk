"""Config validation and every input function of the workflow."""

from snakemake.exceptions import WorkflowError

from medvlm.config import ConfigError, validate_config

try:
    validate_config(config)
except ConfigError as error:
    raise WorkflowError(str(error)) from None

RESULTS = config["results"]
DATA = f"{RESULTS}/data"
SPLITS = ("train", "val", "test")


wildcard_constraints:
    split="|".join(SPLITS),
    size=r"\d+",


def image_sizes():
    """Every image size a shard is built for: the configured ones plus each run's."""
    sizes = set(config["shards"]["image_sizes"])
    sizes |= {
        run["image_size"] for run in config["runs"].values() if "image_size" in run
    }
    return sorted(sizes)


def synthetic_manifest():
    return f"{config['data']['root']}/synthetic_manifest.json"


def merge_inputs(wildcards):
    """The synthetic tree's manifest when the demo writes the data; nothing for a real tree."""
    return [synthetic_manifest()] if "synthetic" in config["data"] else []


def split_params():
    """The config slice the split depends on: split settings plus the filters."""
    data = config["data"]
    return {
        **config["split"],
        "datasets": data["datasets"],
        "task_types": data["task_types"],
        "categories": data["categories"],
    }


def shard_files(split, size):
    base = f"{DATA}/shards/{split}/{size}"
    return {
        "images": f"{base}/images.npy",
        "index": f"{base}/index.json",
        "problems": f"{base}/problems.jsonl",
    }


def all_outputs():
    outputs = [f"{DATA}/merge_summary.json", f"{DATA}/split_summary.json"]
    for split in SPLITS:
        for size in image_sizes():
            outputs.append(shard_files(split, size)["index"])
    return outputs
