"""The ``medvlm`` command: thin subcommands over the library.

Each subcommand is one module of :mod:`medvlm.commands` that defines ``NAME`` (the word typed
after ``medvlm``), ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``. Its
module docstring, which shows an example, is the subcommand's ``--help`` description.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from medvlm.logs import setup_logging

# Subcommand modules under medvlm.commands, in the order `medvlm --help` lists them.
COMMANDS: tuple[str, ...] = (
    "predict",
    "export",
    "score",
    "tables",
    "check_data",
    "check_cluster",
    "plan",
    "synthetic",
    "generated",
    "settings_reference",
    "demo_check",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medvlm",
        description="Fine-tune and evaluate vision-language models on FLARE-format data.",
        epilog="Run `medvlm COMMAND --help` for a command's options and an example.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMANDS:
        module = importlib.import_module(f"medvlm.commands.{module_name}")
        sub = subparsers.add_parser(
            module.NAME,
            help=module.HELP,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
