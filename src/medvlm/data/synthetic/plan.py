"""Plan one questions file: its entries and the scenes of the images they ask about.

Every data set and split draws from its own generator, seeded by (seed, position of the data set
in ``DATASETS``, split), so a subset of data sets holds exactly the content the full tree has for
them, and nothing here depends on how many worker processes later render the images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from medvlm.data.synthetic import palette
from medvlm.data.synthetic.config import MIN_SIDE, SyntheticConfig
from medvlm.data.synthetic.questions import question_text
from medvlm.data.synthetic.render import FORMATS, Scene
from medvlm.data.synthetic.scenes import compose
from medvlm.data.synthetic.specs import DATASETS, DatasetSpec

VARIED_MAX_SIDE = 160
BACKGROUND_GRID = (4, 4)


@dataclass(frozen=True)
class Split:
    folder: str  # "training"
    images: str  # "imagesTr"
    name: str  # the file suffix and the entries' ``Split`` value: "train"
    answered: bool = True  # False: the questions file withholds its answers (an answered
    # copy, ``<dataset>_questions_<name>_withGT.json``, is written beside it, as organisers have)


SPLITS = (
    Split("training", "imagesTr", "train"),
    Split("validation-public", "imagesVal", "val"),
    Split("validation-hidden", "imagesVal", "val", answered=False),
)


@dataclass
class ImagePlan:
    path: str  # relative to the tree's root
    scene: Scene
    fmt: str
    mode: str
    fault: str | None = None  # "missing_image" / "truncated_image", set by the fault planter


@dataclass
class QuestionsFile:
    seed_key: tuple[int, ...]  # (seed, data set position, split position): seeds its generators
    dataset: DatasetSpec
    split: Split
    path: str  # relative to the tree's root
    entries: list[dict]
    natives: list[Any]  # each entry's answer as a JSON value instead of text
    entry_images: list[list[ImagePlan]]  # the images each entry asks about
    images: list[ImagePlan]


def dataset_dir(spec: DatasetSpec, split: Split) -> str:
    return f"{split.folder}/{spec.category}/{spec.name}"


def plan_file(
    spec: DatasetSpec, split: Split, n_images: int, first_index: int, config: SyntheticConfig
) -> QuestionsFile:
    """Entries for ``n_images`` images (``n_images // views`` cases for multi-view data sets)."""
    key = (config.seed, DATASETS.index(spec), SPLITS.index(split))
    rng = np.random.default_rng(key)
    folder = dataset_dir(spec, split)
    file = QuestionsFile(
        key, spec, split, f"{folder}/{spec.name}_questions_{split.name}.json", [], [], [], []
    )
    for case in range(max(1, n_images // spec.views)):
        sizes = [_size(rng, config) for _ in range(spec.views)]
        looks = [_look(rng, spec, config) for _ in range(spec.views)]
        backgrounds = [_background(rng) for _ in range(spec.views)]
        view_marks, answers = compose(spec, sizes, rng)
        plans = []
        for view, ((w, h), (fmt, mode), bg, marks) in enumerate(
            zip(sizes, looks, backgrounds, view_marks, strict=True)
        ):
            stem = f"{spec.name}_{first_index + case:05d}"
            stem += f"_{view + 1}" if spec.views > 1 else ""
            name = f"{split.images}/{stem}{FORMATS[fmt][1]}"
            scene = Scene(w, h, spec.colour, bg, tuple(marks))
            plans.append(ImagePlan(f"{folder}/{name}", scene, fmt, mode))
        file.images += plans
        names = [plan.path.removeprefix(folder + "/") for plan in plans]
        for task, answer in zip(spec.tasks, answers, strict=True):
            file.entries.append(
                {
                    "Question": question_text(task.params),
                    "Answer": answer.text,
                    "TaskType": task.spelling_for(split.name),
                    "Modality": spec.modality,
                    "ImageName": names if spec.views > 1 else names[0],
                    "Split": split.name,
                }
            )
            file.natives.append(answer.native)
            file.entry_images.append(plans)
    return file


def plan_tree(config: SyntheticConfig) -> list[QuestionsFile]:
    """Every questions file of the tree, data sets in ``DATASETS`` order, in ``SPLITS`` order."""
    names = config.datasets or tuple(spec.name for spec in DATASETS)
    files = []
    for spec in (spec for spec in DATASETS if spec.name in names):
        counts = (
            config.train_images(spec.name),
            config.val_images_per_dataset,
            config.hidden_images_per_dataset,
        )
        first = 0
        for split, count in zip(SPLITS, counts, strict=True):
            if count:
                files.append(plan_file(spec, split, count, first, config))
                first += count
    return files


def _size(rng: np.random.Generator, config: SyntheticConfig) -> tuple[int, int]:
    """Varied, never square, unless the config fixes one size (drawn anyway: same stream)."""
    width = int(rng.integers(MIN_SIDE, VARIED_MAX_SIDE + 1))
    height = int(rng.integers(MIN_SIDE, VARIED_MAX_SIDE))
    height += height >= width  # skip the square size
    return config.image_size or (width, height)


def _look(rng: np.random.Generator, spec: DatasetSpec, config: SyntheticConfig) -> tuple[str, str]:
    fmt, mode = spec.looks[int(rng.integers(len(spec.looks)))]
    if config.image_format is None:
        return fmt, mode
    if config.image_format == "jpeg":  # JPEG holds neither alpha nor 16 bits
        mode = {"I;16": "L", "RGBA": "RGB"}.get(mode, mode)
    return config.image_format, mode


def _background(rng: np.random.Generator) -> tuple[tuple[int, ...], ...]:
    grid = rng.integers(palette.BACKGROUND_MIN, palette.BACKGROUND_MAX + 1, size=BACKGROUND_GRID)
    return tuple(tuple(int(v) for v in row) for row in grid)
