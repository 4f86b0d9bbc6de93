"""Every setting is checked while Snakemake builds the DAG (`snakemake -n`), with no JAX or
torch import, and each error names the config key the bad value comes from."""

import copy
import json
import subprocess
import sys

import pytest
import yaml

from medvlm.config import ConfigError, load_schema, validate_config
from medvlm.models.base import FAMILY_NAMES
from medvlm.run_checks import checked_runs
from medvlm.runs import Origin
from tests.support.snakemake_runner import REPO, run_snakemake, tiny_runs_config

STUDY = {  # a sweep over the demo PaliGemma run: three points
    "base": {"family": "paligemma", "image_size": 32, "train": {"steps": 2}},
    "points": [{"train.steps": 3}, {"train.steps": 4}, {"train.steps": 5}],
}


def run(config, *keys):
    node = config["runs"]
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    return node, keys[-1]


def set_run(*keys, value):
    def change(config):
        node, leaf = run(config, *keys)
        node[leaf] = value

    return change


def set_point(index, key, value, grid=None):
    def change(config):
        study = copy.deepcopy(STUDY)
        if grid is not None:
            study.pop("points")
            study["grid"] = grid
        else:
            study["points"][index][key] = value
        config["sweeps"] = {"study": study}

    return change


def set_base(key, value):
    def change(config):
        study = copy.deepcopy(STUDY)
        study["base"]["train"][key] = value
        config["sweeps"] = {"study": study}

    return change


def set_demo(key, value):
    def change(config):
        config["demo_models"]["paligemma"][key] = value

    return change


# (what is wrong, the change, the dotted key the error must name, words of the problem)
WRONG = [
    ("unknown train key", set_run("pg", "train", "learning_rat", value=0.1),
     "runs.pg.train.learning_rat", "unknown key; did you mean 'learning_rate'?"),
    ("wrong type", set_run("pg", "train", "steps", value="ten"),
     "runs.pg.train.steps", "expected a whole number, got 'ten'"),
    ("negative step count", set_run("mg", "train", "steps", value=-5),
     "runs.mg.train.steps", "must be at least 1"),
    ("unknown task type", set_run("mg", "decode", "max_new_tokens", "vqa", value=3),
     "runs.mg.decode.max_new_tokens.vqa", "'vqa' is not one of 'classification'"),
    ("bad choice", set_run("pg", "decode", "weights", value="last"),
     "runs.pg.decode.weights", "'last' is not one of 'best', 'final'"),
    ("not a mapping", set_run("mg", "train", value="fast"),
     "runs.mg.train", "'fast' is not of type 'object'"),
    ("no nodes", set_run("mg", "train", "nodes", value=0),
     "runs.mg.train.nodes", "must be at least 1"),
    ("batch over the processes", set_run("pg", "train", "processes", value=3),
     "runs.pg.train.batch_size", "must be a multiple of nodes × processes (3)"),
    ("family's own bound", set_run("mg", "train", "lora_rank", value=0),
     "runs.mg.train.lora_rank", "must be at least 1 (MedGemma always trains LoRA)"),
    ("unknown SFTConfig field", set_run("mg", "train", "sft_args", value={"weight_decy": 1}),
     "runs.mg.train.sft_args.weight_decy", "did you mean 'weight_decay'?"),
    ("YAML text for a number", set_run("pg", "train", "learning_rate", value="3e-4"),
     "runs.pg.train.learning_rate", "write 3.0e-4"),
    ("sweep point image size", set_point(2, "image_size", -1),
     "sweeps.study.points[2].image_size", "-1 is less than the minimum of 8"),
    ("sweep point family", set_point(1, "family", "llama"),
     "sweeps.study.points[1].family", "'llama' is not one of ['paligemma', 'medgemma']"),
    ("sweep point key of the other family", set_point(0, "decode.merge_adapter", False),
     "sweeps.study.points[0].decode.merge_adapter", "unknown key"),
    ("sweep grid value", set_point(0, None, None, grid={"train.learning_rate": [0.1, "fast"]}),
     "sweeps.study.grid.train.learning_rate[1]", "expected a number, got 'fast'"),
    ("sweep base key", set_base("lora_rnak", 2),
     "sweeps.study.base.train.lora_rnak", "did you mean 'lora_rank'?"),
    ("missing checkpoint", set_run("pg", "checkpoint", value="/no/such/pg2-3b-224.npz"),
     "runs.pg.checkpoint", "/no/such/pg2-3b-224.npz does not exist"),
    ("image size the demo model does not have", set_run("pg", "image_size", value=48),
     "runs.pg.image_size", "demo model is built for 32 px images"),
    ("demo model key", set_demo("widht", 16),
     "demo_models.paligemma.widht", "did you mean 'width'?"),
]  # fmt: skip


@pytest.mark.workflow
@pytest.mark.parametrize(
    ("change", "key", "words"), [w[1:] for w in WRONG], ids=[w[0] for w in WRONG]
)
def test_a_dry_run_stops_at_a_wrong_setting_naming_its_key(tmp_path, change, key, words):
    config = json.loads(json.dumps(tiny_runs_config(tmp_path)))  # no dict shared by two runs
    change(config)
    result = run_snakemake(tmp_path, config, "-n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"config key {key}" in output and words in output, output[-3000:]
    for raw in ("TypeError", "KeyError", "MissingInputException", "Traceback"):
        assert raw not in output, output[-3000:]


NO_FRAMEWORK = """
import json, sys
out, sys.argv = sys.argv[1], ["snakemake", *sys.argv[2:]]
from snakemake.cli import main
try:
    main()
finally:
    open(out, "w").write(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.workflow
def test_planning_imports_no_framework(tmp_path):
    config = tiny_runs_config(tmp_path)
    config["sweeps"] = {"study": STUDY}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    modules = tmp_path / "modules.json"
    result = subprocess.run(
        [sys.executable, "-c", NO_FRAMEWORK, str(modules), "-n", "--snakefile",
         str(REPO / "Snakefile"), "--directory", str(tmp_path), "--configfile",
         str(tmp_path / "config.yaml")],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "study_steps5" in result.stdout + result.stderr  # the sweep was planned
    imported = set(json.loads(modules.read_text()))
    # the families' settings did check the runs ...
    assert {"medvlm.models.paligemma.settings", "medvlm.models.medgemma.settings"} <= imported
    # ... and no framework came with them
    for framework in ("jax", "flax", "optax", "torch", "transformers", "peft", "trl"):
        assert framework not in imported, framework


def test_origin_names_the_config_key_a_value_comes_from():
    origin = Origin(
        "sweeps.s.base",
        (("train.learning_rate", "sweeps.s.points[2].train.learning_rate"), ("train", "x")),
        "s_run",
    )
    assert origin.key("train.learning_rate") == "sweeps.s.points[2].train.learning_rate"
    assert origin.key("train.steps") == "x.steps"
    assert origin.key("image_size") == "sweeps.s.base.image_size"
    assert origin.key("") == "sweeps.s.base"


def test_checked_runs_fill_defaults_into_sweep_runs(tmp_path):
    config = validate_config({**tiny_runs_config(tmp_path), "sweeps": {"study": STUDY}})
    runs = checked_runs(config)
    assert runs["study_steps3"]["zero_shot"] is False
    assert runs["study_steps3"]["checkpoint"] == "demo"
    broken = copy.deepcopy(config)
    broken["sweeps"]["study"]["base"].pop("image_size")
    with pytest.raises(ConfigError, match=r"sweeps\.study\.base \(in run study_steps3\): "):
        checked_runs(broken)


def test_the_schema_knows_the_families_the_code_has():
    families = load_schema()["$defs"]["run"]["properties"]["family"]["enum"]
    assert tuple(families) == FAMILY_NAMES
