"""MedGemma family throughput: LoRA train-step time and greedy generation tokens/s.

    python benchmarks/medgemma_step.py                      # tiny demo model, CPU
    python benchmarks/medgemma_step.py --device gpu --arch 4b --batch 4

``--arch tiny`` builds the demo model (random weights, saved and reloaded like a checkpoint) and
feeds it real examples through TRL's collator. ``--arch 4b`` builds the real
``google/medgemma-4b-it`` architecture with random weights (no download), bf16 on the GPU, LoRA
r=16 on all linear layers with activation checkpointing, and reports samples/s and peak memory.
Generation is measured with and without the KV cache (``min_new_tokens`` forces the length).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from medvlm.models.medgemma.demo_model import build_demo_model
from medvlm.models.medgemma.model import load_model, load_processor
from medvlm.models.medgemma.settings import TrainSettings
from medvlm.models.medgemma.train import lora_config

QUESTION = "Which finding is shown? A. effusion B. nodule C. normal Answer with the option letter."
PROMPT_TOKENS_4B = 64  # text tokens around the 256 image tokens: a short VQA example is ~330


def medgemma_4b_config():
    """The architecture of google/medgemma-4b-it (its config.json), built offline."""
    from transformers import Gemma3Config, Gemma3TextConfig, SiglipVisionConfig

    text = Gemma3TextConfig(
        vocab_size=262_208,
        hidden_size=2560,
        intermediate_size=10_240,
        num_hidden_layers=34,
        num_attention_heads=8,
        num_key_value_heads=4,
        head_dim=256,
        query_pre_attn_scalar=256,
        sliding_window=1024,
        rope_parameters={
            "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1_000_000.0},
            "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
        },
    )
    vision = SiglipVisionConfig(
        hidden_size=1152,
        intermediate_size=4304,
        num_hidden_layers=27,
        num_attention_heads=16,
        image_size=896,
        patch_size=14,
        vision_use_head=False,
    )
    return Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=256)


def inputs_4b(config, batch: int, device: str) -> dict:
    """Token ids laid out like the processor's: <bos>, text, an image block, text, answer."""
    image = [config.boi_token_index, *[config.image_token_index] * 256, config.eoi_token_index]
    text = list(range(1000, 1000 + PROMPT_TOKENS_4B))
    ids = torch.tensor([[2, *text[:8], *image, *text[8:]]] * batch, device=device)
    labels = torch.full_like(ids, -100)
    labels[:, -4:] = ids[:, -4:]
    return {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "token_type_ids": (ids == config.image_token_index).long(),
        "pixel_values": torch.randn(batch, 3, 896, 896, device=device, dtype=torch.bfloat16),
        "labels": labels,
    }


def tiny_setup(batch: int, workdir: Path):
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    build_demo_model(workdir, [QUESTION, "A", "B", "C"] * 20, {})
    model, processor = load_model(workdir), load_processor(workdir)
    rng = np.random.default_rng(0)
    examples = [
        {
            "images": [Image.fromarray(rng.integers(0, 255, (224, 224, 3), dtype=np.uint8))],
            "prompt": [
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}
            ],
            "completion": [{"role": "assistant", "content": [{"type": "text", "text": "B"}]}],
        }
        for _ in range(batch)
    ]
    collator = DataCollatorForVisionLanguageModeling(processor, completion_only_loss=True)
    return model, collator(examples)


def time_train_steps(model, batch: dict, steps: int, device: str) -> list[float]:
    from peft import get_peft_model

    model = get_peft_model(model, lora_config(TrainSettings()))
    model.gradient_checkpointing_enable()
    model.enable_input_require_grads()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=2e-4, fused=device == "cuda")
    times = []
    for _ in range(steps + 2):  # two warm-up steps
        sync(device)
        start = time.perf_counter()
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 0.3)
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
        sync(device)
        times.append(time.perf_counter() - start)
    print(f"trainable parameters: {sum(p.numel() for p in trainable):,}")
    return times[2:]


def time_generation(model, batch: dict, new_tokens: int, use_cache: bool, device: str) -> float:
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    model.eval()
    sync(device)
    start = time.perf_counter()
    with torch.inference_mode():
        model.generate(
            **inputs,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
            use_cache=use_cache,
        )
    sync(device)
    return inputs["input_ids"].shape[0] * new_tokens / (time.perf_counter() - start)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--arch", choices=("tiny", "4b"), default="tiny")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--new-tokens", type=int, default=64)
    args = parser.parse_args()
    device = "cuda" if args.device == "gpu" else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        parser.error("--device gpu: no CUDA device")

    with tempfile.TemporaryDirectory() as workdir:
        if args.arch == "tiny":
            model, batch = tiny_setup(args.batch, Path(workdir))
        else:
            from transformers import Gemma3ForConditionalGeneration

            config = medgemma_4b_config()
            with torch.device(device):
                model = Gemma3ForConditionalGeneration(config).to(torch.bfloat16)
            batch = inputs_4b(config, args.batch, device)
        model.to(device)
        batch = {k: v.to(device) for k, v in batch.items()}
        print(f"{args.arch} on {device}: batch {args.batch}, {batch['input_ids'].shape[1]} tokens")
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        times = time_train_steps(model, batch, args.steps, device)
        step = statistics.median(times)
        print(f"train step: median {step * 1000:.1f} ms, {args.batch / step:.2f} samples/s")
        if device == "cuda":
            print(
                f"peak GPU memory (training): {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"
            )
        cached = time_generation(model, batch, args.new_tokens, True, device)
        uncached = time_generation(model, batch, args.new_tokens, False, device)
        print(
            f"generation, {args.new_tokens} new tokens: {cached:.1f} tokens/s with the KV cache, "
            f"{uncached:.1f} without ({cached / uncached:.1f}x)"
        )


if __name__ == "__main__":
    main()
