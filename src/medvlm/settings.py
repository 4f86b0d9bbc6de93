"""One settings vocabulary for both model families, and reading it from plain config dicts.

A run's ``train:`` and ``decode:`` mappings become a family's ``TrainSettings`` and
``DecodeSettings`` dataclasses, which extend :class:`SharedTrainSettings` and
:class:`SharedDecodeSettings`: a concept both families have (optimiser updates, LoRA rank, the
validation interval, new tokens per task type, ...) has one key, one description and one check,
here. A family changes only a shared key's default (and may narrow its type or values).

Every field is checked against its annotation before the dataclass's own checks run, so a
wrong type (``steps: "ten"``) is reported like any other bad value: as a :class:`SettingError`
naming the key, the problem and what is allowed, never as a raw ``TypeError``. This module
imports neither JAX nor torch: the workflow checks every run with it while the DAG is built.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

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


def _describe(kind) -> str:
    """A type annotation in words, for error messages."""
    names = {int: "a whole number", float: "a number", bool: "true or false", str: "a string"}
    names |= {Path: "a path", type(None): "null"}
    if kind in names:
        return names[kind]
    if _is_settings(kind):
        return "a mapping of settings"
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in args)
    if origin is tuple:
        return f"a list of {_describe(args[0]).removeprefix('a ')}s"
    if origin is dict:
        return f"a mapping to {_describe(args[1]).removeprefix('a ')}s"
    return getattr(kind, "__name__", str(kind))


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


def conform(value: Any, kind, key: str) -> Any:
    """``value`` as the annotation ``kind`` holds it (an int for a float, a list for a tuple);
    a value of another type raises :class:`SettingError` naming ``key``."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        for option in args:
            if isinstance(value, dict) and _is_settings(option):
                return conform(value, option, key)  # its errors name the key inside it
            try:
                return conform(value, option, key)
            except SettingError:
                continue
    elif kind is type(None):
        if value is None:
            return None
    elif kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif kind is str:
        if isinstance(value, str):
            return value
    elif kind is Path:
        if isinstance(value, str | Path):
            return Path(value)
    elif origin is tuple:
        if isinstance(value, list | tuple):
            return tuple(conform(item, args[0], f"{key}[{i}]") for i, item in enumerate(value))
    elif origin is dict:
        if isinstance(value, dict):
            for name in value:
                check(isinstance(name, str), key, f"key {name!r} is not a string")
            return {name: conform(item, args[1], f"{key}.{name}") for name, item in value.items()}
    elif dataclasses.is_dataclass(kind) and isinstance(value, kind):
        return value
    elif _is_settings(kind) and isinstance(value, dict):
        return from_mapping(kind, value, key)
    raise SettingError(key, f"expected {_describe(kind)}, got {_got(value)}")


def _is_settings(kind) -> bool:
    """A nested settings block (``train.mixture``), read from a mapping of its own keys."""
    return isinstance(kind, type) and issubclass(kind, Settings)


@functools.cache
def field_types(cls) -> dict[str, Any]:
    """Field name → resolved annotation of a settings dataclass (base classes included)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


@dataclass(frozen=True)
class Settings:
    """Base of every settings dataclass: conforms each field to its annotation, then runs
    :meth:`validate` (a subclass extends it, calling ``super().validate()`` first)."""

    def __post_init__(self):
        for name, kind in field_types(type(self)).items():
            object.__setattr__(self, name, conform(getattr(self, name), kind, name))
        self.validate()

    def validate(self) -> None:
        """Checks beyond the types; raise :class:`SettingError` naming the field."""


def from_mapping(cls, values: Any, where: str):
    """``cls(**values)``; every error names ``where.<key>`` (unknown keys with the known ones)."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise SettingError(where, f"expected a mapping of settings, got {_got(values)}")
    known = [f.name for f in dataclasses.fields(cls) if f.init]
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise SettingError(
                f"{where}.{key}", f"unknown key; {hint}known keys: {', '.join(sorted(known))}"
            )
    try:
        return cls(**values)
    except SettingError as error:
        raise error.under(where) from None


# train.mixture.by: what a record's group is (medvlm.data.mixture.group_of)
MIXTURE_BY = ("dataset", "task_type", "dataset_task")


@dataclass(frozen=True)
class MixtureSettings(Settings):
    """``train.mixture``: draw the training examples by group (:mod:`medvlm.data.mixture`).

    A group is drawn with probability proportional to ``weights[group] * size ** (1 /
    temperature)`` and a record uniformly within its group; ``temperature`` 1 without weights is
    uniform over records, a large one uniform over groups.

    by: "dataset", "task_type" or "dataset_task" (groups named ``<data set>/<task type>``).
    temperature: positive; ``.inf`` for uniform over groups.
    weights: group name → a factor >= 0 (1 for a group not named; 0 leaves it out).
    """

    by: str = "dataset"
    temperature: float = 1.0
    weights: dict[str, float] = field(default_factory=dict)

    def validate(self) -> None:
        super().validate()
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


@dataclass(frozen=True)
class SharedTrainSettings(Settings):
    """The training keys both families read; a family's ``TrainSettings`` extends this.

    steps: optimiser updates (None: as many as ``epochs`` take, where the family has epochs).
    batch_size: examples one training process puts through the model per forward/backward
        pass (see each family for how that makes an update).
    learning_rate: peak learning rate of the schedule.
    weight_decay: decoupled (AdamW) weight decay (0.0).
    warmup_fraction: share of all updates spent on the linear warm-up, in [0, 1).
    max_grad_norm: the global gradient norm is clipped to this; 0 = no clipping.
    lora_rank: rank of the LoRA factors; a family without LoRA by default uses 0 for "off".
    lora_alpha: LoRA scale numerator: the update is ``lora_alpha / lora_rank * A @ B`` (16).
    lora_targets: what LoRA wraps, as names matched fully by a regex (see each family).
    val_every: validation every this many updates, and after the last (50): the loss and, with
        ``select: score``, the selection score of decoded answers.
    val_examples: validate on a fixed, seeded sample of this many validation questions, the task
        types taking turns (:func:`medvlm.models.best_weights.validation_sample`); null = all.
    select: which weights the run keeps as ``best`` (:mod:`medvlm.models.best_weights`):
        "score" (the highest selection score of the decoded validation sample, ties to the lower
        loss), "loss" (the lowest validation loss) or "final" (the last weights).
    box_frame: the frame of JSON box targets and answers (:mod:`medvlm.tasks.box_frame`):
        "normalized" (integers 0 to 1000 across the image as the model sees it) or "pixels" (of
        the original image, which the model does not see); answers go back to original pixels
        before anything scores them. PaliGemma's location tokens, where on, replace it.
    save_every: resume state every this many updates (50).
    log_every: a ``train_log.csv`` row every this many updates (10).
    activation_checkpointing: recompute activations in the backward pass instead of keeping
        them (less memory, more compute).
    nodes: machines the run trains on (1). Above 1 the training job asks SLURM for that many
        nodes and starts its processes there through srun (see each family).
    processes: training processes per node (1); on GPU nodes the GPUs to use there, one per
        process. The train rule asks SLURM for ``nodes`` nodes with ``processes`` GPUs each.
    mixture: draw the training examples by group (:class:`MixtureSettings`); null (the
        default) keeps the family's own uniform order over records.
    report_to: where the live training curves go: ``["tensorboard"]`` (the default: event
        files under ``<results>/logs/tensorboard/<run>/``, :mod:`medvlm.models.curves`) or
        ``[]`` (none).
    max_loss_spikes: the run stops at the loss spike that makes more than this many (10;
        null = spikes never stop it); a non-finite loss or gradient norm stops it at once
        (:mod:`medvlm.models.divergence`).
    experts: per-task LoRA experts (:mod:`medvlm.models.experts`): ``"task_type"`` (one
        adapter per task type of the training split) or a list of task-type groups, one adapter
        each; every training batch holds questions of one group and updates that group's
        adapter (and the shared one); a question is answered with its group's. Null (the
        default): one adapter for everything.
    shared_lora: with ``experts``, one more adapter that every batch trains and every question
        uses, beside its group's (false).
    """

    # no default here: each family gives its own
    steps: int | None
    batch_size: int
    learning_rate: float
    warmup_fraction: float
    max_grad_norm: float
    lora_rank: int
    lora_targets: str | tuple[str, ...]
    val_examples: int | None
    activation_checkpointing: bool
    # the same default in both families
    weight_decay: float = 0.0
    lora_alpha: float = 16.0
    val_every: int = 50
    select: str = "score"
    box_frame: str = NORMALIZED
    save_every: int = 50
    log_every: int = 10
    nodes: int = 1
    processes: int = 1
    mixture: MixtureSettings | None = None
    report_to: tuple[str, ...] = REPORT_TO
    max_loss_spikes: int | None = 10
    experts: str | tuple[tuple[str, ...], ...] | None = None
    shared_lora: bool = False

    def validate(self) -> None:
        super().validate()
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
        check(
            self.mixture is None,
            "experts",
            "train.experts and train.mixture do not combine yet (expert batches hold one group "
            "each; the mixture draws example by example): drop one of them",
        )


@dataclass(frozen=True)
class SharedDecodeSettings(Settings):
    """The decoding keys both families read; a family's ``DecodeSettings`` extends this.

    batch_size: questions per batch; a batch holds one task type only.
    max_new_tokens: new tokens per task type, merged over the family's
        ``DEFAULT_MAX_NEW_TOKENS`` (so a config names only the task types it changes).
    weights: which weights of the training run answer: "best" (the ones ``train.select``
        kept) or "final".
    constrained: decode under each question's output grammar, so every answer is well-formed
        and complete within ``max_new_tokens`` (True; see medvlm.constrain).
    """

    DEFAULT_MAX_NEW_TOKENS: ClassVar[dict[str, int]] = {}
    WEIGHTS: ClassVar[tuple[str, ...]] = ("best", "final")

    batch_size: int  # no default here: each family gives its own
    max_new_tokens: dict[str, int] = field(default_factory=dict)
    weights: str = "best"
    constrained: bool = True

    def validate(self) -> None:
        super().validate()
        check(self.batch_size >= 1, "batch_size", "must be at least 1")
        check_choice(self.weights, self.WEIGHTS, "weights")
        merged = dict(self.DEFAULT_MAX_NEW_TOKENS)
        for task, tokens in self.max_new_tokens.items():
            check_choice(task, TASK_TYPES, f"max_new_tokens.{task}")
            check(tokens >= 1, f"max_new_tokens.{task}", "must be at least 1")
            merged[task] = tokens
        object.__setattr__(self, "max_new_tokens", merged)


@dataclass(frozen=True)
class RunSettings(Settings):
    """One run of a family. A family's run class names itself in its class line
    (``class PaliGemmaRun(RunSettings, family=..., checkpoint_hint=..., demo=...)``: the family's
    name, what its checkpoint is, its demo model's settings class) and sets the ``train`` and
    ``decode`` fields to its own settings classes.

    checkpoint: the local checkpoint training starts from (see the family for its layout).
    image_size: the shard size the run reads.
    seed: data order and initialisation.
    """

    FAMILY: ClassVar[str] = ""
    CHECKPOINT_HINT: ClassVar[str] = ""
    DEMO: ClassVar[type[Settings]] = Settings  # the sizes of the family's tiny demo model

    checkpoint: Path
    image_size: int
    seed: int = 0

    def __init_subclass__(cls, family="", checkpoint_hint="", demo=Settings, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.FAMILY, cls.CHECKPOINT_HINT, cls.DEMO = family, checkpoint_hint, demo

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
        kinds = field_types(cls)
        values = {key: run[key] for key in ("checkpoint", "image_size", "seed") if key in run}
        for part in ("train", "decode"):
            values[part] = from_mapping(kinds[part], run.get(part), part)
        return cls(**values)
