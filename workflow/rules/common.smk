"""Config validation and every input function of the workflow."""

import re

from snakemake.exceptions import WorkflowError

from medvlm.config import ConfigError, validate_config
from medvlm.data.flare import questions_digest
from medvlm.models.base import run_settings
from medvlm.models.export import exported_runs
from medvlm.models.launch import slurm_resources
from medvlm.run_checks import check_judges, checked_runs
from medvlm.records import TASK_TYPES, TaskType
from medvlm.runs import family_run, training_slice
from medvlm.tasks.framed_answers import BOX_TASKS

try:  # every setting, before any job: the schema, each run as its family reads it, the judges
    validate_config(config)
    RUNS = checked_runs(config)
    check_judges(config)
    EXPORTED = exported_runs(config["export"], RUNS)
except ConfigError as error:
    raise WorkflowError(str(error)) from None

RESULTS = config["results"]
DATA = f"{RESULTS}/data"
SPLITS = ("train", "val", "test")
SUBMIT = config["submit"]["splits"]  # unlabelled split folders: answered, never scored
# Split folders external predictions may answer, scored straight from the tree (no images).
REFERENCE_FOLDERS = ("validation-public",)
TRAINED = [name for name, run in RUNS.items() if not run["zero_shot"]]
EXTERNAL = config["external"]
if set(EXTERNAL) & set(RUNS):
    raise WorkflowError(
        f"external predictions reuse run names: {sorted(set(EXTERNAL) & set(RUNS))}"
    )
FAMILIES = sorted({run["family"] for run in RUNS.values()})


def one_of(names, none):
    """A wildcard pattern matching exactly these names (``none`` when there are none)."""
    return "|".join(re.escape(name) for name in names) or none


wildcard_constraints:
    split=one_of([*SPLITS, *SUBMIT, *REFERENCE_FOLDERS], "NO_SPLITS"),
    unlabelled=one_of(SUBMIT, "NO_UNLABELLED"),
    size=r"\d+",
    run=one_of(RUNS, "NO_RUNS"),
    external=one_of(EXTERNAL, "NO_EXTERNAL"),
    family=one_of(FAMILIES, "NO_FAMILIES"),


def image_sizes():
    """Every image size a shard is built for: the configured ones plus each run's."""
    sizes = set(config["shards"]["image_sizes"])
    sizes |= {run["image_size"] for run in RUNS.values()}
    return sorted(sizes)


def synthetic_manifest():
    return f"{config['data']['root']}/synthetic_manifest.json"


def merge_inputs(wildcards):
    """The synthetic tree's manifest when the demo writes the data; nothing for a real tree."""
    return [synthetic_manifest()] if "synthetic" in config["data"] else []


def tree_questions(folders):
    """A real tree's questions files (names and content) in ``folders``, as a digest: a params
    value, so that questions added to the tree or changed rerun the merge. The demo's tree is
    tracked by its manifest instead."""
    if "synthetic" in config["data"]:
        return ""
    return questions_digest(config["data"]["root"], folders)


def merge_folders():
    """The split folders the merge reads: the configured ones plus the submission folders."""
    folders = config["data"]["split_folders"]
    return folders + [folder for folder in SUBMIT if folder not in folders]


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


FAMILY_ENVS = {"paligemma": "../../envs/jax.yaml", "medgemma": "../../envs/torch.yaml"}


def family_env(wildcards):
    """The conda environment of a model rule: JAX for PaliGemma, torch for MedGemma."""
    family = (
        wildcards.family
        if "family" in wildcards.keys()
        else RUNS[wildcards.run]["family"]
    )
    return FAMILY_ENVS[family]


def demo_dir(family):
    return f"{RESULTS}/demo_models/{family}"


def run_params(name):
    """Everything a run's family reads: the run slice, with `checkpoint: demo` resolved."""
    run = RUNS[name]
    return family_run(run, demo_dir(run["family"]))


def initial_checkpoint(name):
    """The checkpoint a run starts from: the demo model (a workflow output) or a local path."""
    return run_params(name)["checkpoint"]


def train_resources(name):
    """The SLURM resources of a run's training job from its train.nodes and train.processes:
    nodes, GPUs per node, and the task layout of a job of several processes."""
    run = run_params(name)
    train = run_settings(run["family"]).from_run(run).train
    return slurm_resources(run["family"], train.nodes, train.processes)


def train_resource(key):
    """A resource function for ``key`` of :func:`train_resources` (None: not set)."""
    return lambda wildcards: train_resources(wildcards.run).get(key)


def train_inputs(wildcards):
    size = RUNS[wildcards.run]["image_size"]
    return {
        "train": f"{DATA}/splits/train.jsonl",
        "val": f"{DATA}/splits/val.jsonl",
        "train_shard": shard_files("train", size)["index"],
        "val_shard": shard_files("val", size)["index"],
        "checkpoint": initial_checkpoint(wildcards.run),
    }


def model_dir(name):
    """What a run predicts with: its training output, or the checkpoint itself (zero-shot)."""
    return (
        initial_checkpoint(name)
        if RUNS[name]["zero_shot"]
        else f"{RESULTS}/models/{name}"
    )


def predict_inputs(wildcards):
    size = RUNS[wildcards.run]["image_size"]
    return {
        "records": f"{DATA}/splits/{wildcards.split}.jsonl",
        "shard": shard_files(wildcards.split, size)["index"],
        "model": model_dir(wildcards.run),
    }


def decode_weights(wildcards):
    """Which of a trained run's weights it predicts with (``decode.weights``)."""
    run = run_params(wildcards.run)
    return run_settings(run["family"]).from_run(run).decode.weights


def export_inputs(wildcards):
    """A trained run's model, the data its fingerprint covers and its test scores (if any)."""
    inputs = {
        key: value
        for key, value in train_inputs(wildcards).items()
        if key != "checkpoint"
    }
    inputs["model"] = f"{RESULTS}/models/{wildcards.run}"
    if "test" in config["evaluate"]["splits"]:
        inputs["scores"] = f"{RESULTS}/scores/{wildcards.run}/test.json"
    return inputs


def score_params():
    """The evaluation settings a score depends on (not which splits are evaluated)."""
    return {key: value for key, value in config["evaluate"].items() if key != "splits"}


def scored_names(split):
    """Runs and external predictions scored on ``split``, in config order: the table rows."""
    runs = list(RUNS) if split in config["evaluate"]["splits"] else []
    return runs + [name for name, entry in EXTERNAL.items() if entry["split"] == split]


def external_references(wildcards):
    """The references of an external predictions file: a split, or a folder read as it is."""
    split = EXTERNAL[wildcards.external]["split"]
    if split in REFERENCE_FOLDERS:
        return f"{DATA}/references/{split}.jsonl"
    return f"{DATA}/splits/{split}.jsonl"


def run_scores(wildcards):
    return {
        name: f"{RESULTS}/scores/{name}/{wildcards.split}.json"
        for name in scored_names(wildcards.split)
    }


def configured_tasks():
    return set(config["data"]["task_types"]) or set(TASK_TYPES)


def scores_only():
    """No run, and every external predictions file scored straight against the tree: nothing
    needs the merge, the split or images (a score-only config)."""
    return (
        not RUNS
        and bool(EXTERNAL)
        and all(entry["split"] in REFERENCE_FOLDERS for entry in EXTERNAL.values())
    )


def all_outputs():
    outputs = []
    if not scores_only():
        outputs += [f"{DATA}/merge_summary.json", f"{DATA}/split_summary.json"]
        for split in SPLITS:
            for size in image_sizes():
                outputs.append(shard_files(split, size)["index"])
    outputs += [f"{RESULTS}/plots/loss/{name}.png" for name in TRAINED]
    outputs += [f"{RESULTS}/exports/{name}" for name in EXPORTED]
    outputs += [
        f"{RESULTS}/submissions/{name}/{folder}/predictions.json"
        for name in RUNS
        for folder in SUBMIT
    ]
    splits = set(config["evaluate"]["splits"]) if RUNS else set()
    splits |= {entry["split"] for entry in EXTERNAL.values()}
    for split in sorted(splits):
        outputs += [
            f"{RESULTS}/tables/{split}",
            f"{RESULTS}/plots/{split}/metrics.png",
            f"{RESULTS}/plots/{split}/wrong_format.png",
        ]
        runs = [name for name in scored_names(split) if name in RUNS]
        if TaskType.CLASSIFICATION in configured_tasks():
            outputs += [
                f"{RESULTS}/plots/{split}/confusion/{name}.png" for name in runs
            ]
        if configured_tasks() & set(BOX_TASKS):
            outputs += [
                f"{RESULTS}/plots/{split}/detections/{name}.png" for name in runs
            ]
    return outputs
