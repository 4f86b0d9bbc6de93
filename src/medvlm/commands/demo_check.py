"""The demo's test summary against README's table (``make demo-check``; see
:mod:`medvlm.demo_check`): exact on the CPU that made the table, README's claim (every fine-tuned
run beats its untrained self) elsewhere. The output says which check it made.

Example (after ``make demo``):

    medvlm demo-check --readme README.md --tables results/tables/test --config config/config.yaml
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from medvlm.demo_check import check

NAME = "demo-check"
HELP = "check the demo's test summary against README's table (make demo-check)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument("--tables", type=Path, default=Path("results/tables/test"))
    parser.add_argument("--config", type=Path, default=Path("config/config.yaml"))


def run(args: argparse.Namespace) -> int:
    try:
        return check(args.readme, args.tables, args.config)
    except (OSError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
