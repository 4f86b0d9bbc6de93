"""Resume state: trained weights, optimizer state, step and log, in one atomically written npz.

The data order is a function of the seed and the step (the loader's per-epoch permutation), and
the training step draws no random numbers, so these fully determine the rest of the run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jax
import numpy as np

from medvlm.models.paligemma.checkpoint import read_npz, write_npz

STATE_FILE = "state.npz"
_META = "meta"


def save_state(resume_dir: str | os.PathLike, trainable: dict, opt_state, meta: dict) -> None:
    arrays = {f"trainable/{name}": np.asarray(value) for name, value in trainable.items()}
    for i, leaf in enumerate(jax.tree.leaves(opt_state)):
        arrays[f"opt/{i}"] = np.asarray(leaf)
    arrays[_META] = np.array(json.dumps(meta))
    write_npz(Path(resume_dir) / STATE_FILE, arrays)


def load_state(resume_dir: str | os.PathLike, trainable: dict, opt_state):
    """``(trainable, opt_state, meta)`` from ``resume_dir``, shaped like the given templates;
    None when there is no state. A state that does not fit the templates raises naming it."""
    path = Path(resume_dir) / STATE_FILE
    if not path.is_file():
        return None
    arrays = read_npz(path)
    meta = json.loads(str(arrays.pop(_META)))
    restored = {}
    for name, template in trainable.items():
        value = arrays.get(f"trainable/{name}")
        if value is None or value.shape != template.shape:
            raise ValueError(f"{path}: resume state does not fit the model at {name!r}")
        restored[name] = value.astype(template.dtype)
    leaves, treedef = jax.tree.flatten(opt_state)
    opt_leaves = []
    for i, template in enumerate(leaves):
        value = arrays.get(f"opt/{i}")
        if value is None or value.shape != template.shape:
            raise ValueError(f"{path}: resume state does not fit the optimizer at leaf {i}")
        opt_leaves.append(value.astype(template.dtype))
    return restored, jax.tree.unflatten(treedef, opt_leaves), meta
