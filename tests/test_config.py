"""Config validation: defaults come from the schema, a wrong value names its key."""

import re
from pathlib import Path

import pytest
import yaml

from medvlm.config import ConfigError, load_config, validate_config

REPO = Path(__file__).resolve().parents[1]


def test_demo_config_is_valid_and_gets_defaults():
    config = load_config(REPO / "config" / "config.yaml")
    assert config["data"]["synthetic"]["fault_rate"] == 0.03
    assert config["split"]["test_fraction"] == 0.1  # not in the file: the schema's default
    assert config["data"]["task_types"] == []


def test_minimal_config_is_filled_in():
    config = validate_config({"data": {"root": "/flare"}})
    assert config["results"] == "results"
    assert config["data"]["split_folders"] == ["training", "validation-public"]
    assert config["shards"] == {"image_sizes": [224], "threads": 2, "max_pixels": None}
    assert config["runs"] == {}


def test_defaults_are_not_shared_between_configs():
    first = validate_config({"data": {"root": "a"}})
    first["data"]["datasets"].append("BUSI")
    assert validate_config({"data": {"root": "b"}})["data"]["datasets"] == []


@pytest.mark.parametrize(
    "config, key, words",
    [
        ({"data": {"root": "x"}, "split": {"val_fraction": 1.5}}, "split.val_fraction", "maximum"),
        ({"data": {"root": "x", "datasets": "BUSI"}}, "data.datasets", "not of type 'array'"),
        (
            {"data": {"root": "x", "task_types": ["segmentation"]}},
            "data.task_types[0]",
            "not one of",
        ),
        (
            {"data": {"root": "x"}, "split": {"test_source": "hidden"}},
            "split.test_source",
            "not one",
        ),
        ({"data": {"root": "x"}, "shards": {"threads": 0}}, "shards.threads", "minimum"),
        ({"data": {}}, "data", "'root' is a required property"),
        (
            {"data": {"root": "x"}, "runs": {"r1": {"family": "llava", "image_size": 64}}},
            "runs.r1.family",
            "not one",
        ),
    ],
)
def test_wrong_value_names_the_key(config, key, words):
    with pytest.raises(ConfigError, match=re.escape(f"config key {key}: ")) as error:
        validate_config(config)
    assert words in str(error.value)


def test_load_config_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"data": {"root": "x"}, "shards": {"image_sizes": [4]}}))
    with pytest.raises(ConfigError, match=r"bad.yaml: config key shards.image_sizes\[0\]"):
        load_config(path)


@pytest.mark.parametrize("name", ["..", "../escape", "a/b", ".hidden", "-rf", "x" * 101, "a b"])
@pytest.mark.parametrize("where", ["external", "data.datasets", "runs"])
def test_names_that_become_paths_stay_one_plain_component(name, where):
    from medvlm.runs import expand_runs

    config = {"data": {"root": "x"}}
    run = {"family": "paligemma", "image_size": 64}
    if where == "external":
        config["external"] = {name: {"predictions": "p.jsonl"}}
    elif where == "data.datasets":
        config["data"]["datasets"] = [name]
    else:
        config["runs"] = {name: run}
    with pytest.raises(ValueError, match=rf"{where.rstrip('s')}.*{re.escape(repr(name))}"):
        validate_config(config)
        expand_runs(config["runs"], config["sweeps"])


def test_usual_names_pass():
    from medvlm.names import check_name

    for name in ("BUS-UCLM-det", "IU_XRay", "study_batch_size8_learning_rate5e-05", "v1.2+lora"):
        assert check_name(name, "x") == name
