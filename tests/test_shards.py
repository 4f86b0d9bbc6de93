"""build_shards: one row per unique image, index order, problems, memmap output, atomicity."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from medvlm.data.images import load_rgb
from medvlm.data.shards import build_shards, read_index
from medvlm.io import read_jsonl, write_jsonl
from medvlm.records import Record, TaskType

SIZE = 16


def record(uid, paths):
    return Record(
        uid=uid,
        dataset="ds",
        category="Xray",
        split_folder="training",
        source_file="training/Xray/ds/ds_questions_train.json",
        entry_index=0,
        task=TaskType.CLASSIFICATION,
        task_raw="Classification",
        modality="xray",
        question=f"question {uid}",
        answer="A",
        image_names=[p.rsplit("/", 1)[-1] for p in paths],
        image_paths=[str(p) for p in paths],
    )


def image(tmp_path, name, colour, size=(24, 20)):
    path = tmp_path / "img" / name
    path.parent.mkdir(exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return str(path)


def write_split(tmp_path, records):
    path = tmp_path / "train.jsonl"
    write_jsonl(path, records)
    return path


@pytest.fixture
def tree(tmp_path):
    """a, b, c decode; d is corrupt; e is missing. r1 and r2 share a; r3 uses c, a, b."""
    a = image(tmp_path, "a.png", (10, 20, 30))
    b = image(tmp_path, "b.jpg", (200, 0, 0))
    c = image(tmp_path, "c.png", (0, 90, 0), size=(40, 10))
    d = tmp_path / "img" / "d.png"
    d.write_bytes(b"\x89PNG broken")
    e = tmp_path / "img" / "e.png"
    records = [
        record("r1", [a]),
        record("r2", [a]),
        record("r3", [c, a, b]),
        record("r4", [str(d)]),
        record("r5", [b, str(e)]),
        record("r6", [str(d)]),
    ]
    return write_split(tmp_path, records), {"a": a, "b": b, "c": c, "d": str(d), "e": str(e)}


def test_shared_image_stored_once_and_multi_image_order(tree, tmp_path):
    split, paths = tree
    summary = build_shards(split, tmp_path / "out", SIZE)
    index = read_index(tmp_path / "out")
    images = np.load(tmp_path / "out" / "images.npy", mmap_mode="r", allow_pickle=False)

    # unique images in first-use order: a, c, b, d, e → 5 rows; a is stored once for r1, r2, r3
    assert isinstance(images, np.memmap)
    assert images.shape == (5, SIZE, SIZE, 3) and images.dtype == np.uint8
    assert index["size"] == SIZE and index["count"] == 5
    assert index["paths"] == [paths["a"], paths["c"], paths["b"], None, None]
    assert index["records"] == {"r1": [0], "r2": [0], "r3": [1, 0, 2]}
    for row, name in enumerate("acb"):
        np.testing.assert_array_equal(images[row], load_rgb(paths[name], SIZE))
    assert (images[3:] == 0).all()  # failed rows stay zero
    assert summary == {
        "records": 6,
        "records_indexed": 3,
        "records_left_out": 3,
        "images": 5,
        "images_decoded": 3,
        "images_failed": 2,
        "size": SIZE,
    }


def test_corrupt_and_missing_images_become_problems(tree, tmp_path):
    split, paths = tree
    build_shards(split, tmp_path / "out", SIZE)
    problems = list(read_jsonl(tmp_path / "out" / "problems.jsonl"))
    assert [(p["stage"], p["file"], p["entry"]) for p in problems] == [
        ("shards", paths["d"], "r4, r6"),
        ("shards", paths["e"], "r5"),
    ]
    assert "cannot decode" in problems[0]["reason"]
    assert problems[1]["reason"] == "file not found"


def test_two_processes_give_identical_files(tree, tmp_path):
    split, _ = tree
    build_shards(split, tmp_path / "one", SIZE, threads=1)
    build_shards(split, tmp_path / "two", SIZE, threads=2)
    for name in ("images.npy", "index.json", "problems.jsonl"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [
        "images.npy",
        "index.json",
        "problems.jsonl",
    ]


def test_record_without_images_is_a_problem(tmp_path):
    a = image(tmp_path, "a.png", (1, 2, 3))
    split = write_split(tmp_path, [record("r1", [a]), record("r2", [])])
    summary = build_shards(split, tmp_path / "out", SIZE)
    assert summary["records_indexed"] == 1 and summary["records_left_out"] == 1
    (problem,) = read_jsonl(tmp_path / "out" / "problems.jsonl")
    assert problem["entry"] == "r2" and problem["file"] == str(split)


def test_fails_clearly_when_nothing_decodes(tmp_path):
    split = write_split(tmp_path, [record("r1", [str(tmp_path / "gone.png")])])
    with pytest.raises(ValueError, match="none of its 1 images could be decoded"):
        build_shards(split, tmp_path / "out", SIZE)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["problems.jsonl"]


def test_bad_split_lines_are_named(tmp_path):
    split = tmp_path / "train.jsonl"
    split.write_text('{"uid": "x"}\n')
    with pytest.raises(ValueError, match=r"train.jsonl: record 1 is not a valid record"):
        build_shards(split, tmp_path / "out", SIZE)
    a = image(tmp_path, "a.png", (1, 2, 3))
    write_split(tmp_path, [record("r1", [a]), record("r1", [a])])
    with pytest.raises(ValueError, match="record 2 repeats uid 'r1'"):
        build_shards(split, tmp_path / "out", SIZE)


KILL_SCRIPT = """
import sys
from medvlm.data.shards import build_shards
build_shards(sys.argv[1], sys.argv[2], 64)
"""


def test_killed_build_leaves_no_output_under_final_names(tmp_path):
    paths = [image(tmp_path, f"{i}.png", (i, i, i), size=(600, 600)) for i in range(150)]
    split = write_split(tmp_path, [record(f"r{i}", [p]) for i, p in enumerate(paths)])
    out = tmp_path / "out"
    build = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(split), str(out)])
    deadline = time.monotonic() + 30
    while not list(out.glob(".images.npy.*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.01)
    build.send_signal(signal.SIGKILL)
    build.wait()
    assert list(out.glob(".images.npy.*.tmp")), "the build never started writing"
    assert not (out / "images.npy").exists() and not (out / "index.json").exists()


def test_index_checks(tmp_path):
    (tmp_path / "index.json").write_text(json.dumps({"size": 4, "count": 1, "paths": ["x"]}))
    with pytest.raises(ValueError, match="missing field"):
        read_index(tmp_path)
    bad_row = {"size": 4, "count": 1, "paths": ["x"], "records": {"r": [1]}}
    (tmp_path / "index.json").write_text(json.dumps(bad_row))
    with pytest.raises(ValueError, match="rows do not match"):
        read_index(tmp_path)


def test_parallel_build_from_an_unguarded_script(tmp_path):
    # Snakemake runs `script:` files as the main module with no `if __name__ == "__main__"`;
    # worker processes must not execute such a script again.
    a = image(tmp_path, "a.png", (5, 6, 7))
    split = write_split(tmp_path, [record("r1", [a])])
    script = tmp_path / "stage.py"
    script.write_text(
        "from medvlm.data.shards import build_shards\n"
        f"build_shards({str(split)!r}, {str(tmp_path / 'out')!r}, 8, threads=2)\n"
        f"open({str(tmp_path / 'runs')!r}, 'a').write('ran\\n')\n"
    )
    subprocess.run([sys.executable, str(script)], check=True, capture_output=True, timeout=60)
    assert (tmp_path / "runs").read_text() == "ran\n"
    assert read_index(tmp_path / "out")["records"] == {"r1": [0]}
