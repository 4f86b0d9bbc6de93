"""The unit every metric consumes: one model answer next to its reference."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    uid: str  # the record's uid
    dataset: str
    task: str  # canonical task type (medvlm.records.TASK_TYPES)
    question: str
    reference: str  # the reference answer text, as in the data
    prediction: str  # the model's answer text (see ``submitted``)
    image_key: str  # the image (or "|"-joined images) the question is about: the bootstrap unit
    # True when ``prediction`` is an answer as submitted (a FLARE ``Answer``: whoever made it has
    # already post-processed the model's output), False for raw model output. A profile whose
    # evaluator cleans raw output before scoring (``paligemma``) cleans only the latter.
    submitted: bool = False
