"""The MedGemma family's hyper-parameters, with the defaults of the official LoRA recipe.

A run (one entry of the workflow config's ``runs:``) is a plain dict::

    {"family": "medgemma", "checkpoint": <local model dir>, "image_size": int, "seed": int,
     "train": {...TrainSettings...}, "decode": {...DecodeSettings...}}

Shared keys (:mod:`medvlm.settings`) get MedGemma's defaults here, next to MedGemma's own keys
(LoRA dropout, gradient accumulation, epochs, torchrun processes, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from medvlm.models.medgemma.demo_model import DemoSettings
from medvlm.records import TaskType
from medvlm.settings import (
    SHORT_ANSWER_TOKENS,
    RunSettings,
    SharedDecodeSettings,
    SharedTrainSettings,
    check,
    check_regex,
)

# New tokens per task type: short answers for labels and numbers, long for boxes and reports.
DEFAULT_MAX_NEW_TOKENS = {
    **SHORT_ANSWER_TOKENS,
    TaskType.DETECTION: 192,
    TaskType.INSTANCE_DETECTION: 384,
    TaskType.REPORT_GENERATION: 384,
}


ALL_LINEAR = "all-linear"
CHECKPOINT = "a local Gemma 3 model directory"


@dataclass(frozen=True)
class TrainSettings(SharedTrainSettings):
    """LoRA fine-tuning with TRL's ``SFTTrainer`` (defaults: the MedGemma notebook's recipe); the
    shared keys are described in :class:`medvlm.settings.SharedTrainSettings`.

    MedGemma's meaning of the shared keys: ``steps`` null (the default) trains ``epochs``
    passes, a number overrides them; ``batch_size`` (2) is per process and micro-step, so an
    update sees ``batch_size * grad_accum * nodes * processes`` examples; ``processes`` are
    torchrun workers per node, and ``nodes`` above 1 start one torchrun per node through srun
    with a c10d rendezvous on the allocation's first node (see :mod:`.launch`); LoRA is always on
    (``lora_rank`` >= 1, 16); ``lora_targets`` is "all-linear" (the default: every linear
    layer of the language model), a regex matched fully against module names, or a list of
    module names (PEFT's ``target_modules``); ``warmup_fraction`` 0.03; ``max_grad_norm`` 0.3;
    ``activation_checkpointing`` on. MedGemma has no location tokens: its boxes are JSON in
    ``box_frame``.

    lora_dropout: dropout on the LoRA input (0.05).
    lr_scheduler: a transformers scheduler name ("linear").
    optimizer: a transformers ``optim`` name; ``None`` picks ``adamw_torch_fused`` on a GPU and
        ``adamw_torch`` on the CPU.
    grad_accum: micro-steps accumulated per update (4). epochs: passes over the training split
        (1.0) when ``steps`` is null.
    attn_implementation: "eager" (recommended for Gemma 3 training), "sdpa", ...
    max_length: truncate tokenised examples, image tokens included, to this length; ``None``
        never truncates (a cut through the image tokens would break the example).
    dataloader_workers: processes that build batches (0 = in the training process).
    """

    # the shared keys, with this family's defaults
    steps: int | None = None
    batch_size: int = 2
    learning_rate: float = 2e-4
    warmup_fraction: float = 0.03
    max_grad_norm: float = 0.3
    lora_rank: int = 16
    lora_targets: str | tuple[str, ...] = ALL_LINEAR
    val_examples: int | None = 256
    activation_checkpointing: bool = True
    # this family's own keys
    lora_dropout: float = 0.05
    lr_scheduler: str = "linear"
    optimizer: str | None = None
    grad_accum: int = 4
    epochs: float = 1.0
    attn_implementation: str = "eager"
    max_length: int | None = None
    dataloader_workers: int = 0

    def validate(self) -> None:
        super().validate()
        check(self.lora_rank >= 1, "lora_rank", "must be at least 1 (MedGemma always trains LoRA)")
        check(self.grad_accum >= 1, "grad_accum", "must be at least 1")
        check(0 <= self.lora_dropout < 1, "lora_dropout", "must be in [0, 1)")
        check(self.epochs > 0, "epochs", "must be positive")
        check(self.max_length is None or self.max_length >= 16, "max_length", "must be >= 16")
        check(self.dataloader_workers >= 0, "dataloader_workers", "must not be negative")
        if isinstance(self.lora_targets, str) and self.lora_targets != ALL_LINEAR:
            check_regex(self.lora_targets, "lora_targets")
        check(len(self.lora_targets) > 0, "lora_targets", "must name at least one module")


@dataclass(frozen=True)
class DecodeSettings(SharedDecodeSettings):
    """Greedy batched generation (shared keys: ``SharedDecodeSettings``).

    batch_size: questions per ``generate`` call (8).
    merge_adapter: fold the LoRA weights into the base model before generating (faster, same
        greedy output).
    attn_implementation: attention kernel for generation ("sdpa").
    """

    DEFAULT_MAX_NEW_TOKENS: ClassVar[dict[str, int]] = DEFAULT_MAX_NEW_TOKENS

    batch_size: int = 8
    merge_adapter: bool = True
    attn_implementation: str = "sdpa"


@dataclass(frozen=True)
class MedGemmaRun(RunSettings, family="medgemma", checkpoint_hint=CHECKPOINT, demo=DemoSettings):
    """One run of the family: the checkpoint it starts from and how it trains and decodes.

    checkpoint: a local Gemma 3 vision-language model directory (``save_pretrained`` layout).
    image_size: the shard size the images come from (the processor resizes them itself).
    seed: seeds LoRA initialisation, data order and dropout.
    """

    image_size: int = 896
    train: TrainSettings = field(default_factory=TrainSettings)
    decode: DecodeSettings = field(default_factory=DecodeSettings)
