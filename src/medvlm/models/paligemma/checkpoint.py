"""Checkpoints: big_vision ``.npz`` files (flat ``/``-joined keys, ``params/`` prefix optional,
bfloat16 stored as the void dtype ``V2``) and transformers folders (:mod:`.hf_layout`), told
apart by their files. Loading never unpickles."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from medvlm.io import atomic_path
from medvlm.models.paligemma import hf_layout
from medvlm.models.paligemma.config import CheckpointMismatch, PaliGemmaConfig, check_shapes
from medvlm.models.paligemma.tokenizer import find_tokenizer

PREFIX = "params/"
EMBEDDING = "llm/embedder/input_embedding"
NEW_ROW_STDDEV = 0.02


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every array of a big_vision npz by its name without ``params/``; ``V2`` → bfloat16."""
    import ml_dtypes

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


def load_params(path: str | os.PathLike, config: PaliGemmaConfig, seed: int = 0) -> dict:
    """The checkpoint (a big_vision npz, or the weights file :func:`checkpoint_files` gives for
    a transformers folder) as a nested dict of numpy arrays, checked against ``config``.

    A configured vocabulary larger than the checkpoint's embedding gets its new rows drawn from
    N(0, 0.02); every other difference is an error.
    """
    from medvlm.models.paligemma.params import param_shapes, unflatten

    path = Path(path)
    flat = hf_layout.read_hf(path.parent)[0] if is_hf_weights(path) else read_npz(path)
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
    from medvlm.models.paligemma.params import flatten

    write_npz(path, {PREFIX + name: value for name, value in flatten(params).items()})


def write_npz(path: str | os.PathLike, arrays: dict) -> None:
    """Write named arrays to an npz atomically; bfloat16 is stored as ``V2`` like big_vision."""
    import ml_dtypes

    stored = {}
    for name, value in arrays.items():
        array = np.asarray(value)
        stored[name] = array.view(np.dtype("V2")) if array.dtype == ml_dtypes.bfloat16 else array
    with atomic_path(Path(path)) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **stored)


CONFIG_NAME = "config.json"


def checkpoint_files(checkpoint: str | os.PathLike) -> tuple[Path, Path, Path | None]:
    """``(weights, tokenizer, config.json or None)`` of a checkpoint in either layout: a big_vision
    ``.npz`` (the file, or a folder that holds one), or a transformers folder (its
    ``model.safetensors`` or ``model.safetensors.index.json`` as the weights; detected by
    :func:`~.hf_layout.is_hf_folder`, every shard checked to exist)."""
    path = Path(checkpoint)
    if hf_layout.is_hf_folder(path):
        hf_layout.weight_files(path)
        config = path / hf_layout.CONFIG_FILE
        if not config.is_file():
            raise CheckpointMismatch(f"{path}: a transformers folder needs {config.name}")
        index = path / hf_layout.INDEX_FILE
        weights = index if index.is_file() else path / hf_layout.WEIGHTS_FILE
        return weights, find_tokenizer(path), config
    if path.is_dir():
        candidates = sorted(path.glob("*.npz"))
        preferred = [p for p in candidates if p.name in ("params.npz", "best.npz")]
        if len(candidates) != 1 and not preferred:
            raise FileNotFoundError(
                f"{path}: expected one .npz checkpoint (big_vision) or a transformers folder "
                f"({hf_layout.CONFIG_FILE} + {hf_layout.WEIGHTS_FILE} or "
                f"{hf_layout.INDEX_FILE}), found {len(candidates)} .npz files"
            )
        npz = preferred[0] if preferred else candidates[0]
    elif path.is_file():
        npz = path
    else:
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    config = npz.parent / CONFIG_NAME
    return npz, find_tokenizer(npz.parent), config if config.is_file() else None


def checkpoint_config(checkpoint: str | os.PathLike) -> PaliGemmaConfig | None:
    """The config a checkpoint's files state, every file checked to be there (a transformers
    folder's shards, safetensors headers and tokenizer too), or None for an npz without a
    ``config.json``. Reads only small files and imports no JAX: the plan-time check."""
    weights, _, config_json = checkpoint_files(checkpoint)
    if is_hf_weights(weights):
        return hf_layout.check_folder(weights.parent)
    return None if config_json is None else hf_layout.read_config(config_json)


def is_hf_weights(weights: Path) -> bool:
    """Whether ``checkpoint_files`` found transformers weights (else a big_vision npz)."""
    return weights.name == hf_layout.INDEX_FILE or weights.suffix == ".safetensors"


def source_files(weights: Path) -> list[Path]:
    """Every file the weights are read from: the npz, or the safetensors index and its shards."""
    if weights.name == hf_layout.INDEX_FILE:
        return [weights, *hf_layout.weight_files(weights.parent)]
    return [weights]
