"""MedGemma's export formats (:mod:`medvlm.models.export`).

- ``hf``: the base checkpoint with the run's LoRA adapter merged in (PEFT's
  ``merge_and_unload``), saved with ``save_pretrained`` beside the base's processor files
  (tokenizer, chat template, image processor): a server that takes no adapters (vLLM,
  transformers) loads it as it would the base model. The merge is done in float32; the weights
  are saved in the base checkpoint's type unless ``dtype`` says otherwise.
- ``adapter``: the adapter folder as the training wrote it, for PEFT on top of the base.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from medvlm.models.base import checkpoint_dir_files
from medvlm.models.experts import Experts
from medvlm.models.medgemma.experts import load_experts
from medvlm.models.medgemma.model import check_checkpoint, load_processor

LOADING = {
    "hf": """
from transformers import AutoModelForImageTextToText, AutoProcessor

model = AutoModelForImageTextToText.from_pretrained("{out}")
processor = AutoProcessor.from_pretrained("{out}")
""",
    "adapter": """
from peft import PeftModel
from transformers import AutoModelForImageTextToText, AutoProcessor

base = AutoModelForImageTextToText.from_pretrained("{base}")
model = PeftModel.from_pretrained(base, "{out}")
processor = AutoProcessor.from_pretrained("{base}")
""",
}


def checkpoint_files(checkpoint: str | Path) -> tuple[list[Path], Path]:
    """The initial checkpoint's files and the folder their names are relative to, as the
    training fingerprints them."""
    return checkpoint_dir_files(Path(checkpoint)), Path(checkpoint)


def adapter_dir(model_dir: Path, weights: str) -> Path:
    """The run's adapter folder for ``weights``, or a clear error."""
    adapter = model_dir / weights
    if not (adapter / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{model_dir}: no adapter in {weights}/ (adapter_config.json)")
    return adapter


def merged_model(
    checkpoint: str | Path,
    adapter: Path,
    dtype: str | None = None,
    expert: tuple[Experts, str] | None = None,
):
    """The base checkpoint with ``adapter`` merged in, in ``dtype`` (default: the base's); with
    ``expert`` (an expert run's experts and a group) the shared adapter and the group's."""
    import torch
    from peft import PeftModel
    from transformers import AutoConfig, AutoModelForImageTextToText

    checkpoint = check_checkpoint(checkpoint)
    if dtype is None:  # read before loading: loading sets the config's dtype to the loaded one
        saved_dtype = AutoConfig.from_pretrained(checkpoint, local_files_only=True).dtype
    else:
        saved_dtype = getattr(torch, dtype)
    base = AutoModelForImageTextToText.from_pretrained(
        checkpoint, dtype=torch.float32, local_files_only=True
    )
    if expert is None:
        model = PeftModel.from_pretrained(base, adapter).merge_and_unload(safe_merge=True)
    else:
        experts, group = expert
        names = experts.adapters(group)
        model = load_experts(base, adapter, experts)
        model = model.merge_and_unload(safe_merge=True, adapter_names=names)
    return model.to(saved_dtype or torch.float32)


def export(run: dict, model_dir: Path, weights: str, fmt: str, out: Path, dtype: str | None):
    """Write the run's ``weights`` as ``fmt`` into the empty folder ``out``. An expert run's
    (``train.experts``): ``adapter`` is PEFT's multi-adapter folder (one folder per adapter),
    ``hf`` one merged model per group in ``out/<group>/``; both with ``experts.json`` saying
    which task types each group answers."""
    experts = Experts.read(model_dir)
    if experts is not None:
        adapter = model_dir / weights
        if fmt == "adapter":
            shutil.copytree(adapter, out, dirs_exist_ok=True)
        else:
            for group in experts.names:
                model = merged_model(run["checkpoint"], adapter, dtype, (experts, group))
                model.save_pretrained(out / group)
                load_processor(run["checkpoint"]).save_pretrained(out / group)
        experts.write(out)
        return
    adapter = adapter_dir(model_dir, weights)
    if fmt == "adapter":
        shutil.copytree(adapter, out, dirs_exist_ok=True)
        return
    merged_model(run["checkpoint"], adapter, dtype).save_pretrained(out)
    load_processor(run["checkpoint"]).save_pretrained(out)
