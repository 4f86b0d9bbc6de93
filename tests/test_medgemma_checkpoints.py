"""Resume-directory bookkeeping: only complete checkpoints count; whole directories atomically."""

from pathlib import Path

import pytest

from medvlm.io import atomic_dir, write_json
from medvlm.models.medgemma.checkpoints import (
    COMPLETE_MARKER,
    last_complete_checkpoint,
)


def checkpoint(resume: Path, step: int, complete: bool) -> Path:
    folder = resume / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "optimizer.pt").write_bytes(b"x")
    if complete:
        write_json(folder / COMPLETE_MARKER, {"step": step})
    return folder


def test_a_half_written_checkpoint_is_not_resumed_from(tmp_path):
    assert last_complete_checkpoint(tmp_path / "none") is None
    checkpoint(tmp_path, 10, complete=True)
    checkpoint(tmp_path, 20, complete=True)
    checkpoint(tmp_path, 30, complete=False)  # killed while the trainer was writing it
    (tmp_path / "checkpoint-x").mkdir()
    assert last_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-20"


def test_atomic_dir_replaces_a_directory_only_when_the_block_succeeds(tmp_path):
    target = tmp_path / "best"
    with atomic_dir(target) as tmp:
        (tmp / "weights").write_text("one")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "weights").write_text("half")
        raise RuntimeError("killed")
    assert (target / "weights").read_text() == "one"
    with atomic_dir(target) as tmp:
        (tmp / "weights").write_text("two")
    assert (target / "weights").read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]
