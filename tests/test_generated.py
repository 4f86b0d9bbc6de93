"""Generated Markdown blocks (medvlm.generated, ``medvlm generated``): written from a file,
checked against it."""

from __future__ import annotations

import pytest

from medvlm.generated import read_block, replace_block
from tests.support.cli import run_medvlm

DOC = """# Title

Intro.

<!-- generated: table (by make demo) -->
| a |
|---|
| 1 |
<!-- end generated: table -->

Outro.
"""


def test_a_block_is_read_and_replaced_in_place():
    assert read_block(DOC, "table") == "| a |\n|---|\n| 1 |\n"
    updated = replace_block(DOC, "table", "| a |\n|---|\n| 2 |")
    assert read_block(updated, "table") == "| a |\n|---|\n| 2 |\n"
    assert updated.replace("| 2 |", "| 1 |") == DOC  # nothing outside the block moved


def test_missing_or_repeated_markers_name_the_file_and_block():
    with pytest.raises(ValueError, match=r"README.md: expected one block .*other.*found 0"):
        read_block(DOC, "other", "README.md")
    with pytest.raises(ValueError, match="found 2"):
        replace_block(DOC + DOC, "table", "x")


def run(*args, cwd):
    return run_medvlm("generated", *args, cwd=cwd, timeout=120)


def test_the_command_writes_then_checks(tmp_path):
    (tmp_path / "README.md").write_text(DOC, encoding="utf-8")
    (tmp_path / "summary.md").write_text("| a |\n|---|\n| 3 |\n", encoding="utf-8")
    args = ("--block", "table", "--source", "summary.md", "--into", "README.md")
    checked = run(*args, "--check", cwd=tmp_path)
    assert checked.returncode == 1
    assert "-| 1 |" in checked.stderr and "+| 3 |" in checked.stderr
    assert (tmp_path / "README.md").read_text(encoding="utf-8") == DOC  # --check writes nothing
    assert run(*args, cwd=tmp_path).returncode == 0
    assert "| 3 |" in (tmp_path / "README.md").read_text(encoding="utf-8")
    assert run(*args, "--check", cwd=tmp_path).returncode == 0
    missing = run("--block", "nope", "--source", "summary.md", "--into", "README.md", cwd=tmp_path)
    assert missing.returncode == 1 and "'<!-- generated: nope -->'" in missing.stderr
