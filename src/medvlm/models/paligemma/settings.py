"""The PaliGemma family's hyper-parameters (defaults: the study's attention-only SGD recipe).

A run (one entry of the workflow config's ``runs:``) is a plain dict::

    {"family": "paligemma", "checkpoint": <big_vision .npz, or a directory holding one>,
     "image_size": int, "seed": int, "train": {...TrainSettings...}, "decode": {...}}

Every key of ``train`` and ``decode`` is optional; an unknown key is an error naming it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medvlm.records import (
    CLASSIFICATION,
    COUNTING,
    DETECTION,
    INSTANCE_DETECTION,
    MULTI_LABEL,
    REGRESSION,
    REPORT_GENERATION,
    TASK_TYPES,
)
from medvlm.settings import check, check_run, from_mapping

OPTIMIZERS = ("sgd", "adam", "adamw")
DTYPES = ("float32", "bfloat16", "float16")
# Regexes over flat parameter names ("llm/layers/attn/q_einsum/w").
TRAINABLE_PRESETS = {
    "attention": r"llm/layers/attn/(q_einsum|kv_einsum|qkv_einsum|attn_vec_einsum)/w",
    "llm": r"llm/.*",
    "full": r".*",
}
# LoRA's default targets: the attention einsums and the two MLP einsums of the LLM.
LORA_TARGETS = (
    r"llm/layers/(attn/(q_einsum|kv_einsum|qkv_einsum|attn_vec_einsum)/w"
    r"|mlp/(gating_einsum|linear))"
)
# New tokens per task type: short for labels and numbers, long for boxes and reports.
DEFAULT_MAX_DECODE_LEN = {
    CLASSIFICATION: 24,
    MULTI_LABEL: 64,
    COUNTING: 12,
    REGRESSION: 16,
    DETECTION: 128,
    INSTANCE_DETECTION: 256,
    REPORT_GENERATION: 256,
}


@dataclass(frozen=True)
class TrainSettings:
    """Fine-tuning.

    steps: optimiser updates (100). batch_size: examples per update, split over all local
        devices (8; a multiple of the device count).
    optimizer: "sgd" (the study's), "adam" or "adamw". learning_rate: peak (3e-4).
    momentum: SGD momentum, None for plain SGD. weight_decay: AdamW decay (0.0).
    warmup_fraction: linear warm-up share of ``steps`` before the cosine decay (0.1).
    grad_clip: global-norm clipping, 0 = off (1.0).
    trainable: "attention" (q/kv/attn_vec einsums, the study's), "llm", "full", or a regex
        matched (fully) against flat parameter names. Ignored when LoRA is on.
    lora_rank: LoRA rank; 0 (the default) = off. Above 0 every base weight is frozen and only
        low-rank factors train, at each leaf ``lora_targets`` (a regex matched fully against
        flat parameter names; default the attention and MLP einsums of the LLM) selects.
    lora_alpha: LoRA scale numerator; the update is ``lora_alpha / lora_rank * A @ B`` (16).
    frozen_dtype / trainable_dtype: storage of frozen and trained weights ("bfloat16",
        "float32"); activations are always float32.
    seqlen: text tokens per example, prompt + target (128); longer examples are cut (counted).
    prompt_template: format string around the task prompt, ``{prompt}`` = the question with
        the task's format hint (e.g. ``"answer en {prompt}"``); default the prompt itself.
    multi_image: "tile" (views on a grid in one image) or "concat" (tokens of every view).
    final_softcap: final-logit soft cap; 0.0 (off) as in the official fine-tuning configs.
    location_tokens: detection and instance-detection targets in PaliGemma's own syntax
        (``<locYMIN><locXMIN><locYMAX><locXMAX> label``, objects joined by ``" ; "``), decoded
        back to pixel boxes before scoring (False: JSON pixel boxes). Also read by predict.
    val_every: validation loss every this many steps and at the end (50).
    val_examples: the fixed validation subset: the first this many questions (1024).
    save_every: resume state every this many steps (50). log_every: a log row every (10).
    remat: recompute activations in the backward pass (saves memory on big models).
    fsdp_min_mib: tensors larger than this are split over the devices, smaller replicated (4).
    """

    steps: int = 100
    batch_size: int = 8
    optimizer: str = "sgd"
    learning_rate: float = 3e-4
    momentum: float | None = None
    weight_decay: float = 0.0
    warmup_fraction: float = 0.1
    grad_clip: float = 1.0
    trainable: str = "attention"
    frozen_dtype: str = "bfloat16"
    trainable_dtype: str = "float32"
    seqlen: int = 128
    prompt_template: str = "{prompt}"
    multi_image: str = "tile"
    final_softcap: float = 0.0
    val_every: int = 50
    val_examples: int = 1024
    save_every: int = 50
    log_every: int = 10
    remat: bool = False
    fsdp_min_mib: float = 4.0
    location_tokens: bool = False
    lora_rank: int = 0
    lora_alpha: float = 16.0
    lora_targets: str = LORA_TARGETS

    def __post_init__(self):
        for key in ("steps", "batch_size", "seqlen", "val_every", "val_examples"):
            check(getattr(self, key) >= 1, f"train.{key}", "must be at least 1")
        for key in ("save_every", "log_every"):
            check(getattr(self, key) >= 1, f"train.{key}", "must be at least 1")
        check(self.optimizer in OPTIMIZERS, "train.optimizer", f"must be one of {OPTIMIZERS}")
        check(self.learning_rate > 0, "train.learning_rate", "must be positive")
        check(0 <= self.warmup_fraction < 1, "train.warmup_fraction", "must be in [0, 1)")
        check(self.grad_clip >= 0, "train.grad_clip", "must not be negative")
        for key in ("frozen_dtype", "trainable_dtype"):
            check(getattr(self, key) in DTYPES, f"train.{key}", f"must be one of {DTYPES}")
        check(self.multi_image in ("tile", "concat"), "train.multi_image", "tile or concat")
        check("{prompt}" in self.prompt_template, "train.prompt_template", "needs {prompt}")
        try:
            re.compile(self.trainable_regex)
        except re.error as error:
            raise ValueError(f"train.trainable: not a regex ({error})") from None
        rank = self.lora_rank
        whole = isinstance(rank, int) and not isinstance(rank, bool)
        check(whole and rank >= 0, "train.lora_rank", "must be a whole number >= 0 (0 = off)")
        check(self.lora_alpha > 0, "train.lora_alpha", "must be positive")
        try:
            re.compile(self.lora_targets)
        except re.error as error:
            raise ValueError(f"train.lora_targets: not a regex ({error})") from None

    @property
    def trainable_regex(self) -> str:
        return TRAINABLE_PRESETS.get(self.trainable, self.trainable)


@dataclass(frozen=True)
class DecodeSettings:
    """Greedy batched decoding with a KV cache.

    batch_size: questions per batch (16); a batch holds one task type only.
    max_decode_len: new tokens per task type, merged over ``DEFAULT_MAX_DECODE_LEN``.
    weights: "best" (lowest validation loss) or "final".
    prompt_len: prompt tokens (prompts are padded or cut to it; 128).
    constrained: decode under each question's output grammar, so every answer is well-formed
        and complete within ``max_decode_len`` (True; see medvlm.constrain).
    """

    batch_size: int = 16
    max_decode_len: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_MAX_DECODE_LEN))
    weights: str = "best"
    prompt_len: int = 128
    constrained: bool = True

    def __post_init__(self):
        check(self.batch_size >= 1, "decode.batch_size", "must be at least 1")
        check(self.prompt_len >= 2, "decode.prompt_len", "must be at least 2")
        check(self.weights in ("best", "final"), "decode.weights", "must be 'best' or 'final'")
        merged = dict(DEFAULT_MAX_DECODE_LEN)
        for task, tokens in self.max_decode_len.items():
            check(task in TASK_TYPES, f"decode.max_decode_len.{task}", "unknown task type")
            check(tokens >= 1, f"decode.max_decode_len.{task}", "must be at least 1")
            merged[task] = tokens
        object.__setattr__(self, "max_decode_len", merged)


@dataclass(frozen=True)
class PaliGemmaRun:
    """One run of the family.

    checkpoint: a big_vision ``.npz`` (tokenizer ``tokenizer.model`` or
        ``paligemma_tokenizer.model`` beside it), or a directory holding one ``.npz`` and the
        tokenizer; an optional ``config.json`` beside it fixes the model config, otherwise the
        config is read off the checkpoint's shapes.
    image_size: the shard size; must match the checkpoint's (224, 448, 896).
    seed: data order and new embedding rows.
    """

    checkpoint: Path
    image_size: int = 224
    seed: int = 0
    train: TrainSettings = field(default_factory=TrainSettings)
    decode: DecodeSettings = field(default_factory=DecodeSettings)

    @classmethod
    def from_run(cls, run: dict[str, Any]) -> PaliGemmaRun:
        check_run(run, "paligemma", "a big_vision .npz or its directory")
        return cls(
            checkpoint=Path(run["checkpoint"]),
            image_size=int(run.get("image_size", 224)),
            seed=int(run.get("seed", 0)),
            train=from_mapping(TrainSettings, run.get("train"), "train"),
            decode=from_mapping(DecodeSettings, run.get("decode"), "decode"),
        )
