"""Answer FLARE questions with a trained model: the organisers' submission file, and our rows.

Example (a submission for the hidden validation questions, with a run the workflow trained):

    medvlm predict --model results/models/paligemma_tiny \\
        --questions /data/flare25/validation-hidden --out submission/predictions.json

--questions is a FLARE tree (its --split-folder, validation-public by default), a split folder,
any folder inside a tree, or one questions file; the organisers' *withGT* copies are left out
unless named. The model folder says its family, base checkpoint, image size and training
settings (run.json, written by the workflow's training); a checkpoint used as it is (a zero-shot
model) is recognised by its files. --family and --image-size override; --decode sets the
family's decoding settings, as a run's decode: block does (YAML or JSON text, or a file).

Every question is answered with the family's own predict path (constrained decoding unless the
decoding settings turn it off), with a progress bar. --out gets one JSON list: each question
entry copied as given, "Answer" filled in, in input order; a question whose image is missing or
unreadable gets "" and is named in a warning. Beside it, OUT.jsonl holds our rows (raw model
output, parsed answer, well-formed flag), which `medvlm score` reads too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from medvlm.commands import reporting
from medvlm.data.flare import SPLIT_FOLDERS
from medvlm.inference import predict_questions
from medvlm.models.base import FAMILY_NAMES

NAME = "predict"
HELP = "answer FLARE questions with a trained model (the organisers' predictions.json)"
OPTIONS = ("split_folder", "family", "image_size", "threads", "work_dir")  # passed as they are


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a trained run's folder, or a checkpoint")
    parser.add_argument(
        "--questions", required=True, help="a FLARE tree, a folder in one, or a questions file"
    )
    parser.add_argument("--out", required=True, help="the submission file to write (.json)")
    parser.add_argument(
        "--split-folder",
        default="validation-public",
        choices=SPLIT_FOLDERS,
        help="which split folder of a tree root to answer (default: %(default)s)",
    )
    parser.add_argument("--family", choices=FAMILY_NAMES, help="override the model's family")
    parser.add_argument("--image-size", type=int, help="override the model's image size")
    parser.add_argument("--decode", help="decoding settings: YAML/JSON text or a file")
    parser.add_argument("--threads", type=int, default=2, help="processes decoding images")
    parser.add_argument("--work-dir", help="keep the decoded images here (default: temporary)")


def _decode(text: str | None) -> dict | None:
    if text is None:
        return None
    path = Path(text)
    value = yaml.safe_load(path.read_text(encoding="utf-8") if path.is_file() else text)
    if not isinstance(value, dict):
        raise ValueError(f"--decode: expected a mapping of decoding settings, got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    if args.image_size is not None and args.image_size < 1 or args.threads < 1:
        print("error: --image-size and --threads must be positive", file=sys.stderr)
        return 2
    options = {key: getattr(args, key) for key in OPTIONS}
    return reporting(
        lambda: predict_questions(
            args.model, args.questions, args.out, decode=_decode(args.decode), **options
        ),
        KeyError,
        yaml.YAMLError,
    )
