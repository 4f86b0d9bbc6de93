"""big_vision ``.npz`` checkpoints: flat ``/``-joined keys, ``params/`` prefix optional,
bfloat16 stored as the void dtype ``V2``. Loading never unpickles."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import ml_dtypes
import numpy as np

from medvlm.io import atomic_path
from medvlm.models.paligemma.config import PaliGemmaConfig
from medvlm.models.paligemma.params import flatten, param_shapes, unflatten

PREFIX = "params/"
EMBEDDING = "llm/embedder/input_embedding"
NEW_ROW_STDDEV = 0.02


class CheckpointMismatch(ValueError):
    """A checkpoint whose names or shapes differ from the configured model's."""


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every array of a big_vision npz by its name without ``params/``; ``V2`` → bfloat16."""
    arrays = {}
    try:
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                array = data[key]
                if array.dtype.kind == "V" and array.dtype.itemsize == 2:
                    array = array.view(ml_dtypes.bfloat16)
                arrays[key.removeprefix(PREFIX)] = array
    except (OSError, ValueError) as error:
        raise CheckpointMismatch(f"{path}: not a readable .npz checkpoint ({error})") from None
    if not arrays:
        raise CheckpointMismatch(f"{path}: the checkpoint holds no arrays")
    return arrays


def read_npz_shapes(path: str | os.PathLike) -> dict[str, tuple[int, ...]]:
    """Every array's shape by its name without ``params/``, from the ``.npy`` headers alone (a
    6 GB checkpoint is not read)."""
    header_readers = {
        (1, 0): np.lib.format.read_array_header_1_0,
        (2, 0): np.lib.format.read_array_header_2_0,
    }
    shapes = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                with archive.open(name) as handle:
                    version = np.lib.format.read_magic(handle)
                    if version not in header_readers:
                        raise ValueError(f"{name}: .npy format version {version}")
                    shape = header_readers[version](handle)[0]
                shapes[name.removesuffix(".npy").removeprefix(PREFIX)] = tuple(shape)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise CheckpointMismatch(f"{path}: not a readable .npz checkpoint ({error})") from None
    if not shapes:
        raise CheckpointMismatch(f"{path}: the checkpoint holds no arrays")
    return shapes


def check_shapes(flat: dict, expected: dict[str, tuple[int, ...]], path, skip=()) -> None:
    """Raise naming the first missing, unexpected or wrongly shaped key, with both shapes."""
    for name in sorted(set(expected) | set(flat)):
        if name in skip:
            continue
        want = expected.get(name)
        got = tuple(flat[name].shape) if name in flat else None
        if want != got:
            raise CheckpointMismatch(
                f"{path}: parameter {name!r} has shape {got} in the checkpoint but the model "
                f"expects {want}"
                + (" (missing)" if got is None else "")
                + (" (not in the model)" if want is None else "")
            )


def load_params(path: str | os.PathLike, config: PaliGemmaConfig, seed: int = 0) -> dict:
    """The checkpoint as a nested dict of numpy arrays, checked against ``config``.

    A configured vocabulary larger than the checkpoint's embedding gets its new rows drawn from
    N(0, 0.02); every other difference is an error.
    """
    flat = read_npz(path)
    expected = param_shapes(config)
    check_shapes(flat, expected, path, skip=(EMBEDDING,))
    table = flat.get(EMBEDDING)
    rows, width = expected[EMBEDDING]
    if table is None or table.ndim != 2 or table.shape[1] != width or table.shape[0] > rows:
        got = None if table is None else tuple(table.shape)
        raise CheckpointMismatch(
            f"{path}: parameter {EMBEDDING!r} has shape {got} in the checkpoint but the model "
            f"expects {(rows, width)}"
        )
    if table.shape[0] < rows:
        extra = np.random.default_rng(seed).normal(
            0, NEW_ROW_STDDEV, (rows - table.shape[0], width)
        )
        flat[EMBEDDING] = np.concatenate([table, extra.astype(table.dtype)])
    return unflatten(flat)


def save_params(params: dict, path: str | os.PathLike) -> None:
    """Write ``params`` as a big_vision npz (``params/`` keys, bfloat16 as ``V2``), atomically."""
    write_npz(path, {PREFIX + name: value for name, value in flatten(params).items()})


def write_npz(path: str | os.PathLike, arrays: dict) -> None:
    """Write named arrays to an npz atomically; bfloat16 is stored as ``V2`` like big_vision."""
    stored = {}
    for name, value in arrays.items():
        array = np.asarray(value)
        stored[name] = array.view(np.dtype("V2")) if array.dtype == ml_dtypes.bfloat16 else array
    with atomic_path(Path(path)) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **stored)


TOKENIZER_NAMES = ("tokenizer.model", "paligemma_tokenizer.model")
CONFIG_NAME = "config.json"


def checkpoint_files(checkpoint: str | os.PathLike) -> tuple[Path, Path, Path | None]:
    """``(npz, tokenizer, config.json or None)`` of a checkpoint file or directory."""
    path = Path(checkpoint)
    if path.is_dir():
        candidates = sorted(path.glob("*.npz"))
        preferred = [p for p in candidates if p.name in ("params.npz", "best.npz")]
        if len(candidates) != 1 and not preferred:
            raise FileNotFoundError(
                f"{path}: expected one .npz checkpoint, found {len(candidates)}"
            )
        npz = preferred[0] if preferred else candidates[0]
    elif path.is_file():
        npz = path
    else:
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    tokenizers = [npz.parent / name for name in TOKENIZER_NAMES if (npz.parent / name).is_file()]
    if not tokenizers:
        raise FileNotFoundError(f"{npz.parent}: no tokenizer ({' or '.join(TOKENIZER_NAMES)})")
    config = npz.parent / CONFIG_NAME
    return npz, tokenizers[0], config if config.is_file() else None
