"""The pinned CPU numerics (medvlm.numerics) and the demo check that follows the CPU
(medvlm.demo_check)."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from medvlm import cli, demo_check, numerics

ROOT = Path(__file__).resolve().parents[1]


def test_the_makefile_reads_the_pin_with_the_standard_library_alone():
    # -I: no site-packages, no PYTHONPATH: what `make` runs before the environment exists
    printed = subprocess.run(
        [sys.executable, "-I", str(ROOT / "src/medvlm/numerics.py")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert printed == "".join(f"{k}={v}\n" for k, v in numerics.PINNED_ENV.items())


def test_the_pin_caps_torch_at_avx2():
    probe = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    env = {k: v for k, v in os.environ.items() if k not in numerics.PINNED_ENV}
    pinned = {**env, **numerics.PINNED_ENV}
    capped = subprocess.run(
        [sys.executable, "-c", probe], env=pinned, capture_output=True, text=True, check=True
    )
    assert capped.stdout.strip() == "AVX2"


def test_apply_keeps_other_xla_flags(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    for name in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR"):
        monkeypatch.delenv(name, raising=False)
    assert not numerics.is_pinned()
    numerics.apply()
    assert os.environ["XLA_FLAGS"].split() == [
        "--xla_force_host_platform_device_count=2",
        "--xla_cpu_max_isa=AVX2",
    ]
    assert numerics.is_pinned()
    numerics.apply()  # idempotent
    assert os.environ["XLA_FLAGS"].count("--xla_cpu_max_isa") == 1


def test_provenance_names_cpu_pin_and_versions(monkeypatch):
    numerics.apply()
    text = numerics.provenance_markdown()
    assert text.startswith("- CPU: ")
    assert "pinned: `XLA_FLAGS=--xla_cpu_max_isa=AVX2`" in text
    assert "torch 2.13.0" in text and "jax " in text


SUMMARY_COLUMNS = ["classification:balanced_accuracy", "counting:mae", "detection:f1@0.5"]


def _summary(rows: dict[str, list[float]]) -> pd.DataFrame:
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=SUMMARY_COLUMNS)
    for column in SUMMARY_COLUMNS:
        frame[f"{column}_lo"] = frame[column] - 0.1
        frame[f"{column}_hi"] = frame[column] + 0.1
    return frame.rename_axis("run")


def test_claims_follow_each_metrics_direction_and_allow_both_at_zero():
    summary = _summary(
        {
            "a_untrained": [0.3, 900.0, 0.0],
            "a_tiny": [0.6, 9.0, 0.0],  # better accuracy, lower MAE, both 0 detection: holds
            "b_untrained": [0.3, 10.0, 0.1],
            "b_tiny": [0.3, 12.0, 0.2],  # equal accuracy and a higher MAE: two failures
        }
    )
    failures = demo_check.claim_failures(
        summary, {"a_tiny": "a_untrained", "b_tiny": "b_untrained"}
    )
    assert len(failures) == 2
    assert failures[0].startswith("b_tiny classification:balanced_accuracy = 0.300")
    assert failures[1].startswith("b_tiny counting:mae = 12.000 does not beat b_untrained's 10.000")


def test_baselines_pair_each_run_with_its_zero_shot_self():
    config = {
        "runs": {
            "pg_untrained": {"family": "paligemma", "zero_shot": True},
            "pg": {"family": "paligemma"},
            "mg_untrained": {"family": "medgemma", "zero_shot": True},
            "mg": {"family": "medgemma"},
            "mg_other": {"family": "medgemma", "checkpoint": "/models/other"},
        }
    }
    assert demo_check.baselines(config) == {"pg": "pg_untrained", "mg": "mg_untrained"}


def _tree(tmp_path: Path, table: str, cpu: str) -> tuple[Path, Path, Path]:
    readme = tmp_path / "README.md"
    readme.write_text(
        "# x\n<!-- generated: demo-summary (by make readme) -->\n"
        f"{table}<!-- end generated: demo-summary -->\n"
        "<!-- generated: demo-provenance (by make readme) -->\n"
        f"- CPU: {cpu}\n- numerics: pinned\n<!-- end generated: demo-provenance -->\n",
        encoding="utf-8",
    )
    tables = tmp_path / "tables"
    tables.mkdir()
    summary = _summary({"pg_untrained": [0.3, 900.0, 0.0], "pg": [0.6, 9.0, 0.2]})
    summary.to_csv(tables / "summary.csv")
    (tables / "summary.md").write_text("| the demo's table |\n", encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(
        "runs:\n  pg_untrained: {family: paligemma, zero_shot: true}\n  pg: {family: paligemma}\n",
        encoding="utf-8",
    )
    return readme, tables, config


@pytest.mark.parametrize("same_table", [True, False])
def test_on_the_generating_cpu_the_check_is_exact(tmp_path, capsys, same_table):
    table = "| the demo's table |\n" if same_table else "| another table |\n"
    readme, tables, config = _tree(tmp_path, table, demo_check.this_cpu())
    argv = ["demo-check", "--readme", str(readme), "--tables", str(tables), "--config", str(config)]
    assert cli.main(argv) == (0 if same_table else 1)
    if not same_table:
        assert "-| another table |" in capsys.readouterr().err
    (tables / "summary.md").unlink()
    assert cli.main(argv) == 1
    assert "error: " in capsys.readouterr().err


def test_on_another_cpu_the_check_is_the_claim(tmp_path, capsys):
    readme, tables, config = _tree(tmp_path, "| another table |\n", "Some Other CPU (x)")
    assert demo_check.check(readme, tables, config) == 0
    out = capsys.readouterr().out
    assert "made on Some Other CPU (x)" in out and "held for 1 fine-tuned runs: pg" in out
    worse = _summary({"pg_untrained": [0.3, 900.0, 0.0], "pg": [0.2, 9.0, 0.2]})
    worse.to_csv(tables / "summary.csv")
    assert demo_check.check(readme, tables, config) == 1
    assert "pg classification:balanced_accuracy = 0.200" in capsys.readouterr().err


PROBE_THREADS = (
    "import os, torch; print(len(os.sched_getaffinity(0)), torch.get_num_threads(), "
    "os.environ['OMP_NUM_THREADS'], os.environ['MKL_NUM_THREADS'])"
)


def _run_pinned(cpus: int) -> subprocess.CompletedProcess:
    launcher = (
        "import sys; from medvlm.numerics import run_pinned; "
        f"run_pinned([sys.executable, '-c', {PROBE_THREADS!r}], cpus={cpus})"
    )
    return subprocess.run(
        [sys.executable, "-c", launcher], capture_output=True, text=True, check=True
    )


def test_run_pinned_gives_the_command_that_many_cpus_and_threads():
    one = _run_pinned(1)
    assert one.stdout.split() == ["1", "1", "1", "1"] and not one.stderr


def test_run_pinned_warns_when_the_machine_has_fewer_cpus():
    usable = len(numerics.usable_cpus())
    short = _run_pinned(usable + 1)
    assert short.stdout.split() == [str(usable)] * 4
    assert f"only {usable} CPU(s) usable, the pinned runs use {usable + 1}" in short.stderr


def test_the_makefile_runs_the_recorded_numbers_on_the_pinned_cpus():
    # every snakemake run and check whose numbers README or BENCHMARKS.md record
    dry = subprocess.run(
        ["make", "-n", "--always-make", "demo-check", "learn", "readme"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    commands = [line for line in dry.splitlines() if "snakemake --cores" in line]
    commands += [line for line in dry.splitlines() if "demo-check --readme" in line]
    assert len(commands) == 5
    assert all("numerics.py --run " in line for line in commands)
