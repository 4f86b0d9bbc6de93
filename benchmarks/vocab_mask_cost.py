"""Constrained decoding's mask cost with PaliGemma's real-size vocabulary, on the CPU.

    .venv/bin/python benchmarks/vocab_mask_cost.py --write BENCHMARKS.md

The real ``paligemma_tokenizer.model`` has 257,152 pieces: 256,000 text pieces, then 1,024
``<locNNNN>`` and 128 ``<segNNN>``. Nothing is downloaded: :func:`real_size_tokenizer` builds a
sentencepiece model of that shape offline. The demo tokenizer (BPE learnt from the demo's
texts, :func:`~medvlm.models.paligemma.tokenizer.build_demo_tokenizer`) is grown through
sentencepiece's model proto with synthetic text pieces (words, sub-words, numbers, punctuation,
accented, Cyrillic and CJK pieces, with and without the leading ``▁``) up to 256,000 text
pieces, and the location and segmentation pieces follow, as in the real one.

For each task type one batch of demo questions is decoded by the constraint alone, once with
the demo vocabulary and once with the real-size one: before every step the PaliGemma hook
(:class:`~medvlm.constrain.jax_hook.ConstraintHook`, what ``Decoder.greedy`` calls) narrows an
all-allowed ``[B, V]`` mask, and each row then takes a random allowed token (seeded), as an
untrained model under the constraint does; decoding stops when every row has ended. Timed: the
hook call per step (feeding the last tokens to the matchers, llguidance's masks, the unpacking
into ``bool [B, V]``, the corner-order filter). Reported per step and per row-step.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from constrained_decoding import demo_records, texts_of
from sentencepiece import sentencepiece_model_pb2

from medvlm.generated import write_block
from medvlm.io import atomic_path

TEXT_PIECES = 256_000  # the real vocabulary's text pieces, before <loc0000>
_ALPHABETS = (
    ("abcdefghijklmnopqrstuvwxyz", 6),
    ("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 1),
    ("0123456789", 1),
    ("àáâäçèéêëíîïñóôöúûüß", 1),
    ("абвгдежзийклмнопрстуфхцчшщыэюя", 1),
    ("的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年", 1),
    ("!\"#$%&'()*+,-./:;=?@[]_{|}~", 1),
)


def synthetic_pieces(count: int, taken: set[str], seed: int = 0) -> list[str]:
    """``count`` distinct pieces not in ``taken``: 1-12 characters of one alphabet each, half
    of them starting a word (``▁``)."""
    rng = np.random.default_rng(seed)
    weights = np.array([w for _, w in _ALPHABETS], float)
    pieces: list[str] = []
    seen = set(taken)
    while len(pieces) < count:
        letters, _ = _ALPHABETS[rng.choice(len(_ALPHABETS), p=weights / weights.sum())]
        length = int(rng.integers(1, 13))
        piece = "".join(rng.choice(list(letters), length))
        if rng.random() < 0.5:
            piece = "\u2581" + piece
        if piece not in seen:
            seen.add(piece)
            pieces.append(piece)
    return pieces


def real_size_tokenizer(texts: list[str], path: Path):
    """A sentencepiece model with the real PaliGemma vocabulary's shape (see the docstring)."""
    from medvlm.models.paligemma.tokenizer import LOC_SEG_TOKENS, Tokenizer, build_demo_tokenizer

    demo = build_demo_tokenizer(texts, path, 800)
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(demo.path.read_bytes())
    special = proto.pieces[len(proto.pieces) - len(LOC_SEG_TOKENS) :]
    kept = [(p.piece, p.score, p.type) for p in special]
    del proto.pieces[len(proto.pieces) - len(LOC_SEG_TOKENS) :]
    lowest = min(p.score for p in proto.pieces)
    extra = synthetic_pieces(TEXT_PIECES - len(proto.pieces), {p.piece for p in proto.pieces})
    normal = sentencepiece_model_pb2.ModelProto.SentencePiece.NORMAL
    for rank, piece in enumerate(extra, 1):
        proto.pieces.add(piece=piece, score=lowest - rank, type=normal)
    for piece, score, kind in kept:
        proto.pieces.add(piece=piece, score=score, type=kind)
    with atomic_path(path) as tmp:
        tmp.write_bytes(proto.SerializeToString())
    return Tokenizer(path)


def hook_times(batch, vocab, budget: int, seed: int) -> dict:
    """Seconds of each hook call while the constraint alone decodes ``batch``."""
    from medvlm.constrain.grammar import language
    from medvlm.constrain.jax_hook import ConstraintHook

    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    hook = ConstraintHook([language(r.task, r.question) for r in batch], vocab, budget)
    setup = time.perf_counter() - start
    eos = set(vocab.eos)
    generated = np.zeros((len(batch), 0), np.int32)
    ended = np.zeros(len(batch), bool)
    times = []
    for step in range(budget + 1):
        if ended.all():
            break
        everything = np.ones((len(batch), vocab.size), bool)
        start = time.perf_counter()
        allowed = hook(step, generated, everything)
        times.append(time.perf_counter() - start)
        picks = [int(rng.choice(np.flatnonzero(row))) for row in allowed]
        ended |= np.array([token in eos for token in picks])
        generated = np.concatenate([generated, np.array(picks, np.int32)[:, None]], axis=1)
    return {"setup_s": setup, "step_s": times}


def measure(records, vocabularies: dict, rounds: int) -> list[dict]:
    """Per task and vocabulary: the best of ``rounds`` of the same decoding (same seeds)."""
    from medvlm.models.paligemma.settings import DEFAULT_MAX_NEW_TOKENS

    rows = []
    for task, batch in records.items():
        row = {"task": task, "rows": len(batch)}
        for name, vocab in vocabularies.items():
            budget = DEFAULT_MAX_NEW_TOKENS[task]
            hook_times(batch, vocab, budget, 0)  # grammars compiled and cached
            runs = [hook_times(batch, vocab, budget, 0) for _ in range(rounds)]
            best = min(runs, key=lambda run: sum(run["step_s"]))
            row[name] = {
                "steps": len(best["step_s"]),
                "ms_per_step": 1000 * statistics.mean(best["step_s"]),
                "setup_ms": 1000 * best["setup_s"],
            }
        rows.append(row)
        print(row, flush=True)
    return rows


def markdown(rows: list[dict], sizes: dict[str, int], build_s: dict, command: str) -> str:
    tiny, real = sizes
    lines = [
        f"`{command}` on {os.cpu_count()} cores (1-minute load "
        f"{os.getloadavg()[0]:.1f} at the end). Vocabularies: demo {sizes[tiny]:,} pieces, "
        f"real size {sizes[real]:,} pieces (llguidance's tokenizer built in "
        f"{build_s[tiny]:.2f} s and {build_s[real]:.1f} s). ms per step: one hook call for the "
        "whole batch; per row-step: that over the rows; setup: the batch's matchers from "
        "cached grammars.",
        "",
        "| task | rows | steps demo / real | demo ms per step | real ms per step "
        "| demo ms per row-step | real ms per row-step | real ÷ demo | setup ms demo / real |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        a, b = row[tiny], row[real]
        lines.append(
            f"| {row['task']} | {row['rows']} | {a['steps']} / {b['steps']} "
            f"| {a['ms_per_step']:.2f} | {b['ms_per_step']:.2f} "
            f"| {a['ms_per_step'] / row['rows']:.3f} | {b['ms_per_step'] / row['rows']:.3f} "
            f"| {b['ms_per_step'] / a['ms_per_step']:.1f}× "
            f"| {a['setup_ms']:.1f} / {b['setup_ms']:.1f} |"
        )
    steps = {name: sum(r[name]["steps"] for r in rows) for name in sizes}
    total = {name: sum(r[name]["steps"] * r[name]["ms_per_step"] for r in rows) for name in sizes}
    per_step = {name: total[name] / steps[name] for name in sizes}
    row_steps = {name: sum(r[name]["steps"] * r["rows"] for r in rows) for name in sizes}
    lines += [
        "",
        f"All tasks: {per_step[tiny]:.2f} ms per step with the demo vocabulary, "
        f"{per_step[real]:.2f} ms with the real-size one "
        f"({total[tiny] / row_steps[tiny]:.3f} and {total[real] / row_steps[real]:.3f} ms per "
        f"row-step): **{per_step[real] / per_step[tiny]:.1f}× per step**.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-task", type=int, default=8, help="rows of each task's batch")
    parser.add_argument("--rounds", type=int, default=3, help="the best of this many is kept")
    parser.add_argument("--write", help="a Markdown file holding the generated block")
    parser.add_argument("--block", default="vocab-mask-cost")
    args = parser.parse_args(argv)
    from medvlm.constrain.vocab import sentencepiece_vocabulary
    from medvlm.models.paligemma.tokenizer import build_demo_tokenizer

    records = demo_records(args.per_task)
    texts = texts_of(records)
    vocabularies, sizes, build_s = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, build in (
            ("demo", build_demo_tokenizer),
            ("real size", lambda t, p: real_size_tokenizer(t, Path(p))),
        ):
            tokenizer = build(texts, Path(tmp) / f"{name.replace(' ', '_')}.model")
            start = time.perf_counter()
            vocabularies[name] = sentencepiece_vocabulary(tokenizer)
            build_s[name] = time.perf_counter() - start
            sizes[name] = tokenizer.vocab_size
    rows = measure(records, vocabularies, args.rounds)
    command = "python benchmarks/vocab_mask_cost.py " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    text = markdown(rows, sizes, build_s, command.strip())
    print(text)
    if args.write:
        write_block(args.write, args.block, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
