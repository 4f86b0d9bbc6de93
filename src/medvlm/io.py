"""Atomic writes and reading JSON safely: every stage output and every JSON input goes through here.

A stage that is killed half-way never leaves a truncated output behind: files (and directories)
are written to a temporary sibling ``.<name>.<random>.tmp`` and renamed into place
(``os.replace`` is atomic on POSIX file systems). A temporary left by a killed run is removed by
the next write of the same output; each output has one writer at a time (Snakemake's rule, the
workflow's lock). Outputs get the mode the umask gives, as any other tool's do.

JSON from outside (questions files, records, predictions) is read by :func:`parse_json`, which
turns everything that can go wrong with hostile text into one :class:`JSONError` with a reason:
bytes that are not UTF-8, nesting too deep for the parser, integers longer than Python converts,
lone surrogates (``"\\ud800"``, which no UTF-8 file can hold). A UTF-8 byte-order mark is read.
"""

from __future__ import annotations

import errno
import json
import os
import re
import reprlib
import secrets
import shutil
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

# A lone surrogate can only come from a \u escape; only text holding one is checked further.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class JSONError(ValueError):
    """JSON text that cannot be read; ``reason`` says why, without the file name."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def parse_json(
    text: str | bytes, *, object_pairs_hook: Callable | None = None, whole_text: bool = True
) -> Any:
    """The JSON value of ``text``; :class:`JSONError` for anything that cannot be read.

    With ``whole_text=False`` lone surrogates are left in the value, for a caller that checks
    each part with :func:`is_unicode` (and names the part that holds one).
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise JSONError(f"not UTF-8 text (byte {error.start})") from None
    text = text.removeprefix("\ufeff")
    try:
        value = json.loads(text, object_pairs_hook=object_pairs_hook)
    except json.JSONDecodeError as error:
        raise JSONError(f"not valid JSON ({error.msg}, line {error.lineno})") from None
    except RecursionError:
        raise JSONError("not readable JSON (nested too deeply)") from None
    except ValueError:  # the only other error json.loads raises: an integer too long
        digits = sys.get_int_max_str_digits()
        raise JSONError(f"not readable JSON (an integer longer than {digits} digits)") from None
    if whole_text and _SURROGATE_ESCAPE.search(text) and not is_unicode(value):
        raise JSONError(LONE_SURROGATE)
    return value


LONE_SURROGATE = "lone surrogate (\\ud800-\\udfff), not Unicode text"


def is_unicode(value: Any) -> bool:
    """Whether every string in a JSON value can be written as UTF-8 (holds no lone surrogate)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def brief(value: Any, limit: int = 120) -> str:
    """``repr(value)`` for a message, cut to about ``limit`` characters (work bounded too)."""
    text = _BRIEF.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_BRIEF = reprlib.Repr()
_BRIEF.maxstring = _BRIEF.maxother = 120
_BRIEF.maxlist = _BRIEF.maxdict = 8


def printable(path: str | os.PathLike) -> str:
    """A path as text that can always be written: bytes that are not UTF-8 shown as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """Open a regular file for reading. A FIFO, device or folder raises ``OSError`` saying what it
    is, at once: the open does not block on a FIFO, and nothing is read from it."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = _KINDS.get(stat.S_IFMT(mode), "something else")
        raise OSError(errno.EINVAL, f"not a regular file but {kind}", str(path))
    handle = open(fd, "rb")
    handle.raw.name = os.fspath(path)  # messages name the file, not the descriptor
    return handle


_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def read_jsonl(path: str | os.PathLike) -> Iterator[Any]:
    """Yield the JSON value on each non-empty line; a line that cannot be read raises
    ``ValueError`` naming the file and the line."""
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield parse_json(line)
            except JSONError as error:
                raise ValueError(f"{path}:{number}: {error.reason}") from None


_LEFTOVER = r"\.{name}\.(?:[0-9a-f]{{12}}|[a-z0-9_]{{8}})(?:\.old)?\.tmp"


def _remove_leftovers(target: Path) -> None:
    """Remove the temporaries a killed earlier write of ``target`` left beside it."""
    leftover = re.compile(_LEFTOVER.format(name=re.escape(target.name)))
    with os.scandir(target.parent) as entries:
        stale = [Path(e.path) for e in entries if leftover.fullmatch(e.name)]
    for path in stale:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _temporary(target: Path, kind: str = "") -> Path:
    return target.parent / f".{target.name}.{secrets.token_hex(6)}{kind}.tmp"


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a new empty file beside ``path``; rename it onto ``path`` when the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(target)
    while True:
        tmp = _temporary(target)
        try:  # created like any tool creates a file: 0o666 less the umask
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a new empty directory beside ``path``; it replaces ``path`` when the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(target)
    tmp = _temporary(target)
    tmp.mkdir()
    try:
        yield tmp
        old = None
        if target.exists():
            old = _temporary(target, ".old")
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def write_jsonl(path: str | os.PathLike, rows: Iterable[Any]) -> int:
    """Write one JSON value per line (dicts, or objects with ``to_json``); return the count."""
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(
                row.to_json() if hasattr(row, "to_json") else json.dumps(row, ensure_ascii=False)
            )
            out.write("\n")
            count += 1
    return count
