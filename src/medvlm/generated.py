"""Blocks of a Markdown file that a command writes, never a person: README's demo table is the
demo's own ``summary.md``, BENCHMARKS' learnability table is what ``make learn`` measured.

A block sits between two HTML comments (invisible when rendered)::

    <!-- generated: NAME (by COMMAND) -->
    ...
    <!-- end generated: NAME -->

``medvlm generated`` (:mod:`medvlm.commands.generated`) writes a file's text into a block, or
checks that it is there.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from medvlm.io import write_text


def _pattern(name: str) -> re.Pattern:
    name = re.escape(name)
    return re.compile(
        rf"(<!-- generated: {name}(?: \(by [^\n]*?\))? -->\n)(.*?)(<!-- end generated: {name} -->)",
        re.DOTALL,
    )


def _find(text: str, name: str, where: str) -> re.Match:
    found = list(_pattern(name).finditer(text))
    if len(found) != 1:
        raise ValueError(
            f"{where}: expected one block '<!-- generated: {name} -->' ... "
            f"'<!-- end generated: {name} -->', found {len(found)}"
        )
    return found[0]


def read_block(text: str, name: str, where: str = "text") -> str:
    """The content of block ``name`` in ``text``."""
    return _find(text, name, where).group(2)


def replace_block(text: str, name: str, content: str, where: str = "text") -> str:
    """``text`` with block ``name`` holding ``content`` (a final newline is added if missing)."""
    if content and not content.endswith("\n"):
        content += "\n"
    match = _find(text, name, where)
    return text[: match.start(2)] + content + text[match.end(2) :]


def write_block(path: str | Path, name: str, content: str) -> bool:
    """Put ``content`` into block ``name`` of the file; True when the file changed."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    updated = replace_block(text, name, content, str(path))
    if updated != text:
        write_text(path, updated)
    return updated != text


def block_difference(path: str | Path, name: str, content: str) -> str:
    """A unified diff from block ``name`` of the file to ``content``; empty when they agree."""
    if content and not content.endswith("\n"):
        content += "\n"
    current = read_block(Path(path).read_text(encoding="utf-8"), name, str(path))
    return "".join(
        difflib.unified_diff(
            current.splitlines(keepends=True),
            content.splitlines(keepends=True),
            f"{path} ({name})",
            "generated",
        )
    )
