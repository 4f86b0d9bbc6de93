"""Constrained vs free decoding on the untrained demo models: wrong formats and speed.

    .venv/bin/python benchmarks/constrained_decoding.py                 # both families, CPU
    .venv/bin/python benchmarks/constrained_decoding.py --device gpu    # same, on the GPU

For each task type, one batch of synthetic demo questions is decoded twice by each family's
tiny random model, greedy, with the family's default token budgets: free, then under the
constraint (medvlm.constrain). Reported per task type: wrong-format answers (the task's
``is_well_formed``) each way, and the decoding time of the same batch each way, after a
warm-up pass that compiles everything. Decoding stops once every answer has ended, so the time
per decoding step (not only per batch) is reported too: a random model rarely ends on its own,
a constrained one ends when its answer is complete.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from medvlm.data.synthetic.config import SyntheticConfig
from medvlm.data.synthetic.plan import plan_tree
from medvlm.records import TASK_TYPES, Record, normalise_task_type
from medvlm.tasks import task_spec
from medvlm.tasks.box_frame import PIXELS


def demo_records(per_task: int) -> dict[str, list[Record]]:
    files = plan_tree(
        SyntheticConfig(seed=11, train_images_per_dataset=6, val_images_per_dataset=2)
    )
    records: dict[str, list[Record]] = {task: [] for task in TASK_TYPES}
    for i, entry in enumerate(e for f in files for e in f.entries):
        task = normalise_task_type(entry["TaskType"])
        if len(records[task]) < per_task:
            records[task].append(
                Record(
                    uid=f"q{i}",
                    dataset="demo",
                    category="demo",
                    split_folder="training",
                    source_file="demo.json",
                    entry_index=i,
                    task=task,
                    task_raw=entry["TaskType"],
                    modality="demo",
                    question=entry["Question"],
                    answer=str(entry["Answer"]),
                )
            )
    return records


def texts_of(records: dict[str, list[Record]]) -> list[str]:
    flat = [r for batch in records.values() for r in batch]
    return [task_spec(r.task).prompt(r.question) for r in flat] + [
        task_spec(r.task).target(r.answer, r.question) for r in flat
    ]


def wrong(records: list[Record], answers: list[str]) -> int:
    return sum(
        not task_spec(r.task).is_well_formed(a, r.question)
        for r, a in zip(records, answers, strict=True)
    )


def timed(run):
    start = time.perf_counter()
    out = run()
    return out, time.perf_counter() - start


def paligemma_rows(records, work: Path):
    import jax

    from medvlm.models.paligemma.config import tiny
    from medvlm.models.paligemma.decode import Decoder
    from medvlm.models.paligemma.model import PaliGemma
    from medvlm.models.paligemma.params import init_params
    from medvlm.models.paligemma.tokenizer import build_demo_tokenizer

    tokenizer = build_demo_tokenizer(texts_of(records), work / "tokenizer.model", 800)
    config = tiny(tokenizer.vocab_size, image_size=224, width=64, depth=2, patch=32)
    decoder = Decoder(PaliGemma(config), jax.device_get(init_params(config, 0)))
    rows = []
    for task, decode in paligemma_decoders(records, decoder, tokenizer).items():
        decode(False), decode(True)  # compile both ways
        rows.append(measure(task, records[task], decode))
    return rows


def paligemma_decoders(records, decoder, tokenizer, length: int | None = None) -> dict:
    """Per task type, ``decode(constrained) -> (answers, steps)`` of its batch of ``records``
    through PaliGemma's greedy decoder (random images, the family's prompts and budgets).
    ``length``: one decoding length for every task (one compiled program; the constraint still
    ends each answer within its task's budget), else each task's budget."""
    from medvlm.constrain.grammar import language
    from medvlm.constrain.jax_hook import ConstraintHook
    from medvlm.constrain.vocab import sentencepiece_vocabulary
    from medvlm.models.paligemma.decode import decode_text
    from medvlm.models.paligemma.inputs import prompt_text
    from medvlm.models.paligemma.settings import DEFAULT_MAX_NEW_TOKENS
    from medvlm.models.paligemma.tokenizer import EOS

    vocab = sentencepiece_vocabulary(tokenizer)
    size = decoder.model.config.img.image_size
    rng = np.random.default_rng(0)
    decoders = {}
    for task, batch in records.items():
        budget = DEFAULT_MAX_NEW_TOKENS[task]
        steps = length or budget
        images = rng.integers(0, 256, (len(batch), size, size, 3), dtype=np.uint8)
        text = prompt_text(tokenizer, [task_spec(r.task).prompt(r.question) for r in batch], 128)

        def decode(constrained, batch=batch, images=images, text=text, budget=budget, n=steps):
            languages = [language(r.task, r.question) for r in batch]
            hook = ConstraintHook(languages, vocab, budget) if constrained else None
            tokens = decoder.greedy(images, text.tokens, text.mask_input, n, hook=hook)
            ends = [row.tolist().index(EOS) + 1 if EOS in row else n for row in tokens]
            return decode_text(tokenizer, tokens), max(ends)

        decoders[task] = decode
    return decoders


def medgemma_rows(records, device: str):
    import torch

    from medvlm.models.medgemma.demo_model import (
        DemoSettings,
        build_model,
        build_processor,
        train_tokenizer,
    )

    cfg = DemoSettings()
    tokenizer = train_tokenizer(texts_of(records), cfg.vocab_size)
    torch.manual_seed(0)
    model = build_model(tokenizer, cfg).eval().to("cuda" if device == "gpu" else "cpu")
    processor = build_processor(tokenizer, cfg)
    rows = []
    for task, decode in medgemma_decoders(records, model, processor, 64).items():
        decode(False), decode(True)  # warm up both ways
        rows.append(measure(task, records[task], decode))
    return rows


def medgemma_decoders(records, model, processor, image_px: int) -> dict:
    """Per task type, ``decode(constrained) -> (answers, steps)`` of its batch of ``records``
    through MedGemma's generation path (random ``image_px`` images, the family's budgets)."""
    from PIL import Image

    from medvlm.constrain.torch_processor import ConstraintFactory
    from medvlm.models.medgemma.generate import generate_ids
    from medvlm.models.medgemma.settings import DEFAULT_MAX_NEW_TOKENS

    factory = ConstraintFactory(DEFAULT_MAX_NEW_TOKENS)
    rng = np.random.default_rng(0)
    decoders = {}
    for task, batch in records.items():
        images = [
            [Image.fromarray(rng.integers(0, 256, (image_px, image_px, 3), dtype=np.uint8))]
            for _ in batch
        ]
        budget = DEFAULT_MAX_NEW_TOKENS[task]

        def decode(constrained, batch=batch, images=images, budget=budget):
            ids = generate_ids(
                model, processor, batch, images, budget, PIXELS, factory if constrained else None
            )
            texts = processor.batch_decode(ids, skip_special_tokens=True)
            return texts, ids.shape[1]

        decoders[task] = decode
    return decoders


def measure(task, batch, decode):
    (free, free_steps), free_s = timed(lambda: decode(False))
    (constrained, steps), constrained_s = timed(lambda: decode(True))
    return {
        "task": task,
        "n": len(batch),
        "wrong_free": wrong(batch, free),
        "wrong_constrained": wrong(batch, constrained),
        "free_s": free_s,
        "constrained_s": constrained_s,
        "free_steps": free_steps,
        "steps": steps,
    }


def table(name: str, rows: list[dict]) -> str:
    lines = [
        f"### {name}",
        "",
        "| task | questions | wrong format, free | wrong format, constrained "
        "| free s (steps) | constrained s (steps) | ratio per step |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = (r["constrained_s"] / r["steps"]) / (r["free_s"] / r["free_steps"])
        lines.append(
            f"| {r['task']} | {r['n']} | {r['wrong_free']} | {r['wrong_constrained']} "
            f"| {r['free_s']:.2f} ({r['free_steps']}) | {r['constrained_s']:.2f} ({r['steps']}) "
            f"| {ratio:.2f}× |"
        )
    free = sum(r["free_s"] for r in rows) / sum(r["free_steps"] for r in rows)
    constrained = sum(r["constrained_s"] for r in rows) / sum(r["steps"] for r in rows)
    total = sum(r["constrained_s"] for r in rows) / sum(r["free_s"] for r in rows)
    lines += [
        "",
        f"All batches: {free * 1000:.1f} ms per step free, {constrained * 1000:.1f} ms "
        f"constrained: **{constrained / free:.2f}× per step**, {total:.2f}× in total time.",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--per-task", type=int, default=8, help="questions per task type")
    parser.add_argument("--family", choices=("paligemma", "medgemma", "both"), default="both")
    args = parser.parse_args(argv)
    if args.device == "cpu":
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    records = demo_records(args.per_task)
    with tempfile.TemporaryDirectory() as tmp:
        if args.family in ("paligemma", "both"):
            print(
                table("PaliGemma (JAX), untrained demo model", paligemma_rows(records, Path(tmp)))
            )
        if args.family in ("medgemma", "both"):
            print(
                table(
                    "MedGemma (transformers), untrained demo model",
                    medgemma_rows(records, args.device),
                )
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
