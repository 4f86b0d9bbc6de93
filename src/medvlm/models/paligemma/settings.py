"""The PaliGemma family's hyper-parameters (defaults: the study's attention-only SGD recipe).

A run (one entry of the workflow config's ``runs:``) is a plain dict::

    {"family": "paligemma", "checkpoint": <big_vision .npz, or a directory holding one>,
     "image_size": int, "seed": int, "train": {...TrainSettings...}, "decode": {...}}

The keys both families share are defined in :mod:`medvlm.settings`; the classes here add
PaliGemma's own keys and give PaliGemma's defaults.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from medvlm.records import TaskType
from medvlm.settings import (
    SHORT_ANSWER_TOKENS,
    RunSettings,
    SettingError,
    Settings,
    SharedDecodeSettings,
    SharedTrainSettings,
    check,
    check_choice,
    check_regex,
)

CHECKPOINT = "a big_vision .npz or its directory, or a transformers PaliGemma folder"
OPTIMIZERS = ("sgd", "adam", "adamw")
DTYPES = ("float32", "bfloat16", "float16")
# Regexes over flat parameter names ("llm/layers/attn/q_einsum/w").
TRAINABLE_PRESETS = {
    "attention": r"llm/layers/attn/(q_einsum|kv_einsum|qkv_einsum|attn_vec_einsum)/w",
    "llm": r"llm/.*",
    "full": r".*",
}
# LoRA's default targets: the attention einsums and the two MLP einsums of the LLM.
# The orders of instance-detection objects in location-token targets (location_tokens.py).
INSTANCE_ORDERS = ("id", "reading")
LORA_TARGETS = (
    r"llm/layers/(attn/(q_einsum|kv_einsum|qkv_einsum|attn_vec_einsum)/w"
    r"|mlp/(gating_einsum|linear))"
)
# New tokens per task type: short for labels and numbers, long for boxes and reports.
DEFAULT_MAX_NEW_TOKENS = {
    **SHORT_ANSWER_TOKENS,
    TaskType.DETECTION: 128,
    TaskType.INSTANCE_DETECTION: 256,
    TaskType.REPORT_GENERATION: 256,
}


class TrainSettings(SharedTrainSettings):
    """Fine-tuning; the shared keys are described in :class:`medvlm.settings.SharedTrainSettings`.

    PaliGemma's meaning of the shared keys: ``steps`` is required (100); ``batch_size`` (8) is
    split over every device of every process (a multiple of the device count) and is one
    update; ``nodes`` × ``processes`` above one trains in that many JAX processes, one per GPU,
    over one global mesh (see :mod:`.launch`);
    ``lora_rank`` 0 (the default) trains without LoRA, above 0 every base weight is frozen and
    only low-rank factors train at each leaf ``lora_targets`` (a regex matched fully against
    flat parameter names; default the attention and MLP einsums of the LLM) selects;
    ``warmup_fraction`` (0.1) precedes a cosine decay to zero; ``weight_decay`` applies to
    "adamw". Activations are always float32.
    """

    # the shared keys, with this family's defaults
    steps: int = 100
    batch_size: int = 8
    learning_rate: float = 3e-4
    warmup_fraction: float = 0.1
    max_grad_norm: float = 1.0
    lora_rank: int = 0
    lora_targets: str = LORA_TARGETS
    val_examples: int | None = 256
    activation_checkpointing: bool = False
    # this family's own keys
    optimizer: str = Field("sgd", description="`sgd` (the study's), `adam` or `adamw`")
    momentum: float | None = Field(None, description="SGD momentum; `null` = plain SGD")
    trainable: str = Field(
        "attention",
        description="`attention` (q/kv/attn_vec einsums, the study's), `llm`, `full`, or a regex "
        "matched fully against flat parameter names; ignored with LoRA",
    )
    frozen_dtype: str = Field(
        "bfloat16", description="storage of frozen weights (`float32`, `bfloat16`, `float16`)"
    )
    trainable_dtype: str = Field(
        "float32", description="storage of trained weights (`float32`, `bfloat16`, `float16`)"
    )
    seqlen: int = Field(
        128,
        description="text tokens per example, prompt + answer, image tokens not counted; every "
        "example is padded to it, longer ones are cut (and counted in the log)",
    )
    prompt_template: str = Field(
        "{prompt}",
        description="text around the task prompt, `{prompt}` = the question with the task's "
        'format hint, e.g. `"answer en {prompt}"` (quoted: YAML reads `{...}` as a mapping)',
    )
    multi_image: str = Field(
        "tile",
        description="several views: `tile` (one image on a grid) or `concat` (tokens of every "
        "view)",
    )
    final_softcap: float = Field(
        0.0, description="final-logit soft cap; `0` = off, as in the official fine-tuning configs"
    )
    location_tokens: bool = Field(
        True,
        description="detection and instance-detection targets in PaliGemma's `<locYYYY>` syntax "
        "(`<locYMIN><locXMIN><locYMAX><locXMAX> label`, objects joined by ` ; `), decoded back to "
        "pixel boxes of the original image before scoring; `false`: JSON boxes in `box_frame`. "
        "Also read by predict",
    )
    instance_order: str = Field(
        "id",
        description="the order of instance-detection objects in location-token targets: `id` (by "
        "id, as the reference writes them) or `reading` (top edge, then left edge: the model "
        "scans the image instead of looking for the next id first; `make learn-levers` measures "
        "it)",
    )
    fsdp_min_mib: float = Field(
        4.0,
        description="tensors larger than this are split over the devices, smaller ones replicated",
    )

    def check_values(self) -> None:
        super().check_values()
        check(self.seqlen >= 1, "seqlen", "must be at least 1")
        check_choice(self.optimizer, OPTIMIZERS, "optimizer")
        for key in ("frozen_dtype", "trainable_dtype"):
            check_choice(getattr(self, key), DTYPES, key)
        check_choice(self.multi_image, ("tile", "concat"), "multi_image")
        check_choice(self.instance_order, INSTANCE_ORDERS, "instance_order")
        check("{prompt}" in self.prompt_template, "prompt_template", "needs {prompt}")
        check(self.final_softcap >= 0, "final_softcap", "must not be negative (0 = off)")
        check(self.fsdp_min_mib >= 0, "fsdp_min_mib", "must not be negative")
        check_regex(self.trainable_regex, "trainable")
        check_regex(self.lora_targets, "lora_targets")
        processes = self.nodes * self.processes
        check(
            self.batch_size % processes == 0,
            "batch_size",
            f"must be a multiple of nodes × processes ({processes}): every process gets an "
            "equal block of each batch",
        )

    @property
    def trainable_regex(self) -> str:
        return TRAINABLE_PRESETS.get(self.trainable, self.trainable)


class DecodeSettings(SharedDecodeSettings):
    """Greedy batched decoding with a KV cache (shared keys: ``SharedDecodeSettings``)."""

    DEFAULT_MAX_NEW_TOKENS: ClassVar[dict[str, int]] = DEFAULT_MAX_NEW_TOKENS

    batch_size: int = 16
    prompt_len: int = Field(128, description="prompt tokens (prompts are padded or cut to it)")

    def check_values(self) -> None:
        super().check_values()
        check(self.prompt_len >= 2, "prompt_len", "must be at least 2")


class DemoSettings(Settings):
    """The tiny random PaliGemma 2 the workflow builds for ``checkpoint: demo`` (every key
    optional under ``demo_models.paligemma``).

    image_size: pixels per side (224); a run on the demo model must use the same.
    patch: ViT patch size (32); divides ``image_size``. width, depth: of both towers (32, 2).
    vocab_size: sentencepiece pieces learnt from the training texts, before the 1152 loc/seg
        tokens (800). seed: the random weights (0).
    """

    image_size: int = 224
    patch: int = 32
    width: int = 32
    depth: int = 2
    vocab_size: int = 800
    seed: int = 0

    def check_values(self) -> None:
        super().check_values()
        for key in ("image_size", "patch", "depth", "vocab_size"):
            check(getattr(self, key) >= 1, key, "must be at least 1")
        check(self.width >= 4 and self.width % 4 == 0, "width", "must be a multiple of 4")
        check(self.image_size % self.patch == 0, "patch", f"must divide {self.image_size}")


class PaliGemmaRun(RunSettings):
    """One run of the family.

    checkpoint: a big_vision ``.npz`` (tokenizer ``tokenizer.model`` or
        ``paligemma_tokenizer.model`` beside it), or a directory holding one ``.npz`` and the
        tokenizer; an optional ``config.json`` beside it fixes the model config, otherwise the
        config is read off the checkpoint's shapes. Or a transformers folder (``config.json``
        of ``model_type`` paligemma, safetensors weights, ``tokenizer.model`` or
        ``tokenizer.json``), told apart by its files.
    image_size: the shard size; must match the checkpoint's (224, 448, 896).
    seed: data order and new embedding rows.
    """

    FAMILY: ClassVar[str] = "paligemma"
    CHECKPOINT_HINT: ClassVar[str] = CHECKPOINT
    DEMO: ClassVar[type[DemoSettings]] = DemoSettings

    image_size: int = 224
    train: TrainSettings = Field(default_factory=TrainSettings)
    decode: DecodeSettings = Field(default_factory=DecodeSettings)

    def check_checkpoint(self) -> None:
        from medvlm.models.paligemma.checkpoint import checkpoint_config
        from medvlm.models.paligemma.config import CheckpointMismatch

        try:
            config = checkpoint_config(self.checkpoint)
        except (CheckpointMismatch, FileNotFoundError) as error:
            raise SettingError("checkpoint", str(error)) from None
        check(
            config is None or config.img.image_size == self.image_size,
            "image_size",
            f"is {self.image_size} but the checkpoint {self.checkpoint} is for "
            f"{config and config.img.image_size} px images: the two must match",
        )

    def check_demo(self, demo: DemoSettings) -> None:
        check(
            self.image_size == demo.image_size,
            "image_size",
            f"is {self.image_size} but the demo model is built for {demo.image_size} px images "
            "(demo_models.paligemma.image_size): the two must match",
        )
