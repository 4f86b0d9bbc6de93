"""PaliGemma's export formats (:mod:`medvlm.models.export`).

A run's ``best.npz`` / ``final.npz`` hold the full weights: with LoRA the factors are already
merged into the base (``Trainer.params``), so both formats are the merged model.

- ``hf``: the transformers layout (``PaliGemmaForConditionalGeneration`` + ``AutoProcessor``),
  written by :func:`medvlm.models.paligemma.hf_layout.write_hf`, the one mapping between the
  layouts.
- ``big_vision``: ``params.npz`` (the run's weights file, byte for byte) + its tokenizer
  (``tokenizer.model``, or ``tokenizer.json`` for a run started from one) + our ``config.json``:
  a checkpoint that another run's ``checkpoint:`` takes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from medvlm.models.experts import Experts
from medvlm.models.paligemma import checkpoint as npz_checkpoint
from medvlm.models.paligemma.checkpoint import CONFIG_NAME, load_params, save_params, source_files
from medvlm.models.paligemma.loading import model_config
from medvlm.models.paligemma.predict import expert_weights
from medvlm.models.paligemma.tokenizer import find_tokenizer

LOADING = {
    "hf": """
from transformers import AutoProcessor, PaliGemmaForConditionalGeneration

model = PaliGemmaForConditionalGeneration.from_pretrained("{out}")
processor = AutoProcessor.from_pretrained("{out}")
""",
    "big_vision": """
# a big_vision checkpoint: params.npz + tokenizer.model + config.json; in a medvlm config:
#   runs: {{my_run: {{family: paligemma, checkpoint: {out}, ...}}}}
import numpy as np

params = dict(np.load("{out}/params.npz", allow_pickle=False))  # bfloat16 stored as V2
""",
}


def checkpoint_files(checkpoint: str | Path) -> tuple[list[Path], Path]:
    """The initial checkpoint's files and the folder their names are relative to, as the
    training fingerprints them."""
    weights, tokenizer, config = npz_checkpoint.checkpoint_files(checkpoint)
    files = [*source_files(weights), tokenizer, *([config] if config is not None else [])]
    return files, weights.parent


def run_files(model_dir: Path, weights: str) -> tuple[Path, Path, Path]:
    """The run's weights file for ``weights``, its tokenizer and its config.json."""
    files = (model_dir / f"{weights}.npz", model_dir / CONFIG_NAME)
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(f"{model_dir}: a trained PaliGemma run has {path.name}")
    return files[0], find_tokenizer(model_dir), files[1]


def export(run: dict, model_dir: Path, weights: str, fmt: str, out: Path, dtype: str | None):
    """Write the run's ``weights`` as ``fmt`` into the empty folder ``out``; an expert run's
    (``train.experts``) as one merged model per group, in ``out/<group>/``, with
    ``experts.json`` saying which task types each answers."""
    npz, tokenizer, config_json = run_files(model_dir, weights)
    experts = Experts.read(model_dir)
    if experts is not None:
        export_experts(run, model_dir, (npz, tokenizer, config_json), experts, fmt, out, dtype)
        return
    if fmt == "big_vision":
        shutil.copyfile(npz, out / "params.npz")
        shutil.copyfile(tokenizer, out / tokenizer.name)
        shutil.copyfile(config_json, out / CONFIG_NAME)
        return
    from medvlm.models.paligemma.hf_layout import write_hf

    config = model_config(npz, config_json)
    write_hf(load_params(npz, config), config, tokenizer, out, dtype=dtype)


def export_experts(
    run: dict,
    model_dir: Path,
    files: tuple[Path, Path, Path],
    experts: Experts,
    fmt: str,
    out: Path,
    dtype: str | None,
) -> None:
    """Each group's model (the weights with the shared adapter and the group's merged in) as
    ``fmt`` in ``out/<group>/``, and the groups in ``out/experts.json``."""
    from medvlm.models.paligemma.hf_layout import write_hf
    from medvlm.models.paligemma.settings import PaliGemmaRun

    npz, tokenizer, config_json = files
    config = model_config(npz, config_json)
    routed = expert_weights(PaliGemmaRun.from_run(run), model_dir, npz, load_params(npz, config))
    for group in experts.names:
        folder = out / group
        folder.mkdir()
        params = routed.weights_of(group)
        if fmt == "big_vision":
            save_params(params, folder / "params.npz")
            shutil.copyfile(tokenizer, folder / tokenizer.name)
            shutil.copyfile(config_json, folder / CONFIG_NAME)
        else:
            write_hf(params, config, tokenizer, folder, dtype=dtype)
    experts.write(out)
