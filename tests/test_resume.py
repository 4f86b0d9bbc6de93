"""Resume state belongs to one training: the fingerprint of what it reads, and the claim."""

import json
import logging
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from medvlm.data.shards import build_shards
from medvlm.models.base import (
    FINGERPRINT_FILE,
    checkpoint_dir_files,
    claim_resume_dir,
    file_digest,
    release_resume_dir,
    training_fingerprint,
)
from medvlm.models.medgemma.settings import MedGemmaRun
from tests.support.medgemma_data import colour_split

BIG = 9 << 20  # above the size hashed whole


@pytest.fixture
def inputs(tmp_path):
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    (checkpoint / "weights.bin").write_bytes(os.urandom(BIG))
    (checkpoint / "tokenizer.model").write_bytes(b"pieces")
    train = colour_split(tmp_path / "data", "train", 6)
    val = colour_split(tmp_path / "data", "val", 3, seed=1)
    run = {"family": "medgemma", "checkpoint": str(checkpoint), "image_size": 16}
    return run, checkpoint, train, val


def fingerprint(run, train, val):
    settings = MedGemmaRun.from_run(run)
    files = checkpoint_dir_files(settings.checkpoint)
    return training_fingerprint(settings, files, settings.checkpoint, train, val)


def changed_parts(before: dict, after: dict) -> list[str]:
    assert before.keys() == after.keys()
    return [part for part in before if before[part] != after[part]]


def test_each_input_of_a_training_changes_its_own_part(inputs, tmp_path):
    run, checkpoint, train, val = inputs
    start = fingerprint(run, train, val)
    assert fingerprint(run, train, val) == start
    decode = {**run, "decode": {"batch_size": 1}}
    assert fingerprint(decode, train, val) == start  # decoding does not change the weights
    faster = {**run, "train": {"learning_rate": 1e-3}}
    assert changed_parts(start, fingerprint(faster, train, val)) == ["training settings"]
    assert changed_parts(start, fingerprint({**run, "seed": 1}, train, val)) == [
        "training settings"
    ]

    records = [json.loads(line) for line in train.records_path.read_text().splitlines()]
    records[0]["answer"] = "C"  # same path, same images, one answer changed
    train.records_path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert changed_parts(start, fingerprint(run, train, val)) == ["train records"]
    build_shards(train.records_path, train.shard_dir, 16)  # rebuilt from the same images
    assert changed_parts(start, fingerprint(run, train, val)) == ["train records"]
    image = Path(records[1]["image_paths"][0])
    Image.new("RGB", (20, 20), (9, 9, 9)).save(image)  # an image replaced under its name
    build_shards(train.records_path, train.shard_dir, 16)
    assert changed_parts(start, fingerprint(run, train, val)) == [
        "train records",
        "train shard images",
    ]

    colour_split(tmp_path / "data", "val", 4, seed=1)
    assert changed_parts(start, fingerprint(run, train, val)) == [
        "train records",
        "val records",
        "val shard index",
        "train shard images",
        "val shard images",
    ]


def test_the_checkpoint_counts_by_content_not_by_path(inputs, tmp_path):
    run, checkpoint, train, val = inputs
    start = fingerprint(run, train, val)
    moved = tmp_path / "elsewhere"
    shutil.copytree(checkpoint, moved)  # copy2: times kept, as cp -p and rsync -t do
    assert fingerprint({**run, "checkpoint": str(moved)}, train, val) == start

    (moved / "tokenizer.model").write_bytes(b"other pieces")
    assert changed_parts(start, fingerprint({**run, "checkpoint": str(moved)}, train, val)) == [
        "initial checkpoint"
    ]


def test_big_weights_are_sampled_and_a_rewrite_is_seen(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(bytes(BIG))
    stat = path.stat()
    digest = file_digest(path)
    assert file_digest(path, whole=True) != digest  # the sampled digest is another function

    with open(path, "r+b") as handle:  # first byte: a sampled block
        handle.write(b"\x01")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with the time put back
    assert file_digest(path) != digest

    path.write_bytes(bytes(BIG))  # the same bytes, written again: a new modification time
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert file_digest(path) != digest
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file_digest(path) == digest


def test_state_of_another_training_is_discarded_saying_why(tmp_path, caplog):
    resume = tmp_path / "resume"
    parts = {"training settings": "a", "train records": "b"}
    assert not claim_resume_dir(resume, parts)  # nothing to resume
    (resume / "state.npz").write_bytes(b"state")
    assert claim_resume_dir(resume, parts)  # the same training: its state stays
    assert (resume / "state.npz").is_file()

    with caplog.at_level(logging.WARNING, logger="medvlm.models.base"):
        assert not claim_resume_dir(resume, {**parts, "train records": "c"})
    assert f"{resume}: discarding the resume state of another training: its train records " in (
        caplog.text
    )
    assert sorted(p.name for p in resume.iterdir()) == [FINGERPRINT_FILE]

    (resume / FINGERPRINT_FILE).write_text("{not json")
    (resume / "state.npz").write_bytes(b"state")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="medvlm.models.base"):
        assert not claim_resume_dir(resume, parts)
    assert f"it has no readable {FINGERPRINT_FILE}" in caplog.text
    assert not (resume / "state.npz").exists()

    release_resume_dir(resume)
    assert not resume.exists()
    release_resume_dir(resume)  # nothing left: nothing to do
