"""``python -m medvlm.data.synthetic --root DIR``: write a synthetic FLARE tree."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from medvlm.data.synthetic.config import IMAGE_FORMATS, SyntheticConfig
from medvlm.data.synthetic.tree import write_synthetic_tree


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        message = f"expected WIDTHxHEIGHT, e.g. 800x600, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    return width, height


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medvlm.data.synthetic", description=__doc__)
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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
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
    except (ValueError, FileExistsError) as error:
        parser.exit(2, f"error: {error}\n")
    counts = {"images": summary["images"], "questions": summary["questions"]}
    json.dump({**counts, "faults": len(summary["faults"])}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
