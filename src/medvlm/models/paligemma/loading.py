"""The model a checkpoint describes: its configuration and the image size it takes, shared by
training, prediction and export."""

from __future__ import annotations

from pathlib import Path

from medvlm.models.paligemma.checkpoint import read_npz
from medvlm.models.paligemma.config import PaliGemmaConfig
from medvlm.models.paligemma.hf_layout import read_config
from medvlm.models.paligemma.params import infer_config


def model_config(
    npz: Path, config_json: Path | None, final_softcap: float = 0.0
) -> PaliGemmaConfig:
    """``config.json`` beside the checkpoint when there is one (ours or a transformers
    folder's), else read off its shapes (with ``final_softcap``, which shapes cannot tell)."""
    if config_json is not None:
        return read_config(config_json)
    shapes = {name: array.shape for name, array in read_npz(npz).items()}
    return infer_config(shapes, final_softcap)


def check_image_size(config: PaliGemmaConfig, image_size: int, where: Path) -> None:
    if config.img.image_size != image_size:
        raise ValueError(
            f"run.image_size is {image_size} but the checkpoint {where} is for "
            f"{config.img.image_size} px images"
        )
