"""Blocks of a Markdown file that a command writes, never a person: README's demo table is the
demo's own ``summary.md``, BENCHMARKS' learnability table is what ``make learn`` measured.

A block sits between two HTML comments (invisible when rendered)::

    <!-- generated: NAME (by COMMAND) -->
    ...
    <!-- end generated: NAME -->

    python -m medvlm.generated --block demo-summary --source results/tables/test/summary.md \\
        --into README.md [--check]

writes ``--source``'s text into the block (or, with ``--check``, exits 1 and shows the
difference when the block is not exactly that text).
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Sequence
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medvlm.generated", description=__doc__)
    parser.add_argument("--block", required=True, help="the block's name")
    parser.add_argument("--source", required=True, help="the file whose text the block holds")
    parser.add_argument("--into", required=True, help="the Markdown file holding the block")
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if different")
    args = parser.parse_args(argv)
    try:
        content = Path(args.source).read_text(encoding="utf-8")
        if args.check:
            difference = block_difference(args.into, args.block, content)
            if difference:
                print(
                    f"{args.into}: block {args.block!r} differs from {args.source} "
                    f"(rerun without --check to update it):\n{difference}",
                    file=sys.stderr,
                )
                return 1
            return 0
        changed = write_block(args.into, args.block, content)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{args.into}: block {args.block!r} {'updated' if changed else 'unchanged'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
