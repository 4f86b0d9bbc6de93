"""Export a trained run's model for serving or sharing, with a model card (README.md).

Example (a PaliGemma run the workflow trained, for transformers or vLLM):

    medvlm export --model results/models/paligemma_tiny --format hf --out exports/pg

--format hf: the transformers layout, loaded with no medvlm code
(PaliGemmaForConditionalGeneration / AutoModelForImageTextToText, and AutoProcessor); a MedGemma
run's LoRA adapter is merged into its base checkpoint. --format big_vision (PaliGemma): the .npz
+ tokenizer.model + config.json that a run's checkpoint: takes. --format adapter (MedGemma): the
PEFT adapter folder as it is. The run's kept weights are exported (--weights best, as predict
uses them); a PaliGemma run's LoRA factors are already merged into them.

README.md in --out gives the base checkpoint, the training settings, the data fingerprint (of
--data, the workflow's data folder: results/data beside results/models by default) and the test
scores (--scores, by default results/scores/<run>/test.json when it exists). A non-empty --out
is refused unless --force; on any error nothing is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from medvlm.commands import reporting
from medvlm.models.export import DTYPES, FORMAT_NAMES, WEIGHTS, export_model

NAME = "export"
HELP = "export a trained model: transformers layout, big_vision .npz or adapter, + model card"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True, help="a trained run's folder (results/models/RUN)"
    )
    parser.add_argument("--format", required=True, choices=FORMAT_NAMES, help="what to write")
    parser.add_argument("--out", required=True, help="the folder to write (new or empty)")
    parser.add_argument("--force", action="store_true", help="replace a non-empty --out")
    parser.add_argument(
        "--weights", default="best", choices=WEIGHTS, help="which weights (default: %(default)s)"
    )
    parser.add_argument(
        "--dtype", choices=DTYPES, help="--format hf: the weights' type (default: as trained)"
    )
    parser.add_argument("--data", help="the workflow's data folder, for the data fingerprint")
    parser.add_argument("--scores", help="the run's score file, for the model card")


def _beside(model: Path, given: str | None, relative: str, marker: str) -> Path | None:
    """``given``, or the workflow's ``results/<relative>`` beside ``results/models/<run>`` when
    ``<relative>/<marker>`` exists there."""
    if given is not None:
        return Path(given)
    found = model.resolve().parent.parent / relative
    return found if (found / marker).exists() else None


def run(args: argparse.Namespace) -> int:
    model = Path(args.model)
    data = _beside(model, args.data, "data", "splits/train.jsonl")
    scores = _beside(model, args.scores, f"scores/{model.resolve().name}/test.json", "")
    for what, path in (("data", data), ("scores", scores)):
        if path is not None:
            print(f"{what}: {path}", file=sys.stderr)
    return reporting(
        lambda: export_model(
            model,
            args.format,
            args.out,
            weights=args.weights,
            dtype=args.dtype,
            data_dir=data,
            scores=scores,
            force=args.force,
        )
    )
