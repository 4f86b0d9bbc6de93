"""Fine-tuning: a sharded, jitted train step, validation, best/final weights, resume.

``out_dir`` gets ``final.npz``, ``best.npz`` (the weights ``train.select`` keeps, see
:mod:`medvlm.models.best_weights`) and ``train_log.csv``; the resume state and the best weights
so far live in ``resume_dir`` until the run ends. Whether that state belongs to this training is
decided before (:func:`medvlm.models.base.claim_resume_dir`).

The losses and gradient norms stay on the device until a log row, a validation or a save needs
them; then the divergence guard (:mod:`medvlm.models.divergence`) checks every update since the
last such point, in order, before anything is written. Curves go to TensorBoard at each log row
and validation (:mod:`medvlm.models.curves`).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Protocol

import jax
import numpy as np

from medvlm.data.mixture import GROUP_LOG
from medvlm.io import atomic_path, write_json
from medvlm.metrics.selection import Selection
from medvlm.models.base import (
    TRAIN_LOG,
    SplitData,
    claim_resume_dir,
    release_resume_dir,
    training_fingerprint,
    write_train_log,
)
from medvlm.models.best_weights import Candidate, is_better, validation_sample
from medvlm.models.curves import (
    EVAL_LOSS,
    EXAMPLES_PER_S,
    GRAD_NORM,
    LEARNING_RATE,
    TENSORBOARD,
    TRAIN_LOSS,
    Curves,
    score_curves,
)
from medvlm.models.divergence import DivergenceGuard
from medvlm.models.experts import Experts, split_experts
from medvlm.models.paligemma.answer import RoutedWeights, ValidationScorer
from medvlm.models.paligemma.batches import Batcher, BatchOrder
from medvlm.models.paligemma.checkpoint import (
    CONFIG_NAME,
    checkpoint_files,
    load_params,
    save_params,
    source_files,
    write_npz,
)
from medvlm.models.paligemma.decode import Decoder
from medvlm.models.paligemma.distributed import ProcessRows, barrier, is_main, to_host
from medvlm.models.paligemma.loading import check_image_size, model_config
from medvlm.models.paligemma.lora import factors_of
from medvlm.models.paligemma.model import PaliGemma
from medvlm.models.paligemma.optim import trainable_and_frozen
from medvlm.models.paligemma.params import flatten, unflatten
from medvlm.models.paligemma.resume import load_state, save_state
from medvlm.models.paligemma.settings import PaliGemmaRun, TrainSettings
from medvlm.models.paligemma.sharding import batch_sharding, data_mesh, put_batch
from medvlm.models.paligemma.step import TrainStep
from medvlm.models.paligemma.tokenizer import load_tokenizer
from medvlm.records import Record

log = logging.getLogger(__name__)

BEST_FILE = "best.npz"


class Trainer:
    """A :class:`TrainStep` with the weights; the train state is ``(trainable, opt_state)``.

    With LoRA (``settings.lora_rank`` > 0) ``trainable`` is the low-rank factors (``seed`` draws
    their A halves) and the weights the model sees are merged inside the loss. With ``experts``
    it holds every adapter's factors, and a step, a loss or the scored weights name the batch's
    group (:class:`.step.TrainStep`).
    """

    def __init__(
        self,
        model: PaliGemma,
        params: dict,
        settings: TrainSettings,
        mesh=None,
        seed: int = 0,
        experts: Experts | None = None,
    ):
        self.model, self.settings, self.experts = model, settings, experts
        self.mesh = mesh if mesh is not None else data_mesh()
        trainable, frozen = trainable_and_frozen(flatten(params), settings, seed, experts)
        trainable = {
            k: np.asarray(v).astype(settings.trainable_dtype) for k, v in trainable.items()
        }
        frozen = {k: np.asarray(v).astype(settings.frozen_dtype) for k, v in frozen.items()}
        self.fns = TrainStep(model, settings, self.mesh, trainable, frozen, experts)
        self.lr = self.fns.lr
        self.frozen = jax.device_put(frozen, self.fns.frozen_shardings)
        self.initial = trainable

    def init_state(self):
        trainable = jax.device_put(self.initial, self.fns.param_shardings)
        return trainable, self.fns.init_opt(trainable)

    def put_state(self, trainable, opt_state):
        return (
            jax.device_put(trainable, self.fns.param_shardings),
            jax.device_put(opt_state, self.fns.opt_shardings),
        )

    def step(self, trainable, opt_state, batch, group: str | None = None):
        """One update (of ``group``'s adapters, with experts); returns ``(trainable,
        opt_state, loss, grad_norm)`` (the loss and the gradient norm before clipping stay on
        the device)."""
        return self.fns.update(trainable, opt_state, self.frozen, self._put(batch), group=group)

    def all_finite(self, trainable, opt_state) -> bool:
        """Whether every trained weight and optimizer value is finite (checked before they are
        written; a computation of its own, so the update stays as it is)."""
        return bool(self.fns.all_finite((trainable, opt_state)))

    def loss_sums(self, trainable, batch, group: str | None = None) -> tuple[float, float]:
        """The weighted sum of a batch's example losses and the sum of its weights (the whole
        batch: every process's rows)."""
        total, weight = self.fns.loss_sums(trainable, self.frozen, self._put(batch), group=group)
        return float(total), float(weight)

    def _put(self, batch: dict) -> dict:
        return put_batch({k: v for k, v in batch.items() if v is not None}, self.mesh)

    def params(self, trainable, group: str | None = None) -> dict:
        """The full parameter tree on the host (frozen + trained, LoRA merged; with experts
        the common adapters and ``group``'s), gathered from every process (a collective: every
        process calls it)."""
        return unflatten(to_host(self.fns.weights(trainable, self.frozen, group)))

    def scoring_params(self, trainable, group: str | None = None) -> dict:
        """The full parameter tree the validation scorer answers with: where the weights live
        in a single process; with several processes the host copy every process gathers (a
        collective), so each answers the sample on its own devices and all keep the same
        weights."""
        if jax.process_count() > 1:
            return self.params(trainable, group)
        return unflatten(self.fns.weights(trainable, self.frozen, group))

    def group_factors(self, trainable) -> dict | None:
        """With experts, the groups' own factors on the host (a collective), which
        :func:`save_weights` writes beside the weights with the common adapters merged in."""
        if self.experts is None:
            return None
        return to_host(factors_of(trainable, self.experts.names))


def group_factors_path(weights: Path) -> Path:
    """Where an expert run keeps its groups' factors beside ``weights`` (``best.npz`` →
    ``best.experts.npz``)."""
    return weights.with_name(f"{weights.stem}.experts.npz")


def write_group_factors(factors: dict | None, weights: Path) -> None:
    if factors is not None:
        write_npz(group_factors_path(weights), factors)


def validation_loss(
    trainer: Trainer, trainable, batcher: Batcher, uids, rows: int, groups=None
) -> float:
    """Mean loss over the fixed validation questions ``uids``; with experts, ``groups`` gives
    each question's group and every batch holds one group's questions."""
    by_group: dict[str | None, list[str]] = {}
    for i, uid in enumerate(uids):
        by_group.setdefault(None if groups is None else groups[i], []).append(uid)
    total = weight = 0.0
    for group, chosen in by_group.items():
        for start in range(0, len(chosen), rows):
            batch_total, batch_weight = trainer.loss_sums(
                trainable, batcher(chosen[start : start + rows], rows), group
            )
            total += batch_total
            weight += batch_weight
    return total / max(weight, 1.0)


def save_weights(trainer: Trainer, trainable, path: Path) -> dict:
    """Gather the full weights (every process) and write them once (the main process); with
    experts also the groups' factors (:func:`group_factors_path`)."""
    params = trainer.params(trainable)
    factors = trainer.group_factors(trainable)
    if is_main():
        save_params(params, path)
        write_group_factors(factors, path)
    return params


class LossMeter:
    """The training losses and gradient norms since the last log row: device values not yet
    read, host sums, and the wall time of the steps (validating and saving left out). Its
    :attr:`pending` part goes into the resume state, so a resumed run's next row averages the
    same steps."""

    def __init__(
        self, total: float = 0.0, count: int = 0, seconds: float = 0.0, norms: float = 0.0
    ):
        self.total, self.count, self.seconds, self.norms = total, count, seconds, norms
        self.waiting: list = []
        self.started = time.perf_counter()

    def add(self, step: int, loss, grad_norm) -> None:
        self.waiting.append((step, loss, grad_norm))  # read from the device only when settled

    def settle(self) -> list[tuple[int, float, float]]:
        """Read the waiting losses and gradient norms, add the time since the clock
        (re)started, and return ``(step, loss, gradient norm)`` of each update read."""
        host = jax.device_get([(loss, norm) for _, loss, norm in self.waiting])
        self.total += float(sum(np.asarray(loss) for loss, _ in host))
        steps = [step for step, _, _ in self.waiting]
        read = [
            (step, float(loss), float(norm)) for step, (loss, norm) in zip(steps, host, strict=True)
        ]
        self.norms += sum(norm for _, _, norm in read)
        self.count += len(self.waiting)
        self.waiting = []
        self.seconds += time.perf_counter() - self.started
        self.restart()
        return read

    def restart(self) -> None:
        self.started = time.perf_counter()

    def reset(self) -> None:
        self.total, self.count, self.seconds, self.norms = 0.0, 0, 0.0, 0.0
        self.restart()

    @property
    def pending(self) -> list:
        return [self.total, self.count, self.seconds, self.norms]

    def curves(self, lr: float, rows: int) -> dict[str, float]:
        """The TensorBoard points of a log row (:mod:`medvlm.models.curves`)."""
        return {
            TRAIN_LOSS: self.total / self.count,
            LEARNING_RATE: lr,
            GRAD_NORM: self.norms / self.count,
            EXAMPLES_PER_S: self.count * rows / max(self.seconds, 1e-9),
        }

    def row(self, step: int, lr: float, rows: int) -> dict:
        """A train-log row of the settled losses (no validation loss yet)."""
        return {
            "step": step,
            "loss": f"{self.total / self.count:.6f}",
            "val_loss": "",
            "lr": f"{lr:.6g}",
            "examples_per_s": f"{self.count * rows / max(self.seconds, 1e-9):.3f}",
        }


def scoring_weights(trainer: Trainer, trainable):
    """What the validation scorer answers with: the weights, or each group's in an expert
    run."""
    if trainer.experts is None:
        return trainer.scoring_params(trainable)
    return RoutedWeights(trainer.experts, lambda group: trainer.scoring_params(trainable, group))


def settle(meter: LossMeter, guard: DivergenceGuard) -> None:
    """Read the updates waiting in ``meter`` and check each, in step order, with ``guard``
    (which raises at a diverged one)."""
    for step, loss, grad_norm in meter.settle():
        guard.check(step, loss, grad_norm)


class WeightScorer(Protocol):
    def __call__(self, params: dict, records: Sequence[Record]) -> Selection:
        """Answer ``records`` with the full parameter tree ``params`` and score the answers."""


def fit(
    trainer: Trainer,
    train: Batcher,
    val: Batcher | None,
    out_dir: Path,
    resume_dir: Path,
    sample: Sequence[Record] = (),
    scorer: WeightScorer | None = None,
    curves_dir: Path | None = None,
) -> dict:
    """Train ``trainer.settings.steps`` steps, resuming from the state in ``resume_dir`` when
    there is one. ``sample``: the validation questions (loss, and answers for ``scorer``);
    ``scorer`` scores the current weights for ``select: score``. Keeps the weights
    ``train.select`` picks as ``best.npz``; writes curves to ``curves_dir`` (with
    ``report_to: [tensorboard]``). Returns the final host parameter tree; raises
    :class:`~medvlm.models.divergence.Diverged` where the guard stops the run."""
    settings = trainer.settings
    rows = settings.batch_size
    val_uids = [record.uid for record in sample] if val else []
    order = BatchOrder.for_training(train.loader, settings, out_dir.name, trainer.experts)
    val_groups = None
    if trainer.experts is not None:
        val_groups = [trainer.experts.group_of(record.task) for record in sample]

    trainable, opt_state = trainer.init_state()
    meta = {"step": 0, "best": None, "log": [], "pending": [0.0, 0, 0.0, 0.0], "guard": {}}
    restored = load_state(resume_dir, trainable, opt_state)
    if restored is not None:
        trainable, opt_state = trainer.put_state(*restored[:2])
        meta = restored[2]
        log.info("resuming at step %d from %s", meta["step"], resume_dir)

    meter = LossMeter(*meta["pending"])
    guard = DivergenceGuard(settings.max_loss_spikes, **meta["guard"])
    curves = None
    if curves_dir is not None and TENSORBOARD in settings.report_to and is_main():
        curves = Curves(curves_dir, meta["step"])
    for step in range(meta["step"], settings.steps):
        batch = train(order.uids(step), rows)
        trainable, opt_state, loss, grad_norm = trainer.step(
            trainable, opt_state, batch, order.group(step)
        )
        done = step + 1
        meter.add(done, loss, grad_norm)
        evaluate = bool(val_uids) and (done % settings.val_every == 0 or done == settings.steps)
        if evaluate or done % settings.log_every == 0 or done == settings.steps:
            settle(meter, guard)
            guard.check_weights(done, trainer.all_finite(trainable, opt_state))
            lr = float(trainer.lr(step))
            row, points = meter.row(done, lr, rows), meter.curves(lr, rows)
            if evaluate:
                val_loss = validation_loss(trainer, trainable, val, val_uids, rows, val_groups)
                guard.check_finite(done, "validation loss", val_loss)
                score = None
                if scorer is not None and settings.select == "score":
                    selection = scorer(scoring_weights(trainer, trainable), sample)
                    score = selection.score
                    row["val_score"] = "" if score is None else f"{score:.6f}"
                    points.update(score_curves(selection))
                row["val_loss"] = f"{val_loss:.6f}"
                points[EVAL_LOSS] = val_loss
                candidate = Candidate(done, val_loss, score)
                best = None if meta["best"] is None else Candidate(**meta["best"])
                if settings.select != "final" and is_better(settings.select, candidate, best):
                    save_weights(trainer, trainable, resume_dir / BEST_FILE)
                    meta["best"] = asdict(candidate)
            meta["log"].append(row)
            if curves is not None:
                curves.add(done, points)
            log.info(
                "step %d loss %s val %s score %s",
                done,
                row["loss"],
                row["val_loss"] or "-",
                row.get("val_score") or "-",
            )
            meter.reset()
        if done % settings.save_every == 0 or done == settings.steps:
            settle(meter, guard)
            guard.check_weights(done, trainer.all_finite(trainable, opt_state))
            meta.update(step=done, pending=meter.pending, guard=guard.state())
            save_state(resume_dir, trainable, opt_state, meta)
            meter.restart()
    if curves is not None:
        curves.close()

    params = trainer.params(trainable)
    factors = trainer.group_factors(trainable)
    if not is_main():  # the main process writes the outputs, once
        return params
    out_dir.mkdir(parents=True, exist_ok=True)
    save_params(params, out_dir / "final.npz")
    write_group_factors(factors, out_dir / "final.npz")
    best = resume_dir / BEST_FILE
    if meta["best"] is not None and best.is_file():
        log.info(
            "keeping the weights of step %d (select: %s)", meta["best"]["step"], settings.select
        )
        kept = [best] + ([group_factors_path(best)] if factors is not None else [])
        for path in kept:
            with atomic_path(out_dir / path.name) as tmp:
                shutil.copyfile(path, tmp)
    else:
        save_params(params, out_dir / BEST_FILE)
        write_group_factors(factors, out_dir / BEST_FILE)
    if trainer.experts is not None:
        trainer.experts.write(out_dir)
    write_train_log(out_dir / TRAIN_LOG, meta["log"])
    order.write_group_log(out_dir / GROUP_LOG, [row["step"] for row in meta["log"]])
    if train.truncated:
        log.warning("%d training rows were cut to %d tokens", train.truncated, settings.seqlen)
    return params


def train_run(
    run: dict,
    train: SplitData,
    val: SplitData,
    out_dir: Path,
    resume_dir: Path,
    curves_dir: Path | None = None,
) -> None:
    """Train ``run`` in this process, one of its ``train.nodes`` × ``train.processes`` JAX
    processes: one global mesh over every process's devices, each process building only its
    rows of every batch; the main process writes the outputs (and the curves in
    ``curves_dir``)."""
    settings = PaliGemmaRun.from_run(run)
    ts = settings.train
    out_dir, resume_dir = Path(out_dir), Path(resume_dir)
    workers = ts.nodes * ts.processes
    if jax.process_count() != workers:
        raise ValueError(
            f"run.train.nodes × processes is {workers} but this training has "
            f"{jax.process_count()} JAX process(es)"
        )
    npz, tokenizer_path, config_json = checkpoint_files(settings.checkpoint)
    config = model_config(npz, config_json).replace(final_softcap=ts.final_softcap)
    check_image_size(config, settings.image_size, npz)
    tokenizer = load_tokenizer(tokenizer_path)
    if tokenizer.vocab_size > config.llm.vocab_size:
        config = config.replace(vocab_size=tokenizer.vocab_size)
    params = load_params(npz, config, settings.seed)
    model = PaliGemma(config, remat=ts.activation_checkpointing)
    loader_options = dict(seed=settings.seed, shuffle=True, drop_last=True)
    train_loader = train.loader(ts.batch_size, **loader_options)
    experts = split_experts(ts, train_loader.records, out_dir.name)
    trainer = Trainer(model, params, ts, seed=settings.seed, experts=experts)
    rows = batch_sharding(trainer.mesh)
    batcher = ProcessRows(Batcher.for_training(tokenizer, train_loader, ts), rows)
    val_batcher, sample, scorer = None, [], None
    try:
        val_loader = val.loader(ts.batch_size, shuffle=False)
    except ValueError as error:
        log.warning("no validation: %s", error)
    else:
        val_batcher = ProcessRows(Batcher.for_training(tokenizer, val_loader, ts), rows)
        sample = validation_sample(val_loader.records, ts.val_examples, settings.seed)
        if ts.select == "score":
            decoder = Decoder(PaliGemma(config), None)
            scorer = ValidationScorer(decoder, tokenizer, settings, val_loader)
    if is_main():
        files = [*source_files(npz), tokenizer_path]
        files += [config_json] if config_json is not None else []
        fingerprint = training_fingerprint(settings, files, npz.parent, train, val)
        claim_resume_dir(resume_dir, fingerprint)
    barrier("resume state claimed")
    fit(trainer, batcher, val_batcher, out_dir, resume_dir, sample, scorer, curves_dir)
    barrier("trained")  # every process is done with the resume state
    if is_main():
        write_json(out_dir / CONFIG_NAME, config.to_json())
        with atomic_path(out_dir / tokenizer.HF_NAME) as tmp:
            shutil.copyfile(tokenizer_path, tmp)
        release_resume_dir(resume_dir)
