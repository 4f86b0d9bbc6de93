"""``make demo-check``: the demo's test summary against README's table, as exactly as the CPU
allows.

README's ``demo-summary`` block is the demo's ``summary.md`` as made on the CPU that its
``demo-provenance`` block names, with the pinned numerics of :mod:`medvlm.numerics`. On that
CPU the demo reproduces the table bit for bit, so the check is exact. On another CPU the pin
makes the kernels the same, but not every library promises the same bits across processor
models (kernel blocking may follow cache sizes), so there the check is what README claims of
the numbers: every fine-tuned run beats its untrained (zero-shot) self on every task type's
headline metric, except where both score 0. The check says which of the two it made.

``medvlm demo-check`` (:mod:`medvlm.commands.demo_check`) runs it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import yaml

from medvlm.generated import block_difference, read_block
from medvlm.metrics.compare import improvement
from medvlm.numerics import provenance_markdown
from medvlm.runs import expand_runs

SUMMARY_BLOCK = "demo-summary"
PROVENANCE_BLOCK = "demo-provenance"
CPU_LINE = "- CPU: "


def generating_cpu(readme_text: str, where: str) -> str:
    """The CPU line of README's provenance block (model name, vendor, family, model, stepping)."""
    for line in read_block(readme_text, PROVENANCE_BLOCK, where).splitlines():
        if line.startswith(CPU_LINE):
            return line.removeprefix(CPU_LINE)
    raise ValueError(f"{where}: the {PROVENANCE_BLOCK!r} block has no '{CPU_LINE}' line")


def this_cpu() -> str:
    """This machine's CPU line, as :func:`medvlm.numerics.provenance_markdown` writes it."""
    return provenance_markdown().splitlines()[0].removeprefix(CPU_LINE)


def baselines(config: dict) -> dict[str, str]:
    """Each fine-tuned run → the zero-shot run of the same family and checkpoint."""
    runs = expand_runs(config.get("runs"), config.get("sweeps"))
    untrained = {
        (run["family"], run.get("checkpoint", "demo")): name
        for name, run in runs.items()
        if run.get("zero_shot")
    }
    return {
        name: untrained[(run["family"], run.get("checkpoint", "demo"))]
        for name, run in runs.items()
        if not run.get("zero_shot") and (run["family"], run.get("checkpoint", "demo")) in untrained
    }


def claim_failures(summary: pd.DataFrame, pairs: dict[str, str]) -> list[str]:
    """Where a fine-tuned run does not beat its untrained self (both at 0 excepted)."""
    failures = []
    metrics = [c for c in summary.columns if not c.endswith(("_lo", "_hi"))]
    for run, baseline in pairs.items():
        for column in metrics:
            metric = column.split(":", 1)[1]
            value, reference = summary.at[run, column], summary.at[baseline, column]
            gain = improvement(value, reference, metric)
            if gain is not None and gain <= 0 and not (value == 0 and reference == 0):
                failures.append(
                    f"{run} {column} = {value:.3f} does not beat {baseline}'s {reference:.3f}"
                )
    return failures


def check(readme: Path, tables: Path, config_path: Path) -> int:
    text = readme.read_text(encoding="utf-8")
    made_on, here = generating_cpu(text, str(readme)), this_cpu()
    summary_md = (tables / "summary.md").read_text(encoding="utf-8")
    if made_on == here:
        difference = block_difference(readme, SUMMARY_BLOCK, summary_md)
        if difference:
            print(
                f"{readme}: the {SUMMARY_BLOCK!r} table differs from {tables / 'summary.md'} on "
                f"the CPU that made it ({here}):\n{difference}",
                file=sys.stderr,
            )
            return 1
        print(f"{readme}: the demo's table is README's, bit for bit ({here})")
        return 0
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    pairs = baselines(config)
    summary = pd.read_csv(tables / "summary.csv", index_col="run")
    failures = claim_failures(summary, pairs)
    print(
        f"{readme}: the table was made on {made_on}; this is {here}, so the check is README's "
        f"claim (every fine-tuned run beats its untrained self), not the exact numbers"
    )
    for failure in failures:
        print(f"  {failure}", file=sys.stderr)
    if not failures:
        print(f"  held for {len(pairs)} fine-tuned runs: {', '.join(sorted(pairs))}")
    return 1 if failures or not pairs else 0
