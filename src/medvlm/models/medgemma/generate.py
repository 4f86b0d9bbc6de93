"""Batched greedy generation: left padding, only the new tokens returned, a logits-processor hook.

Constrained decoding plugs in through a :class:`LogitsProcessorFactory`: called once per batch
(every record of a batch has the same task type) with the batch's records, the tokenizer and
the prompt length (the processors see prompt + generated ids), it returns the
``transformers.LogitsProcessor`` objects to apply to that batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from PIL import Image

from medvlm.models.medgemma.data import prompt_messages
from medvlm.records import Record


class LogitsProcessorFactory(Protocol):
    def __call__(self, records: list[Record], tokenizer: Any, prompt_length: int) -> list:
        """The logits processors for one batch."""


def prompt_texts(
    processor, records: Sequence[Record], images: Sequence[list], frame: str
) -> list[str]:
    """Chat-formatted prompts ending with the model's turn, one image placeholder per view,
    boxes asked for in ``frame``."""
    return [
        processor.apply_chat_template(
            prompt_messages(record, len(views), frame), add_generation_prompt=True, tokenize=False
        )
        for record, views in zip(records, images, strict=True)
    ]


def generate_ids(
    model,
    processor,
    records: Sequence[Record],
    images: Sequence[list[Image.Image]],
    max_new_tokens: int,
    frame: str,
    logits_processor_factory: LogitsProcessorFactory | None = None,
):
    """The new token ids ``[B, T]`` of each record, greedy (pad after a record's end), boxes
    asked for in ``frame``; ``processor.batch_decode(ids, skip_special_tokens=True)`` gives
    the texts."""
    import torch
    from transformers import LogitsProcessorList

    inputs = processor(
        images=[list(views) for views in images],
        text=prompt_texts(processor, records, images, frame),
        padding=True,
        padding_side="left",
        add_special_tokens=False,  # the chat template already starts with <bos>
        return_tensors="pt",
    ).to(model.device)
    inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
    prompt_length = inputs["input_ids"].shape[1]
    processors = LogitsProcessorList()
    if logits_processor_factory is not None:
        processors.extend(
            logits_processor_factory(list(records), processor.tokenizer, prompt_length)
        )
    with torch.inference_mode():
        output = model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            logits_processor=processors,
            pad_token_id=processor.tokenizer.pad_token_id,
        )
    return output[:, prompt_length:]
