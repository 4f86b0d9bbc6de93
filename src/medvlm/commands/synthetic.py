"""Write a synthetic FLARE tree (the demo's data; see :mod:`medvlm.data.synthetic`).

Example (100 training images per data set):

    medvlm synthetic --root /tmp/flare --train-images 100

Prints the counts written as JSON: images, questions and faults (``--fault-rate`` > 0 plants the
faults real trees have, each listed in ``<root>/synthetic_manifest.json``).
"""

from __future__ import annotations

import argparse
import json

from medvlm.commands import reporting
from medvlm.data.synthetic.config import IMAGE_FORMATS, SyntheticConfig
from medvlm.data.synthetic.tree import write_synthetic_tree

NAME = "synthetic"
HELP = "write a synthetic FLARE tree (every data set and task type, answers from the pixels)"


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        message = f"expected WIDTHxHEIGHT, e.g. 800x600, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    return width, height


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", required=True, help="folder to write the tree into")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-images", type=int, default=24, help="images per data set")
    parser.add_argument("--val-images", type=int, default=8, help="images per data set")
    parser.add_argument(
        "--hidden-images", type=int, default=0, help="images per data set, answers withheld"
    )
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--image-size", type=_size, help="WIDTHxHEIGHT for every image")
    parser.add_argument("--image-format", choices=IMAGE_FORMATS)
    parser.add_argument("--datasets", nargs="+", help="a subset of the 19 data sets")
    parser.add_argument("--workers", type=int, default=1, help="processes rendering images")


def run(args: argparse.Namespace) -> int:
    def write() -> None:
        config = SyntheticConfig(
            seed=args.seed,
            train_images_per_dataset=args.train_images,
            val_images_per_dataset=args.val_images,
            hidden_images_per_dataset=args.hidden_images,
            fault_rate=args.fault_rate,
            image_size=args.image_size,
            image_format=args.image_format,
            datasets=tuple(args.datasets) if args.datasets else None,
        )
        summary = write_synthetic_tree(args.root, config, workers=args.workers)
        counts = {"images": summary["images"], "questions": summary["questions"]}
        print(json.dumps({**counts, "faults": len(summary["faults"])}))

    return reporting(write)
