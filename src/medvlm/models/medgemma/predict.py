"""Answer every question of a split with a trained adapter (or a plain checkpoint).

Batches hold one task type, so each gets its own ``max_new_tokens`` and its own logits
processors; the answers go back into split order and end in the shared predictions file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from medvlm.metrics.selection import Selection
from medvlm.models.base import SplitData
from medvlm.models.best_weights import score_answers
from medvlm.models.experts import Experts
from medvlm.models.medgemma.data import batch_images
from medvlm.models.medgemma.experts import activate, load_experts
from medvlm.models.medgemma.generate import LogitsProcessorFactory, generate_ids
from medvlm.models.medgemma.model import (
    check_checkpoint,
    inference_device,
    load_model,
    load_processor,
)
from medvlm.models.medgemma.settings import MedGemmaRun
from medvlm.predictions import write_predictions
from medvlm.records import Record
from medvlm.tasks.framed_answers import answers_in_pixels

log = logging.getLogger(__name__)


def load_for_inference(cfg: MedGemmaRun, model_dir: Path):
    """The base checkpoint with the run's adapter (``model_dir/<weights>``) on top, merged if
    asked; an expert run's adapters, every one loaded (never merged: each question takes its
    group's); a ``model_dir`` that is itself a full model directory is used as it is."""
    adapter = Path(model_dir) / cfg.decode.weights
    experts = Experts.read(model_dir)
    if experts is not None:
        base = load_model(cfg.checkpoint, cfg.decode.attn_implementation)
        model = load_experts(base, adapter, experts)
    elif (adapter / "adapter_config.json").is_file():
        from peft import PeftModel

        model = PeftModel.from_pretrained(
            load_model(cfg.checkpoint, cfg.decode.attn_implementation), adapter
        )
        if cfg.decode.merge_adapter:
            model = model.merge_and_unload()
    elif (Path(model_dir) / "config.json").is_file():
        model = load_model(model_dir, cfg.decode.attn_implementation)
    else:
        raise FileNotFoundError(
            f"{model_dir}: neither an adapter in {adapter.name}/ nor a model directory"
        )
    return model.to(inference_device()).eval(), load_processor(check_checkpoint(cfg.checkpoint))


def task_batches(records, batch_size: int) -> list[list[int]]:
    """Positions of the records, grouped by task type and cut into batches."""
    by_task: dict[str, list[int]] = {}
    for position, record in enumerate(records):
        by_task.setdefault(record.task, []).append(position)
    return [
        positions[start : start + batch_size]
        for positions in by_task.values()
        for start in range(0, len(positions), batch_size)
    ]


def constraint_factory(cfg: MedGemmaRun) -> LogitsProcessorFactory | None:
    """Logits processors that keep each answer in its question's output grammar (boxes in the
    run's frame), or None when the run decodes freely."""
    if not cfg.decode.constrained:
        return None
    from medvlm.constrain.torch_processor import ConstraintFactory

    return ConstraintFactory(cfg.decode.max_new_tokens, cfg.train.box_frame)


def answer_records(
    model,
    processor,
    cfg: MedGemmaRun,
    loader,
    records: Sequence[Record],
    factory: LogitsProcessorFactory | None,
    progress: bool = False,
    experts: Experts | None = None,
) -> dict[str, str]:
    """Raw generated text per uid for ``records`` (images read through ``loader``); with
    ``experts`` each batch (of one task type) runs with its group's adapters."""
    answers = {}
    batches = task_batches(records, cfg.decode.batch_size)
    for positions in tqdm(batches, desc="predict", disable=not progress):
        batch = [records[p] for p in positions]
        if experts is not None:
            activate(model, experts.adapters(experts.group_of(batch[0].task)))
        images = batch_images(loader.read_images([r.uid for r in batch]))
        ids = generate_ids(
            model,
            processor,
            batch,
            images,
            cfg.decode.max_new_tokens[batch[0].task],
            cfg.train.box_frame,
            factory,
        )
        texts = processor.batch_decode(ids, skip_special_tokens=True)
        for record, text in zip(batch, texts, strict=True):
            answers[record.uid] = text
    return answers


def pixel_answers(records: Sequence[Record], raw: dict[str, str], frame: str) -> dict[str, str]:
    """Answers with boxes brought back from ``frame`` to pixels of the original image."""
    answered = [r for r in records if r.uid in raw]
    converted = answers_in_pixels(answered, [raw[r.uid] for r in answered], frame)
    return {r.uid: text for r, text in zip(answered, converted, strict=True)}


class ValidationScorer:
    """Answers a fixed validation sample with the model being trained (with ``experts``,
    each question with its group's adapters) and scores the answers
    (:mod:`medvlm.models.best_weights`); the model goes back to training mode afterwards."""

    def __init__(
        self,
        cfg: MedGemmaRun,
        processor,
        loader,
        records: Sequence[Record],
        experts: Experts | None = None,
    ):
        self.cfg, self.processor, self.loader, self.records = cfg, processor, loader, records
        self.factory = constraint_factory(cfg)
        self.experts = experts

    def __call__(self, model) -> Selection:
        training = model.training
        model.eval()
        try:
            raw = answer_records(
                model,
                self.processor,
                self.cfg,
                self.loader,
                self.records,
                self.factory,
                experts=self.experts,
            )
        finally:
            model.train(training)
        answers = pixel_answers(self.records, raw, self.cfg.train.box_frame)
        return score_answers(self.records, answers)


def predict(
    run: dict,
    model_dir: Path,
    data: SplitData,
    out_path: Path,
    logits_processor_factory: LogitsProcessorFactory | None = None,
) -> int:
    """Write the predictions file for ``data``; return the number of questions answered.

    Without a factory of its own, a run with ``decode.constrained`` generates under each
    question's output grammar (:mod:`medvlm.constrain`). Boxes written in the run's frame go
    back to pixels of the original image; the output as generated is kept as well.
    """
    cfg = MedGemmaRun.from_run(run)
    factory = logits_processor_factory or constraint_factory(cfg)
    model, processor = load_for_inference(cfg, model_dir)
    loader = data.loader(1, shuffle=False, dtype="uint8")
    experts = Experts.read(model_dir)
    raw = answer_records(
        model, processor, cfg, loader, loader.records, factory, progress=True, experts=experts
    )
    records = data.records()
    answers = pixel_answers(records, raw, cfg.train.box_frame)
    return write_predictions(records, answers, out_path, raw=raw)
