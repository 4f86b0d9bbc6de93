"""PaliGemma throughput: train-step time and cached vs recomputed greedy decoding.

    .venv/bin/python benchmarks/paligemma_step.py                 # tiny config, CPU
    .venv/bin/python benchmarks/paligemma_step.py --device gpu    # PaliGemma2-3B-224, random

On a GPU it also reports model FLOP utilisation: 6 · trained-path parameters · tokens per
second (2 · forward for frozen weights) against ``--peak-tflops`` (H100 SXM bf16 dense: 989).
"""

from __future__ import annotations

import argparse
import functools
import time

import jax
import numpy as np

from medvlm.models.paligemma.config import tiny, variant
from medvlm.models.paligemma.decode import Decoder
from medvlm.models.paligemma.model import PaliGemma
from medvlm.models.paligemma.params import count, init_params, param_shapes, unflatten
from medvlm.models.paligemma.settings import TrainSettings
from medvlm.models.paligemma.train import Trainer


def batch_for(config, batch_size: int, seqlen: int, rng) -> dict:
    size = config.img.image_size
    half = seqlen // 2
    return {
        "images": rng.integers(0, 256, (batch_size, size, size, 3), dtype=np.uint8),
        "tokens": rng.integers(3, config.llm.vocab_size, (batch_size, seqlen)).astype(np.int32),
        "mask_ar": np.array([[0] * half + [1] * (seqlen - half)] * batch_size, np.int32),
        "mask_loss": np.array([[0] * half + [1] * (seqlen - half)] * batch_size, np.int32),
        "mask_input": np.ones((batch_size, seqlen), bool),
        "weights": np.ones(batch_size, np.float32),
    }


@functools.lru_cache(maxsize=1)
def host_params(config, seed: int = 0) -> dict:
    """Random float32 weights (N(0, 0.02) everywhere) made on the host with numpy, once per
    config: no compile of the model's initialiser, and the accelerator holds only what training
    puts there (the trainer copies the weights to the host and casts them anyway)."""
    rng = np.random.default_rng(seed)
    flat = {}
    for name, shape in param_shapes(config).items():
        flat[name] = rng.standard_normal(shape, dtype=np.float32)
        flat[name] *= np.float32(0.02)
    return unflatten(flat)


def time_train(config, settings, steps: int, rng) -> float:
    params = host_params(config)
    trainer = Trainer(PaliGemma(config, remat=settings.activation_checkpointing), params, settings)
    del params
    trainable, opt = trainer.init_state()
    batch = batch_for(config, settings.batch_size, settings.seqlen, rng)
    trainable, opt, loss, _ = trainer.step(trainable, opt, batch)  # compile
    loss.block_until_ready()
    start = time.perf_counter()
    for _ in range(steps):
        trainable, opt, loss, _ = trainer.step(trainable, opt, batch)
    loss.block_until_ready()
    return (time.perf_counter() - start) / steps


def time_decode(config, batch_size: int, new_tokens: int, rng) -> tuple[float, float]:
    decoder = Decoder(PaliGemma(config), init_params(config))
    size = config.img.image_size
    images = rng.integers(0, 256, (batch_size, size, size, 3), dtype=np.uint8)
    tokens = rng.integers(3, config.llm.vocab_size, (batch_size, 16)).astype(np.int32)
    mask = np.ones_like(tokens, bool)
    rates = []
    for method in (decoder.greedy, decoder.greedy_recompute):
        method(images, tokens, mask, new_tokens)  # compile
        start = time.perf_counter()
        out = method(images, tokens, mask, new_tokens)
        elapsed = time.perf_counter() - start
        rates.append(int((out != 0).sum()) / elapsed)
    return rates[0], rates[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--peak-tflops", type=float, default=989.0)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    if args.device == "gpu":
        config = variant("paligemma2-3b-224")
        settings = TrainSettings(
            batch_size=args.batch_size,
            seqlen=128,
            trainable="full",
            optimizer="adam",
            frozen_dtype="bfloat16",
            trainable_dtype="bfloat16",
            activation_checkpointing=True,
        )
    else:
        config = tiny(vocab_size=2048, image_size=224, width=64, depth=2, patch=32)
        settings = TrainSettings(batch_size=args.batch_size, seqlen=64, trainable="full")
    print(f"backend {jax.default_backend()} devices {jax.devices()}")
    print(f"parameters {count(param_shapes(config)):,}")
    step = time_train(config, settings, args.steps, rng)
    examples = settings.batch_size / step
    print(f"train step {step * 1000:.1f} ms, {examples:.1f} examples/s")
    if args.device == "gpu":
        tokens = config.img.num_tokens + settings.seqlen
        flops = 6 * count(param_shapes(config)) * tokens * examples
        print(f"model FLOP utilisation {flops / (args.peak_tflops * 1e12):.1%}")
    cached, recomputed = time_decode(config, args.batch_size, args.new_tokens, rng)
    print(
        f"decode {args.new_tokens} new tokens: cached {cached:.1f} tok/s, recomputed "
        f"{recomputed:.1f} tok/s, ratio {cached / recomputed:.1f}x"
    )


if __name__ == "__main__":
    main()
