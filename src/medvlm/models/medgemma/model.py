"""Load a local Gemma 3 vision-language checkpoint (the real MedGemma or the demo model).

Only local directories are read (``local_files_only``): nothing ever comes from a model hub.
Weights are bf16 on a GPU and fp32 on the CPU (fp16 overflows in Gemma 3's activations).
"""

from __future__ import annotations

from pathlib import Path


def check_checkpoint(checkpoint: str | Path) -> Path:
    """The checkpoint directory, or a clear error when it is not a saved model directory."""
    path = Path(checkpoint)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"{path}: not a local model directory (no config.json); MedGemma runs need a "
            "checkpoint saved with save_pretrained, e.g. a download of google/medgemma-4b-it"
        )
    return path


def has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def model_dtype():
    import torch

    return torch.bfloat16 if has_gpu() else torch.float32


def load_model(checkpoint: str | Path, attn_implementation: str = "eager"):
    """``AutoModelForImageTextToText`` from the local directory, on the CPU (the trainer, or
    :func:`inference_device`, places it)."""
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(
        check_checkpoint(checkpoint),
        dtype=model_dtype(),
        attn_implementation=attn_implementation,
        local_files_only=True,
    )
    return model


def inference_device() -> str:
    return "cuda" if has_gpu() else "cpu"


def load_processor(checkpoint: str | Path):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(check_checkpoint(checkpoint), local_files_only=True)
