"""Pinned CPU numerics: the demo, the tests and ``make learn`` compute with the same kernels on
any x86-64 CPU that has AVX2.

XLA, PyTorch's ATen, oneDNN and MKL each pick their CPU kernels by the instruction set the
processor offers (MKL also by its vendor). Kernels for AVX2 and AVX-512 block and sum in other
orders, so the last bits of a matrix product differ, and a thousand training steps grow those
bits into other trained weights and other demo numbers. Each library has a switch that caps the
instruction set it uses; :data:`PINNED_ENV` sets all four to AVX2, the newest level every x86-64
CPU of the last decade has. The Makefile exports it for ``make demo``, ``make test`` and
``make learn`` (``python3 src/medvlm/numerics.py`` prints it, with nothing but the standard
library, before the virtual environment exists) and ``tests/conftest.py`` applies it, so a
plain ``pytest`` is pinned too. A cluster run is not pinned: the caps only touch CPU kernels,
and a GPU job's numbers never depended on them.

The number of CPUs matters too: XLA sizes its thread pool and OpenMP (PyTorch) its team of
threads by the CPUs a process may use, and an operation split over another number of threads
sums in another order. So the Makefile runs the demo and ``make learn`` through
``python3 src/medvlm/numerics.py --run COMMAND``, which starts ``COMMAND`` on the first
:data:`PINNED_CPUS` CPUs this process may use, with OpenMP's and MKL's thread counts set to
match: on a machine with more cores the demo computes as on CI's two.

What the pin costs in speed is measured in BENCHMARKS.md ("Pinned numerics").
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Sequence
from importlib import metadata

PINNED_ENV: dict[str, str] = {
    "XLA_FLAGS": "--xla_cpu_max_isa=AVX2",  # XLA's CPU code generation and its Eigen/oneDNN calls
    "ATEN_CPU_CAPABILITY": "avx2",  # PyTorch's vectorised ATen kernels
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN (PyTorch's mkldnn convolutions and matmuls)
    "MKL_CBWR": "AVX2",  # MKL's BLAS: one AVX2 code path whatever the vendor
}

# The CPUs (and threads per library) of the pinned runs: CI's machine has two.
PINNED_CPUS = 2

# The packages whose versions decide the demo's numbers (their kernels and random draws).
NUMERICS_PACKAGES = (
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "torch",
    "transformers",
    "peft",
    "trl",
    "numpy",
    "pillow",
    "sentencepiece",
    "tokenizers",
)


def _has(environ, name: str, value: str) -> bool:
    # XLA_FLAGS holds several flags: the cap is one of them
    return (
        value in environ.get(name, "").split()
        if name == "XLA_FLAGS"
        else environ.get(name) == value
    )


def apply() -> None:
    """Set :data:`PINNED_ENV` in this process (XLA flags already set are kept beside the cap); it
    must run before JAX or torch is imported."""
    for name, value in PINNED_ENV.items():
        if not _has(os.environ, name, value):
            kept = os.environ.get(name, "") if name == "XLA_FLAGS" else ""
            os.environ[name] = f"{kept} {value}".strip()


def is_pinned(environ=None) -> bool:
    """Whether ``environ`` (this process's by default) carries every pinned setting."""
    environ = os.environ if environ is None else environ
    return all(_has(environ, name, value) for name, value in PINNED_ENV.items())


def cpu_model() -> str:
    """The processor as ``/proc/cpuinfo`` names it: model name, vendor, family, model and
    stepping (virtual machines often give only a generic model name), or what :mod:`platform`
    knows."""
    fields = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    break  # the first processor's block is enough
                name, _, value = line.partition(":")
                fields[name.strip()] = value.strip()
    except OSError:
        return platform.processor() or platform.machine()
    return (
        f"{fields.get('model name', platform.machine())} ({fields.get('vendor_id', '?')} family "
        f"{fields.get('cpu family', '?')} model {fields.get('model', '?')} stepping "
        f"{fields.get('stepping', '?')})"
    )


def versions() -> dict[str, str]:
    """Installed versions of :data:`NUMERICS_PACKAGES` (absent ones left out), no import."""
    found = {}
    for name in NUMERICS_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def usable_cpus() -> list[int]:
    """The CPUs this process may run on (all of them where the platform cannot say)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def run_pinned(command: Sequence[str], cpus: int = PINNED_CPUS) -> None:
    """Replace this process with ``command`` on the first ``cpus`` usable CPUs, with
    ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` set to that many (fewer usable CPUs: all of
    them, and a warning that the numbers will not be CI's)."""
    usable = usable_cpus()
    chosen = usable[:cpus]
    if len(chosen) < cpus:
        sys.stderr.write(
            f"numerics: only {len(chosen)} CPU(s) usable, the pinned runs use {cpus}: "
            "the trained numbers will differ from README's and BENCHMARKS.md's\n"
        )
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, chosen)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(len(chosen))
    os.execvp(command[0], list(command))


def provenance_markdown() -> str:
    """Where a generated table of numbers was made: CPU (with the number of CPUs this process
    may use), pin and library versions."""
    pin = " ".join(f"`{name}={value}`" for name, value in PINNED_ENV.items())
    state = f"pinned: {pin}" if is_pinned() else "NOT pinned (native instruction set)"
    packages = ", ".join(f"{name} {version}" for name, version in versions().items())
    return (
        f"- CPU: {cpu_model()} ({len(usable_cpus())} logical cores)\n"
        f"- numerics: {state}\n"
        f"- Python {platform.python_version()}; {packages}\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 src/medvlm/numerics.py",
        description="Print the pinned environment (NAME=VALUE lines, for the Makefile), or where "
        "numbers are made (--provenance), or run a command on the pinned CPUs (--run).",
    )
    parser.add_argument("--provenance", action="store_true", help="CPU, pin and versions")
    parser.add_argument(
        "--run",
        nargs=argparse.REMAINDER,
        metavar="COMMAND",
        help=f"run COMMAND on the first {PINNED_CPUS} usable CPUs (the rest of the line)",
    )
    args = parser.parse_args(argv)
    if args.run:
        run_pinned(args.run)
    elif args.provenance:
        sys.stdout.write(provenance_markdown())
    else:
        sys.stdout.write("".join(f"{name}={value}\n" for name, value in PINNED_ENV.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
