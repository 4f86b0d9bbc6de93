"""Command line: score one predictions file against its references into a score file.

    python -m medvlm.metrics.score --references REFS.jsonl --predictions PRED.jsonl \\
        --out scores.json [--profiles default,study,paligemma] [--bootstrap N] [--seed S] \\
        [--green-judge DIR]
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medvlm.io import write_json
from medvlm.metrics.bootstrap import DEFAULT_REPLICATES, LEVEL
from medvlm.metrics.pairing import pair
from medvlm.metrics.profiles import ProfileUnavailable
from medvlm.metrics.scoring import DEFAULT_PROFILES, score_items

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m medvlm.metrics.score", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--references", required=True, help="records JSONL")
    parser.add_argument("--predictions", required=True, help="predictions JSONL")
    parser.add_argument("--out", required=True, help="score file to write (JSON)")
    parser.add_argument(
        "--profiles",
        default=",".join(DEFAULT_PROFILES),
        help="comma-separated evaluator profiles (default: %(default)s)",
    )
    parser.add_argument("--bootstrap", type=int, default=DEFAULT_REPLICATES, help="replicates")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (>= 0)")
    parser.add_argument("--green-judge", help="local GREEN judge checkpoint directory")
    return parser


def _judge(directory: str | None) -> Any:
    if directory is None:
        return None
    try:
        from medvlm.metrics.green import GreenJudge
    except ModuleNotFoundError as error:
        raise ValueError(f"--green-judge needs medvlm.metrics.green ({error})") from None
    return GreenJudge(directory)


def score_files(
    references: str | Path,
    predictions: str | Path,
    out: str | Path,
    profiles: Sequence[str] = DEFAULT_PROFILES,
    bootstrap: int = DEFAULT_REPLICATES,
    seed: int = 0,
    green_judge: str | None = None,
) -> dict:
    """Score one predictions file against its references and write the score file."""
    if bootstrap < 0 or seed < 0:
        raise ValueError("bootstrap and seed must be >= 0")
    judge = _judge(green_judge)
    pairing = pair(references, predictions)
    scores = score_items(pairing.items, list(profiles), bootstrap, seed, judge)
    missing = pairing.missing_report()
    result = {
        "inputs": {
            "references": str(references),
            "predictions": str(predictions),
            "n_items": len(pairing.items),
        },
        "bootstrap": {"replicates": bootstrap, "seed": seed, "level": LEVEL},
        "missing": missing,
        **scores,
    }
    write_json(out, result)
    counts = ", ".join(
        f"{v} {k[2:].replace('_', ' ')}" for k, v in missing.items() if k[:2] == "n_"
    )
    log.info("scored %d questions (%s) -> %s", len(pairing.items), counts, out)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    profiles = [name.strip() for name in args.profiles.split(",") if name.strip()]
    if args.bootstrap < 0 or args.seed < 0:
        print("error: --bootstrap and --seed must be >= 0", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        score_files(
            args.references,
            args.predictions,
            args.out,
            profiles,
            args.bootstrap,
            args.seed,
            args.green_judge,
        )
    except (OSError, ValueError, ProfileUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
