"""Plant the faults real trees have, so the stages downstream prove they survive them.

Each image, then each entry whose images are intact, gets a fault with probability ``rate``;
afterwards every kind that did not come up is planted once, so even a small tree holds each kind.
An entry carries at most one fault, and never one on top of a faulted image, so every planted
fault has exactly one cause. One extra questions file that is not valid JSON is written beside a
training file (``<dataset>_questions_train_part2.json``), so no data set loses its questions.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from medvlm.data.synthetic.plan import ImagePlan, QuestionsFile
from medvlm.records import REQUIRED_FIELDS

IMAGE_FAULTS = ("missing_image", "truncated_image")
ENTRY_FAULTS = ("missing_field", "unknown_task_type", "non_string_answer")
INVALID_JSON = "invalid_json_file"
FAULT_KINDS = (*IMAGE_FAULTS, *ENTRY_FAULTS, INVALID_JSON)
UNKNOWN_TASK_TYPES = ("segmentation", "Visual Question Answering", "image_captioning")
GUARANTEE_STREAM = 7919  # seeds the generator that plants the kinds the draws missed


@dataclass(frozen=True)
class Fault:
    kind: str
    file: str  # the questions file (the invalid one itself for INVALID_JSON), relative to root
    entry: int | None  # index of the entry in that file, for entry faults
    image: str | None  # the image, relative to root, for image faults
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ExtraFile:
    path: str  # relative to root
    text: str


def plant_faults(
    files: list[QuestionsFile], rate: float, seed: int
) -> tuple[list[Fault], ExtraFile | None]:
    """Mutate ``files`` in place (entries, image fault marks); return the faults and extra file."""
    if rate <= 0:
        return [], None
    guarantee = np.random.default_rng([seed, GUARANTEE_STREAM])
    image_faults = _draw_image_faults(files, rate)
    for kind in IMAGE_FAULTS:
        if not any(fault == kind for _, _, fault in image_faults):
            candidates = [(f, img) for f in files for img in f.images if img.fault is None]
            file, image = _pick(candidates, guarantee, kind)
            image.fault = kind
            image_faults.append((file, image, kind))

    entry_faults = _draw_entry_faults(files, rate)
    for kind in ENTRY_FAULTS:
        if not any(fault == kind for _, _, fault in entry_faults):
            taken = {(id(f), i) for f, i, _ in entry_faults}
            candidates = [
                (f, i)
                for f in files
                for i in range(len(f.entries))
                if (id(f), i) not in taken and _intact(f.entry_images[i])
            ]
            file, index = _pick(candidates, guarantee, kind)
            entry_faults.append((file, index, kind))

    faults = [
        Fault(kind, file.path, None, image.path, "image file not written")
        if kind == "missing_image"
        else Fault(kind, file.path, None, image.path, "image file cut to half its bytes")
        for file, image, kind in image_faults
    ]
    for file, index, kind in entry_faults:
        rng = np.random.default_rng([*file.seed_key, 2, index])
        detail = _apply_entry_fault(file, index, kind, rng)
        faults.append(Fault(kind, file.path, index, None, detail))

    extra = _invalid_json_file([f for f in files if f.split.name == "train"], guarantee)
    faults.append(Fault(INVALID_JSON, extra.path, None, None, "JSON text cut in the middle"))
    return faults, extra


def _draw_image_faults(files, rate) -> list[tuple[QuestionsFile, ImagePlan, str]]:
    drawn = []
    for file in files:
        rng = np.random.default_rng([*file.seed_key, 1])
        for image in file.images:
            if rng.random() < rate:
                image.fault = IMAGE_FAULTS[int(rng.integers(len(IMAGE_FAULTS)))]
                drawn.append((file, image, image.fault))
    return drawn


def _draw_entry_faults(files, rate) -> list[tuple[QuestionsFile, int, str]]:
    drawn = []
    for file in files:
        rng = np.random.default_rng([*file.seed_key, 3])
        for index, images in enumerate(file.entry_images):
            if rng.random() < rate and _intact(images):
                drawn.append((file, index, ENTRY_FAULTS[int(rng.integers(len(ENTRY_FAULTS)))]))
    return drawn


def _intact(images: list[ImagePlan]) -> bool:
    return all(image.fault is None for image in images)


def _pick(candidates: list, rng: np.random.Generator, kind: str):
    if not candidates:
        raise ValueError(
            f"the synthetic tree is too small to plant a {kind!r} fault; "
            "use more images per data set or more data sets"
        )
    return candidates[int(rng.integers(len(candidates)))]


def _apply_entry_fault(file: QuestionsFile, index: int, kind: str, rng) -> str:
    entry = file.entries[index]
    if kind == "missing_field":
        field = REQUIRED_FIELDS[int(rng.integers(len(REQUIRED_FIELDS)))]
        del entry[field]
        return f"field {field!r} removed"
    if kind == "unknown_task_type":
        entry["TaskType"] = UNKNOWN_TASK_TYPES[int(rng.integers(len(UNKNOWN_TASK_TYPES)))]
        return f"TaskType set to {entry['TaskType']!r}"
    entry["Answer"] = file.natives[index]
    return f"Answer written as a JSON {type(entry['Answer']).__name__}"


def _invalid_json_file(train_files: list[QuestionsFile], rng) -> ExtraFile:
    file = _pick(train_files, rng, INVALID_JSON)
    text = json.dumps(file.entries[:3], indent=2, ensure_ascii=False)
    return ExtraFile(file.path.removesuffix(".json") + "_part2.json", text[: len(text) // 2])
