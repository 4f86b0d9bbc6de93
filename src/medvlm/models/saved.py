"""What a model folder says about itself, so that ``medvlm predict`` can use it alone.

A trained run's folder holds ``run.json``: the run as its family trained it (family, checkpoint
as an absolute path, image size, seed, training settings), written after training. A folder
without one (a checkpoint used as it is, as a zero-shot run does) is recognised by its files: a
big_vision ``.npz`` beside a tokenizer, or a transformers folder whose ``config.json`` says
``paligemma``, is PaliGemma; a Hugging Face ``config.json`` of a Gemma 3 model is MedGemma; its
image size comes from its own config, or must be given.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from medvlm.io import JSONError, parse_json, write_json

RUN_FILE = "run.json"


def save_run(model_dir: str | os.PathLike, run: dict[str, Any]) -> None:
    """Write ``run.json`` into a trained run's folder (the checkpoint made absolute)."""
    saved = {**run, "checkpoint": str(Path(run["checkpoint"]).resolve())}
    saved.pop("decode", None)  # decoding settings belong to each prediction, not to the model
    write_json(Path(model_dir) / RUN_FILE, saved)


def _json(path: Path) -> Any:
    try:
        return parse_json(path.read_bytes())
    except JSONError as error:
        raise ValueError(f"{path}: {error.reason}") from None


def _guess_family(model_dir: Path) -> str:
    if model_dir.suffix == ".npz" or any(model_dir.glob("*.npz")):
        return "paligemma"
    config = model_dir / "config.json"
    model_type = str(_json(config).get("model_type", "")) if config.is_file() else ""
    if model_type == "paligemma":
        return "paligemma"
    if model_type.startswith("gemma3"):
        return "medgemma"
    raise ValueError(
        f"{model_dir}: not a model folder medvlm knows (no {RUN_FILE}, no big_vision .npz, no "
        "PaliGemma or Gemma 3 config.json); give --family"
    )


def _native_image_size(model_dir: Path, family: str) -> int | None:
    """The image size a plain checkpoint's own config names, if it names one."""
    folder = model_dir.parent if model_dir.is_file() else model_dir
    if family == "paligemma" and (folder / "config.json").is_file():
        from medvlm.models.paligemma.hf_layout import read_config

        return read_config(folder / "config.json").img.image_size
    if family == "medgemma" and (folder / "preprocessor_config.json").is_file():
        size = _json(folder / "preprocessor_config.json").get("size")
        if isinstance(size, dict) and "height" in size:
            return int(size["height"])
        if isinstance(size, int):
            return size
    return None


def model_run(
    model_dir: str | os.PathLike,
    family: str | None = None,
    image_size: int | None = None,
    decode: dict | None = None,
) -> dict[str, Any]:
    """The run dict a family's ``predict`` needs for ``model_dir``: read from ``run.json`` or
    from the checkpoint's files; ``family``, ``image_size`` and ``decode`` override."""
    model_dir = Path(model_dir)
    if not model_dir.exists():
        raise FileNotFoundError(f"model {model_dir} does not exist")
    run_file = model_dir / RUN_FILE
    if run_file.is_file():
        run = _json(run_file)
        if not isinstance(run, dict) or "family" not in run:
            raise ValueError(f"{run_file}: not a run (a JSON object with a 'family')")
    else:
        run = {"family": family or _guess_family(model_dir), "checkpoint": str(model_dir)}
    if family is not None:
        run["family"] = family
    if image_size is not None:
        run["image_size"] = image_size
    elif "image_size" not in run:
        native = _native_image_size(model_dir, run["family"])
        if native is None:
            raise ValueError(f"{model_dir}: its config names no image size; give --image-size")
        run["image_size"] = native
    if decode:
        run["decode"] = decode
    return run
