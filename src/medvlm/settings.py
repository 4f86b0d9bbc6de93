"""One settings vocabulary for both model families, and reading it from plain config dicts.

A run's ``train:`` and ``decode:`` mappings become a family's ``TrainSettings`` and
``DecodeSettings`` (pydantic models), which extend :class:`SharedTrainSettings` and
:class:`SharedDecodeSettings`: a concept both families have (optimiser updates, LoRA rank, the
validation interval, new tokens per task type, ...) has one key, one description
(``Field(description=...)``, which config/README.md's tables and the schema's ``train``/``decode``
definitions are generated from, :mod:`medvlm.settings_reference`) and one check, here. A family
changes only a shared key's default (and may narrow its type or values).

Every model is strict (a YAML int is taken for a float, a list for a tuple, nothing else is
converted), forbids unknown keys and is frozen. Pydantic's errors become :class:`SettingError`
naming the key, the problem and what is allowed (with a did-you-mean for an unknown key), never a
raw ``ValidationError``. This module imports neither JAX nor torch: the workflow checks every run
with it while the DAG is built.
"""

from __future__ import annotations

import difflib
import math
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from medvlm.records import TASK_TYPES, TaskType
from medvlm.tasks.box_frame import FRAMES, NORMALIZED

# New tokens for the short answers (labels and numbers), the same in both families; each adds
# its own budgets for boxes and reports, whose length depends on the tokenizer.
SHORT_ANSWER_TOKENS = {
    TaskType.CLASSIFICATION: 24,
    TaskType.MULTI_LABEL: 64,
    TaskType.COUNTING: 12,
    TaskType.REGRESSION: 16,
}
SELECT = ("score", "loss", "final")  # train.select: see medvlm.models.best_weights
REPORT_TO = ("tensorboard",)  # train.report_to: see medvlm.models.curves
EXPERTS_BY_TASK = "task_type"  # train.experts: one adapter per task type (medvlm.models.experts)


class SettingError(ValueError):
    """A bad setting: ``key`` is its dotted path relative to where it was read."""

    def __init__(self, key: str, problem: str):
        self.key, self.problem = key, problem
        super().__init__(f"{key}: {problem}" if key else problem)

    def under(self, prefix: str) -> SettingError:
        """The same error with ``prefix`` in front of the key (``train.steps`` under ``run``)."""
        if not prefix:
            return self
        return SettingError(f"{prefix}.{self.key}" if self.key else prefix, self.problem)


def check(condition: bool, key: str, problem: str) -> None:
    """Raise ``SettingError(key, problem)`` unless ``condition`` holds."""
    if not condition:
        raise SettingError(key, problem)


def check_choice(value: Any, allowed, key: str) -> None:
    """``value`` must be one of ``allowed``; the error lists them."""
    check(value in allowed, key, f"{value!r} is not one of {', '.join(map(repr, allowed))}")


def check_regex(pattern: str, key: str) -> None:
    """``pattern`` must compile as a regular expression."""
    try:
        re.compile(pattern)
    except re.error as error:
        raise SettingError(key, f"{pattern!r} is not a regular expression ({error})") from None


def _as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


T = TypeVar("T")
# A tuple field that YAML writes as a list (strict mode takes no list for a tuple by itself).
ListOf = Annotated[tuple[T, ...], BeforeValidator(_as_tuple)]


def _bare(kind):
    """``kind`` without ``Annotated[...]`` metadata."""
    while typing.get_origin(kind) is Annotated:
        kind = typing.get_args(kind)[0]
    return kind


def _is_union(kind) -> bool:
    return typing.get_origin(kind) in (typing.Union, types.UnionType)


def _is_settings(kind) -> bool:
    """A nested settings block (``train.mixture``), read from a mapping of its own keys."""
    return isinstance(kind, type) and issubclass(kind, Settings)


def describe(kind) -> str:
    """A type annotation in words, for error messages and config/README.md."""
    kind = _bare(kind)
    names = {int: "a whole number", float: "a number", bool: "true or false", str: "a string"}
    names |= {Path: "a path", type(None): "null"}
    if kind in names:
        return names[kind]
    if _is_settings(kind):
        return "a mapping of settings"
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if _is_union(kind):
        return " or ".join(describe(arg) for arg in args)
    if origin is tuple:
        return f"a list of {_plural(describe(args[0]))}"
    if origin is dict:
        return f"a mapping to {_plural(describe(args[1]))}"
    return getattr(kind, "__name__", str(kind))


def _plural(words: str) -> str:
    """``a string`` → ``strings``, ``a list of strings`` → ``lists of strings``."""
    head, _, rest = words.removeprefix("a ").partition(" of ")
    return f"{head}s of {rest}" if rest else f"{head}s"


# YAML 1.1 reads 3e-4 (no dot in the mantissa) as a string, not as a number
_NO_DOT_EXPONENT = re.compile(r"([-+]?\d+)[eE]([-+]?\d+)")


def _got(value: Any) -> str:
    text = f"{value!r} ({type(value).__name__})"
    if not isinstance(value, str):
        return text
    no_dot = _NO_DOT_EXPONENT.fullmatch(value.strip())
    if no_dot:
        written = f"{no_dot[1]}.0e{no_dot[2]}"
        return f"{text}; YAML reads a number without a dot in its mantissa as text: write {written}"
    try:
        float(value)
    except ValueError:
        return text
    return f"{text}; a number in quotes is text: write it without the quotes"


def _unknown_key(cls, key: Any) -> str:
    known = list(cls.model_fields)
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key; {hint}known keys: {', '.join(sorted(known))}"


def _error_of(cls, values: Any, error: dict) -> SettingError:
    """One pydantic error (``loc``, ``type``) as a :class:`SettingError` keyed relative to
    ``values``: the loc is followed through the fields' annotations, so a wrong value is
    described by what its key allows (a union as a whole, as a person reads it)."""
    key, kind, value = "", cls, values
    parts = list(error["loc"])
    while parts:
        part, kind = parts[0], _bare(kind)
        if _is_union(kind):
            options = [arg for arg in typing.get_args(kind) if arg is not type(None)]
            if len(options) > 1:
                break  # pydantic names the member tried next: report at the union's key
            kind = _bare(options[0])  # X | None: pydantic's loc goes straight into X
        parts.pop(0)
        if _is_settings(kind):
            if part not in kind.model_fields:
                return SettingError(f"{key}.{part}".lstrip("."), _unknown_key(kind, part))
            key, kind = f"{key}.{part}".lstrip("."), kind.model_fields[part].annotation
            value = value.get(part) if isinstance(value, dict) else getattr(value, part, None)
        elif parts[:1] == ["[key]"]:
            return SettingError(key, f"key {part!r} is not a string")
        elif isinstance(part, int):
            key, kind, value = f"{key}[{part}]", typing.get_args(kind)[0], value[part]
        else:
            key, kind, value = f"{key}.{part}", typing.get_args(kind)[-1], value[part]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, SettingError):  # a model's own check, keyed inside that model
        return cause.under(key)
    if error["type"] == "missing":
        return SettingError(key, "missing")
    return SettingError(key, f"expected {describe(kind)}, got {_got(value)}")


def _setting_error(cls, values: Any, error: ValidationError) -> SettingError:
    """The first of pydantic's errors as a :class:`SettingError`; an unknown key first, as a
    misspelt key is the likeliest cause of the others."""
    errors = error.errors()
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    return _error_of(cls, values, (unknown or errors)[0])


class Settings(BaseModel):
    """Base of every settings model: strict, no extra keys, frozen; after the fields,
    :meth:`check_values` runs (a subclass extends it, calling ``super().check_values()`` first).
    Building one with keyword arguments raises :class:`SettingError` too."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def __init__(self, **values: Any):
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise _setting_error(type(self), values, error) from None

    @model_validator(mode="after")
    def _checked(self):
        self.check_values()
        return self

    def check_values(self) -> None:
        """Checks beyond the types; raise :class:`SettingError` naming the field."""


def from_mapping(cls, values: Any, where: str):
    """``cls`` from the mapping ``values``; every error names ``where.<key>``."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise SettingError(where, f"expected a mapping of settings, got {_got(values)}")
    try:
        return cls.model_validate(values)
    except ValidationError as error:
        raise _setting_error(cls, values, error).under(where) from None


# train.mixture.by: what a record's group is (medvlm.data.mixture.group_of)
MIXTURE_BY = ("dataset", "task_type", "dataset_task")


class MixtureSettings(Settings):
    """``train.mixture``: draw the training examples by group (:mod:`medvlm.data.mixture`).

    A group is drawn with probability proportional to ``weights[group] * size ** (1 /
    temperature)`` and a record uniformly within its group; ``temperature`` 1 without weights is
    uniform over records, a large one uniform over groups.
    """

    by: str = Field(
        "dataset",
        description="what a group is: `dataset`, `task_type`, or `dataset_task` (named "
        "`<data set>/<task type>`, e.g. `chestdr/multi_label`)",
    )
    temperature: float = Field(1.0, description="`T`, positive; `.inf` for uniform over groups")
    weights: dict[str, float] = Field(
        default_factory=dict,
        description="group → a factor ≥ 0 (`1` for a group not named; `0` leaves it out)",
    )

    def check_values(self) -> None:
        super().check_values()
        check_choice(self.by, MIXTURE_BY, "by")
        check(
            self.temperature > 0,
            "temperature",
            f"must be positive, got {self.temperature} (1: uniform over records; .inf: uniform "
            "over groups)",
        )
        for group, weight in self.weights.items():
            key = f"weights.{group}"
            check(math.isfinite(weight) and weight >= 0, key, "must be a finite number >= 0")
            task = group.rpartition("/")[2] if self.by == "dataset_task" else group
            if self.by == "dataset_task":
                check("/" in group, key, "a dataset_task group is named <data set>/<task type>")
            if self.by != "dataset":
                check_choice(task, TASK_TYPES, key)


class SharedTrainSettings(Settings):
    """The training keys both families read; a family's ``TrainSettings`` extends this and
    gives the keys without a default here their family's default."""

    steps: int | None = Field(
        description="optimiser updates; MedGemma's `null` trains `epochs` passes instead"
    )
    batch_size: int = Field(
        description="examples one training process puts through the model per forward/backward "
        "pass (PaliGemma: one update, split over every process's devices; MedGemma: × "
        "`grad_accum` × `nodes` × `processes` per update)"
    )
    learning_rate: float = Field(
        description="peak of the schedule (PaliGemma: warm-up then cosine to 0; MedGemma: "
        "`lr_scheduler`)"
    )
    weight_decay: float = Field(0.0, description="decoupled (AdamW) weight decay")
    warmup_fraction: float = Field(
        description="share of all updates spent on the linear warm-up, in [0, 1)"
    )
    max_grad_norm: float = Field(
        description="the global gradient norm is clipped to this; `0` = no clipping"
    )
    lora_rank: int = Field(
        description="rank of the LoRA factors; PaliGemma trains without LoRA at `0`, MedGemma "
        "always trains LoRA"
    )
    lora_alpha: float = Field(
        16.0, description="LoRA scale numerator: the update is `lora_alpha / lora_rank · A B`"
    )
    lora_targets: str | ListOf[str] = Field(
        description="what LoRA wraps: a regex matched fully against flat parameter names "
        "(PaliGemma) or module names (MedGemma, which also takes `all-linear` or a list of "
        "module names)"
    )
    val_every: int = Field(
        50,
        description="validation every this many updates and after the last: the loss and, with "
        "`select: score`, the selection score of the decoded validation sample",
    )
    val_examples: int | None = Field(
        description="validate on a fixed, seeded sample of this many validation questions, the "
        "task types taking turns (`medvlm.models.best_weights.validation_sample`); `null` = all"
    )
    select: str = Field(
        "score",
        description="which weights the run keeps as `best`: `score` (the highest selection "
        "score of the sample's answers, decoded as `predict` decodes and scored with the default "
        "profile, `src/medvlm/metrics/README.md`; ties to the lower loss), `loss` (the lowest "
        "validation loss, which can rise while answers improve) or `final`",
    )
    box_frame: str = Field(
        NORMALIZED,
        description="JSON boxes in training targets and answers: `normalized` (integers 0–1000 "
        "across the width and height of the image as the model sees it) or `pixels` (of the "
        "original image, whose size the model never sees); answers go back to pixels of the "
        "original image before scoring. PaliGemma's `location_tokens` replace it where on",
    )
    save_every: int = Field(50, description="resume state every this many updates")
    log_every: int = Field(10, description="a `train_log.csv` row every this many updates")
    activation_checkpointing: bool = Field(
        description="recompute activations in the backward pass (less memory, more compute)"
    )
    nodes: int = Field(
        1,
        description="machines the run trains on; above 1 the train job asks SLURM for that many "
        "nodes and starts its processes there through `srun` (a SLURM job only)",
    )
    processes: int = Field(
        1,
        description="training processes per node, one per GPU; the train job asks for `gres: "
        "gpu:<processes>` per node. PaliGemma: JAX processes over one mesh; MedGemma: torchrun "
        "workers (one torchrun per node)",
    )
    mixture: MixtureSettings | None = Field(
        None,
        description="draw the training examples by group: `{by, temperature, weights}`, see "
        "[Data mixtures](#data-mixtures); `null`: each family's own order, uniform over records "
        "(PaliGemma: a seeded permutation per epoch; MedGemma: the trainer's seeded random "
        "sampler)",
    )
    report_to: ListOf[str] = Field(
        REPORT_TO,
        description="live training curves: `[tensorboard]` writes TensorBoard event files to "
        "`results/logs/tensorboard/<run>/` while the run trains (tags `train/loss`, "
        "`train/learning_rate`, `train/grad_norm`, `train/examples_per_s`, `eval/loss`, "
        "`eval/score`, `eval/score/<task type>`; `tensorboard --logdir results/logs/tensorboard`); "
        "`[]`: none. The folder is not a rule output (it never makes a job rerun), a resumed run "
        "goes on in it, a fresh training clears it. PaliGemma writes with tensorboardX, MedGemma "
        "through transformers' `TensorBoardCallback`. W&B: `wandb sync` the folder",
    )
    max_loss_spikes: int | None = Field(
        10,
        description="the divergence guard: a non-finite loss, gradient norm, validation loss or "
        "trained weight stops the run at once; so does the loss spike that makes more than this "
        "many (`null`: spikes never stop it). A spike is an update whose loss is above 10 × the "
        "median of the previous 100 updates' losses (none in the first 100 updates). The train "
        "job fails naming the step and the value; nothing of the diverged update is written "
        "(resume state and kept weights are those of finite updates)",
    )
    experts: str | ListOf[ListOf[str]] | None = Field(
        None,
        description="per-task LoRA experts: `task_type` (one adapter per task type of the "
        "training split) or a list of task-type groups (`[[detection, instance_detection], "
        "[classification, multi_label]]`), one adapter each; every batch holds one group's "
        "questions, and every question is answered with its group's adapter, see [Per-task "
        "experts](#per-task-experts); `null`: one adapter",
    )
    shared_lora: bool = Field(
        False,
        description="with `experts`, one more adapter that every batch trains and every "
        "question uses beside its group's",
    )

    def check_values(self) -> None:
        super().check_values()
        check(self.steps is None or self.steps >= 1, "steps", "must be at least 1")
        self._check_experts()
        for i, target in enumerate(self.report_to):
            check_choice(target, REPORT_TO, f"report_to[{i}]")
        check(
            self.max_loss_spikes is None or self.max_loss_spikes >= 0,
            "max_loss_spikes",
            "must not be negative (null = no limit)",
        )
        check_choice(self.select, SELECT, "select")
        check_choice(self.box_frame, FRAMES, "box_frame")
        for key in ("batch_size", "val_every", "save_every", "log_every", "nodes", "processes"):
            check(getattr(self, key) >= 1, key, "must be at least 1")
        check(self.learning_rate > 0, "learning_rate", "must be positive")
        check(self.weight_decay >= 0, "weight_decay", "must not be negative")
        check(0 <= self.warmup_fraction < 1, "warmup_fraction", "must be in [0, 1)")
        check(self.max_grad_norm >= 0, "max_grad_norm", "must not be negative (0 = off)")
        check(self.lora_rank >= 0, "lora_rank", "must not be negative")
        check(self.lora_alpha > 0, "lora_alpha", "must be positive")
        check(
            self.val_examples is None or self.val_examples >= 1,
            "val_examples",
            "must be at least 1 (or null for all)",
        )

    def _check_experts(self) -> None:
        check(
            self.experts is not None or not self.shared_lora,
            "shared_lora",
            "a shared adapter is beside per-task experts: set train.experts too",
        )
        if self.experts is None:
            return
        if isinstance(self.experts, str):
            check(
                self.experts == EXPERTS_BY_TASK,
                "experts",
                f"{self.experts!r} is not {EXPERTS_BY_TASK!r} or a list of task-type groups",
            )
        else:
            check(bool(self.experts), "experts", "give at least one group of task types")
            seen: set[str] = set()
            for i, group in enumerate(self.experts):
                check(bool(group), f"experts[{i}]", "an empty group")
                for j, task in enumerate(group):
                    check_choice(task, TASK_TYPES, f"experts[{i}][{j}]")
                    check(task not in seen, f"experts[{i}][{j}]", f"{task!r} is in two groups")
                    seen.add(task)
        check(
            self.lora_rank > 0,
            "experts",
            "per-task experts are LoRA adapters: set train.lora_rank above 0 (full fine-tuning "
            "has no experts)",
        )


class SharedDecodeSettings(Settings):
    """The decoding keys both families read; a family's ``DecodeSettings`` extends this.
    ``max_new_tokens`` is merged over the family's ``DEFAULT_MAX_NEW_TOKENS``."""

    DEFAULT_MAX_NEW_TOKENS: ClassVar[dict[str, int]] = {}
    WEIGHTS: ClassVar[tuple[str, ...]] = ("best", "final")

    batch_size: int = Field(
        description="questions per batch; a batch holds one task type"
    )  # no default here: each family gives its own
    max_new_tokens: dict[str, int] = Field(
        default_factory=dict,
        description="new tokens per task type; a config names only the task types it changes",
    )
    weights: str = Field(
        "best",
        description="`best` (the weights `train.select` kept) or `final` weights of the training "
        "run",
    )
    constrained: bool = Field(
        True,
        description="decode under each question's output grammar, so every answer is "
        "well-formed and complete within `max_new_tokens` (`medvlm.constrain`)",
    )

    def check_values(self) -> None:
        super().check_values()
        check(self.batch_size >= 1, "batch_size", "must be at least 1")
        check_choice(self.weights, self.WEIGHTS, "weights")
        merged = dict(self.DEFAULT_MAX_NEW_TOKENS)
        for task, tokens in self.max_new_tokens.items():
            check_choice(task, TASK_TYPES, f"max_new_tokens.{task}")
            check(tokens >= 1, f"max_new_tokens.{task}", "must be at least 1")
            merged[task] = tokens
        object.__setattr__(self, "max_new_tokens", merged)  # frozen: set once, while validating


class RunSettings(Settings):
    """One run of a family. A family's run class sets ``FAMILY`` (its name),
    ``CHECKPOINT_HINT`` (what its checkpoint is) and ``DEMO`` (its demo model's settings class),
    and types the ``train`` and ``decode`` fields with its own settings classes.

    checkpoint: the local checkpoint training starts from (see the family for its layout).
    image_size: the shard size the run reads.
    seed: data order and initialisation.
    """

    FAMILY: ClassVar[str] = ""
    CHECKPOINT_HINT: ClassVar[str] = ""
    DEMO: ClassVar[type[Settings]] = Settings  # the sizes of the family's tiny demo model

    checkpoint: Path = Field(strict=False)  # a string in a config
    image_size: int
    seed: int = 0

    def check_demo(self, demo: Settings) -> None:
        """Raise :class:`SettingError` if this run cannot start from a demo model of ``demo``."""

    def check_checkpoint(self) -> None:
        """Raise :class:`SettingError` if the local checkpoint's files cannot serve this run;
        called at plan time, so it reads only small files and imports no JAX or torch."""

    @classmethod
    def from_run(cls, run: dict[str, Any], where: str = "run"):
        """The settings of ``run`` (a workflow run dict); errors name ``where.<key>``."""
        try:
            return cls._parse(run)
        except SettingError as error:
            raise error.under(where) from None

    @classmethod
    def _parse(cls, run: dict[str, Any]):
        from medvlm.runs import FAMILY_KEYS

        for key in run:
            if key not in FAMILY_KEYS:
                raise SettingError(key, f"unknown key; known keys: {', '.join(FAMILY_KEYS)}")
        if run.get("family", cls.FAMILY) != cls.FAMILY:
            raise SettingError("family", f"expected {cls.FAMILY!r}, got {run['family']!r}")
        check("checkpoint" in run, "checkpoint", f"missing ({cls.CHECKPOINT_HINT})")
        values = {key: run[key] for key in ("checkpoint", "image_size", "seed") if key in run}
        for part in ("train", "decode"):
            values[part] = from_mapping(cls.model_fields[part].annotation, run.get(part), part)
        return cls(**values)
