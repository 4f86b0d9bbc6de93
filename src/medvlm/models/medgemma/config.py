"""The MedGemma family's hyper-parameters, with the defaults of the official LoRA recipe.

A run (one entry of the workflow config's ``runs:``) is a plain dict::

    {"family": "medgemma", "checkpoint": <local model dir>, "image_size": int, "seed": int,
     "train": {...TrainConfig keys...}, "decode": {...DecodeConfig keys...}}

Every key of ``train`` and ``decode`` is optional; an unknown key is an error naming it.
"""

from __future__ import annotations

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

# New tokens per task type: short answers for labels and numbers, long for boxes and reports.
DEFAULT_MAX_NEW_TOKENS = {
    CLASSIFICATION: 24,
    MULTI_LABEL: 64,
    COUNTING: 12,
    REGRESSION: 16,
    DETECTION: 192,
    INSTANCE_DETECTION: 384,
    REPORT_GENERATION: 384,
}


@dataclass(frozen=True)
class TrainConfig:
    """LoRA fine-tuning with TRL's ``SFTTrainer`` (defaults: the MedGemma notebook's recipe).

    lora_r, lora_alpha, lora_dropout: LoRA rank, scale and dropout (16, 16, 0.05).
    target_modules: modules LoRA wraps, ``"all-linear"`` or a list of module names.
    learning_rate: peak learning rate (2e-4). lr_scheduler: a transformers scheduler name
        ("linear"). warmup: warm-up steps; a value below 1 is a fraction of all steps (0.03).
    weight_decay: AdamW weight decay (0.0). max_grad_norm: gradient clipping norm (0.3).
    optimizer: a transformers ``optim`` name; ``None`` picks ``adamw_torch_fused`` on a GPU and
        ``adamw_torch`` on the CPU.
    batch_size: examples per device and step (2). grad_accum: steps accumulated per update (4).
    epochs: passes over the training split (1.0). max_steps: optimiser updates; when set it
        overrides ``epochs``.
    eval_every: validation loss every this many updates (and once at the end) (50).
    val_max_examples: validate on the first this many validation questions; ``None`` = all.
    save_every: resume state saved every this many updates (50). log_every: a ``train_log.csv``
        row every this many updates (10).
    activation_checkpointing: recompute activations in the backward pass (saves memory).
    attn_implementation: "eager" (recommended for Gemma 3 training), "sdpa", ...
    max_length: truncate tokenised examples to this length; ``None`` never truncates (a cut
        through the image tokens would break the example).
    dataloader_workers: processes that build batches (0 = in the training process).
    processes: data-parallel training processes on this node (1); on a GPU node, the GPUs to
        use. Above 1, training relaunches itself under torchrun (see :mod:`.launch`);
        ``batch_size`` stays per process, so an update sees ``processes`` times more examples.
    """

    lora_r: int = 16
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: str | tuple[str, ...] = "all-linear"
    learning_rate: float = 2e-4
    lr_scheduler: str = "linear"
    warmup: float = 0.03
    weight_decay: float = 0.0
    max_grad_norm: float = 0.3
    optimizer: str | None = None
    batch_size: int = 2
    grad_accum: int = 4
    epochs: float = 1.0
    max_steps: int | None = None
    eval_every: int = 50
    val_max_examples: int | None = 256
    save_every: int = 50
    log_every: int = 10
    activation_checkpointing: bool = True
    attn_implementation: str = "eager"
    max_length: int | None = None
    dataloader_workers: int = 0
    processes: int = 1

    def __post_init__(self):
        if isinstance(self.target_modules, list):
            object.__setattr__(self, "target_modules", tuple(self.target_modules))
        positive = ("lora_r", "lora_alpha", "batch_size", "grad_accum")
        for key in (*positive, "eval_every", "save_every", "log_every", "processes"):
            check(getattr(self, key) >= 1, f"train.{key}", "must be at least 1")
        check(0 <= self.lora_dropout < 1, "train.lora_dropout", "must be in [0, 1)")
        check(self.learning_rate > 0, "train.learning_rate", "must be positive")
        check(self.warmup >= 0, "train.warmup", "must not be negative")
        check(self.epochs > 0, "train.epochs", "must be positive")
        check(self.max_steps is None or self.max_steps >= 1, "train.max_steps", "at least 1")
        check(
            self.val_max_examples is None or self.val_max_examples >= 1,
            "train.val_max_examples",
            "must be at least 1 (or null for all)",
        )
        check(self.max_length is None or self.max_length >= 16, "train.max_length", ">= 16")
        check(self.dataloader_workers >= 0, "train.dataloader_workers", "must not be negative")


@dataclass(frozen=True)
class DecodeConfig:
    """Greedy batched generation.

    batch_size: questions per ``generate`` call (8); a batch holds one task type only.
    max_new_tokens: per task type, merged over ``DEFAULT_MAX_NEW_TOKENS``.
    weights: which adapter of the training run answers: "best" (lowest validation loss) or
        "final".
    merge_adapter: fold the LoRA weights into the base model before generating (faster, same
        greedy output).
    attn_implementation: attention kernel for generation ("sdpa").
    constrained: generate under each question's output grammar, so every answer is
        well-formed and complete within ``max_new_tokens`` (True; see medvlm.constrain).
    """

    batch_size: int = 8
    max_new_tokens: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_MAX_NEW_TOKENS))
    weights: str = "best"
    merge_adapter: bool = True
    attn_implementation: str = "sdpa"
    constrained: bool = True

    def __post_init__(self):
        check(self.batch_size >= 1, "decode.batch_size", "must be at least 1")
        check(self.weights in ("best", "final"), "decode.weights", "must be 'best' or 'final'")
        merged = dict(DEFAULT_MAX_NEW_TOKENS)
        for task, tokens in self.max_new_tokens.items():
            check(task in TASK_TYPES, f"decode.max_new_tokens.{task}", "unknown task type")
            check(tokens >= 1, f"decode.max_new_tokens.{task}", "must be at least 1")
            merged[task] = tokens
        object.__setattr__(self, "max_new_tokens", merged)


@dataclass(frozen=True)
class MedGemmaConfig:
    """One run of the family: the checkpoint it starts from and how it trains and decodes.

    checkpoint: a local Gemma 3 vision-language model directory (``save_pretrained`` layout).
    image_size: the shard size the images come from (the processor resizes them itself).
    seed: seeds LoRA initialisation, data order and dropout.
    """

    checkpoint: Path
    image_size: int = 896
    seed: int = 0
    train: TrainConfig = field(default_factory=TrainConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)

    @classmethod
    def from_run(cls, run: dict[str, Any]) -> MedGemmaConfig:
        check_run(run, "medgemma", "a local Gemma 3 model directory")
        return cls(
            checkpoint=Path(run["checkpoint"]),
            image_size=int(run.get("image_size", 896)),
            seed=int(run.get("seed", 0)),
            train=from_mapping(TrainConfig, run.get("train"), "train"),
            decode=from_mapping(DecodeConfig, run.get("decode"), "decode"),
        )
