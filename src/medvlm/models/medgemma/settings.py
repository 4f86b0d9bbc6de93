"""The MedGemma family's hyper-parameters, with the defaults of the official LoRA recipe.

A run (one entry of the workflow config's ``runs:``) is a plain dict::

    {"family": "medgemma", "checkpoint": <local model dir>, "image_size": int, "seed": int,
     "train": {...TrainSettings...}, "decode": {...DecodeSettings...}}

Shared keys (:mod:`medvlm.settings`) get MedGemma's defaults here, next to MedGemma's own keys
(LoRA dropout, gradient accumulation, epochs, torchrun processes, ...).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from medvlm.models.medgemma.demo_model import DemoSettings
from medvlm.records import DETECTION, INSTANCE_DETECTION, REPORT_GENERATION
from medvlm.settings import (
    SHORT_ANSWER_TOKENS,
    ListOf,
    RunSettings,
    SharedDecodeSettings,
    SharedTrainSettings,
    check,
    check_regex,
)

# New tokens per task type: short answers for labels and numbers, long for boxes and reports.
DEFAULT_MAX_NEW_TOKENS = {
    **SHORT_ANSWER_TOKENS,
    DETECTION: 192,
    INSTANCE_DETECTION: 384,
    REPORT_GENERATION: 384,
}


ALL_LINEAR = "all-linear"
CHECKPOINT = "a local Gemma 3 model directory"


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
    """

    # the shared keys, with this family's defaults
    steps: int | None = None
    batch_size: int = 2
    learning_rate: float = 2e-4
    warmup_fraction: float = 0.03
    max_grad_norm: float = 0.3
    lora_rank: int = 16
    lora_targets: str | ListOf[str] = ALL_LINEAR
    val_examples: int | None = 256
    activation_checkpointing: bool = True
    # this family's own keys
    lora_dropout: float = Field(0.05, description="dropout on the LoRA input")
    lr_scheduler: str = Field("linear", description="a transformers scheduler name")
    optimizer: str | None = Field(
        None,
        description="a transformers `optim` name; `null` = `adamw_torch_fused` on a GPU, "
        "`adamw_torch` on the CPU",
    )
    grad_accum: int = Field(4, description="micro-steps accumulated per update")
    epochs: float = Field(1.0, description="passes over the training split when `steps` is `null`")
    attn_implementation: str = Field(
        "eager",
        description="attention kernel for training (`eager` is recommended for Gemma 3; `sdpa`, "
        "...)",
    )
    max_length: int | None = Field(
        None,
        description="truncate each tokenised example, image tokens included, to this length; "
        "`null` never cuts (a cut through the image tokens would break the example)",
    )
    dataloader_workers: int = Field(
        0, description="processes that build batches (`0` = the training process)"
    )

    def check_values(self) -> None:
        super().check_values()
        check(self.lora_rank >= 1, "lora_rank", "must be at least 1 (MedGemma always trains LoRA)")
        check(self.grad_accum >= 1, "grad_accum", "must be at least 1")
        check(0 <= self.lora_dropout < 1, "lora_dropout", "must be in [0, 1)")
        check(self.epochs > 0, "epochs", "must be positive")
        check(self.max_length is None or self.max_length >= 16, "max_length", "must be >= 16")
        check(self.dataloader_workers >= 0, "dataloader_workers", "must not be negative")
        if isinstance(self.lora_targets, str) and self.lora_targets != ALL_LINEAR:
            check_regex(self.lora_targets, "lora_targets")
        check(len(self.lora_targets) > 0, "lora_targets", "must name at least one module")


class DecodeSettings(SharedDecodeSettings):
    """Greedy batched generation (shared keys: ``SharedDecodeSettings``); ``batch_size`` is the
    questions per ``generate`` call."""

    DEFAULT_MAX_NEW_TOKENS: ClassVar[dict[str, int]] = DEFAULT_MAX_NEW_TOKENS

    batch_size: int = 8
    merge_adapter: bool = Field(
        True,
        description="fold the LoRA weights into the base model before generating (faster, same "
        "greedy output)",
    )
    attn_implementation: str = Field("sdpa", description="attention kernel for generation")


class MedGemmaRun(RunSettings):
    """One run of the family: the checkpoint it starts from and how it trains and decodes.

    checkpoint: a local Gemma 3 vision-language model directory (``save_pretrained`` layout).
    image_size: the shard size the images come from (the processor resizes them itself).
    seed: seeds LoRA initialisation, data order and dropout.
    """

    FAMILY: ClassVar[str] = "medgemma"
    CHECKPOINT_HINT: ClassVar[str] = CHECKPOINT
    DEMO: ClassVar[type[DemoSettings]] = DemoSettings

    image_size: int = 896
    train: TrainSettings = Field(default_factory=TrainSettings)
    decode: DecodeSettings = Field(default_factory=DecodeSettings)
