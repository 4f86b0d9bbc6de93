"""Can a trained PaliGemma see an instance's id? A linear probe on its image tokens.

    .venv/bin/python benchmarks/instance_probe.py --config config/instances.yaml \\
        --run pg_trained --write BENCHMARKS.md --block instance-probe

The synthetic chromosome images draw instance ``k`` as a bar of colour ``k``
(:mod:`medvlm.data.synthetic.palette`). When instance detection places boxes but gives them the
wrong ids (``benchmarks/learning.py``'s "ids ignored" row), either the image encoder does not
tell the colours apart, or the language model does not read the colour at the place it writes.
This script tells which: for every bar of the training split's instance-detection images it
takes the image token (the output of the ViT and its projection, what the language model reads)
of the patch under the bar's centre, and fits a multinomial logistic regression from that token
to the bar's id on the first three quarters of the bars (in split order), scoring the last
quarter. The same probe on the patch's mean RGB is the reference that the colours alone allow,
and the most frequent id the chance level.

Prints the Markdown; ``--write FILE --block NAME`` puts it into that generated block; the
numbers also go to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from sklearn.linear_model import LogisticRegression

from medvlm.config import load_config
from medvlm.data.shards import read_index
from medvlm.generated import write_block
from medvlm.io import write_json
from medvlm.models.paligemma.checkpoint import read_npz
from medvlm.models.paligemma.model import PaliGemma
from medvlm.models.paligemma.params import infer_config, unflatten
from medvlm.records import TaskType, read_records
from medvlm.tasks import task_spec
from medvlm.tasks.framed_answers import record_size

BATCH = 64


def bars(records, index: dict, image_size: int, patch: int) -> list[tuple[int, int, int]]:
    """(shard row, token index, id) for each instance box: the patch under the box's centre."""
    row_of = {path: row for row, path in enumerate(index["paths"])}
    side = image_size // patch
    found = []
    for record in records:
        if record.task != TaskType.INSTANCE_DETECTION or record.image_paths[0] not in row_of:
            continue
        width, height = record_size(record)
        answer = task_spec(record.task).parse(record.answer, record.question) or {}
        for ident, boxes in answer.items():
            for x1, y1, x2, y2 in boxes:
                column = min(side - 1, int((x1 + x2) / 2 / width * side))
                line = min(side - 1, int((y1 + y2) / 2 / height * side))
                found.append((row_of[record.image_paths[0]], line * side + column, int(ident)))
    return found


def features(weights: Path, images: np.ndarray, found: list, patch: int):
    """Each bar's image token and its patch's mean RGB."""
    flat = read_npz(weights)
    model = PaliGemma(infer_config({name: array.shape for name, array in flat.items()}))
    params = unflatten(flat)
    rows = sorted({row for row, _, _ in found})
    tokens = {}
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        out = model.apply(
            {"params": params}, jnp.asarray(images[chunk]), method=PaliGemma.embed_image
        )
        tokens.update(zip(chunk, np.asarray(out), strict=True))
    side = images.shape[1] // patch
    token_features = np.stack([tokens[row][token] for row, token, _ in found])
    colours = []
    for row, token, _ in found:
        line, column = divmod(token, side)
        cell = images[row, line * patch : (line + 1) * patch, column * patch : (column + 1) * patch]
        colours.append(cell.reshape(-1, 3).astype(np.float64).mean(axis=0))
    return token_features, np.stack(colours)


def probe_accuracy(x: np.ndarray, y: np.ndarray) -> float:
    """Held-out accuracy of a logistic regression fitted on the first three quarters."""
    cut = len(y) * 3 // 4
    mean, spread = x[:cut].mean(axis=0), x[:cut].std(axis=0) + 1e-6
    x = (x - mean) / spread
    model = LogisticRegression(max_iter=5000).fit(x[:cut], y[:cut])
    return float(model.score(x[cut:], y[cut:]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/instances.yaml")
    parser.add_argument("--run", default="pg_trained")
    parser.add_argument("--write", help="a Markdown file holding the generated block")
    parser.add_argument("--block", default="instance-probe")
    parser.add_argument("--out", default="benchmarks/out/instance_probe.json")
    args = parser.parse_args()

    config = load_config(args.config)
    results = Path(config["results"])
    run = config["runs"][args.run]
    weights = results / "models" / args.run / "final.npz"
    patch = config["demo_models"]["paligemma"]["patch"]
    shard_dir = results / "data" / "shards" / "train" / str(run["image_size"])
    index = read_index(shard_dir)
    images = np.load(shard_dir / "images.npy", mmap_mode="r", allow_pickle=False)
    records = read_records(results / "data" / "splits" / "train.jsonl")
    found = bars(records, index, run["image_size"], patch)
    ids = np.array([ident for _, _, ident in found])
    tokens, colours = features(weights, images, found, patch)
    held_out = len(ids) - len(ids) * 3 // 4
    measured = {
        "bars": len(ids),
        "held_out": held_out,
        "image_token": probe_accuracy(tokens, ids),
        "patch_rgb": probe_accuracy(colours, ids),
        "chance": float(np.bincount(ids).max() / len(ids)),
    }
    command = "python benchmarks/instance_probe.py " + shlex.join(sys.argv[1:])
    text = (
        f"`{command}`: `{args.run}`'s image tokens, {len(ids)} bars of the training split, "
        f"the last {held_out} held out.\n\n"
        "| probe input | held-out id accuracy |\n|---|---:|\n"
        f"| the image token under the bar's centre | {measured['image_token']:.3f} |\n"
        f"| that patch's mean RGB | {measured['patch_rgb']:.3f} |\n"
        f"| chance (the most frequent id) | {measured['chance']:.3f} |\n"
    )
    print(text)
    write_json(Path(args.out), {"command": command, **measured})
    if args.write:
        write_block(args.write, args.block, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
