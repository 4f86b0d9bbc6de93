"""What a synthetic tree holds: size, seed, image look, fault rate, which data sets."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from medvlm.data.synthetic.specs import DATASETS, DATASETS_BY_NAME

IMAGE_FORMATS = ("png", "jpeg")
# The smallest side every scene layout fits in (strips, grids, a split middle region).
MIN_SIDE, MAX_SIDE = 48, 8192


@dataclass(frozen=True)
class SyntheticConfig:
    seed: int = 0
    train_images_per_dataset: int = 24
    val_images_per_dataset: int = 8  # 0 writes no validation-public folder
    hidden_images_per_dataset: int = 0  # > 0 writes validation-hidden/ (answers withheld)
    fault_rate: float = 0.0  # probability per image / entry of planting a fault
    image_size: tuple[int, int] | None = None  # (width, height); None = varied, 48..160 px
    image_format: str | None = None  # "png" / "jpeg" for every image; None = per data set
    datasets: tuple[str, ...] | None = None  # a subset of DATASETS by name; None = all
    # Training images of named data sets instead of train_images_per_dataset (an unbalanced tree:
    # {"chromosome": 2500}); held as sorted (name, count) pairs so the config stays hashable.
    train_images_by_dataset: tuple[tuple[str, int], ...] | None = None

    def __post_init__(self):
        # Lists (from YAML or JSON) become tuples, so the config stays hashable and comparable.
        if isinstance(self.image_size, list):
            object.__setattr__(self, "image_size", tuple(self.image_size))
        if isinstance(self.datasets, list):
            object.__setattr__(self, "datasets", tuple(self.datasets))
        if isinstance(self.train_images_by_dataset, dict):
            pairs = tuple(sorted(self.train_images_by_dataset.items()))
            object.__setattr__(self, "train_images_by_dataset", pairs)
        self._validate()

    def _validate(self) -> None:
        def fail(key: str, expected: str) -> None:
            value = getattr(self, key)
            raise ValueError(f"SyntheticConfig.{key} must be {expected}, got {value!r}")

        if not _is_int(self.seed) or self.seed < 0:
            fail("seed", "an integer >= 0")
        if not _is_int(self.train_images_per_dataset) or self.train_images_per_dataset < 1:
            fail("train_images_per_dataset", "an integer >= 1")
        if not _is_int(self.val_images_per_dataset) or self.val_images_per_dataset < 0:
            fail("val_images_per_dataset", "an integer >= 0")
        if not _is_int(self.hidden_images_per_dataset) or self.hidden_images_per_dataset < 0:
            fail("hidden_images_per_dataset", "an integer >= 0")
        if not isinstance(self.fault_rate, int | float) or not 0 <= self.fault_rate <= 1:
            fail("fault_rate", "a number in [0, 1]")
        if self.image_size is not None and not (
            isinstance(self.image_size, tuple)
            and len(self.image_size) == 2
            and all(_is_int(v) and MIN_SIDE <= v <= MAX_SIDE for v in self.image_size)
        ):
            fail("image_size", f"None or (width, height), integers in {MIN_SIDE}..{MAX_SIDE}")
        if self.image_format is not None and self.image_format not in IMAGE_FORMATS:
            fail("image_format", f"None or one of {IMAGE_FORMATS}")
        if self.datasets is not None:
            unknown = [name for name in self.datasets if name not in DATASETS_BY_NAME]
            if unknown or not self.datasets or not isinstance(self.datasets, tuple):
                names = ", ".join(spec.name for spec in DATASETS)
                fail("datasets", f"None or a non-empty list of data set names ({names})")
        if self.train_images_by_dataset is not None:
            chosen = self.datasets or tuple(spec.name for spec in DATASETS)
            if not all(
                isinstance(pair, tuple)
                and len(pair) == 2
                and pair[0] in chosen
                and _is_int(pair[1])
                and pair[1] >= 1
                for pair in self.train_images_by_dataset
            ):
                fail(
                    "train_images_by_dataset", "a mapping of the tree's data sets to integers >= 1"
                )

    def train_images(self, dataset: str) -> int:
        """The number of training images of ``dataset``."""
        return dict(self.train_images_by_dataset or ()).get(dataset, self.train_images_per_dataset)

    def as_dict(self) -> dict:
        data = asdict(self)
        for key in ("image_size", "datasets"):
            if data[key] is not None:
                data[key] = list(data[key])
        if data["train_images_by_dataset"] is not None:
            data["train_images_by_dataset"] = dict(data["train_images_by_dataset"])
        return data


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
