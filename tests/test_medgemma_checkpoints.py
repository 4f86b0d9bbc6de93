"""Resume-directory bookkeeping: only complete checkpoints count, a changed run starts over."""

from pathlib import Path

import pytest

from medvlm.io import atomic_dir, write_json
from medvlm.models.medgemma.checkpoints import (
    COMPLETE_MARKER,
    claim_resume_dir,
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


def test_a_changed_run_clears_the_resume_state(tmp_path):
    resume = tmp_path / "resume"
    run = {"checkpoint": Path("/models/m"), "train": {"learning_rate": 1e-4}}
    assert not claim_resume_dir(resume, run)  # a new run
    checkpoint(resume, 5, complete=True)
    assert claim_resume_dir(resume, run)  # the same run again: its state stays
    assert last_complete_checkpoint(resume) is not None
    changed = {**run, "train": {"learning_rate": 2e-4}}
    assert not claim_resume_dir(resume, changed)
    assert last_complete_checkpoint(resume) is None
    assert claim_resume_dir(resume, changed)


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
