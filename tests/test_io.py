"""Atomic writes (leftovers of a killed write, the umask's mode) and reading hostile JSON."""

import os
import signal
import subprocess
import sys

import pytest

from medvlm.io import JSONError, atomic_dir, atomic_path, parse_json, read_jsonl, write_text

WRITER = """
import sys, time
from medvlm.io import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_bytes(b"x" * 1_000_000)
    print(tmp, flush=True)
    time.sleep(60)
"""


def test_a_killed_write_leaves_a_temporary_that_the_next_write_removes(tmp_path):
    target = tmp_path / "images.npy"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    leftover = tmp_path / writer.stdout.readline().strip()
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert leftover.is_file() and leftover.name.startswith(".images.npy.")
    neighbour = tmp_path / ".images.npy.json.0123456789ab.tmp"  # another output's temporary
    neighbour.write_text("busy")

    write_text(target, "done")

    assert target.read_text() == "done"
    assert not leftover.exists()
    assert neighbour.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [neighbour.name, "images.npy"]


def test_a_killed_directory_write_is_cleaned_up_too(tmp_path):
    target = tmp_path / "final"
    stale = tmp_path / ".final.0123456789ab.tmp"
    (stale / "sub").mkdir(parents=True)
    with atomic_dir(target) as tmp:
        (tmp / "weights").write_text("w")
    assert (target / "weights").read_text() == "w"
    assert not stale.exists()


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_outputs_get_the_mode_the_umask_gives(tmp_path, umask):
    old = os.umask(umask)
    try:
        write_text(tmp_path / "file.json", "{}")
        with atomic_dir(tmp_path / "folder") as tmp:
            (tmp / "inner").write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "file.json").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "folder").stat().st_mode & 0o777 == 0o777 & ~umask


def test_a_failed_block_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "out.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "text, reason",
    [
        (b"\xff\xfe{}", "not UTF-8 text (byte 0)"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"1" * 5000, "an integer longer than 4300 digits"),
        (b'{"uid": "\\ud800"}', "lone surrogate"),
        (b'{"a": 1', "not valid JSON"),
    ],
)
def test_unreadable_json_is_one_error_with_a_reason(text, reason):
    with pytest.raises(JSONError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_json(text)


def test_readable_json_edge_cases():
    assert parse_json("\ufeff[1]".encode()) == [1]  # a byte-order mark is read
    assert parse_json(b'"\\ud83d\\ude00"') == "\U0001f600"  # a surrogate pair is one character


def test_read_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "predictions.jsonl"
    path.write_bytes(b'{"uid": "a"}\n\n{"uid": "\\udc00"}\n')
    rows = read_jsonl(path)
    assert next(rows) == {"uid": "a"}
    with pytest.raises(ValueError, match=rf"^{path}:3: lone surrogate"):
        next(rows)
