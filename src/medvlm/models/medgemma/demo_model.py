"""A tiny random Gemma 3 vision-language model, written like ``google/medgemma-4b-it``.

The demo and the tests load it through exactly the path a real checkpoint takes
(``AutoModelForImageTextToText`` / ``AutoProcessor`` on a local directory). Its tokenizer is a
byte-fallback BPE learnt from the demo's own texts, so prompts and answers stay short, and it
carries the Gemma 3 special tokens and chat template.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from medvlm.settings import Settings, check, from_mapping

SPECIAL_TOKENS = ("<pad>", "<eos>", "<bos>", "<unk>", "<mask>")  # ids 0..4, as in Gemma
TURN_TOKENS = ("<start_of_turn>", "<end_of_turn>")
IMAGE_TOKENS = {
    "boi_token": "<start_of_image>",
    "eoi_token": "<end_of_image>",
    "image_token": "<image_soft_token>",
}
CHAT_WORDS = ("user\n", "model\n")  # the role lines of the chat template
BYTE_TOKENS = tuple(f"<0x{i:02X}>" for i in range(256))
# The multimodal projector starts at zero in transformers: re-drawn so the model sees the image.
PROJECTOR_STD = 0.05


class DemoSettings(Settings):
    """Sizes of the tiny model (every key optional under ``demo_models.medgemma``).

    image_size: pixels per side the processor resizes to (32). patch_size: vision patch (8).
    mm_tokens_per_image: image soft tokens after pooling (4); (image_size / patch_size)^2 must be
        a multiple of it and both sides square numbers.
    vocab_size: BPE vocabulary size learnt from the texts, special and byte tokens included (640).
    hidden_size, intermediate_size, layers, heads, kv_heads, head_dim: the text decoder.
    vision_hidden_size, vision_intermediate_size, vision_layers, vision_heads: the SigLIP tower.
    seed: seeds the random weights.
    """

    image_size: int = 32
    patch_size: int = 8
    mm_tokens_per_image: int = 4
    vocab_size: int = 640
    hidden_size: int = 64
    intermediate_size: int = 128
    layers: int = 2
    heads: int = 2
    kv_heads: int = 1
    head_dim: int = 32
    vision_hidden_size: int = 32
    vision_intermediate_size: int = 64
    vision_layers: int = 1
    vision_heads: int = 2
    seed: int = 0

    def check_values(self) -> None:
        super().check_values()
        for key, value in self.model_dump().items():
            check(value >= (0 if key == "seed" else 1), key, "must be at least 1")
        patches = (self.image_size // self.patch_size) ** 2
        check(
            self.image_size % self.patch_size == 0 and patches % self.mm_tokens_per_image == 0,
            "mm_tokens_per_image",
            f"image_size {self.image_size} / patch_size {self.patch_size} must give a patch "
            f"grid divisible into {self.mm_tokens_per_image} image tokens",
        )
        words = len(SPECIAL_TOKENS) + len(BYTE_TOKENS) + 16
        check(self.vocab_size >= words, "vocab_size", f"must be at least {words} (room for words)")


def train_tokenizer(texts: list[str], vocab_size: int):
    """A Gemma-style tokenizer (``▁`` for spaces, byte fallback) with BPE merges from ``texts``."""
    from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import GemmaTokenizer

    bpe = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    bpe.normalizer = normalizers.Replace(" ", "▁")
    bpe.pre_tokenizer = pre_tokenizers.Split("▁", behavior="merged_with_next")
    reserved = [*SPECIAL_TOKENS, *TURN_TOKENS, *IMAGE_TOKENS.values(), *BYTE_TOKENS]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=reserved, show_progress=False
    )
    bpe.train_from_iterator([*texts, *CHAT_WORDS], trainer)
    learnt = json.loads(bpe.to_str())["model"]
    tokenizer = GemmaTokenizer(
        vocab=learnt["vocab"],
        merges=[tuple(merge) for merge in learnt["merges"]],
        add_bos_token=True,
        extra_special_tokens=IMAGE_TOKENS,
    )
    # A token that is only in the vocabulary would be split into bytes: declare the turn markers.
    tokenizer.add_special_tokens(
        {"additional_special_tokens": [AddedToken(t, special=True) for t in TURN_TOKENS]}
    )
    tokenizer.chat_template = gemma3_chat_template()
    return tokenizer


def gemma3_chat_template() -> str:
    """The Gemma 3 chat template (TRL ships the one of ``google/gemma-3-*-it``)."""
    return resources.files("trl").joinpath("chat_templates/gemma3.jinja").read_text("utf-8")


def build_processor(tokenizer, cfg: DemoSettings):
    from transformers import Gemma3ImageProcessorPil, Gemma3Processor

    image_processor = Gemma3ImageProcessorPil(
        size={"height": cfg.image_size, "width": cfg.image_size},
        image_mean=[0.5] * 3,
        image_std=[0.5] * 3,
    )
    return Gemma3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        chat_template=tokenizer.chat_template,
        image_seq_length=cfg.mm_tokens_per_image,
    )


def build_model(tokenizer, cfg: DemoSettings):
    from transformers import Gemma3Config, Gemma3TextConfig, SiglipVisionConfig

    ids = tokenizer.convert_tokens_to_ids
    text = Gemma3TextConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.kv_heads,
        head_dim=cfg.head_dim,
        query_pre_attn_scalar=cfg.head_dim,
        max_position_embeddings=4096,
        sliding_window=512,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=[tokenizer.eos_token_id, ids("<end_of_turn>")],
    )
    vision = SiglipVisionConfig(
        hidden_size=cfg.vision_hidden_size,
        intermediate_size=cfg.vision_intermediate_size,
        num_hidden_layers=cfg.vision_layers,
        num_attention_heads=cfg.vision_heads,
        image_size=cfg.image_size,
        patch_size=cfg.patch_size,
        vision_use_head=False,
    )
    config = Gemma3Config(
        text_config=text,
        vision_config=vision,
        mm_tokens_per_image=cfg.mm_tokens_per_image,
        boi_token_index=ids(IMAGE_TOKENS["boi_token"]),
        eoi_token_index=ids(IMAGE_TOKENS["eoi_token"]),
        image_token_index=ids(IMAGE_TOKENS["image_token"]),
    )
    return random_model(config, tokenizer, cfg.seed)


def random_model(config, tokenizer, seed: int):
    """A ``Gemma3ForConditionalGeneration`` of ``config`` with random weights (the projector
    re-drawn) that ends its answers where ``tokenizer``'s Gemma 3 chat does."""
    import torch
    from transformers import Gemma3ForConditionalGeneration

    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(config)
    projector = model.model.multi_modal_projector.mm_input_projection_weight
    with torch.no_grad():
        projector.normal_(0.0, PROJECTOR_STD)
    model.generation_config.eos_token_id = [
        tokenizer.eos_token_id,
        tokenizer.convert_tokens_to_ids("<end_of_turn>"),
    ]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def build_demo_model(out_dir: str | Path, vocab_texts: list[str], cfg: dict | None = None) -> None:
    """Write a tiny random Gemma 3 model + processor to ``out_dir`` (``save_pretrained``)."""
    config = from_mapping(DemoSettings, cfg, "demo_models.medgemma")
    if not vocab_texts:
        raise ValueError("build_demo_model: no texts to learn the tokenizer from")
    tokenizer = train_tokenizer(vocab_texts, config.vocab_size)
    processor = build_processor(tokenizer, config)
    model = build_model(tokenizer, config)
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
