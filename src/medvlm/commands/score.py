"""Score predictions against reference answers under every evaluator profile; no image is read.

Example (the organisers' submission format against the public validation answers):

    medvlm score --references /data/flare25/validation-public \\
        --predictions predictions.json --out scores.json --profiles default,paligemma

References: records JSONL (results/data/splits/test.jsonl), one questions file (.json), or a folder
of a FLARE tree (a tree root means its validation-public/). Predictions: a FLARE predictions.json (a
JSON list of question entries with "Answer" filled in) or JSONL rows (ours: uid + prediction; from
elsewhere: ImageName + Question + prediction or Answer). Rows match by uid, else by ImageName +
Question; the score file's "missing" section counts and names references without a prediction
(scored as an empty answer), rows that match no question, keys shared by several questions (matched
in input order) and rows that could not be read. A file that cannot be read, a repeated uid, more
rows for a question than it has, or rows of which none matches a question (predictions for other
questions): an error naming the file, and nothing written. The score file is described in
src/medvlm/metrics/README.md.
"""

from __future__ import annotations

import argparse
import sys

from medvlm.commands import reporting
from medvlm.metrics.bootstrap import DEFAULT_REPLICATES
from medvlm.metrics.profiles import PROFILES, ProfileUnavailable
from medvlm.metrics.scoring import DEFAULT_PROFILES, score_files

NAME = "score"
HELP = "score predictions (FLARE predictions.json or JSONL) against reference answers"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--references", required=True, help="FLARE tree or folder, questions file, or records JSONL"
    )
    parser.add_argument(
        "--predictions", required=True, help="FLARE predictions.json list, or JSONL rows"
    )
    parser.add_argument("--out", required=True, help="score file to write (JSON)")
    parser.add_argument(
        "--profiles",
        default=",".join(DEFAULT_PROFILES),
        help=f"comma-separated, of {', '.join(PROFILES)} (default: %(default)s)",
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=DEFAULT_REPLICATES,
        help="bootstrap replicates for the default profile's intervals (0: none)",
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (>= 0)")
    parser.add_argument("--green-judge", help="local GREEN judge checkpoint folder")
    parser.add_argument("--crimson-judge", help="local CRIMSON judge checkpoint folder")


def run(args: argparse.Namespace) -> int:
    profiles = [name.strip() for name in args.profiles.split(",") if name.strip()]
    if args.bootstrap < 0 or args.seed < 0:
        print("error: --bootstrap and --seed must be >= 0", file=sys.stderr)
        return 2
    return reporting(
        lambda: score_files(
            args.references,
            args.predictions,
            args.out,
            profiles=profiles,
            bootstrap=args.bootstrap,
            seed=args.seed,
            green_judge=args.green_judge,
            crimson_judge=args.crimson_judge,
        ),
        ProfileUnavailable,
    )
