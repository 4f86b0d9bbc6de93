"""Hostile input against the merge, the shards, the scorer and the config: one table of cases.

Every case runs the real stage on real files under ``tmp_path`` while an audit hook records
every file the process opens, and asserts that

- no traceback escapes: the stage succeeds, or fails with its own error (``ValueError``,
  ``ConfigError``, the ``medvlm`` command's exit code 1) whose message names the file and reason;
- every entry ends up in records or problems (merge: every entry of every questions file;
  shards: every record's uid is indexed or named by a problem);
- no file outside the data root was opened: every opened path under ``tmp_path``, links
  resolved, lies in the data root or the stage's output folder (``outside/`` holds the bait);
- the problem line or error names the file (and the entry where there is one) and the reason.

A last test merges one tree that mixes every merge case: every good entry in records, every bad
one in problems, and the split runs on the result.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medvlm import cli
from medvlm.config import ConfigError, load_config
from medvlm.data.flare import questions_digest, run_merge
from medvlm.data.shards import build_shards
from medvlm.data.split import SplitConfig, run_split
from medvlm.io import printable, read_jsonl
from medvlm.records import read_records
from medvlm.runs import expand_runs

# ---------------------------------------------------------------------------- watching open()

_OPENED: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if event == "open" and _OPENED is not None and isinstance(args[0], str | bytes | os.PathLike):
        _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)  # hooks cannot be removed; this one only records while a list is set


@contextmanager
def watching() -> Iterator[list[str]]:
    global _OPENED
    _OPENED = opened = []
    try:
        yield opened
    finally:
        _OPENED = None


def inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


# ---------------------------------------------------------------------------- the environment


@dataclass
class Env:
    tmp: Path
    root: Path  # the data root
    outside: Path  # bait: nothing here may ever be opened
    out: Path  # the stage's outputs

    def assert_only_root_opened(self, opened: list[str]) -> None:
        allowed = (self.root.resolve(), self.out.resolve())
        for path in opened:
            real = Path(os.path.realpath(path))
            if inside(real, self.tmp.resolve()):
                assert any(inside(real, folder) for folder in allowed), f"opened {path} ({real})"


def make_env(tmp: Path) -> Env:
    env = Env(tmp, tmp / "flare", tmp / "outside", tmp / "out")
    image(env.outside / "secret.png")
    (env.outside / "secret.json").write_text(json.dumps([entry("imagesTr/a.png")]))
    (env.outside / "images").mkdir()
    image(env.outside / "images" / "a.png")
    good = env.root / "training" / "Ultrasound" / "good"
    image(good / "imagesTr" / "g0.png")
    image(good / "imagesTr" / "g1.png")
    questions(
        good / "good_questions_train.json",
        [entry("imagesTr/g0.png"), entry("imagesTr/g1.png", task="Counting", answer="3")],
    )
    return env


def image(path: Path, size=(6, 4)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (120, 30, 200)).save(path)
    return path


def questions(path: Path, entries) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = entries if isinstance(entries, bytes) else json.dumps(entries).encode()
    path.write_bytes(data)
    return path


def entry(image_name, task="Classification", answer="A", **fields) -> dict:
    return {
        "Question": "Which? Options: A: benign B: malignant",
        "Answer": answer,
        "TaskType": task,
        "Modality": "X-ray",
        "ImageName": image_name,
        **fields,
    }


def dataset(env: Env, name: str, category: str = "Xray") -> Path:
    folder = env.root / "training" / category / name
    image(folder / "imagesTr" / "a.png")
    return folder


def qfile(folder: Path) -> Path:
    return folder / f"{folder.name}_questions_train.json"


def rel(env: Env, path: Path) -> str:
    return printable(path.relative_to(env.root))


# ---------------------------------------------------------------------------- merge cases


@dataclass(frozen=True)
class Expect:
    """A problem on ``file`` (``entry`` None: the whole file) whose reason holds ``reason``."""

    file: str
    entry: int | None
    reason: str


def one_bad_entry(env, name, bad, reason: str) -> list[Expect]:
    """A new data set whose questions file has ``bad`` as entry 1, between two good entries."""
    return one_bad_entry_in(env, dataset(env, name), bad, reason)


def one_bad_entry_in(env, folder, bad, reason: str) -> list[Expect]:
    questions(qfile(folder), [entry("imagesTr/a.png"), bad, entry("imagesTr/a.png")])
    return [Expect(rel(env, qfile(folder)), 1, reason)]


def whole_file(env, name, content: bytes, reason: str) -> list[Expect]:
    folder = dataset(env, name)
    questions(qfile(folder), content)
    return [Expect(rel(env, qfile(folder)), None, reason)]


def special_file(env, name, make: Callable[[Path], None], reason: str) -> list[Expect]:
    folder = dataset(env, name)
    make(qfile(folder))
    return [Expect(rel(env, qfile(folder)), None, reason)]


def sparse_600_mib(path: Path) -> None:
    with open(path, "wb") as handle:  # a hole: no disk is used
        handle.truncate(600 * 2**20)


def linked_image(env, name) -> list[Expect]:
    folder = dataset(env, name)
    (folder / "imagesTr" / "link.png").symlink_to(env.outside / "secret.png")
    return one_bad_entry_in(env, folder, entry("imagesTr/link.png"), "outside the data set folder")


def linked_images_folder(env, name) -> list[Expect]:
    folder = env.root / "training" / "Xray" / name
    folder.mkdir(parents=True)
    (folder / "imagesTr").symlink_to(env.outside / "images", target_is_directory=True)
    questions(qfile(folder), [entry("a.png")])
    return [Expect(rel(env, qfile(folder)), 0, "outside the data set folder")]


def linked_questions_file(env, name) -> list[Expect]:
    folder = dataset(env, name)
    qfile(folder).symlink_to(env.outside / "secret.json")
    return [Expect(rel(env, qfile(folder)), None, "outside the data root")]


def linked_dataset_folder(env, name) -> list[Expect]:
    elsewhere = env.outside / name
    image(elsewhere / "imagesTr" / "a.png")
    questions(qfile(elsewhere), [entry("imagesTr/a.png")])
    link = env.root / "training" / "Xray" / name
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(elsewhere, target_is_directory=True)
    return [Expect(rel(env, qfile(link)), None, "outside the data root")]


def clashing_names(env, name) -> list[Expect]:
    first = dataset(env, name, "Endoscopy")  # read first: Endoscopy sorts before Xray
    questions(qfile(first), [entry("imagesTr/a.png")])
    second = dataset(env, name, "Xray")
    questions(qfile(second), [entry("imagesTr/a.png"), entry("imagesTr/a.png")])
    return [Expect(rel(env, qfile(second)), None, "data set name under two categories")]


def not_utf8_folder(env, name) -> list[Expect]:
    folder = dataset(env, os.fsdecode(name.encode() + b"\xff"))
    questions(qfile(folder), [entry("imagesTr/a.png")])
    return [Expect(rel(env, qfile(folder)), None, "path not UTF-8 text")]


def huge_task_type(env, name) -> list[Expect]:
    return one_bad_entry(env, name, entry("a.png", task="x" * 1_000_000), "unknown task type")


def fifo_image(env, name) -> list[Expect]:
    folder = dataset(env, name)
    os.mkfifo(folder / "imagesTr" / "pipe.png")
    return one_bad_entry_in(env, folder, entry("imagesTr/pipe.png"), "image not found")


def bom_file(env, name) -> list[Expect]:
    folder = dataset(env, name)
    questions(qfile(folder), b"\xef\xbb\xbf" + json.dumps([entry("imagesTr/a.png")]).encode())
    return []  # every entry a record


def inside_paths(env, name) -> list[Expect]:
    folder = dataset(env, name)
    absolute = str((folder / "imagesTr" / "a.png").resolve())
    questions(qfile(folder), [entry("imagesTr/../imagesTr/a.png"), entry(absolute)])
    return []  # both point inside the data set folder: records


def non_string_answers(env, name) -> list[Expect]:
    folder = dataset(env, name)
    nested = entry("imagesTr/a.png", answer={"a": [[[[1]]]]})
    questions(qfile(folder), [nested, entry("imagesTr/a.png", answer=float("nan"))])
    return []  # repaired: each kept as its JSON text


def raw_entry(env, name, raw: bytes, reason: str) -> list[Expect]:
    """A file whose only entry is written as ``raw`` (what ``json.dumps`` cannot write)."""
    folder = dataset(env, name)
    questions(qfile(folder), b"[" + raw + b"]")
    return [Expect(rel(env, qfile(folder)), 0, reason)]


ENTRY = entry("imagesTr/a.png")
MERGE_CASES: dict[str, Callable[[Env, str], list[Expect]]] = {
    "absolute_image_outside": lambda env, n: one_bad_entry(
        env, n, entry(str(env.outside / "secret.png")), "outside the data set folder"
    ),
    "climbing_image": lambda env, n: one_bad_entry(
        env, n, entry("imagesTr/../../../../outside/secret.png"), "outside the data set folder"
    ),
    "image_link_outside": linked_image,
    "images_folder_link_outside": linked_images_folder,
    "questions_link_outside": linked_questions_file,
    "dataset_link_outside": linked_dataset_folder,
    "deep_nesting": lambda env, n: whole_file(env, n, b"[" * 200_000, "nested too deeply"),
    "5000_digit_integer": lambda env, n: whole_file(
        env, n, b"[" + b"7" * 5000 + b"]", "integer longer than"
    ),
    "questions_is_folder": lambda env, n: special_file(
        env, n, lambda p: p.mkdir(), "not a regular file but a folder"
    ),
    "broken_link": lambda env, n: special_file(
        env, n, lambda p: p.symlink_to(p.parent / "gone.json"), "broken link"
    ),
    "link_loop": lambda env, n: special_file(
        env, n, lambda p: p.symlink_to(p), "Too many levels of symbolic links"
    ),
    "fifo_questions": lambda env, n: special_file(env, n, os.mkfifo, "FIFO"),
    "questions_file_huge": lambda env, n: special_file(env, n, sparse_600_mib, "file too large"),
    "name_too_long": lambda env, n: one_bad_entry(
        env, n, entry("imagesTr/" + "n" * 300 + ".png"), "File name too long"
    ),
    "surrogate_question": lambda env, n: one_bad_entry(
        env, n, {**ENTRY, "Question": "\ud800?"}, "lone surrogate"
    ),
    "surrogate_image_name": lambda env, n: one_bad_entry(
        env, n, entry("imagesTr/\udc00.png"), "lone surrogate"
    ),
    "nul_in_image_name": lambda env, n: one_bad_entry(
        env, n, entry("imagesTr/a\x00.png"), "NUL character"
    ),
    "dataset_in_two_categories": clashing_names,
    "byte_order_mark": bom_file,
    "repeated_key": lambda env, n: raw_entry(
        env,
        n,
        b'{"Question": "Q?", "Question": "R?", "Answer": "A", "TaskType": "counting", '
        b'"Modality": "X", "ImageName": "imagesTr/a.png"}',
        "key written more than once",
    ),
    "random_bytes": lambda env, n: whole_file(env, n, bytes(range(128, 256)) * 4, "not UTF-8"),
    "object_not_list": lambda env, n: whole_file(env, n, b'{"a": 1}', "expected a JSON list"),
    "empty_file": lambda env, n: whole_file(env, n, b"", "not valid JSON"),
    "truncated_json": lambda env, n: whole_file(env, n, b'[{"Question": "cut', "not valid JSON"),
    "entry_not_object": lambda env, n: one_bad_entry(env, n, [1, 2], "not an object"),
    "missing_fields": lambda env, n: one_bad_entry(env, n, {"Question": "Q?"}, "missing field"),
    "huge_task_type": huge_task_type,
    "image_name_object": lambda env, n: one_bad_entry(
        env, n, entry({"path": "imagesTr/a.png"}), "ImageName must be"
    ),
    "image_name_empty_list": lambda env, n: one_bad_entry(env, n, entry([]), "ImageName must be"),
    "empty_question": lambda env, n: one_bad_entry(
        env, n, {**ENTRY, "Question": "  "}, "Question is empty"
    ),
    "not_utf8_folder_name": not_utf8_folder,
    "missing_image": lambda env, n: one_bad_entry(
        env, n, entry("imagesTr/none.png"), "image not found"
    ),
    "image_is_folder": lambda env, n: one_bad_entry(env, n, entry("imagesTr"), "image not found"),
    "image_is_fifo": fifo_image,
    "image_paths_inside": inside_paths,
    "non_string_answers": non_string_answers,
}


def questions_files(root: Path) -> list[Path]:
    return sorted(root.glob("*/*/*/*_questions_*.json"))


def entries_of(path: Path) -> list[int] | None:
    """Entry indexes of a readable questions file; None when it cannot be read as a list."""
    try:
        if not os.path.isfile(path):
            return None
        value = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (OSError, ValueError, RecursionError):
        return None
    return list(range(len(value))) if isinstance(value, list) else None


def check_merge(env: Env, expects: list[Expect], opened: list[str]) -> list:
    env.assert_only_root_opened(opened)
    records = read_records(env.out / "records.jsonl")
    problems = list(read_jsonl(env.out / "problems.jsonl"))
    kept = {(r.source_file, r.entry_index) for r in records}
    skipped = {(p["file"], p["entry"]) for p in problems if p["action"] == "skipped"}
    for path in questions_files(env.root):
        name = rel(env, path)
        if (name, None) in skipped:
            assert not any(file == name for file, _ in kept), name
            continue
        indexes = entries_of(path)
        assert indexes is not None, f"{name} cannot be read, and no problem says so"
        for index in indexes:
            assert ((name, index) in kept) != ((name, index) in skipped), (name, index)
    for expect in expects:
        found = [p for p in problems if (p["file"], p["entry"]) == (expect.file, expect.entry)]
        assert found, f"no problem for {expect}: {problems}"
        assert any(expect.reason in p["reason"] for p in found), (expect, found)
        assert all(len(p["reason"]) < 400 for p in found), "problem lines stay short"
    good = {("training/Ultrasound/good/good_questions_train.json", i) for i in (0, 1)}
    assert good <= kept, "the rest of the tree goes through"
    return records


def merge(env: Env) -> list[str]:
    with watching() as opened:
        # what the workflow does: the tree's questions digest while the DAG is built, then merge
        assert questions_digest(env.root, ["training", "validation-public"])
        run_merge(
            env.root,
            ["training", "validation-public"],
            env.out / "records.jsonl",
            env.out / "problems.jsonl",
            env.out / "summary.json",
        )
    return opened


# ---------------------------------------------------------------------------- shards cases


def png_bomb(path: Path, width: int, height: int) -> None:
    """A small PNG that declares ``width × height`` gray pixels: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * (width + 1) * 64, 9)  # 64 rows of zeros, then it ends
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def float_image(path: Path, values: np.ndarray) -> None:
    Image.fromarray(values.astype(np.float32)).save(path)


def replace(path: Path, make: Callable[[Path], None]) -> None:
    path.unlink()
    make(path)


@dataclass(frozen=True)
class ShardCase:
    before_merge: Callable[[Path], None] | None  # writes the hostile image at imagesTr/h.<ext>
    after_merge: Callable[[Env, Path], None] | None  # tampers with it once the merge has run
    reason: str | None  # the problem's reason; None: the image decodes and is indexed
    ext: str = "png"
    max_pixels: int | None = None


SHARD_CASES: dict[str, ShardCase] = {
    "truncated_png": ShardCase(
        lambda p: p.write_bytes(image(p, (64, 64)).read_bytes()[:60]), None, "cannot decode"
    ),
    "zero_bytes": ShardCase(lambda p: p.write_bytes(b""), None, "cannot decode"),
    "text_as_png": ShardCase(lambda p: p.write_text("not an image"), None, "cannot decode"),
    "float_nan": ShardCase(
        lambda p: float_image(p, np.array([[0.0, np.nan], [1.0, 0.5]])), None, "NaN", "tif"
    ),
    "float_zero_to_one": ShardCase(
        lambda p: float_image(p, np.linspace(0, 1, 64).reshape(8, 8)), None, None, "tif"
    ),
    "int32_wide_range": ShardCase(
        lambda p: Image.fromarray(np.arange(-5000, 59000, 1000, dtype=np.int32).reshape(8, 8)).save(
            p
        ),
        None,
        None,
        "tif",
    ),
    "over_pixel_limit": ShardCase(
        lambda p: image(p, (300, 300)), None, "too many pixels", max_pixels=50_000
    ),
    "bomb_header": ShardCase(lambda p: png_bomb(p, 100_000, 100_000), None, "too many pixels"),
    "became_link_outside": ShardCase(
        None,
        lambda env, p: replace(p, lambda q: q.symlink_to(env.outside / "secret.png")),
        "changed since the merge",
    ),
    "became_fifo": ShardCase(None, lambda env, p: replace(p, os.mkfifo), "FIFO"),
    "deleted": ShardCase(None, lambda env, p: p.unlink(), "file not found"),
    "became_folder": ShardCase(None, lambda env, p: replace(p, Path.mkdir), "folder"),
}


def check_shards(env: Env, case: ShardCase, hostile: Path) -> None:
    merge(env)
    if case.after_merge is not None:
        case.after_merge(env, hostile)
    records = env.out / "records.jsonl"
    shard = env.out / "shard"
    with watching() as opened:
        build_shards(records, shard, size=8, threads=1, max_pixels=case.max_pixels)
    env.assert_only_root_opened(opened)
    index = json.loads((shard / "index.json").read_text())
    problems = list(read_jsonl(shard / "problems.jsonl"))
    named = {uid for p in problems for uid in str(p["entry"]).split(", ")}
    for record in read_records(records):
        assert (record.uid in index["records"]) != (record.uid in named), record.uid
    hostile_uid = "training/hostile/hostile_questions_train/0"
    if case.reason is None:
        rows = index["records"][hostile_uid]
        pixels = np.load(shard / "images.npy", mmap_mode="r")[rows[0]]
        assert pixels.max() > 0, "never silent black"
    else:
        [problem] = [p for p in problems if hostile_uid in p["entry"]]
        assert problem["file"] == str(hostile.parent.resolve() / hostile.name)
        assert case.reason in problem["reason"]


# ---------------------------------------------------------------------------- scorer cases

SCORE_PROFILES = "default,study,qwen25vl,paligemma,qwen3vl,flare26"


def score_refs(env: Env) -> Path:
    tasks = {
        "classification": ("Which? Options: A: benign B: malignant", "A"),
        "detection": ("Where is it? [x_min, y_min, x_max, y_max]", "[1, 2, 30, 40]"),
        "instance_detection": ("Boxes per id?", '{"1": [[1, 2, 30, 40]]}'),
        "counting": ("How many?", "12"),
        "regression": ("Angle?", "21.5"),
        "multi_label": ("Select all that apply from the following: a, b, c.", "a; b"),
        "report_generation": ("Findings?", "The heart is normal."),
    }
    rows = [
        {
            "uid": task,
            "dataset": "d",
            "task": task,
            "question": question,
            "answer": answer,
            "image_names": [f"{task}.png"],
        }
        for task, (question, answer) in tasks.items()
    ]
    path = env.root / "refs.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def prediction_lines(**texts: str) -> bytes:
    return b"".join(
        json.dumps({"uid": uid, "prediction": t}).encode() + b"\n" for uid, t in texts.items()
    )


@dataclass(frozen=True)
class ScoreCase:
    predictions: bytes | Callable[[Path], None]
    error: str | None = None  # in the error message (with the predictions file's name)
    cut: int = 0  # answers cut to MAX_ANSWER_CHARS, as the score file counts them
    bad_rows: int = 0


MEGABYTE = 1_000_000
SCORE_CASES: dict[str, ScoreCase] = {
    "line_nested_deeply": ScoreCase(
        prediction_lines(counting="1") + b"[" * 100_000 + b"\n",
        ":2: not readable JSON (nested too deeply)",
    ),
    "line_huge_integer": ScoreCase(
        b'{"uid": ' + b"9" * 5000 + b', "prediction": "1"}\n',
        ":1: not readable JSON (an integer longer",
    ),
    "line_random_bytes": ScoreCase(
        prediction_lines(counting="1") + bytes(range(128, 256)) + b"\n", ":2: not UTF-8"
    ),
    "line_surrogate_uid": ScoreCase(
        b'{"uid": "\\ud800", "prediction": "1"}\n', ":1: lone surrogate"
    ),
    "megabyte_of_brackets": ScoreCase(
        prediction_lines(detection="[" * MEGABYTE, instance_detection="(" * MEGABYTE), cut=2
    ),
    "megabyte_of_escaped_quotes": ScoreCase(
        prediction_lines(
            classification='"\\' * (MEGABYTE // 2), report_generation="'\\" * (MEGABYTE // 2)
        ),
        cut=2,
    ),
    "megabyte_of_digits": ScoreCase(
        prediction_lines(counting="1" * MEGABYTE, regression="1" * MEGABYTE + "a"), cut=2
    ),
    "megabyte_of_labels": ScoreCase(
        prediction_lines(multi_label="a," * (MEGABYTE // 2), counting="model\nAnswer: " * 70_000),
        cut=2,
    ),
    "400_digit_box": ScoreCase(
        prediction_lines(
            detection=f"[{'9' * 400}, 1, 2, 3]",
            instance_detection=f'{{"1": [[{"9" * 400}, 1, 2, 3]]}}',
        )
    ),
    "prediction_not_text": ScoreCase(
        b'{"uid": "counting", "prediction": {"n": [1, [2]]}}\n'
        b'{"uid": "regression", "prediction": NaN}\n'
    ),
    "row_not_object": ScoreCase(prediction_lines(counting="3") + b"[1, 2]\n", bad_rows=1),
    "predictions_is_folder": ScoreCase(lambda p: p.mkdir(), "Is a directory"),
    "predictions_empty": ScoreCase(b"", "holds no prediction rows"),
}


def check_score(env: Env, case: ScoreCase, capsys) -> None:
    refs = score_refs(env)
    predictions = env.root / "predictions.jsonl"
    if callable(case.predictions):
        case.predictions(predictions)
    else:
        predictions.write_bytes(case.predictions)
    out = env.out / "scores.json"
    argv = ["score", "--references", str(refs), "--predictions", str(predictions)]
    argv += ["--out", str(out), "--profiles", SCORE_PROFILES, "--bootstrap", "0"]
    with watching() as opened:
        code = cli.main(argv)
    env.assert_only_root_opened(opened)
    error = capsys.readouterr().err
    assert "Traceback" not in error
    if case.error is not None:
        assert code == 1 and not out.exists()
        assert str(predictions) in error and case.error in error, error
        return
    assert code == 0, error
    scores = json.loads(out.read_text())
    assert scores["cut_answers"]["n_predictions"] == case.cut
    assert scores["missing"]["n_bad_rows"] == case.bad_rows
    assert scores["inputs"]["n_items"] == 7  # every reference scored


# ---------------------------------------------------------------------------- config cases

ROOT = "data: {root: x}\n"
RUN = "{family: paligemma, image_size: 64}"
CONFIG_CASES: dict[str, tuple[str | bytes, str]] = {
    "external_name_climbs": (ROOT + "external: {'../../x': {predictions: p}}", "key external"),
    "external_name_absolute": (ROOT + "external: {'/tmp/x': {predictions: p}}", "key external"),
    "run_name_dots": (ROOT + f"runs: {{'..': {RUN}}}", "run name"),
    "run_name_too_long": (ROOT + f"runs: {{{'r' * 300}: {RUN}}}", "run name"),
    "sweep_point_name": (ROOT + f"sweeps: {{s: {{base: {RUN}, points: [{{name: ../x}}]}}}}", "run"),
    "dataset_filter_path": ("data: {root: x, datasets: [a/b]}", "config key data.datasets"),
    "python_tag": (ROOT + "results: !!python/object/apply:os.system [id]", "not a readable YAML"),
    "not_utf8": (ROOT.encode() + b"results: \xff\xfe\n", "not a readable YAML"),
    "list_not_mapping": ("- a\n- b\n", "expected a mapping"),
    "pixel_limit_zero": (ROOT + "shards: {max_pixels: 0}", "shards.max_pixels"),
}


def check_config(env: Env, text: str | bytes, reason: str) -> None:
    path = env.root / "config.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with watching() as opened, pytest.raises(ValueError) as error:  # ConfigError is one
        config = load_config(path)
        expand_runs(config["runs"], config["sweeps"])
    env.assert_only_root_opened(opened)
    assert reason in str(error.value), error.value
    if not isinstance(error.value, ConfigError):  # a run name: expand_runs names it
        assert "run name" in str(error.value)
    elif "key" not in reason and "max_pixels" not in reason:
        assert str(path) in str(error.value)


# ---------------------------------------------------------------------------- the table

CASES = (
    [pytest.param("merge", name, id=f"merge-{name}") for name in MERGE_CASES]
    + [pytest.param("shards", name, id=f"shards-{name}") for name in SHARD_CASES]
    + [pytest.param("score", name, id=f"score-{name}") for name in SCORE_CASES]
    + [pytest.param("config", name, id=f"config-{name}") for name in CONFIG_CASES]
)


def test_the_table_holds_at_least_forty_kinds():
    assert len(CASES) >= 40


@pytest.mark.parametrize(("stage", "name"), CASES)
def test_hostile_input(stage, name, tmp_path, capsys):
    env = make_env(tmp_path)
    if stage == "merge":
        expects = MERGE_CASES[name](env, "hostile")
        check_merge(env, expects, merge(env))
    elif stage == "shards":
        case = SHARD_CASES[name]
        folder = dataset(env, "hostile")
        hostile = folder / "imagesTr" / f"h.{case.ext}"
        (case.before_merge or image)(hostile)
        questions(qfile(folder), [entry(f"imagesTr/{hostile.name}")])
        check_shards(env, case, hostile)
    elif stage == "score":
        check_score(env, SCORE_CASES[name], capsys)
    else:
        check_config(env, *CONFIG_CASES[name])


def test_a_tree_mixing_every_merge_case(tmp_path):
    env = make_env(tmp_path)
    expects = [e for name, case in MERGE_CASES.items() for e in case(env, name)]
    records = check_merge(env, expects, merge(env))
    assert len({r.uid for r in records}) == len(records)
    splits = {name: env.out / f"{name}.jsonl" for name in ("train", "val", "test")}
    summary = run_split(records, SplitConfig(), splits, env.out / "split_summary.json")
    assert summary["train"]["questions"] + summary["val"]["questions"] == len(records)
