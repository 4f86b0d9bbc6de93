"""The demo's tiny random PaliGemma 2 in the real checkpoint format (``demo_model`` rule)."""

from __future__ import annotations

from pathlib import Path

import jax
import ml_dtypes
import numpy as np

from medvlm.io import write_json
from medvlm.models.paligemma.checkpoint import CONFIG_NAME, load_params, save_params
from medvlm.models.paligemma.config import tiny
from medvlm.models.paligemma.gemma import INIT_STDDEV
from medvlm.models.paligemma.params import (
    cast,
    flatten,
    init_params,
    ordered_location_rows,
    unflatten,
)
from medvlm.models.paligemma.settings import DemoSettings
from medvlm.models.paligemma.tokenizer import NUM_LOC, build_demo_tokenizer
from medvlm.settings import from_mapping

TOKENIZER_FILE = "tokenizer.model"


def build_demo_model(out_dir: Path, vocab_texts: list[str], cfg: dict) -> None:
    """A tiny random PaliGemma 2 (image head perturbed, so images matter; location-token
    embeddings ordered by location, as pretraining leaves them:
    :func:`~.params.ordered_location_rows`) + a demo tokenizer trained on ``vocab_texts``,
    saved as ``params.npz`` + ``tokenizer.model`` + ``config.json`` and read back through
    ``load_params``.

    ``cfg``: the keys of :class:`DemoSettings` (``demo_models.paligemma``).
    """
    demo = from_mapping(DemoSettings, cfg, "demo_models.paligemma")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = build_demo_tokenizer(vocab_texts, out_dir / TOKENIZER_FILE, demo.vocab_size)
    config = tiny(tokenizer.vocab_size, demo.image_size, demo.width, demo.depth, demo.patch)
    flat = flatten(jax.device_get(init_params(config, demo.seed)))
    head = flat["img/head/kernel"]
    rng = np.random.default_rng(demo.seed)
    flat["img/head/kernel"] = rng.normal(0, INIT_STDDEV, head.shape)
    embedding = np.array(flat["llm/embedder/input_embedding"])
    locs = slice(tokenizer.loc_offset, tokenizer.loc_offset + NUM_LOC)
    embedding[locs] = ordered_location_rows(config.llm.width, NUM_LOC)
    flat["llm/embedder/input_embedding"] = embedding
    save_params(cast(unflatten(flat), ml_dtypes.bfloat16), out_dir / "params.npz")
    write_json(out_dir / CONFIG_NAME, config.to_json())
    load_params(out_dir / "params.npz", config)  # the demo goes through the real loader
