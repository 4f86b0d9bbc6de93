"""LoRA fine-tuning of a local Gemma 3 checkpoint with TRL's ``SFTTrainer``.

Only the answer tokens carry loss (prompt/completion examples, see :mod:`.data`). Writes to
``out_dir``: ``final/`` and ``best/`` (LoRA adapters; ``best`` is the one ``train.select`` keeps,
see :mod:`medvlm.models.best_weights`), ``train_log.csv``.
Resume state (trainer checkpoints and the best adapter so far) lives in ``resume_dir`` under the
run's training fingerprint (:mod:`medvlm.models.base`) until the outputs are complete; rerunning
after a kill continues from its last complete checkpoint. Every update passes the divergence
guard before it is applied (:mod:`.guard`); curves go to TensorBoard (:mod:`.curves`).

Data parallel: :func:`train` is what each worker runs. With ``train.nodes`` × ``processes``
above one the family starts that many torchrun workers (see :mod:`.launch`); under torchrun
or ``accelerate launch`` the trainer picks the process group up from the environment, each
process reads its share of every batch, and rank 0 alone writes outputs and resume state.
``batch_size`` is per process.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

from transformers import TrainerCallback

from medvlm.io import atomic_dir, write_json
from medvlm.models.base import (
    TRAIN_LOG,
    SplitData,
    checkpoint_dir_files,
    claim_resume_dir,
    release_resume_dir,
    training_fingerprint,
)
from medvlm.models.best_weights import Candidate, is_better, validation_sample
from medvlm.models.curves import TENSORBOARD
from medvlm.models.medgemma.checkpoints import (
    MarkComplete,
    copy_dir,
    last_complete_checkpoint,
)
from medvlm.models.medgemma.curves import TensorBoardCurves
from medvlm.models.medgemma.data import sft_dataset
from medvlm.models.medgemma.experts import (
    EXPERT_KEY,
    TrainingExperts,
    routed_trainer,
    run_experts,
    with_adapters,
)
from medvlm.models.medgemma.mixture import TrainingMixture
from medvlm.models.medgemma.model import has_gpu, load_model, load_processor
from medvlm.models.medgemma.predict import ValidationScorer
from medvlm.models.medgemma.settings import MedGemmaRun, TrainSettings
from medvlm.models.medgemma.train_log import SCORE_KEY, TrainLog, write_history

log = logging.getLogger(__name__)

BEST, FINAL = "best", "final"
BEST_INFO = "best.json"


class KeepBest(TrainerCallback):
    """Keeps the adapter ``train.select`` picks (:mod:`medvlm.models.best_weights`) in ``best_dir``.

    With ``select: score`` every evaluation also answers the validation sample with ``scorer``
    and writes the selection score into the log history next to the validation loss, and the
    score with each task type's part into the evaluation's logs, which the TensorBoard callback
    after this one writes (:mod:`medvlm.models.curves`). The choice
    is made over that history, which resume checkpoints carry, so a resumed run decides exactly
    as an uninterrupted one would. ``select: final`` keeps nothing here (the final adapter is
    the best).
    """

    def __init__(self, best_dir: Path, select: str, scorer: ValidationScorer | None = None):
        self.best_dir, self.select, self.scorer = best_dir, select, scorer

    def on_log(self, args, state, control, logs=None, model=None, **kwargs):
        scoring = self.select == "score" and self.scorer is not None
        if not scoring or "eval_loss" not in (logs or {}) or not state.is_world_process_zero:
            return
        selection = self.scorer(model)
        state.log_history[-1][SCORE_KEY] = selection.score  # the evaluation just logged
        logs.update(
            {f"{SCORE_KEY}/{task}": value for task, value in selection.parts.items()},
        )
        if selection.score is not None:
            logs[SCORE_KEY] = selection.score

    def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
        loss = (metrics or {}).get("eval_loss")
        if loss is None or not state.is_world_process_zero or self.select == "final":
            return
        entry = state.log_history[-1]  # the evaluation just logged, with its score
        evaluations = [
            Candidate(e["step"], e["eval_loss"], e.get(SCORE_KEY))
            for e in state.log_history
            if "eval_loss" in e
        ]
        best = None
        for candidate in evaluations[:-1]:
            if is_better(self.select, candidate, best):
                best = candidate
        current = Candidate(state.global_step, loss, entry.get(SCORE_KEY))
        if is_better(self.select, current, best) or not (self.best_dir / BEST_INFO).is_file():
            with atomic_dir(self.best_dir) as tmp:
                model.save_pretrained(tmp)
                write_json(tmp / BEST_INFO, dataclasses.asdict(current))


def lora_config(cfg: TrainSettings):
    from peft import LoraConfig

    target = cfg.lora_targets
    return LoraConfig(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=target if isinstance(target, str) else list(target),
        bias="none",
        task_type="CAUSAL_LM",
    )


def sft_arguments(cfg: MedGemmaRun, resume_dir: Path, updates: int | None = None) -> dict:
    """The ``SFTConfig`` fields medvlm sets from the run (``SFT_MAPPED`` of the settings lists
    them, for the plan-time check of ``train.sft_args``); ``updates`` (a mixture's) replaces
    ``steps``/``epochs``."""
    train, gpu = cfg.train, has_gpu()
    return dict(
        output_dir=str(resume_dir),
        per_device_train_batch_size=train.batch_size,
        per_device_eval_batch_size=train.batch_size,
        gradient_accumulation_steps=train.grad_accum,
        learning_rate=train.learning_rate,
        lr_scheduler_type=train.lr_scheduler,
        warmup_steps=train.warmup_fraction,  # below 1: a share of all steps
        weight_decay=train.weight_decay,
        max_grad_norm=train.max_grad_norm,
        optim=train.optimizer or ("adamw_torch_fused" if gpu else "adamw_torch"),
        num_train_epochs=train.epochs,
        max_steps=updates or train.steps or -1,
        logging_steps=train.log_every,
        eval_strategy="steps",
        eval_steps=train.val_every,
        save_strategy="steps",
        save_steps=train.save_every,
        save_total_limit=2,  # the newest checkpoint and the complete one before it
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=gpu,
        use_cpu=not gpu,
        activation_checkpointing=train.activation_checkpointing,
        max_length=train.max_length,
        remove_unused_columns=False,  # the examples are built from the uid column on demand
        dataloader_num_workers=train.dataloader_workers,
        report_to="none",
    )


def sft_config(cfg: MedGemmaRun, resume_dir: Path, updates: int | None = None):
    """The trainer's arguments: :func:`sft_arguments`, then the run's ``train.sft_args``."""
    from trl import SFTConfig

    return SFTConfig(**sft_arguments(cfg, resume_dir, updates), **cfg.train.sft_args)


def sft_config_fields() -> tuple[str, ...]:
    """The field names of the installed TRL's ``SFTConfig`` (imports torch)."""
    from trl import SFTConfig

    return tuple(field.name for field in dataclasses.fields(SFTConfig) if field.init)


def build_trainer(
    cfg: MedGemmaRun,
    train_data: SplitData,
    val_data: SplitData,
    out_dir,
    resume_dir,
    curves_dir: Path | None = None,
):
    """The ``SFTTrainer`` of a run: base model + fresh LoRA adapter, lazy examples, callbacks
    (the divergence guard; TensorBoard curves in ``curves_dir`` with ``report_to:
    [tensorboard]``)."""
    from medvlm.models.medgemma.guard import DivergenceStop, GuardedSFTTrainer

    out_dir, resume_dir = Path(out_dir), Path(resume_dir)
    experts = run_experts(cfg, train_data, out_dir.name)  # None: one adapter
    mixture = groups = None  # None, None: the trainer's own order
    if experts is not None:  # one-group batches (drawn by the mixture, where there is one)
        records = train_data.loader(1, shuffle=False).records
        groups = TrainingExperts(cfg, experts, records, out_dir.name)
    else:
        mixture = TrainingMixture.for_run(cfg, train_data, out_dir)
    updates = mixture.updates if mixture else groups.updates if groups else None
    args = sft_config(cfg, resume_dir, updates)
    examples_per_update = cfg.train.batch_size * cfg.train.grad_accum * args.world_size
    frame = cfg.train.box_frame
    processor = load_processor(cfg.checkpoint)
    val_loader = val_data.loader(1, shuffle=False, dtype="uint8")
    sample = validation_sample(val_loader.records, cfg.train.val_examples, cfg.seed)
    scorer = None
    if cfg.train.select == "score":
        scorer = ValidationScorer(cfg, processor, val_loader, sample, experts)
    divergence = DivergenceStop(cfg.train.max_loss_spikes)
    curves = []
    if curves_dir is not None and TENSORBOARD in cfg.train.report_to:
        curves.append(TensorBoardCurves(curves_dir))  # last: the logs hold every value by then
    peft_config, trainer_class, expert = lora_config(cfg.train), GuardedSFTTrainer, None
    model = load_model(cfg.checkpoint, cfg.train.attn_implementation)
    if experts is not None:  # every adapter built here, one group's eval question at a time
        model, peft_config = with_adapters(model, peft_config, experts, cfg.seed), None
        trainer_class = routed_trainer(GuardedSFTTrainer)
        expert = (EXPERT_KEY, lambda record: experts.group_of(record.task))
        args.per_device_eval_batch_size = 1
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=sft_dataset(train_data, frame, expert=expert),
        eval_dataset=sft_dataset(val_data, frame, [r.uid for r in sample], expert),
        processing_class=processor,
        peft_config=peft_config,
        callbacks=[  # KeepBest first: TrainLog's throughput leaves out its answering time
            KeepBest(resume_dir / BEST, cfg.train.select, scorer),
            TrainLog(out_dir / TRAIN_LOG, examples_per_update),
            MarkComplete(),
            divergence,
            *curves,
        ],
        divergence=divergence,
    )
    if mixture is not None:
        mixture.install(trainer, out_dir)
    if groups is not None:
        groups.install(trainer, out_dir)
    return trainer


def train(
    run: dict,
    train_data: SplitData,
    val_data: SplitData,
    out_dir: Path,
    resume_dir: Path,
    curves_dir: Path | None = None,
) -> None:
    """Fine-tune ``run["checkpoint"]`` with LoRA in this process (alone, or as one worker of a
    launch); see the module docstring for the outputs. Raises
    :class:`~medvlm.models.divergence.Diverged` where the guard stops the run."""
    cfg = MedGemmaRun.from_run(run)
    out_dir, resume_dir = Path(out_dir), Path(resume_dir)
    workers = cfg.train.nodes * cfg.train.processes
    if workers != int(os.environ.get("WORLD_SIZE", "1")):
        raise ValueError(
            f"run.train.nodes × processes is {workers} but this training has "
            f"{os.environ.get('WORLD_SIZE', '1')} process(es): train through "
            "MedGemmaFamily.train, which starts the workers"
        )
    if int(os.environ.get("RANK", "0")) == 0:
        files = checkpoint_dir_files(cfg.checkpoint)
        fingerprint = training_fingerprint(cfg, files, cfg.checkpoint, train_data, val_data)
        claim_resume_dir(resume_dir, fingerprint)
    trainer = build_trainer(cfg, train_data, val_data, out_dir, resume_dir, curves_dir)
    trainer.accelerator.wait_for_everyone()  # rank 0 has cleared stale state
    log.info("training as rank %d of %d", trainer.args.process_index, trainer.args.world_size)
    checkpoint = last_complete_checkpoint(resume_dir)
    if checkpoint is not None:
        log.info("resuming from %s", checkpoint)
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    if trainer.state.global_step % cfg.train.val_every:
        trainer.evaluate()  # the last steps count too when picking the best adapter
    curves = trainer.pop_callback(TensorBoardCurves)
    if curves is not None:
        curves.close()

    if trainer.is_world_process_zero():
        with atomic_dir(out_dir / FINAL) as tmp:
            trainer.model.save_pretrained(tmp)
        kept = out_dir / FINAL if cfg.train.select == "final" else resume_dir / BEST
        copy_dir(kept, out_dir / BEST)
        if getattr(trainer, "experts", None) is not None:
            trainer.experts.write(out_dir)
        write_history(out_dir / TRAIN_LOG, trainer.state.log_history)
        release_resume_dir(resume_dir)
