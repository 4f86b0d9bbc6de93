"""Tiny random judge models and their tokenizers, built offline and saved like real checkpoints.

For tests of code that loads a local Hugging Face checkpoint directory (the report judges).
GREEN's: a 2-layer Llama with hidden size 32 and a word-level tokenizer trained on a few
sentences plus any texts the test passes, saved with ``save_pretrained`` (safetensors). Its
output is garbage; it exercises loading, batching, padding, generation and decoding, not
judgement. CRIMSON's: a tiny Gemma 3 (:func:`build_tiny_gemma3_judge`), random or rewired to give
one fixed answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

SENTENCES = (
    "The lungs are clear. No pleural effusion or pneumothorax.",
    "Mild cardiomegaly with a small right pleural effusion.",
    "[Explanation]: the candidate misses the effusion.",
    "[Clinically Significant Errors]: (a) False report of a finding in the candidate: 0.",
    "[Matched Findings]: 1. Cardiomegaly",
)
SPECIAL_TOKENS = ("<unk>", "<s>", "</s>")
# A chat template of the usual role/content kind, so tests can tell it apart from GREEN's.
CHAT_TEMPLATE = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"


def build_tiny_causal_lm(directory: Path, texts: Iterable[str] = (), seed: int = 0) -> Path:
    """Write a tiny random Llama and a word-level tokenizer into ``directory``; return it."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=list(SPECIAL_TOKENS))
    backend.train_from_iterator([*SENTENCES, *texts], trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE

    config = LlamaConfig(
        vocab_size=backend.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        initializer_range=0.5,  # spread-out logits: no near-ties for greedy decoding to flip on
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    return directory


def build_tiny_gemma3_judge(
    directory: Path, texts: Iterable[str], answer: str | None = None
) -> Path:
    """A tiny random Gemma 3 image-text model and processor (the MedGemma demo model's builders,
    as ``google/medgemma-4b-it`` is laid out) written into ``directory`` as a judge folder.

    With ``answer``, the answer is one token of the vocabulary and the model is rewired to give
    it to any chat prompt, then stop: every layer's attention and MLP output is zero, so each
    position's state is its own token's embedding, and an untied output head maps the generation
    cue's last token to the answer and the answer to ``<end_of_turn>``. Without, its output is
    random tokens.
    """
    import torch
    from tokenizers import AddedToken

    from medvlm.models.medgemma import demo_model

    cfg = demo_model.DemoSettings()
    tokenizer = demo_model.train_tokenizer(list(texts), cfg.vocab_size)
    if answer is not None:
        tokenizer.add_tokens([AddedToken(answer, special=False, normalized=False)])
    processor = demo_model.build_processor(tokenizer, cfg)
    model = demo_model.build_model(tokenizer, cfg)
    if answer is not None:
        cue = tokenizer.apply_chat_template(
            [{"role": "user", "content": "x"}], tokenize=False, add_generation_prompt=True
        )
        last = tokenizer(cue, add_special_tokens=False)["input_ids"][-1]
        said, end = tokenizer.convert_tokens_to_ids([answer, "<end_of_turn>"])
        text_model = model.model.language_model
        with torch.no_grad():
            for layer in text_model.layers:
                layer.self_attn.o_proj.weight.zero_()
                layer.mlp.down_proj.weight.zero_()
            embeddings = text_model.embed_tokens.weight
            head = torch.zeros_like(embeddings)
            head[said], head[end] = embeddings[last], embeddings[said]
        model.config.tie_word_embeddings = model.config.text_config.tie_word_embeddings = False
        model.lm_head.weight = torch.nn.Parameter(head)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory
