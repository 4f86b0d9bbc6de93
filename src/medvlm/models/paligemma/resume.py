"""Resume state: trained weights, optimizer state, step and log, saved with orbax-checkpoint.

Every process of a training saves and restores together: orbax writes each process's shards of
the sharded arrays, and only a step's finished folder counts (it writes into a temporary folder
and renames it when every process is done), so a killed save leaves no half state and the same
state resumes a run of one process or many. The arrays come back with the shardings of the
arrays they replace.

The data order is a function of the seed and the step (the loader's per-epoch permutation, or
the mixture's order: :mod:`medvlm.data.mixture`), and the training step draws no random numbers,
so these fully determine the rest of the run.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import jax

STATE_DIR = "state"

for _name in ("absl", "orbax"):  # orbax logs every file it writes at INFO
    logging.getLogger(_name).setLevel(logging.WARNING)


def _manager(resume_dir: str | os.PathLike):
    import orbax.checkpoint as ocp

    options = ocp.CheckpointManagerOptions(max_to_keep=1, enable_async_checkpointing=False)
    return ocp.CheckpointManager(Path(resume_dir).absolute() / STATE_DIR, options=options)


def saved_steps(resume_dir: str | os.PathLike) -> list[int]:
    """The steps with a finished state in ``resume_dir``, oldest first."""
    folder = Path(resume_dir) / STATE_DIR
    if not folder.is_dir():
        return []
    return sorted(int(path.name) for path in folder.iterdir() if path.name.isdigit())


def save_state(resume_dir: str | os.PathLike, trainable: dict, opt_state, meta: dict) -> None:
    """Save the state of step ``meta["step"]`` (every process calls it) and drop the older."""
    import orbax.checkpoint as ocp

    with _manager(resume_dir) as manager:
        state = ocp.args.StandardSave({"trainable": trainable, "opt": opt_state})
        manager.save(
            meta["step"], args=ocp.args.Composite(state=state, meta=ocp.args.JsonSave(meta))
        )
        manager.wait_until_finished()


def load_state(resume_dir: str | os.PathLike, trainable: dict, opt_state):
    """``(trainable, opt_state, meta)`` of the newest state in ``resume_dir``, placed like the
    given arrays; None when there is none. A state that does not fit them raises naming it."""
    import orbax.checkpoint as ocp

    if not saved_steps(resume_dir):
        return None
    target = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
        {"trainable": trainable, "opt": opt_state},
    )
    with _manager(resume_dir) as manager:
        step = manager.latest_step()
        args = ocp.args.Composite(
            state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()
        )
        try:
            restored = manager.restore(step, args=args)
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"{Path(resume_dir) / STATE_DIR / str(step)}: the resume state does not fit "
                f"the model and optimizer ({error})"
            ) from None
    return restored.state["trainable"], restored.state["opt"], restored.meta
