"""Write a synthetic tree in the real FLARE layout, with its manifest of planted faults."""

from __future__ import annotations

import logging
import shutil
import time
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from medvlm.data.synthetic.config import SyntheticConfig
from medvlm.data.synthetic.faults import plant_faults
from medvlm.data.synthetic.plan import SPLITS, ImagePlan, plan_tree
from medvlm.data.synthetic.render import encode
from medvlm.io import write_json, write_text
from medvlm.parallel import process_pool

log = logging.getLogger(__name__)

MANIFEST = "synthetic_manifest.json"
# Written first: a root holding it may be overwritten, any other non-empty tree is left alone.
MARKER = ".medvlm-synthetic"


def write_synthetic_tree(root: str | Path, config: SyntheticConfig, workers: int = 1) -> dict:
    """Write the tree under ``root``; return ``{"images": n, "questions": n, "faults": [...]}``.

    ``workers`` processes render the images; the bytes written do not depend on it.
    """
    root = Path(root)
    _prepare_root(root)
    started = time.perf_counter()
    files = plan_tree(config)
    faults, extra = plant_faults(
        [file for file in files if file.split.answered], config.fault_rate, config.seed
    )

    images = [image for file in files for image in file.images if image.fault != "missing_image"]
    for file in files:
        (root / file.path).parent.joinpath(file.split.images).mkdir(parents=True, exist_ok=True)
    _write_images(root, images, workers)
    for file in files:
        if file.split.answered:
            write_json(root / file.path, file.entries)
        else:
            unanswered = [{k: v for k, v in e.items() if k != "Answer"} for e in file.entries]
            write_json(root / file.path, unanswered)
            write_json(root / file.path.replace(".json", "_withGT.json"), file.entries)
    if extra is not None:
        write_text(root / extra.path, extra.text)

    summary = {
        "images": len(images),
        "questions": sum(len(file.entries) for file in files),
        "faults": [fault.as_dict() for fault in faults],
    }
    manifest = {
        "config": config.as_dict(),
        "datasets": sorted({file.dataset.name for file in files}),
        "images": summary["images"],
        "questions": summary["questions"],
        "fault_counts": dict(sorted(Counter(fault.kind for fault in faults).items())),
        "faults": summary["faults"],
    }
    write_json(root / MANIFEST, manifest)
    seconds = time.perf_counter() - started
    log.info(
        "wrote %d images and %d questions under %s in %.1f s (%.0f images/s); faults: %s",
        summary["images"],
        summary["questions"],
        root,
        seconds,
        summary["images"] / max(seconds, 1e-9),
        manifest["fault_counts"] or "none",
    )
    return summary


def _prepare_root(root: Path) -> None:
    """Clear a previous synthetic tree at ``root``; refuse to write into any other tree."""
    root.mkdir(parents=True, exist_ok=True)
    split_dirs = [root / split.folder for split in SPLITS if (root / split.folder).exists()]
    if split_dirs and not (root / MARKER).exists():
        raise FileExistsError(
            f"{root} already holds {', '.join(p.name for p in split_dirs)} and is not a synthetic "
            f"tree (no {MARKER} file); refusing to overwrite it, choose an empty root"
        )
    (root / MANIFEST).unlink(missing_ok=True)
    for path in split_dirs:
        shutil.rmtree(path)
    (root / MARKER).write_text("written by medvlm.data.synthetic; rewritten on every run\n")


def _write_images(root: Path, images: list[ImagePlan], workers: int) -> None:
    jobs = [(str(root / image.path), image) for image in images]
    if workers <= 1:
        with tqdm(total=len(jobs), desc="synthetic images", unit="img", mininterval=2) as bar:
            for job in jobs:
                _write_image(job)
                bar.update()
        return
    chunk = max(1, min(64, len(jobs) // (workers * 8)))
    with process_pool(workers) as pool:
        bar = tqdm(total=len(jobs), desc="synthetic images", unit="img", mininterval=2)
        for _ in pool.imap_unordered(_write_image, jobs, chunksize=chunk):
            bar.update()
        bar.close()


def _write_image(job: tuple[str, ImagePlan]) -> None:
    path, image = job
    data = encode(image.scene, image.fmt, image.mode)
    if image.fault == "truncated_image":
        data = data[: len(data) // 2]
    Path(path).write_bytes(data)
