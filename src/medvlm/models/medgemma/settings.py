"""The MedGemma family's hyper-parameters, with the defaults of the official LoRA recipe.

A run (one entry of the workflow config's ``runs:``) is a plain dict::

    {"family": "medgemma", "checkpoint": <local model dir>, "image_size": int, "seed": int,
     "train": {...TrainSettings...}, "decode": {...DecodeSettings...}}

Shared keys (:mod:`medvlm.settings`) get MedGemma's defaults here, next to MedGemma's own keys
(LoRA dropout, gradient accumulation, epochs, torchrun processes, ...).
"""

from __future__ import annotations

import difflib
from typing import Any, ClassVar

from pydantic import Field

from medvlm.models.medgemma.demo_model import DemoSettings
from medvlm.models.medgemma.sft_fields import SFT_CONFIG_FIELDS, TRL_VERSION
from medvlm.records import TaskType
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
    TaskType.DETECTION: 192,
    TaskType.INSTANCE_DETECTION: 384,
    TaskType.REPORT_GENERATION: 384,
}


ALL_LINEAR = "all-linear"
CHECKPOINT = "a local Gemma 3 model directory"
# The SFTConfig fields medvlm.models.medgemma.train.sft_arguments sets, and from what:
# train.sft_args may not set them (two sources for one value would be ambiguous).
SFT_MAPPED = {
    "output_dir": "the run's resume folder",
    "per_device_train_batch_size": "train.batch_size",
    "per_device_eval_batch_size": "train.batch_size",
    "gradient_accumulation_steps": "train.grad_accum",
    "learning_rate": "train.learning_rate",
    "lr_scheduler_type": "train.lr_scheduler",
    "warmup_steps": "train.warmup_fraction",
    "weight_decay": "train.weight_decay",
    "max_grad_norm": "train.max_grad_norm",
    "optim": "train.optimizer",
    "num_train_epochs": "train.epochs",
    "max_steps": "train.steps",
    "logging_steps": "train.log_every",
    "eval_strategy": "train.val_every",
    "eval_steps": "train.val_every",
    "save_strategy": "train.save_every",
    "save_steps": "train.save_every",
    "save_total_limit": "medvlm's resume (two checkpoints kept)",
    "seed": "the run's seed",
    "data_seed": "the run's seed",
    "bf16": "the device (bfloat16 on a GPU)",
    "use_cpu": "the device",
    "activation_checkpointing": "train.activation_checkpointing",
    "max_length": "train.max_length",
    "remove_unused_columns": "medvlm's lazy examples (False)",
    "dataloader_num_workers": "train.dataloader_workers",
    "report_to": "train.report_to (medvlm's own TensorBoard callback)",
}


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
    sft_args: dict[str, Any] = Field(
        default_factory=dict,
        description="more arguments of TRL's `SFTConfig` (field name → value, e.g. `{adam_beta2: "
        "0.95}`), passed through after the ones medvlm sets from the keys above; an unknown "
        "field, or one medvlm sets (`weight_decay`: set `train.weight_decay`), stops the run at "
        "`snakemake -n` naming the key",
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
        for name in self.sft_args:
            key = f"sft_args.{name}"
            close = difflib.get_close_matches(name, SFT_CONFIG_FIELDS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            check(
                name in SFT_CONFIG_FIELDS,
                key,
                f"not a field of TRL's SFTConfig (trl {TRL_VERSION}){hint}",
            )
            check(
                name not in SFT_MAPPED,
                key,
                f"medvlm sets SFTConfig.{name} from {SFT_MAPPED.get(name)}: set that instead",
            )


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
