"""PyTorch on the CPU: a training step of a tiny Gemma 3 with OpenMP threads that spin while they
wait (``OMP_WAIT_POLICY=ACTIVE``) against threads that sleep (``PASSIVE``, what
``medvlm.models.medgemma`` sets unless the environment says otherwise).

    .venv/bin/python benchmarks/omp_wait.py --write BENCHMARKS.md --block omp-wait

Each policy runs in its own process (OpenMP reads the variable once, when torch loads), in
alternation, ``--tries`` times each; a try is the median of 8 forward + backward passes of the
learnability-sized demo model on a batch of 16 × 100 tokens. Prints the medians, their ratio and
the load average (``--write FILE --block NAME`` puts them into that generated block), and writes
them as JSON.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from medvlm.generated import write_block
from medvlm.io import write_json

POLICIES = ("ACTIVE", "PASSIVE")
# The learnability config's MedGemma demo model (config/learnability.yaml).
MODEL = {
    "image_size": 64,
    "patch_size": 8,
    "mm_tokens_per_image": 16,
    "hidden_size": 128,
    "intermediate_size": 256,
    "layers": 3,
    "heads": 4,
    "kv_heads": 2,
    "head_dim": 32,
    "vision_hidden_size": 64,
    "vision_intermediate_size": 128,
    "vision_layers": 2,
}

CHILD = """
import json, statistics, sys, time
import torch
from medvlm.models.medgemma.model import load_model
torch.set_num_threads(int(sys.argv[2]))
model = load_model(sys.argv[1], "sdpa")
vocab = model.config.text_config.vocab_size
ids = torch.randint(5, vocab, (16, 100), generator=torch.Generator().manual_seed(0))
times = []
for _ in range(10):
    start = time.perf_counter()
    model(input_ids=ids, labels=ids).loss.backward()
    times.append(time.perf_counter() - start)
print(json.dumps(statistics.median(times[2:])))
"""


def step_seconds(model_dir: Path, policy: str, threads: int) -> float:
    env = {**os.environ, "OMP_WAIT_POLICY": policy}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(model_dir), str(threads)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/out/omp_wait.json")
    parser.add_argument("--write", help="a Markdown file holding the generated block")
    parser.add_argument("--block", default="omp-wait")
    args = parser.parse_args()
    from medvlm.models.medgemma.demo_model import build_demo_model

    times: dict[str, list[float]] = {policy: [] for policy in POLICIES}
    with tempfile.TemporaryDirectory() as scratch:
        texts = ["Where is the lesion? [10, 20, 30, 40]", "The heart size is normal."] * 50
        build_demo_model(Path(scratch), texts, MODEL)
        for _ in range(args.tries):
            for policy in POLICIES:
                times[policy].append(step_seconds(Path(scratch), policy, args.threads))
    medians = {policy: statistics.median(values) for policy, values in times.items()}
    load = os.getloadavg()
    ratio = medians["ACTIVE"] / medians["PASSIVE"]
    lines = [
        f"`python benchmarks/omp_wait.py {' '.join(sys.argv[1:])}`: {args.threads} torch "
        f"threads, {args.tries} tries each; load average at the end {load[0]:.1f} {load[1]:.1f} "
        f"{load[2]:.1f} on {os.cpu_count()} cores.",
        "",
        "| OMP_WAIT_POLICY | median step (ms) |",
        "|---|---:|",
        *(f"| {policy} | {medians[policy] * 1000:.0f} |" for policy in POLICIES),
        "",
        f"ACTIVE / PASSIVE: {ratio:.1f}×",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_block(args.write, args.block, text)
    write_json(
        Path(args.out),
        {"threads": args.threads, "seconds": times, "ratio": ratio, "load": list(load)},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
