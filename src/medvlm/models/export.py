"""A trained run's model out of the pipeline, for serving or sharing (``medvlm export``).

Each family writes its formats (``hf``: the transformers layout, which transformers and vLLM
load with no code of ours; ``big_vision``: PaliGemma's ``.npz`` + tokenizer + config.json;
``adapter``: MedGemma's PEFT adapter folder as it is) with the run's kept weights
(``weights``: ``best`` or ``final``, as ``decode.weights`` picks them for ``predict``). A model
card ``README.md`` beside the weights gives the base checkpoint, the training settings, the
fingerprint of what the training read and the run's test scores.

The export is built in a temporary folder beside ``out`` and renamed into place, so a failed
export leaves nothing behind; a non-empty ``out`` is replaced only when ``force`` is given.
"""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import version
from pathlib import Path

import yaml

from medvlm.config import ConfigError
from medvlm.io import atomic_dir, write_text
from medvlm.models.base import SplitData, run_settings, training_fingerprint
from medvlm.models.experts import EXPERTS_FILE, Experts
from medvlm.models.saved import RUN_FILE, model_run
from medvlm.records import TASK_TYPES, Record

log = logging.getLogger(__name__)

# Formats per family; the first is the transformers layout every family has.
FORMATS = {"paligemma": ("hf", "big_vision"), "medgemma": ("hf", "adapter")}
FORMAT_NAMES = tuple(dict.fromkeys(fmt for formats in FORMATS.values() for fmt in formats))
WEIGHTS = ("best", "final")
DTYPES = ("float32", "bfloat16")
LIBRARIES = {"hf": "transformers", "big_vision": "big_vision", "adapter": "peft"}  # the card's
CARD = "README.md"


def check_format(family: str, fmt: str, key: str = "--format") -> None:
    """Raise naming ``key`` when ``family`` has no export format ``fmt``."""
    if fmt not in FORMATS[family]:
        raise ValueError(
            f"{key}: {fmt!r} is not a format of a {family} model; it has "
            f"{' and '.join(FORMATS[family])}"
        )


def exported_runs(export: dict, runs: dict[str, dict]) -> list[str]:
    """The runs the workflow's ``export:`` block exports (every trained run, none without a
    ``format``), each checked to have that format; errors name the config key."""
    fmt = export.get("format")
    if "dtype" in export and fmt != "hf":
        raise ConfigError("config key export.dtype: for export.format hf only")
    if fmt is None:
        return []
    trained = [name for name, run in runs.items() if not run.get("zero_shot")]
    for name in trained:
        try:
            check_format(runs[name]["family"], fmt, "config key export.format")
        except ValueError as error:
            raise ConfigError(f"{error} (run {name!r})") from None
    return trained


def _family_export(family: str):
    """The family's export module, imported only when a model of that family is exported."""
    return importlib.import_module(f"medvlm.models.{family}.export")


def trained_run(model_dir: Path) -> dict:
    """The run ``model_dir`` was trained as (its ``run.json``), or a clear error."""
    if not (model_dir / RUN_FILE).is_file():
        raise ValueError(
            f"{model_dir}: not a trained run's folder (no {RUN_FILE}); medvlm export takes "
            "results/models/<run>, written by the workflow's training"
        )
    return model_run(model_dir)


def _split(data_dir: Path, split: str, image_size: int) -> SplitData:
    return SplitData(
        data_dir / "splits" / f"{split}.jsonl", data_dir / "shards" / split / str(image_size)
    )


def fingerprint(run: dict, data_dir: Path) -> dict[str, str]:
    """The run's training fingerprint (:func:`medvlm.models.base.training_fingerprint`): its
    training settings, its initial checkpoint's files and the train and val data in the
    workflow's data folder ``data_dir`` (``splits/`` and ``shards/``), as its training keyed its
    resume state."""
    settings = run_settings(run["family"]).from_run(run)
    train, val = (_split(data_dir, split, settings.image_size) for split in ("train", "val"))
    for part in (train.records_path, val.records_path, train.shard_dir, val.shard_dir):
        if not part.exists():
            raise FileNotFoundError(f"data folder {data_dir}: {part} does not exist")
    files, root = _family_export(run["family"]).checkpoint_files(settings.checkpoint)
    return training_fingerprint(settings, files, root, train, val)


def _scores_markdown(name: str, scores: Path) -> str:
    from medvlm.metrics.tables import load_scores, summary_markdown, summary_table

    table = summary_markdown(summary_table(load_scores({name: scores})))
    return (
        f"The default profile's headline metric per task type, with its 95 % bootstrap "
        f"interval, from `{scores}`:\n\n{table}"
    )


def _inputs_markdown(family: str, train, image_size: int) -> list[str]:
    """How the run put questions and images to the model, so a server can do the same."""
    from medvlm.tasks.framed_answers import BOX_TASKS, frame_prompt

    template = getattr(train, "prompt_template", "{prompt}")
    location_tokens = getattr(train, "location_tokens", False)
    lines = [
        "## Inputs",
        "",
        f"Images as medvlm reads them (`medvlm.data.images.load_rgb`): RGB, 16-bit and float "
        f"images scaled by their own value range to 8 bits, resized to {image_size} px; give "
        "the processor such an image. The text is the task's prompt around the FLARE question "
        + (
            f"in the template `{template}`, after the image tokens:"
            if family == "paligemma"
            else "as the user turn of the processor's chat template, after the image:"
        ),
        "",
        "| task type | prompt |",
        "|---|---|",
    ]
    for task in TASK_TYPES:
        probe = Record(
            uid="",
            dataset="",
            category="",
            split_folder="",
            source_file="",
            entry_index=0,
            task=task,
            task_raw=task,
            modality="",
            question="QUESTION",
            answer="",
        )
        prompt = f"`{template.format(prompt=frame_prompt(probe, train.box_frame))}`"
        if location_tokens and task in BOX_TASKS:
            prompt += " (answered in `<locNNNN>` tokens: y_min x_min y_max x_max of 1024 bins)"
        lines.append(f"| {task} | {prompt} |")
    return lines


def model_card(
    name: str,
    run: dict,
    fmt: str,
    weights: str,
    prints: dict[str, str] | None,
    data_dir: Path | None,
    scores: Path | None,
) -> str:
    """The export's ``README.md``: how to load it, then what the model is and how it scored."""
    settings = run_settings(run["family"]).from_run(run)
    loading = (
        _family_export(run["family"])
        .LOADING[fmt]
        .format(out="EXPORT_DIR", base=settings.checkpoint)
    )
    training = yaml.safe_dump(settings.train.model_dump(), sort_keys=True)
    front = {
        "library_name": "transformers" if fmt == "hf" else "medvlm",
        "tags": ["medvlm", run["family"]],
    }
    lines = [
        "---",
        yaml.safe_dump(front, sort_keys=False).strip(),
        "---",
        "",
        f"# {name}",
        "",
        f"A {run['family']} model fine-tuned by medvlm {version('medvlm')}, exported as "
        f"`{fmt}` with the run's `{weights}` weights.",
        "",
        "## Loading",
        "",
        "```python",
        loading.strip(),
        "```",
        "",
        *_inputs_markdown(run["family"], settings.train, settings.image_size),
        "",
        "## Base checkpoint",
        "",
        f"`{settings.checkpoint}`",
        "",
        "## Training settings",
        "",
        f"Image size {settings.image_size} px, seed {settings.seed}. The `train:` settings, "
        "defaults filled in:",
        "",
        "```yaml",
        training.strip(),
        "```",
        "",
        "## Data fingerprint",
        "",
    ]
    if prints is None:
        lines.append(
            "Not recorded: no data folder was given (`medvlm export --data results/data`)."
        )
    else:
        lines += [
            f"SHA-256 digests of what the training read, as its resume state was keyed "
            f"(data from `{data_dir}`; big files sampled, see medvlm's docs/design.md):",
            "",
            "| part | sha256 |",
            "|---|---|",
            *(f"| {part} | `{digest}` |" for part, digest in prints.items()),
        ]
    lines += ["", "## Test scores", ""]
    lines.append(
        _scores_markdown(name, scores).strip()
        if scores is not None
        else "Not recorded: no score file was given (`medvlm export --scores FILE`)."
    )
    return "\n".join(lines) + "\n"


def export_model(
    model_dir: str | Path,
    fmt: str,
    out: str | Path,
    *,
    weights: str = "best",
    dtype: str | None = None,
    data_dir: str | Path | None = None,
    scores: str | Path | None = None,
    force: bool = False,
) -> Path:
    """Export the trained run in ``model_dir`` as ``fmt`` into ``out``, with its model card.

    ``dtype`` (``hf`` only): the exported weights' type (default: as trained for PaliGemma,
    the base checkpoint's for MedGemma). ``data_dir``: the workflow's data folder, for the
    data fingerprint. ``scores``: the run's score file (results/scores/<run>/test.json).
    """
    model_dir, out = Path(model_dir), Path(out)
    if not model_dir.is_dir():
        raise FileNotFoundError(f"model {model_dir} is not a folder")
    run = trained_run(model_dir)
    check_format(run["family"], fmt)
    if weights not in WEIGHTS:
        raise ValueError(f"--weights must be one of {WEIGHTS}, got {weights!r}")
    if dtype is not None and (fmt != "hf" or dtype not in DTYPES):
        raise ValueError(f"--dtype takes {' or '.join(DTYPES)}, for --format hf only")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise FileExistsError(f"{out} is not empty; give --force to replace it")
    data_dir = None if data_dir is None else Path(data_dir)
    scores = None if scores is None else Path(scores)
    prints = None if data_dir is None else fingerprint(run, data_dir)
    card = model_card(model_dir.name, run, fmt, weights, prints, data_dir, scores)
    experts = Experts.read(model_dir)
    if experts is not None:  # the loading above is per group folder
        groups = "; ".join(f"`{g}/`: {', '.join(tasks)}" for g, tasks in experts.groups.items())
        card += (
            f"\n## Per-task experts\n\nOne `{fmt}` export per group of task types, each in its "
            f"folder (`{EXPERTS_FILE}` lists them); answer a question with its task type's: "
            f"{groups}.\n"
        )
    family = _family_export(run["family"])
    with atomic_dir(out) as tmp:
        family.export(run, model_dir, weights, fmt, tmp, dtype)
        write_text(tmp / CARD, card)
    log.info("exported %s (%s weights) as %s to %s", model_dir, weights, fmt, out)
    return out
