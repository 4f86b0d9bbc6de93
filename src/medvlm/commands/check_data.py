"""Check a FLARE tree before spending GPU time on it: what the workflow's merge keeps, what it
skips and why, and which images do not decode. Nothing is written unless --json is given.

Example:

    medvlm check-data /data/flare25 --split-folders training validation-public --json check.json

The questions files are read as the merge reads them (every split folder the tree has, unless
named); every image a kept question uses is decoded once, as the shard stage decodes it (skip
with --no-decode). The report lists questions per data set and task type, problems counted by
reason, and the first problems by file and entry; --json writes the summary and every problem.
Exit status: 0 when some question is usable, 1 when none is (or the tree cannot be read).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

from medvlm.data.check import check_tree
from medvlm.data.flare import SPLIT_FOLDERS
from medvlm.io import write_json

NAME = "check-data"
HELP = "check a FLARE tree: questions kept, problems by file and entry, undecodable images"
SHOWN = 20  # problems named in the report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", help="the FLARE tree (holding training/, validation-public/, ...)")
    parser.add_argument(
        "--split-folders",
        nargs="+",
        choices=SPLIT_FOLDERS,
        metavar="FOLDER",
        help=f"of {', '.join(SPLIT_FOLDERS)} (default: every one present)",
    )
    parser.add_argument("--no-decode", action="store_true", help="only look the images up")
    parser.add_argument("--threads", type=int, default=2, help="processes decoding images")
    parser.add_argument("--json", help="write the summary and every problem to this file")


def _report(summary: dict, problems: list) -> str:
    lines = [
        f"{summary['questions']} usable questions on {summary['images']} images ("
        + ", ".join(f"{k} {v}" for k, v in sorted(summary["split_folders"].items()))
        + ")"
    ]
    if "images_failed" in summary:
        lines.append(
            f"images decoded: {summary['images_decoded']}, failed: {summary['images_failed']}"
        )
    lines.append("")
    lines.append(f"{'data set':<16} {'task type':<20} questions")
    for dataset, tasks in summary["by_dataset"].items():
        for task, count in tasks.items():
            lines.append(f"{dataset:<16} {task:<20} {count:>9}")
    for action in ("skipped", "repaired"):
        if summary[action]:
            lines.append("")
            lines.append(f"{action}:")
            lines += [f"  {n:>6}  {reason}" for reason, n in summary[action].items()]
    if problems:
        lines.append("")
        lines.append(f"first {min(SHOWN, len(problems))} of {len(problems)} problems:")
        for p in problems[:SHOWN]:
            if p.stage == "shards":  # an image, and the questions that use it
                lines.append(f"  [{p.action}] {p.file}: {p.reason} (used by {p.entry})")
            else:
                where = p.file if p.entry is None else f"{p.file} entry {p.entry}"
                lines.append(f"  [{p.action}] {where}: {p.reason}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.threads < 1:
        print("error: --threads must be at least 1", file=sys.stderr)
        return 2
    try:
        summary, problems = check_tree(
            args.root, args.split_folders, decode=not args.no_decode, threads=args.threads
        )
        if args.json:
            write_json(args.json, {"summary": summary, "problems": [asdict(p) for p in problems]})
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(_report(summary, problems))
    return 0 if summary["questions"] else 1
