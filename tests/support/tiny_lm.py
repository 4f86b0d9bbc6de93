"""A tiny random causal LM and its tokenizer, built offline and saved like a real checkpoint.

For tests of code that loads a local Hugging Face checkpoint directory (the GREEN judge): a
2-layer Llama with hidden size 32 and a word-level tokenizer trained on a few sentences plus any
texts the test passes, saved with ``save_pretrained`` (safetensors). Its output is garbage; it
exercises loading, batching, padding, generation and decoding, not judgement.
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
