"""Tables from two hand-written score files."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from medvlm import cli
from medvlm.metrics import tables


def _score_file(path, accuracy, ci, mae, dataset_accuracy):
    data = {
        "profiles": {
            "default": {
                "classification": {
                    "n": 10,
                    "pooled": {"balanced_accuracy": accuracy, "n_unparsable": 1},
                    "ci": {"balanced_accuracy": ci},
                    "by_dataset": {"retino": {"n": 10, "balanced_accuracy": dataset_accuracy}},
                },
                "counting": {
                    "n": 4,
                    "pooled": {"mae": mae, "r2": None},
                    "ci": {"mae": [mae - 1, mae + 1], "r2": None},
                    "by_dataset": {},
                },
            },
            "qwen25vl": {"counting": {"n": 4, "pooled": {"mae": "inf"}}},
        }
    }
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def scores(tmp_path):
    return tables.load_scores(
        {
            "base": _score_file(tmp_path / "a.json", 0.25, [0.1, 0.4], 12.0, 0.25),
            "tuned": _score_file(tmp_path / "b.json", 0.75, [0.6, 0.9], 3.5, 0.75),
        }
    )


def test_task_table_has_runs_as_rows_and_interval_columns(scores):
    table = tables.task_table(scores, "classification")
    assert list(table.index) == ["base", "tuned"]
    assert table.loc["tuned", "balanced_accuracy"] == 0.75
    assert table.loc["tuned", "balanced_accuracy_lo"] == 0.6
    assert table.loc["base", "balanced_accuracy_hi"] == 0.4
    assert table.loc["base", "n_unparsable"] == 1
    counting = tables.task_table(scores, "counting")
    assert math.isinf(counting.loc["base", "qwen25vl:mae"])  # "inf" read back as infinity
    assert math.isnan(counting.loc["base", "r2"])  # null: undefined
    assert "r2_lo" not in counting.columns  # no interval was computed


def test_written_tables(scores, tmp_path):
    out = tmp_path / "tables"
    written = tables.write_tables(scores, out)
    assert {p.name for p in written} == {
        "classification.csv",
        "counting.csv",
        "by_dataset.csv",
        "summary.csv",
        "summary.md",
    }
    by_dataset = pd.read_csv(out / "by_dataset.csv")
    row = by_dataset[(by_dataset.dataset == "retino") & (by_dataset.metric == "balanced_accuracy")]
    assert row[["base", "tuned"]].values.tolist() == [[0.25, 0.75]]
    summary = pd.read_csv(out / "summary.csv", index_col="run")
    assert summary.loc["tuned", "classification:balanced_accuracy"] == 0.75
    assert summary.loc["base", "counting:mae_hi"] == 13.0
    markdown = (out / "summary.md").read_text()
    assert "| tuned | 0.750 (0.600–0.900) | 3.500 (2.500–4.500) |" in markdown
    assert (
        markdown.splitlines()[0] == "| run | classification · balanced_accuracy | counting · mae |"
    )


def test_command_line_and_bad_arguments(scores, tmp_path, capsys):
    out = tmp_path / "cli"
    a = tmp_path / "a.json"
    assert cli.main(["tables", "--scores", f"base={a}", "--out-dir", str(out)]) == 0
    assert (out / "summary.md").is_file()
    assert cli.main(["tables", "--scores", str(a), "--out-dir", str(out)]) == 1
    assert "RUN=PATH" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{}")
    assert (
        cli.main(["tables", "--scores", f"x={tmp_path / 'bad.json'}", "--out-dir", str(out)]) == 1
    )
    assert "bad.json" in capsys.readouterr().err
