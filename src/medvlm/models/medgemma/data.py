"""Records + image shards → TRL's conversational prompt/completion examples with PIL images.

An example is ``{"images": [PIL, ...], "prompt": [user turn], "completion": [assistant turn]}``.
TRL's vision collator tokenises the prompt (images included) and the completion separately and
masks everything but the completion out of the loss. The user turn holds one image placeholder
per view (three for neojaundice) followed by the task's prompt; the completion is the task's
training target. Images are read from the memory-mapped shard only when an example is used, so a
large split costs no memory up front.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image

from medvlm.models.base import SplitData
from medvlm.records import Record
from medvlm.tasks.framed_answers import frame_prompt, frame_target


def prompt_messages(record: Record, n_images: int, frame: str) -> list[dict]:
    """The user turn: ``n_images`` image placeholders, then the task's prompt for the question
    (boxes named in ``frame``)."""
    text = frame_prompt(record, frame)
    return [
        {
            "role": "user",
            "content": [
                *({"type": "image"} for _ in range(n_images)),
                {"type": "text", "text": text},
            ],
        }
    ]


def completion_messages(record: Record, frame: str) -> list[dict]:
    """The assistant turn: the answer as the task's parser expects to read it back, boxes in
    ``frame``."""
    target = frame_target(record, frame)
    return [{"role": "assistant", "content": [{"type": "text", "text": target}]}]


def batch_images(batch: dict) -> list[list[Image.Image]]:
    """The filled image slots of a loader batch, as PIL images, per record."""
    images, mask = batch["images"], batch["image_mask"]
    if images.dtype != np.uint8:
        raise ValueError(f"expected a uint8 loader batch, got {images.dtype}")
    return [
        [Image.fromarray(images[b, k]) for k in range(images.shape[1]) if mask[b, k]]
        for b in range(images.shape[0])
    ]


class ExampleSource:
    """Builds examples of one split on demand, by record uid, from its shard; boxes in
    ``frame``."""

    def __init__(self, data: SplitData, frame: str):
        self.loader = data.loader(1, shuffle=False, dtype="uint8")
        self.records = {record.uid: record for record in self.loader.records}
        self.frame = frame

    @property
    def uids(self) -> list[str]:
        return [record.uid for record in self.loader.records]

    def examples(self, uids: Sequence[str]) -> dict[str, list]:
        """Column-wise examples (the form ``datasets.Dataset.with_transform`` hands over)."""
        images = batch_images(self.loader.read_images(uids))
        records = [self.records[uid] for uid in uids]
        return {
            "images": images,
            "prompt": [
                prompt_messages(r, len(views), self.frame)
                for r, views in zip(records, images, strict=True)
            ],
            "completion": [completion_messages(r, self.frame) for r in records],
        }


def sft_dataset(
    data: SplitData,
    frame: str,
    uids: Sequence[str] | None = None,
    expert: tuple[str, Callable[[Record], str]] | None = None,
):
    """A ``datasets.Dataset`` of the split's uids (or of ``uids``, e.g. a fixed validation
    sample) whose rows are built lazily into examples with boxes in ``frame``; ``expert``
    (``(column, group of a record)``, an expert run's) adds each example's group."""
    from datasets import Dataset

    source = ExampleSource(data, frame)
    dataset = Dataset.from_dict({"uid": list(source.uids if uids is None else uids)})
    if expert is None:
        dataset.set_transform(lambda columns: source.examples(columns["uid"]))
        return dataset
    column, group_of = expert

    def examples(columns):
        groups = [group_of(source.records[uid]) for uid in columns["uid"]]
        return {**source.examples(columns["uid"]), column: groups}

    dataset.set_transform(examples)
    return dataset
