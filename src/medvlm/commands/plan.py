"""Estimate each trained run's peak memory per device before it waits in a queue.

Example (the study's runs against the GPU the SLURM profile asks for):

    medvlm plan config/flare25.yaml --profile profiles/slurm

For every run that trains: weights, gradients, optimizer state, activations with temporaries and
the peak, in GiB per device, for 1, 2, 4 and 8 devices, with and without rematerialisation
(train.activation_checkpointing), and the GPU sizes (40, 80, 141 GB) that hold it. No weights
are read: PaliGemma compiles its real train step ahead of time on abstract shapes (XLA's memory
analysis); MedGemma runs its real model on fake tensors from config.json. The architecture
comes from the checkpoint when it is here, else from a known model name in its path. Runs
sharing a spec share a table. A run that does not fit the GPU the profile gives its training
job (the train rule's gpu_mem_mb resource) gets a warning; a run without an estimate (an unknown
architecture) makes the exit status 1. It is an estimate: README's "Memory plan" says how it
was checked.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from medvlm.commands import reporting
from medvlm.config import ConfigError
from medvlm.memory_plan import DEFAULT_CACHE, memory_plan

NAME = "plan"
HELP = "estimate each trained run's peak memory per device and the GPUs it fits"
DEFAULT_PROFILE = Path("profiles/slurm")
DEFAULT_TEXT_TOKENS = 256

log = logging.getLogger("medvlm.memory_plan")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, help="workflow config (YAML)")
    parser.add_argument(
        "--profile",
        help=f"Snakemake profile (file, folder or name) with the GPU (default: {DEFAULT_PROFILE} "
        "when it exists)",
    )
    parser.add_argument(
        "--text-tokens",
        type=int,
        default=DEFAULT_TEXT_TOKENS,
        help="text tokens of an example where the run does not fix them (MedGemma; "
        "default %(default)s)",
    )
    parser.add_argument("--out", type=Path, help="also write the tables here (Markdown)")
    parser.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE, help="estimate cache (default %(default)s)"
    )
    parser.add_argument(
        "--no-cache", dest="cache", action="store_const", const=None, help="estimate afresh"
    )


def run(args: argparse.Namespace) -> int:
    profile = args.profile
    if profile is None and DEFAULT_PROFILE.exists():
        profile = DEFAULT_PROFILE
    made = []

    def plan() -> None:
        made.append(memory_plan(args.config, profile, args.text_tokens, cache=args.cache))

    status = reporting(plan, ConfigError)
    if status:
        return status
    text, warnings, complete = made[0]
    print(text, end="")
    if args.out is not None:
        args.out.write_text(text, "utf-8")
    for warning in warnings:
        log.warning("%s", warning)
    return 0 if complete else 1
