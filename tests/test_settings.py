"""One settings vocabulary: the shared keys, their checks, and config/README.md's tables."""

import re

import pytest
import yaml

from medvlm.models.medgemma import settings as medgemma
from medvlm.models.paligemma import settings as paligemma
from medvlm.settings import (
    SettingError,
    SharedDecodeSettings,
    SharedTrainSettings,
    from_mapping,
)
from tests.support.snakemake_runner import REPO

FAMILIES = {"PaliGemma": paligemma, "MedGemma": medgemma}


def names(cls) -> set[str]:
    return set(cls.model_fields)


def own(module, kind: str) -> set[str]:
    shared = SharedTrainSettings if kind == "train" else SharedDecodeSettings
    cls = module.TrainSettings if kind == "train" else module.DecodeSettings
    assert issubclass(cls, shared)
    return names(cls) - names(shared)


def test_only_optimizer_is_a_family_key_with_the_same_name_in_both():
    # A key both families have is a shared key, defined once, unless its values are the
    # framework's own (optimizer names differ between optax and transformers).
    assert own(paligemma, "train") & own(medgemma, "train") == {"optimizer"}
    assert not own(paligemma, "decode") & own(medgemma, "decode")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"steps": "ten"}, "train.steps: expected a whole number, got 'ten' (str)"),
        ({"steps": 2.5}, "train.steps: expected a whole number, got 2.5 (float)"),
        ({"steps": True}, "train.steps: expected a whole number, got True (bool)"),
        ({"learning_rate": "3e-4"}, "train.learning_rate: expected a number, got '3e-4'"),
        ({"val_examples": "all"}, "train.val_examples: expected a whole number or null"),
        ({"activation_checkpointing": "yes"}, "expected true or false, got 'yes'"),
        ({"lora_targets": 3}, "train.lora_targets: expected a string, got 3 (int)"),
        ({"warmup_fraction": 1.0}, "train.warmup_fraction: must be in [0, 1)"),
        ({"max_grad_norm": -1}, "train.max_grad_norm: must not be negative (0 = off)"),
        ({"learning_rat": 0.1}, "train.learning_rat: unknown key; did you mean 'learning_rate'?"),
    ],
)
def test_a_wrong_value_names_the_key_and_what_is_allowed(values, message):
    with pytest.raises(SettingError) as caught:
        from_mapping(paligemma.TrainSettings, values, "train")
    assert message in str(caught.value)


def test_a_yaml_number_without_a_dot_gets_a_hint():
    with pytest.raises(SettingError, match="write 3.0e-4"):
        from_mapping(medgemma.TrainSettings, {"learning_rate": "3e-4"}, "train")
    with pytest.raises(SettingError, match=r"dot in its mantissa as text: write -5\.0e\+2$"):
        from_mapping(medgemma.TrainSettings, {"learning_rate": "-5E+2"}, "train")
    # a quoted number is text for another reason: the hint says which
    with pytest.raises(SettingError, match=r"'1' \(str\); a number in quotes is text") as quoted:
        from_mapping(medgemma.TrainSettings, {"epochs": "1"}, "train")
    assert "mantissa" not in str(quoted.value)


def test_values_are_conformed_to_their_annotation():
    train = from_mapping(medgemma.TrainSettings, {"learning_rate": 1, "lora_targets": ["q"]}, "t")
    assert train.learning_rate == 1.0 and isinstance(train.learning_rate, float)
    assert train.lora_targets == ("q",)
    with pytest.raises(SettingError, match=r"d\.max_new_tokens\.counting: expected a whole"):
        from_mapping(medgemma.DecodeSettings, {"max_new_tokens": {"counting": "9"}}, "d")
    with pytest.raises(SettingError, match=r"^train: expected a mapping of settings, got 5"):
        from_mapping(medgemma.TrainSettings, 5, "train")


def readme_table(heading: str) -> list[list[str]]:
    """The rows of the Markdown table after the line ``heading`` in config/README.md."""
    text = (REPO / "config" / "README.md").read_text()
    lines = text.split(heading + "\n", 1)[1].lstrip("\n").splitlines()
    rows = []
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def table_keys(rows) -> set[str]:
    return {key for row in rows for key in re.findall(r"`(\w+)`", row[0])}


def test_the_readme_tables_list_every_key_with_the_classes_defaults():
    shared = readme_table("Shared training keys (`train:`):")
    assert table_keys(shared) == names(SharedTrainSettings)
    for row in shared:
        key = row[0].strip("`")
        for module, cell in zip(FAMILIES.values(), row[1:3], strict=True):
            default = getattr(module.TrainSettings(), key)
            literal = re.fullmatch(r"`([^`]*)`(?: \(off\))?", cell)
            if literal:  # a default written as a value must be the class's
                listed = list(default) if isinstance(default, tuple) else default
                assert yaml.safe_load(literal[1]) == listed, (key, cell)
    assert table_keys(readme_table("Shared decoding keys (`decode:`):")) == names(
        SharedDecodeSettings
    )
    for family, module in FAMILIES.items():
        keys = table_keys(readme_table(f"{family}'s own training keys:"))
        assert keys == own(module, "train"), family
        for row in readme_table(f"{family}'s own training keys:"):
            defaults = re.findall(r"`([^`]*)`", row[1])
            for key, default in zip(re.findall(r"`(\w+)`", row[0]), defaults, strict=True):
                assert yaml.safe_load(default) == getattr(module.TrainSettings(), key), key
