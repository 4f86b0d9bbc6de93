"""Write a file's text into a generated block of a Markdown file, or check that it is there.

Example (README's demo table from the demo's own summary):

    medvlm generated --block demo-summary --source results/tables/test/summary.md \\
        --into README.md [--check]

A block sits between ``<!-- generated: NAME (by COMMAND) -->`` and ``<!-- end generated: NAME
-->`` (see :mod:`medvlm.generated`). With ``--check`` nothing is written: the exit status is 1,
with the difference on stderr, when the block is not exactly ``--source``'s text.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from medvlm.commands import reporting
from medvlm.generated import block_difference, write_block

NAME = "generated"
HELP = "write a file's text into a generated Markdown block (or --check that it is there)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--block", required=True, help="the block's name")
    parser.add_argument("--source", required=True, help="the file whose text the block holds")
    parser.add_argument("--into", required=True, help="the Markdown file holding the block")
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if different")


def run(args: argparse.Namespace) -> int:
    def write_or_check() -> None:
        content = Path(args.source).read_text(encoding="utf-8")
        if not args.check:
            changed = write_block(args.into, args.block, content)
            print(f"{args.into}: block {args.block!r} {'updated' if changed else 'unchanged'}")
            return
        difference = block_difference(args.into, args.block, content)
        if difference:
            raise ValueError(
                f"{args.into}: block {args.block!r} differs from {args.source} "
                f"(rerun without --check to update it):\n{difference}"
            )

    return reporting(write_or_check)
