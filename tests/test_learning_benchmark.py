"""``benchmarks/learning.py``: its instance-detection diagnosis (ids ignored), and ``--check``,
with which ``make demo-check`` compares BENCHMARKS.md's demo-learning block with what the demo's
runs give, exactly on the CPU that README's provenance names."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from medvlm.demo_check import this_cpu
from medvlm.metrics.items import Item
from medvlm.metrics.profiles.default import score_task
from medvlm.records import TaskType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import learning  # noqa: E402

BLOCK = "| run | score |\n|---|---:|\n| tiny | 0.714 |\n"


def _block(name: str, content: str) -> str:
    return f"<!-- generated: {name} -->\n{content}<!-- end generated: {name} -->\n"


def _files(tmp_path: Path, cpu: str) -> tuple[Path, Path]:
    benchmarks = tmp_path / "BENCHMARKS.md"
    benchmarks.write_text("# Benchmarks\n" + _block("demo-learning", BLOCK))
    readme = tmp_path / "README.md"
    readme.write_text(_block("demo-provenance", f"- CPU: {cpu}\n"))
    return benchmarks, readme


def test_the_block_must_be_this_runs_on_the_cpu_that_made_it(tmp_path, capsys):
    benchmarks, readme = _files(tmp_path, this_cpu())
    assert learning.check_block(str(benchmarks), "demo-learning", BLOCK, readme) == 0
    assert "bit for bit" in capsys.readouterr().out
    drifted = BLOCK.replace("0.714", "0.715")
    assert learning.check_block(str(benchmarks), "demo-learning", drifted, readme) == 1
    assert "-| tiny | 0.714 |\n+| tiny | 0.715 |" in capsys.readouterr().err


def test_on_another_cpu_the_block_is_not_compared(tmp_path, capsys):
    benchmarks, readme = _files(tmp_path, "Some Other CPU (GenuineIntel family 6 model 143)")
    drifted = BLOCK.replace("0.714", "0.715")
    assert learning.check_block(str(benchmarks), "demo-learning", drifted, readme) == 0
    assert "not compared" in capsys.readouterr().out


def test_the_block_names_the_command_that_writes_it_not_the_check():
    argv = ["--config", "c.yaml", "--check", "README.md", "--write", "B.md", "--check=R.md"]
    assert learning._writing_arguments(argv) == ["--config", "c.yaml", "--write", "B.md"]


def test_ids_ignored_scores_the_boxes_whatever_their_ids():
    # two boxes, each placed exactly, each with the other's id: F1@0.5 is 0 with ids, 1 without
    item = Item(
        uid="q0",
        dataset="chromosome",
        task=TaskType.INSTANCE_DETECTION,
        question="Locate every chromosome, keyed by chromosome number.",
        reference=json.dumps({"1": [[0, 0, 10, 10]], "2": [[20, 20, 30, 40]]}),
        prediction=json.dumps({"2": [[0, 0, 10, 10]], "1": [[20, 20, 30, 40]]}),
        image_key="a.png",
    )
    pooled = score_task(TaskType.INSTANCE_DETECTION, [item], 10, 0)["pooled"]
    assert pooled["f1@0.5"] == 0.0
    ignored = learning.ids_ignored(item)
    assert json.loads(ignored.reference) == {"1": [[0, 0, 10, 10], [20, 20, 30, 40]]}
    assert json.loads(ignored.prediction) == {"1": [[20, 20, 30, 40], [0, 0, 10, 10]]}
    assert score_task(TaskType.INSTANCE_DETECTION, [ignored], 10, 0)["pooled"]["f1@0.5"] == 1.0
    # one box too far off (IoU 0.25): half the predictions and half the answers match
    half = replace(item, prediction=json.dumps({"1": [[0, 0, 10, 10]], "2": [[20, 20, 25, 30]]}))
    f1 = score_task(TaskType.INSTANCE_DETECTION, [learning.ids_ignored(half)], 10, 0)["pooled"]
    assert f1["f1@0.5"] == 0.5
    # a malformed prediction stays malformed; no box at all stays no box
    broken = replace(item, prediction="[[0, 0, 10")
    assert learning.ids_ignored(broken).prediction == "[[0, 0, 10"
    assert learning.ids_ignored(replace(item, prediction="{}")).prediction == "{}"
