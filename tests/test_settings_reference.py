"""The schema's train/decode definitions, config/README.md's key tables and MedGemma's list of
SFTConfig fields are generated from the settings models: each committed copy must be what
``medvlm settings-reference`` writes, and the schema must check what the models check."""

import jsonschema
import pytest

from medvlm.config import SCHEMA_PATH, ConfigError, load_schema, run_schema, validate_config
from medvlm.models.base import FAMILY_NAMES, run_settings
from medvlm.run_checks import checked_runs
from medvlm.settings_reference import (
    README_PATH,
    SFT_FIELDS_PATH,
    readme_blocks,
    readme_text,
    schema_text,
    sft_fields_source,
)
from tests.support.snakemake_runner import tiny_runs_config

STALE = "stale: rerun medvlm settings-reference"


def test_the_schema_s_settings_definitions_are_generated():
    assert schema_text(SCHEMA_PATH.read_text("utf-8")) == SCHEMA_PATH.read_text("utf-8"), STALE


def test_the_readme_key_tables_are_generated():
    text = README_PATH.read_text("utf-8")
    assert readme_text(text) == text, STALE


def test_the_readme_tables_hold_every_key_once():
    blocks = readme_blocks()
    for family in FAMILY_NAMES:
        for part in ("train", "decode"):
            cls = run_settings(family).model_fields[part].annotation
            listed = blocks[f"settings-{part}-shared"] + blocks[f"settings-{part}-{family}"]
            for name in cls.model_fields:
                assert listed.count(f"| `{name}` |") == 1, (family, part, name)


def test_the_sft_field_list_is_the_installed_trl_s():
    from importlib.metadata import version

    from medvlm.models.medgemma.train import sft_config_fields

    committed = SFT_FIELDS_PATH.read_text("utf-8")
    assert committed == sft_fields_source(sft_config_fields(), version("trl")), STALE


def schema_problems(run: dict) -> list[str]:
    """What the generated schema alone says about ``run`` (no defaults filled, no filter)."""
    validator = jsonschema.Draft202012Validator(run_schema(load_schema()))
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(run)]


@pytest.mark.parametrize(
    ("family", "train", "problem"),
    [
        ("paligemma", {"steps": 3, "seqlen": 64}, None),
        ("medgemma", {"steps": None, "grad_accum": 2, "sft_args": {"adam_beta2": 0.9}}, None),
        ("paligemma", {"grad_accum": 2}, "'grad_accum' was unexpected"),
        ("medgemma", {"seqlen": 64}, "'seqlen' was unexpected"),
        ("paligemma", {"steps": None}, "None is not of type 'integer'"),
        ("medgemma", {"steps": "ten"}, "'ten' is not of type 'integer', 'null'"),
        (
            "medgemma",
            {"mixture": {"by": "dataset", "tempreture": 2}},
            "'tempreture' was unexpected",
        ),
        ("paligemma", {"report_to": [3]}, "3 is not of type 'string'"),
    ],
)
def test_the_schema_checks_each_family_s_train_keys(family, train, problem):
    problems = schema_problems({"family": family, "image_size": 32, "train": train})
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


def test_a_key_inside_train_is_reported_by_the_family_s_model(tmp_path):
    # the schema knows the keys too, but the settings model's message is the exact one
    config = tiny_runs_config(tmp_path)
    config["runs"]["pg"]["train"]["learning_rat"] = 0.1
    validate_config(config)
    with pytest.raises(ConfigError) as caught:
        checked_runs(config)
    assert "config key runs.pg.train.learning_rat: unknown key; did you mean 'learning_rate'?" in (
        str(caught.value)
    )
    config["runs"]["pg"]["train"] = "fast"  # not a mapping at all: the schema says so
    with pytest.raises(ConfigError, match="runs.pg.train: 'fast' is not of type 'object'"):
        validate_config(config)
