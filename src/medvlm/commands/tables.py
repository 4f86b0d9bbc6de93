"""Tables of several runs' score files side by side (:mod:`medvlm.metrics.tables`).

Example (two of the demo's runs on the test split):

    medvlm tables --scores untrained=results/scores/paligemma_untrained/test.json \\
        tuned=results/scores/paligemma_tiny/test.json --out-dir tables

Writes one CSV per task type (runs as rows), ``by_dataset.csv`` (one row per task, data set and
metric) and the headline ``summary.csv``/``summary.md`` into ``--out-dir``; the columns are
described in src/medvlm/metrics/README.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from medvlm.commands import reporting
from medvlm.metrics.tables import load_scores, write_tables

NAME = "tables"
HELP = "summary tables (CSV and Markdown) of several runs' score files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scores", nargs="+", required=True, metavar="RUN=PATH", help="each run's score file"
    )
    parser.add_argument("--out-dir", required=True, help="folder to write the tables into")


def _run_paths(pairs: Sequence[str]) -> dict[str, str]:
    paths = {}
    for pair in pairs:
        run, sep, path = pair.partition("=")
        if not sep or not run or not path:
            raise ValueError(f"--scores takes RUN=PATH, got {pair!r}")
        if run in paths:
            raise ValueError(f"--scores names run {run!r} twice")
        paths[run] = path
    return paths


def run(args: argparse.Namespace) -> int:
    def write() -> None:
        written = write_tables(load_scores(_run_paths(args.scores)), args.out_dir)
        print(f"wrote {len(written)} tables to {args.out_dir}", file=sys.stderr)

    return reporting(write)
