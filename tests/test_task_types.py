"""One TaskType: its members read as the plain names everywhere, and every list or registry of
task types outside ``medvlm.records`` (the config schema, config/README.md, the tables keyed by
task type) names each member, so a new task type cannot be half added."""

import csv
import io
import json
import re
from pathlib import Path

import pytest
import yaml

from medvlm.metrics import selection, tables
from medvlm.metrics.profiles import default
from medvlm.models.medgemma import settings as medgemma
from medvlm.models.paligemma import settings as paligemma
from medvlm.plots.style import TASK_TITLES
from medvlm.records import TASK_TYPES, TaskType, normalise_task_type

REPO = Path(__file__).resolve().parents[1]
NAMES = [task.value for task in TaskType]


def test_the_members_are_the_names_files_hold():
    assert NAMES == [
        "classification",
        "multi_label",
        "detection",
        "instance_detection",
        "counting",
        "regression",
        "report_generation",
    ]
    assert TASK_TYPES == tuple(TaskType)


@pytest.mark.parametrize("task", TaskType)
def test_a_member_writes_as_its_plain_name(task):
    name = task.value
    assert (str(task), f"{task}", f"{task:>20}") == (name, name, f"{name:>20}")
    assert repr(task) == repr(name) and repr((task,)) == repr((name,))
    assert json.dumps({task: [task]}) == json.dumps({name: [name]})
    assert yaml.safe_dump({task: [task]}) == yaml.safe_dump({name: [name]})
    out = io.StringIO()
    csv.writer(out).writerow([task])
    assert out.getvalue() == f"{name}\r\n"
    assert task == name and hash(task) == hash(name) and {name: 1}[task] == 1


def test_the_normaliser_gives_members():
    for raw in ("Classification", "Multi-label Classification", "instance_detection", "report"):
        assert type(normalise_task_type(raw)) is TaskType
    for task in TaskType:
        assert normalise_task_type(task.value) is task
        assert normalise_task_type(task.value.replace("_", "-").upper()) is task


def _task_enums(node) -> list[list]:
    """Every ``enum`` in the schema that names a task type."""
    if isinstance(node, dict):
        found = [node["enum"]] if set(node.get("enum", ())) & set(NAMES) else []
        return found + [e for value in node.values() for e in _task_enums(value)]
    if isinstance(node, list):
        return [e for value in node for e in _task_enums(value)]
    return []


def test_the_schema_lists_every_task_type():
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    enums = _task_enums(schema)
    assert enums  # data.task_types at least
    assert all(enum == NAMES for enum in enums)


def _readme_row(key: str) -> list[str]:
    """The cells of the config/README.md table row of ``key``."""
    text = (REPO / "config" / "README.md").read_text()
    (row,) = re.findall(rf"^\| `{re.escape(key)}` \|(.*)\|$", text, flags=re.MULTILINE)
    return [cell.strip() for cell in row.split(" | ")]


def test_the_config_readme_lists_every_task_type():
    listed = re.search(r"task types: `([^`]*)`", _readme_row("data.task_types")[1])[1]
    assert listed.split(", ") == NAMES
    # max_new_tokens: each family's budget for every task type (PaliGemma's column, MedGemma's)
    budgets = [re.search(r"`([^`]*)`", cell)[1] for cell in _readme_row("max_new_tokens")[:2]]
    assert [yaml.safe_load(budget) for budget in budgets] == [
        paligemma.DEFAULT_MAX_NEW_TOKENS,
        medgemma.DEFAULT_MAX_NEW_TOKENS,
    ]


@pytest.mark.parametrize(
    ("registry", "keys"),
    [
        ("headline metric (metrics.tables.HEADLINES)", set(tables.HEADLINES)),
        (
            "selection value (metrics.selection.POOLED_METRIC, NUMERIC)",
            set(selection.POOLED_METRIC) | set(selection.NUMERIC),
        ),
        (
            "default-profile metric (metrics.profiles.default.METRICS, reports apart)",
            set(default.METRICS) | {TaskType.REPORT_GENERATION},
        ),
        ("plot title (plots.style.TASK_TITLES)", set(TASK_TITLES)),
        ("PaliGemma token budget", set(paligemma.DEFAULT_MAX_NEW_TOKENS)),
        ("MedGemma token budget", set(medgemma.DEFAULT_MAX_NEW_TOKENS)),
    ],
)
def test_every_registry_keyed_by_task_type_covers_every_member(registry, keys):
    assert keys == set(TaskType), registry
