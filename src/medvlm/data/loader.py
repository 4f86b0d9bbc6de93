"""Batches of a split straight from its memory-mapped shard: no image decoding while training.

A batch is a dict::

    images      uint8 [B, K, S, S, 3], or float32 x/127.5 - 1 in [-1, 1]
    image_mask  bool  [B, K]: which of the K image slots a record fills
    uid, dataset, task, question, answer   lists of B strings

K is ``max_images`` or the most images any record of the split has (3 for neojaundice, else 1).
Empty slots hold zeros (-1 as float32) and are False in the mask; a record with more than K
images keeps its first K (counted in ``truncated``). Records the shard left out because an image
would not decode are skipped and counted in ``skipped``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from medvlm.data.shards import IMAGES_FILE, read_index
from medvlm.records import Record, iter_records

DTYPES = ("uint8", "float32")


class ShardLoader:
    """Shuffled (per seed and epoch, deterministically) or in-order batches of one split."""

    def __init__(
        self,
        shard_dir: str | os.PathLike,
        split_jsonl: str | os.PathLike,
        batch_size: int,
        *,
        seed: int = 0,
        shuffle: bool = True,
        dtype: str = "uint8",
        drop_last: bool = False,
        max_images: int | None = None,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
        if max_images is not None and max_images < 1:
            raise ValueError(f"max_images must be at least 1, got {max_images}")
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.dtype = dtype
        self.drop_last = drop_last

        shard_dir = Path(shard_dir)
        index = read_index(shard_dir)
        self.size = index["size"]
        self.images = np.load(shard_dir / IMAGES_FILE, mmap_mode="r", allow_pickle=False)
        expected = (index["count"], self.size, self.size, 3)
        if self.images.shape != expected or self.images.dtype != np.uint8:
            raise ValueError(
                f"{shard_dir / IMAGES_FILE}: {self.images.dtype} {self.images.shape}, index.json "
                f"says uint8 {expected}; rebuild the shards"
            )

        self.records: list[Record] = []
        self._rows: list[list[int]] = []
        self.skipped = 0
        self._match_records(index, shard_dir, split_jsonl)
        self.max_images = max_images or max(len(rows) for rows in self._rows)
        self.truncated = sum(len(rows) > self.max_images for rows in self._rows)
        self._position = {record.uid: i for i, record in enumerate(self.records)}
        self._first_row = np.array([rows[0] for rows in self._rows])
        self._pixels = self.images.view(np.ndarray)  # indexing a plain view skips memmap overhead
        self._epoch = 0

    def _match_records(self, index: dict, shard_dir: Path, split_jsonl: str | os.PathLike) -> None:
        """Keep the split's records that the shard indexes, with their rows; count the rest."""
        for record in iter_records(split_jsonl):
            rows = index["records"].get(record.uid)
            if rows is None:
                self.skipped += 1
                continue
            if [index["paths"][row] for row in rows] != record.image_paths:
                raise ValueError(
                    f"{shard_dir}: the images of record {record.uid} differ from {split_jsonl}; "
                    "the shard is stale, rebuild it"
                )
            self.records.append(record)
            self._rows.append(rows)
        if not self.records:
            raise ValueError(f"no record of {split_jsonl} has its images in the shard {shard_dir}")

    def __len__(self) -> int:
        """Number of batches per epoch."""
        if self.drop_last:
            return len(self.records) // self.batch_size
        return math.ceil(len(self.records) / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch (and so the shuffle order) that iterating the loader gives."""
        self._epoch = epoch

    def __iter__(self) -> Iterator[dict]:
        return self.epoch(self._epoch)

    def epoch(self, epoch: int) -> Iterator[dict]:
        """The batches of one epoch; the same seed and epoch always give the same batches."""
        order = self.order(epoch)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            chosen = order[start : start + self.batch_size]
            if self.shuffle:
                # The shuffle decides which records share a batch; inside it they go in file
                # order, so the memory map is read forwards rather than at random.
                chosen = chosen[np.argsort(self._first_row[chosen], kind="stable")]
            yield self._batch(chosen)

    def order(self, epoch: int) -> np.ndarray:
        """Positions of the records (in ``self.records``) in the order epoch ``epoch`` visits."""
        if not self.shuffle:
            return np.arange(len(self.records))
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.records))

    def read_images(self, uids: Sequence[str]) -> dict:
        """The batch of the given records, in the given order (for predict stages)."""
        try:
            positions = [self._position[uid] for uid in uids]
        except KeyError as error:
            raise KeyError(
                f"record {error.args[0]!r} is not in this loader's split or was skipped"
            ) from None
        return self._batch(positions)

    def _batch(self, positions: Sequence[int]) -> dict:
        shape = (len(positions), self.max_images, self.size, self.size, 3)
        rows = [self._rows[position][: self.max_images] for position in positions]
        if all(len(record_rows) == self.max_images for record_rows in rows):
            # Every slot filled (the usual case): one gather straight into the batch.
            flat = [row for record_rows in rows for row in record_rows]
            images = self._pixels[flat].reshape(shape)
            mask = np.ones(shape[:2], dtype=bool)
        else:
            images = np.zeros(shape, dtype=np.uint8)
            mask = np.zeros(shape[:2], dtype=bool)
            slots = ((row, b, slot) for b, rr in enumerate(rows) for slot, row in enumerate(rr))
            for row, b, slot in sorted(slots):  # file order: the memory map read forwards
                images[b, slot] = self._pixels[row]
                mask[b, slot] = True
        records = [self.records[position] for position in positions]
        return {
            "images": _as_dtype(images, self.dtype),
            "image_mask": mask,
            "uid": [record.uid for record in records],
            "dataset": [record.dataset for record in records],
            "task": [record.task for record in records],
            "question": [record.question for record in records],
            "answer": [record.answer for record in records],
        }


def _as_dtype(images: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "uint8":
        return images
    scaled = images.astype(np.float32)
    scaled /= np.float32(127.5)  # a division, so 255 maps to exactly 1.0
    scaled -= np.float32(1.0)
    return scaled
