"""A memory plan before the queue: each trained run's estimated peak memory per device.

For every run a config trains, its family (``medvlm.models.<family>.memory``) turns the run into
a JSON *spec* (architecture + the settings that shape memory) and estimates, in a child process,
the bytes one device holds during a training step — weights, gradients, optimizer state, and
activations with temporaries — for 1, 2, 4 and 8 devices, with and without rematerialisation
(activation checkpointing). A run with per-task LoRA experts (``train.experts``) is sized with
every adapter it trains: one per group of the task types its configured data can have, plus the
shared one. Runs with the same spec share one estimate. Estimates are cached by
spec, framework versions and the family's source code (``~/.cache/medvlm/plan``).

A run trains on ``train.nodes`` × ``train.processes`` devices (one GPU per process); the memory
of one GPU comes from the SLURM profile: the ``train`` rule's ``gpu_mem_mb`` resource (MiB, as
``nvidia-smi`` reports it). A run whose estimate at its configured settings does not fit that
GPU gets a warning.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import json
import logging
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from medvlm.config import load_config
from medvlm.runs import DEMO_CHECKPOINT, expand_runs, family_run

log = logging.getLogger(__name__)

# Memory of one GPU as nvidia-smi reports it (MiB): A100 40GB, H100 80GB, H200.
GPU_SIZES_MIB = {"40 GB": 40_960, "80 GB": 81_559, "141 GB": 143_771}
DEVICE_COUNTS = (1, 2, 4, 8)
GPU_MEMORY_KEY = "gpu_mem_mb"
TRAIN_RULE = "train"
FRAMEWORKS = {"paligemma": ("jax", "jaxlib", "flax"), "medgemma": ("torch", "transformers", "peft")}
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "medvlm" / "plan"


@dataclass(frozen=True)
class PlanInput:
    """What a family makes of one run for the plan."""

    spec: dict  # JSON: everything the estimate depends on
    model: str  # the architecture and where it came from
    batch: str  # the batch size in words (per update or per process)
    tokens: str  # the sequence one example is, e.g. "256 image + 256 text"
    remat: bool  # the run's rematerialisation (activation checkpointing) setting
    devices: int  # the devices the run trains on: train.nodes × train.processes
    usable: float  # share of a GPU's memory the framework can use
    adapters: str | None = None  # with train.experts: the LoRA adapters it trains, in words


@dataclass
class RunPlan:
    """One run's plan: its input, the estimate (None with ``error`` when there is none)."""

    name: str
    family: str
    inputs: PlanInput | None = None
    estimate: dict | None = None
    error: str | None = None
    runs: list[str] = field(default_factory=list)  # every run sharing this estimate

    def row(self, devices: int, remat: bool) -> dict | None:
        for row in (self.estimate or {}).get("rows", []):
            if row["devices"] == devices and row["remat"] == remat and row["peak"] is not None:
                return row
        return None


def family_module(family: str):
    return importlib.import_module(f"medvlm.models.{family}.memory")


def profile_gpu_memory(profile: str | Path | None) -> int | None:
    """MiB of one GPU of the train jobs of a Snakemake profile (a file, a folder or a profile
    name, found as Snakemake finds it); None where it names none."""
    from medvlm.slurm.profile import resolve_profile

    if profile is None:
        return None
    path = resolve_profile(str(profile))
    if path is None:
        raise FileNotFoundError(f"no Snakemake profile {profile}")
    data = yaml.safe_load(path.read_text("utf-8")) or {}
    resources = dict(data.get("default-resources") or {})
    resources.update((data.get("set-resources") or {}).get(TRAIN_RULE) or {})
    memory = resources.get(GPU_MEMORY_KEY)
    return int(memory) if memory is not None else None


def cache_key(family: str, spec: dict) -> str:
    """A digest of the spec, the framework versions and the family's source files."""
    digest = hashlib.sha256(json.dumps([family, spec], sort_keys=True).encode())
    for package in FRAMEWORKS[family]:
        digest.update(importlib.metadata.version(package).encode())
    source = Path(family_module(family).__file__).parent
    for path in sorted(source.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:24]


def _run_child(family: str, specs: list[dict]) -> list[dict]:
    done = subprocess.run(
        [sys.executable, "-m", f"medvlm.models.{family}.memory"],
        input=json.dumps(specs),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {family} memory estimate failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout)


def estimate_all(plans: list[RunPlan], cache: Path | None) -> None:
    """Fill in every plan's estimate: from the cache, else from one child process per family
    (the families' children run at once; PaliGemma's compiles on every core it has)."""
    todo: dict[str, dict[str, list[RunPlan]]] = {}
    for plan in plans:
        if plan.inputs is None:
            continue
        key = cache_key(plan.family, plan.inputs.spec)
        cached = cache / f"{key}.json" if cache else None
        if cached is not None and cached.is_file():
            plan.estimate = json.loads(cached.read_text("utf-8"))
        else:
            todo.setdefault(plan.family, {}).setdefault(key, []).append(plan)
    with ThreadPoolExecutor(max(len(todo), 1)) as pool:
        futures = {
            family: pool.submit(
                _run_child, family, [group[0].inputs.spec for group in keys.values()]
            )
            for family, keys in todo.items()
        }
    for family, keys in todo.items():
        try:
            results = futures[family].result()
        except RuntimeError as error:
            for group in keys.values():
                for plan in group:
                    plan.error = str(error)
            continue
        for (key, group), result in zip(keys.items(), results, strict=True):
            for plan in group:
                plan.estimate = result
            if cache is not None:
                cache.mkdir(parents=True, exist_ok=True)
                (cache / f"{key}.json").write_text(json.dumps(result), "utf-8")


def make_plans(config_path: Path, text_tokens: int) -> tuple[list[RunPlan], list[str]]:
    """A plan per trained run of the config (estimates not yet made), and the untrained runs."""
    config = load_config(config_path)
    runs = expand_runs(config["runs"], config["sweeps"])
    plans, untrained = [], []
    for name, run in runs.items():
        if run.get("zero_shot"):
            untrained.append(name)
            continue
        plan = RunPlan(name, run["family"], runs=[name])
        demo = Path(config["results"]) / "demo_models" / run["family"]
        try:
            if run.get("checkpoint", DEMO_CHECKPOINT) == DEMO_CHECKPOINT and not demo.exists():
                raise ValueError(f"checkpoint 'demo': build the demo model first ({demo})")
            plan.inputs = family_module(run["family"]).plan_input(
                family_run(run, str(demo)), text_tokens, config.get("data")
            )
        except (ValueError, OSError) as error:
            plan.error = str(error)
        plans.append(plan)
    return plans, untrained


def merge_same(plans: list[RunPlan]) -> list[RunPlan]:
    """Runs with the same family, spec, device count and settings shown as one plan."""
    merged: dict[str, RunPlan] = {}
    out = []
    for plan in plans:
        if plan.inputs is None:
            out.append(plan)
            continue
        key = json.dumps([plan.family, plan.inputs.spec, plan.inputs.devices], sort_keys=True)
        if key in merged:
            merged[key].runs.append(plan.name)
            continue
        merged[key] = plan
        out.append(plan)
    return out


def size(value: int) -> str:
    """Bytes in GiB, or MiB below one GiB."""
    return f"{value / 2**30:.1f} GiB" if value >= 2**30 else f"{value / 2**20:.1f} MiB"


def count(number: int) -> str:
    """A parameter count in words: 3.03 B, 38.5 M, 12.3 k."""
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if number >= size:
            return f"{number / size:.3g} {unit}"
    return str(number)


def fits(peak: int, usable: float) -> str:
    """The GPU sizes a peak fits, given the share of a GPU's memory the framework can use."""
    sizes = [name for name, mib in GPU_SIZES_MIB.items() if peak <= usable * mib * 2**20]
    return ", ".join(sizes) if sizes else "none"


def table(plan: RunPlan, run_devices: int) -> list[str]:
    """A Markdown section: the runs, what they train, and one row per device count and remat
    setting (in GiB, or MiB for a model too small to show in GiB)."""
    inputs, estimate = plan.inputs, plan.estimate
    rows = sorted(estimate["rows"], key=lambda row: (row["devices"], row["remat"]))
    largest = max((row["peak"] for row in rows if row["peak"] is not None), default=0)
    unit, scale = ("GiB", 2**30) if largest >= 2**30 else ("MiB", 2**20)
    lines = [f"#### {', '.join(plan.runs)}", ""]
    lines.append(
        f"{plan.family}: {inputs.model}; {count(estimate['params'])} parameters, "
        f"{count(estimate['trainable_params'])} trained"
        f"{f' in {inputs.adapters}' if inputs.adapters else ''}; batch {inputs.batch}; "
        f"{inputs.tokens} tokens an example; configured: rematerialisation "
        f"{'on' if inputs.remat else 'off'}, {run_devices} device(s) (the row marked *). "
        f"{unit} per device; 'fits': the GPUs whose memory holds it (its framework can use "
        f"{inputs.usable:.0%})."
    )
    lines += [
        "",
        "| devices | remat | weights | gradients | optimizer | activations + temp | peak | fits |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        mark = "*" if (row["devices"], row["remat"]) == (run_devices, inputs.remat) else ""
        head = f"| {row['devices']}{mark} | {'on' if row['remat'] else 'off'} |"
        if row["peak"] is None:
            lines.append(f"{head} – | – | – | – | – | {row['why']} |")
            continue
        parts = [
            f"{row[key] / scale:.1f}"
            for key in ("weights", "gradients", "optimizer", "activations")
        ]
        lines.append(
            f"{head} {' | '.join(parts)} | **{row['peak'] / scale:.1f}** "
            f"| {fits(row['peak'], inputs.usable)} |"
        )
    return lines


def misfit(plan: RunPlan, devices: int, gpu_mib: int) -> str | None:
    """A warning when the run's configured settings need more than the profile's GPU."""
    inputs = plan.inputs
    usable = inputs.usable * gpu_mib * 2**20
    row = plan.row(devices, inputs.remat)
    if row is None:
        return f"{', '.join(plan.runs)}: no estimate for {devices} device(s)"
    if row["peak"] <= usable:
        return None
    advice = []
    other = plan.row(devices, not inputs.remat)
    if not inputs.remat and other is not None and other["peak"] <= usable:
        advice.append(f"train.activation_checkpointing: true needs {size(other['peak'])}")
    for more in DEVICE_COUNTS:
        bigger = plan.row(more, inputs.remat)
        if more > devices and bigger is not None and bigger["peak"] <= usable:
            advice.append(f"{more} devices need {size(bigger['peak'])} each")
            break
    return (
        f"{', '.join(plan.runs)} needs an estimated {size(row['peak'])} per device on "
        f"{devices} device(s) but the profile's GPU ({gpu_mib} MiB) gives it "
        f"{size(int(usable))}" + (f"; {'; '.join(advice)}" if advice else "")
    )


def memory_plan(
    config_path: Path,
    profile: str | Path | None,
    text_tokens: int,
    cache: Path | None = DEFAULT_CACHE,
) -> tuple[str, list[str], bool]:
    """``(Markdown report, warnings, whether every trained run has an estimate)`` of a config
    against the GPU of ``profile``'s training jobs."""
    plans, untrained = make_plans(Path(config_path), text_tokens)
    gpu_mib = profile_gpu_memory(profile)
    plans = merge_same(plans)
    estimate_all(plans, cache)
    lines = [f"Memory plan of {config_path}: an estimate.", ""]
    if gpu_mib is None:
        lines.append(
            f"No GPU size to check against: set `{GPU_MEMORY_KEY}` for the `{TRAIN_RULE}` rule "
            "in the SLURM profile (or pass --profile)."
        )
    else:
        lines.append(f"The profile {profile} gives each training job GPUs of {gpu_mib} MiB.")
    if untrained:
        lines.append(f"Not trained (no plan): {', '.join(untrained)}.")
    warnings = []
    for plan in plans:
        lines.append("")
        if plan.estimate is None:
            lines += [f"#### {', '.join(plan.runs)}", "", f"No estimate: {plan.error}"]
            warnings.append(f"{', '.join(plan.runs)}: no estimate: {plan.error}")
            continue
        devices = plan.inputs.devices
        lines += table(plan, devices)
        if gpu_mib is not None and (problem := misfit(plan, devices, gpu_mib)):
            warnings.append(problem)
    complete = all(plan.estimate is not None for plan in plans)
    return "\n".join(lines) + "\n", warnings, complete
