"""Measure the data path: shard build speed, loader vs decode-on-the-fly, build memory vs N.

    .venv/bin/python benchmarks/data_throughput.py                       # everything
    .venv/bin/python benchmarks/data_throughput.py --parts build loader  # skip the memory part
    .venv/bin/python benchmarks/data_throughput.py --parts memory --images 5000 50000

The source images are 800×600 JPEGs: by default a synthetic FLARE tree (``medvlm.data.synthetic``,
all 19 data sets, merged into its questions: images shared by several questions, neojaundice's
three per question); with ``--source noise`` one question per JPEG made here with PIL (a
gradient, random shapes and pixel noise, quality 90: bigger files, slower to decode). For the
memory part, N file names are hard links onto the distinct source files (every name is opened
and decoded on its own; the links only spare the disk).
Prints a table and writes every number to ``benchmarks/out/data_throughput.json``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import PIL
import psutil
from PIL import Image, ImageDraw

from medvlm.data.flare import merge_tree
from medvlm.data.images import load_rgb
from medvlm.data.loader import ShardLoader
from medvlm.data.shards import build_shards
from medvlm.data.synthetic import DATASETS, SyntheticConfig, write_synthetic_tree
from medvlm.io import write_json, write_jsonl
from medvlm.records import Record, TaskType

SOURCE_SIZE = (800, 600)
OUT = Path(__file__).parent / "out" / "data_throughput.json"
BUILD_SCRIPT = """
import sys
from medvlm.data.shards import build_shards
build_shards(sys.argv[1], sys.argv[2], int(sys.argv[3]), threads=int(sys.argv[4]))
"""


def make_jpeg(item: tuple[int, str]) -> None:
    """Write one noisy 800×600 JPEG: ``item`` is (seed, path)."""
    seed, path = item
    rng = np.random.default_rng(seed)
    width, height = SOURCE_SIZE
    ramp = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    base = (rng.uniform(0, 255, 3) * ramp + rng.uniform(0, 80, 3)).astype(np.uint8)
    image = Image.fromarray(np.broadcast_to(base, (height, width, 3)).copy())
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        box = (x0, y0, x0 + rng.integers(20, 300), y0 + rng.integers(20, 300))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    noisy = np.asarray(image, dtype=np.int16) + rng.normal(0, 12, (height, width, 3))
    Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(path, quality=90)


def noise_sources(folder: Path, count: int, workers: int) -> list[Record]:
    """``count`` noisy JPEGs, one question each."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [str(folder / f"src_{i:06d}.jpg") for i in range(count)]
    with Pool(workers) as pool:
        pool.map(make_jpeg, enumerate(paths), chunksize=8)
    return [bench_record(i, path) for i, path in enumerate(paths)]


def synthetic_sources(folder: Path, count: int, workers: int) -> list[Record]:
    """A synthetic FLARE tree of about ``count`` 800×600 JPEGs, merged into its questions."""
    config = SyntheticConfig(
        seed=0,
        train_images_per_dataset=max(1, math.ceil(count / len(DATASETS))),
        val_images_per_dataset=0,
        image_size=SOURCE_SIZE,
        image_format="jpeg",
    )
    write_synthetic_tree(folder, config, workers)
    records, _ = merge_tree(folder, ["training"])
    return records


def bench_record(i: int, image: str) -> Record:
    return Record(
        uid=f"bench/{i}",
        dataset="bench",
        category="Xray",
        split_folder="training",
        source_file="training/Xray/bench/bench_questions_train.json",
        entry_index=i,
        task=TaskType.CLASSIFICATION,
        task_raw="Classification",
        modality="xray",
        question="Question: which class? Options: A: normal B: abnormal",
        answer="A",
        image_names=[Path(image).name],
        image_paths=[image],
    )


def bench_build(split: Path, work: Path, size: int, threads: int, tries: int) -> dict:
    """The best of ``tries`` builds (other work on a shared machine only ever slows one down).

    CPU seconds (this process and its reaped workers) per image do not depend on what else
    the machine runs: 1 / that is the rate one uncontended core would reach.
    """
    out = work / f"shard_t{threads}"
    seconds, cpu_seconds = [], []
    for _ in range(tries):
        start, cpu_start = time.perf_counter(), cpu_time()
        summary = build_shards(split, out, size, threads=threads)
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(cpu_time() - cpu_start)
    rate = summary["images_decoded"] / min(seconds)
    cpu_per_image = min(cpu_seconds) / summary["images_decoded"]
    return {
        "threads": threads,
        "images": summary["images"],
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "images_per_s": rate,
        "images_per_s_per_thread": rate / threads,
        "cpu_ms_per_image": cpu_per_image * 1e3,
        "images_per_cpu_second": 1 / cpu_per_image,
    }


def cpu_time() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def bench_loader(split: Path, shard: Path, batch_size: int, repeats: int, tries: int) -> dict:
    """Images/s over the same batches (one epoch): from the shard (uint8, float32) and decoded
    on the fly, by ``load_rgb`` and by a plain full-size PIL decode + resize."""
    loader = ShardLoader(shard, split, batch_size, seed=0)
    as_float = ShardLoader(shard, split, batch_size, seed=0, dtype="float32")
    batches = list(loader.epoch(0))
    images = sum(int(batch["image_mask"].sum()) for batch in batches)
    paths = {record.uid: record.image_paths for record in loader.records}

    def from_shard(source: ShardLoader) -> float:
        start = time.perf_counter()
        for _ in range(repeats):
            for _batch in source.epoch(0):
                pass
        return images * repeats / (time.perf_counter() - start)

    def bare_gather() -> float:
        """The ceiling: numpy fancy indexing of as many random rows, nothing else. Like a
        training loop, it holds one batch while making the next (so malloc cannot hand the
        same pages straight back)."""
        pixels = np.asarray(loader.images)
        rows = np.random.default_rng(0).permutation(len(pixels))
        start = time.perf_counter()
        for _ in range(repeats):
            for begin in range(0, len(rows), batch_size):
                _held = pixels[np.sort(rows[begin : begin + batch_size])]
        return len(rows) * repeats / (time.perf_counter() - start)

    def on_the_fly(decode) -> float:
        start = time.perf_counter()
        for batch in batches:
            decoded = np.zeros_like(batch["images"])  # the same [B, K, S, S, 3] batch
            for b, uid in enumerate(batch["uid"]):
                for slot, path in enumerate(paths[uid][: loader.max_images]):
                    decoded[b, slot] = decode(path, loader.size)
        return images / (time.perf_counter() - start)

    from_shard(loader)  # warm the page cache and the code paths
    rates = {
        "shard_uint8": max(from_shard(loader) for _ in range(tries)),
        "bare_numpy_gather": max(bare_gather() for _ in range(tries)),
        "shard_float32": max(from_shard(as_float) for _ in range(tries)),
        "decode_load_rgb": max(on_the_fly(load_rgb) for _ in range(tries)),
        "decode_plain_pil": max(on_the_fly(plain_decode) for _ in range(tries)),
    }
    return {
        "batch_size": batch_size,
        "batches": len(batches),
        "images": images,
        "image_slots": loader.max_images,
        **{f"images_per_s_{name}": rate for name, rate in rates.items()},
        **{
            f"ratio_{shard}_vs_{decode}": rates[shard] / rates[decode]
            for shard in ("shard_uint8", "shard_float32")
            for decode in ("decode_load_rgb", "decode_plain_pil")
        },
    }


def plain_decode(path: str, size: int) -> np.ndarray:
    """The naive baseline: decode at full size, then resize (no JPEG draft)."""
    with Image.open(path) as image:
        rgb = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb)


def peak_memory_of_build(split: Path, out: Path, size: int, threads: int) -> dict:
    """Run a build in a child process; sample its process tree's memory every 20 ms.

    PSS (proportional set size) counts a page shared by forked workers once in the sum; RSS
    counts it in every process that maps it.
    """
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", BUILD_SCRIPT, str(split), str(out), str(size), str(threads)],
        stderr=subprocess.DEVNULL,
    )
    root = psutil.Process(child.pid)
    peak_pss = peak_rss = 0
    while child.poll() is None:
        time.sleep(0.02)
        try:
            tree = [root, *root.children(recursive=True)]
            memory = [process.memory_full_info() for process in tree]
        except psutil.NoSuchProcess:  # a worker (or the build) ended between the two calls
            continue
        peak_pss = max(peak_pss, sum(m.pss for m in memory))
        peak_rss = max(peak_rss, sum(m.rss for m in memory))
    if child.returncode != 0:
        raise RuntimeError(f"shard build for {split} failed with exit code {child.returncode}")
    return {
        "seconds": time.perf_counter() - start,
        "peak_pss_mib": peak_pss / 2**20,
        "peak_rss_sum_mib": peak_rss / 2**20,
    }


def bench_memory(sources: list[str], work: Path, counts: list[int], size: int, threads: int):
    results = []
    for count in counts:
        folder = work / f"links_{count}"
        folder.mkdir()
        links = []
        for i in range(count):
            link = folder / f"img_{i:06d}.jpg"
            os.link(sources[i % len(sources)], link)
            links.append(str(link))
        split = work / f"memory_{count}.jsonl"
        write_jsonl(split, (bench_record(i, link) for i, link in enumerate(links)))
        measured = peak_memory_of_build(split, work / f"memory_shard_{count}", size, threads)
        results.append(
            {
                "images": count,
                "size": size,
                "threads": threads,
                **measured,
                "images_per_s": count / measured["seconds"],
            }
        )
        shutil.rmtree(folder)
        shutil.rmtree(work / f"memory_shard_{count}")
    return results


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pillow": PIL.__version__,
    }


def print_table(results: dict) -> None:
    print(f"machine: {results['machine']['cpu']}, {results['machine']['cores']} cores")
    if results["malloc_env"]:
        print(f"malloc settings: {results['malloc_env']}")
    source = results["source"]
    print(f"source: {source['kind']}, {source['images']} images, {source['records']} questions")
    print(
        f"load average before/after: {results['load_average_before'][0]:.2f} / "
        f"{results['load_average_after'][0]:.2f}"
    )
    for row in results.get("build", []):
        print(
            f"build {row['images']} × 800×600 JPEG → {results['size']}px, {row['threads']} "
            f"thread(s): {row['images_per_s']:8.1f} img/s "
            f"({row['images_per_s_per_thread']:.1f} per thread); "
            f"{row['cpu_ms_per_image']:.2f} CPU ms/img = {row['images_per_cpu_second']:.0f} img/s "
            "per uncontended core"
        )
    if "loader" in results:
        row = results["loader"]
        print(
            f"loader: {row['batches']} batches of {row['batch_size']} records, "
            f"{row['images']} images, {row['image_slots']} slot(s) per record"
        )
        for name in (
            "shard_uint8",
            "bare_numpy_gather",
            "shard_float32",
            "decode_load_rgb",
            "decode_plain_pil",
        ):
            print(f"  {name:17s} {row[f'images_per_s_{name}']:10.1f} img/s")
        for key, value in row.items():
            if key.startswith("ratio_"):
                print(f"  {key[6:]:40s} {value:8.1f}×")
    for row in results.get("memory", []):
        print(
            f"memory: {row['images']:6d} images at {row['size']}px, {row['threads']} threads: "
            f"peak PSS {row['peak_pss_mib']:7.1f} MiB (RSS sum {row['peak_rss_sum_mib']:.1f}), "
            f"{row['images_per_s']:.1f} img/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--parts",
        nargs="+",
        default=["build", "loader", "memory"],
        choices=["build", "loader", "memory"],
    )
    parser.add_argument("--source", choices=["synthetic", "noise"], default="synthetic")
    parser.add_argument("--build-images", type=int, default=400, help="distinct source JPEGs")
    parser.add_argument(
        "--images",
        type=int,
        nargs="+",
        default=[5000, 50000],
        help="image counts for the memory part",
    )
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=20, help="epochs timed from the shard")
    parser.add_argument("--tries", type=int, default=3, help="timings are the best of these")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="medvlm-bench-", dir=args.workdir))
    try:
        results: dict = {"machine": machine(), "size": args.size, "command": sys.argv}
        results["load_average_before"] = os.getloadavg()
        results["malloc_env"] = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
        make_sources = synthetic_sources if args.source == "synthetic" else noise_sources
        records = make_sources(work / "sources", args.build_images, max(args.threads))
        split = work / "build.jsonl"
        write_jsonl(split, records)
        sources = list(dict.fromkeys(path for record in records for path in record.image_paths))
        results["source"] = {"kind": args.source, "images": len(sources), "records": len(records)}
        if "build" in args.parts or "loader" in args.parts:
            results["build"] = [
                bench_build(split, work, args.size, t, args.tries) for t in args.threads
            ]
        if "loader" in args.parts:
            shard = work / f"shard_t{args.threads[0]}"
            results["loader"] = bench_loader(
                split, shard, args.batch_size, args.repeats, args.tries
            )
        if "memory" in args.parts:
            results["memory"] = bench_memory(
                sources, work, args.images, args.size, max(args.threads)
            )
        results["load_average_after"] = os.getloadavg()
    finally:
        shutil.rmtree(work)
    print_table(results)
    write_json(args.out, results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
