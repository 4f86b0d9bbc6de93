"""Decode a split's images once into a memory-mappable uint8 array plus an index.

``out_dir/images.npy``   uint8 ``[N, size, size, 3]``, one row per unique image of the split
``out_dir/index.json``   ``{"size", "count", "paths": [source path, or null for a failed row],
                          "records": {uid: [row, ...] in the record's image order}}``
``out_dir/problems.jsonl`` images that would not decode, with the uids of the records using them

An image shared by several questions is stored once. Rows are decoded in parallel processes and
written into the file as they arrive, with plain positioned writes rather than through a
memory map, so the builder's memory stays flat however many images there are. A row whose image
fails stays zero and no record points at it; the records using it are left out of the index.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from medvlm.data.flare import Problem
from medvlm.data.images import ImageError, load_rgb
from medvlm.io import atomic_path, printable, write_json, write_jsonl
from medvlm.parallel import process_pool
from medvlm.records import iter_records

log = logging.getLogger(__name__)

IMAGES_FILE = "images.npy"
INDEX_FILE = "index.json"
PROBLEMS_FILE = "problems.jsonl"
CHUNK_SIZE = 16  # images per task handed to a worker process

Decoded = Iterator[tuple[int, bytes | None, str | None]]  # (row, pixels, failure reason)


def build_shards(
    split_jsonl: str | os.PathLike,
    out_dir: str | os.PathLike,
    size: int,
    threads: int = 1,
    max_pixels: int | None = None,
) -> dict:
    """Build the shard of one split at one image size; return the counts.

    ``max_pixels``: the most pixels one image may decode to (None: Pillow's bomb limit); a
    larger one is a problem line, as is an image that became a link since the merge (the merge
    records real paths, so a link there now was put there since).
    """
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"image size must be a positive integer, got {size!r}")
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    out_dir = Path(out_dir)
    problems: list[Problem] = []
    total, record_paths, image_users = _collect(split_jsonl, problems)
    paths = list(image_users)
    if not paths:
        raise ValueError(f"{split_jsonl}: no record with an image; nothing to shard")

    failed = _write_images(paths, out_dir / IMAGES_FILE, size, threads, max_pixels)
    for row, reason in sorted(failed.items()):
        users = ", ".join(image_users[paths[row]])
        problems.append(Problem("shards", paths[row], users, reason))
    write_jsonl(out_dir / PROBLEMS_FILE, problems)
    if len(failed) == len(paths):
        (out_dir / IMAGES_FILE).unlink(missing_ok=True)
        raise ValueError(
            f"{split_jsonl}: none of its {len(paths)} images could be decoded; "
            f"reasons in {out_dir / PROBLEMS_FILE}"
        )

    row_of = {path: row for row, path in enumerate(paths) if row not in failed}
    records = {
        uid: [row_of[path] for path in image_paths]
        for uid, image_paths in record_paths.items()
        if all(path in row_of for path in image_paths)
    }
    index = {
        "size": size,
        "count": len(paths),
        "paths": [None if row in failed else path for row, path in enumerate(paths)],
        "records": records,
    }
    write_json(out_dir / INDEX_FILE, index)

    summary = {
        "records": total,
        "records_indexed": len(records),
        "records_left_out": total - len(records),
        "images": len(paths),
        "images_decoded": len(paths) - len(failed),
        "images_failed": len(failed),
        "size": size,
    }
    log.info(
        "%s at %dpx: %d/%d images decoded, %d/%d records indexed, %d problem(s)",
        split_jsonl,
        size,
        summary["images_decoded"],
        summary["images"],
        summary["records_indexed"],
        total,
        len(problems),
    )
    return summary


def _collect(
    split_jsonl: str | os.PathLike, problems: list[Problem]
) -> tuple[int, dict[str, list[str]], dict[str, list[str]]]:
    """Count the records; map uid → image paths and each unique image (first-use order) → uids.

    Only these two maps are kept, not the records, so memory holds no question text.
    """
    total = 0
    record_paths: dict[str, list[str]] = {}
    image_users: dict[str, list[str]] = {}
    for record in iter_records(split_jsonl):
        total += 1
        if not record.image_paths:
            problems.append(Problem("shards", str(split_jsonl), record.uid, "record has no image"))
            continue
        record_paths[record.uid] = record.image_paths
        for path in dict.fromkeys(record.image_paths):
            image_users.setdefault(path, []).append(record.uid)
    return total, record_paths, image_users


def _write_images(
    paths: list[str], target: Path, size: int, threads: int, max_pixels: int | None
) -> dict[int, str]:
    """Decode every path into its row of a new ``.npy`` at ``target``; return failed rows."""
    row_bytes = size * size * 3
    failed: dict[int, str] = {}
    with _decoder(size, threads, max_pixels) as decode_all, atomic_path(target) as tmp:
        header = np.lib.format.open_memmap(
            tmp, mode="w+", dtype=np.uint8, shape=(len(paths), size, size, 3)
        )
        offset = header.offset
        del header  # only the header and the file's length come from the memory map
        with open(tmp, "r+b") as out:
            progress = tqdm(
                decode_all(paths),
                total=len(paths),
                desc=f"shards {size}px",
                unit="img",
                file=sys.stderr,
            )
            for row, pixels, reason in progress:
                if reason is None:
                    os.pwrite(out.fileno(), pixels, offset + row * row_bytes)
                else:
                    failed[row] = reason
    return failed


@contextmanager
def _decoder(
    size: int, threads: int, max_pixels: int | None
) -> Iterator[Callable[[list[str]], Decoded]]:
    """A function from paths to ``(row, pixels, failure reason)`` in row order.

    The pool is made before the progress bar starts its thread (see ``process_pool``).
    """
    decode = partial(_decode_row, size=size, max_pixels=max_pixels)
    if threads == 1:
        yield lambda paths: map(decode, enumerate(paths))
        return
    with process_pool(threads) as pool:
        yield lambda paths: pool.imap(decode, enumerate(paths), chunksize=CHUNK_SIZE)


def _decode_row(
    item: tuple[int, str], size: int, max_pixels: int | None
) -> tuple[int, bytes | None, str | None]:
    row, path = item
    real = os.path.realpath(path)
    if real != os.path.abspath(path):
        return row, None, f"changed since the merge: now a link to {printable(real)}; not opened"
    try:
        return row, load_rgb(path, size, max_pixels).tobytes(), None
    except ImageError as error:
        return row, None, error.reason


def read_index(shard_dir: str | os.PathLike) -> dict:
    """Read ``index.json`` of a shard, checking the fields a loader relies on."""
    path = Path(shard_dir) / INDEX_FILE
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error.msg}); rebuild the shards") from None
    if not isinstance(index, dict):
        raise ValueError(f"{path}: expected a JSON object; rebuild the shards")
    missing = [key for key in ("size", "count", "paths", "records") if key not in index]
    if missing:
        raise ValueError(f"{path}: missing field(s) {', '.join(missing)}; rebuild the shards")
    rows = range(index["count"])
    if len(index["paths"]) != index["count"] or not all(
        row in rows for record_rows in index["records"].values() for row in record_rows
    ):
        raise ValueError(f"{path}: rows do not match the image count; rebuild the shards")
    return index
