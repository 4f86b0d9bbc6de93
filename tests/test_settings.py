"""One settings vocabulary: the shared keys and their checks (config/README.md's tables are
generated from them: tests/test_settings_reference.py)."""

import pytest

from medvlm.models.medgemma import settings as medgemma
from medvlm.models.paligemma import settings as paligemma
from medvlm.settings import (
    SettingError,
    SharedDecodeSettings,
    SharedTrainSettings,
    from_mapping,
)


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
