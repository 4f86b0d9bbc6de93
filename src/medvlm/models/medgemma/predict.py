"""Answer every question of a split with a trained adapter (or a plain checkpoint).

Batches hold one task type, so each gets its own ``max_new_tokens`` and its own logits
processors; the answers go back into split order and end in the shared predictions file.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tqdm import tqdm

from medvlm.models.base import SplitData
from medvlm.models.medgemma.data import batch_images
from medvlm.models.medgemma.generate import LogitsProcessorFactory, generate_batch
from medvlm.models.medgemma.model import (
    check_checkpoint,
    inference_device,
    load_model,
    load_processor,
)
from medvlm.models.medgemma.settings import MedGemmaRun
from medvlm.predictions import write_predictions

log = logging.getLogger(__name__)


def load_for_inference(cfg: MedGemmaRun, model_dir: Path):
    """The base checkpoint with the run's adapter (``model_dir/<weights>``) on top, merged if
    asked; a ``model_dir`` that is itself a full model directory is used as it is."""
    adapter = Path(model_dir) / cfg.decode.weights
    if (adapter / "adapter_config.json").is_file():
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


def predict(
    run: dict,
    model_dir: Path,
    data: SplitData,
    out_path: Path,
    logits_processor_factory: LogitsProcessorFactory | None = None,
) -> int:
    """Write the predictions file for ``data``; return the number of questions answered.

    Without a factory of its own, a run with ``decode.constrained`` generates under each
    question's output grammar (:mod:`medvlm.constrain`).
    """
    cfg = MedGemmaRun.from_run(run)
    if logits_processor_factory is None and cfg.decode.constrained:
        from medvlm.constrain.torch_processor import ConstraintFactory

        logits_processor_factory = ConstraintFactory(cfg.decode.max_new_tokens)
    model, processor = load_for_inference(cfg, model_dir)
    loader = data.loader(1, shuffle=False, dtype="uint8")
    records = loader.records
    answers = {}
    for positions in tqdm(task_batches(records, cfg.decode.batch_size), desc="predict"):
        batch = [records[p] for p in positions]
        images = batch_images(loader.read_images([r.uid for r in batch]))
        texts = generate_batch(
            model,
            processor,
            batch,
            images,
            cfg.decode.max_new_tokens[batch[0].task],
            logits_processor_factory,
        )
        for record, text in zip(batch, texts, strict=True):
            answers[record.uid] = text
    return write_predictions(data.records(), answers, out_path)
