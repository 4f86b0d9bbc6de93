"""MedGemmaRun.from_run: the recipe's defaults, overrides, and errors naming the bad key."""

import pytest

from medvlm.config import ConfigError, validate_config
from medvlm.models.medgemma.settings import DEFAULT_MAX_NEW_TOKENS, SFT_MAPPED, MedGemmaRun
from medvlm.models.medgemma.sft_fields import TRL_VERSION
from medvlm.models.medgemma.train import sft_arguments, sft_config
from medvlm.records import TaskType
from medvlm.run_checks import checked_runs
from tests.support.snakemake_runner import tiny_runs_config


def test_defaults_are_the_official_lora_recipe():
    cfg = MedGemmaRun.from_run({"family": "medgemma", "checkpoint": "/models/medgemma-4b-it"})
    train = cfg.train
    assert (train.lora_rank, train.lora_alpha, train.lora_dropout) == (16, 16, 0.05)
    assert train.lora_targets == "all-linear"
    assert (train.learning_rate, train.warmup_fraction, train.max_grad_norm) == (2e-4, 0.03, 0.3)
    assert train.attn_implementation == "eager" and train.steps is None
    assert cfg.decode.max_new_tokens == DEFAULT_MAX_NEW_TOKENS
    assert str(cfg.checkpoint) == "/models/medgemma-4b-it"


def test_overrides_and_max_new_tokens_merge_over_the_defaults():
    cfg = MedGemmaRun.from_run(
        {
            "family": "medgemma",
            "checkpoint": "ckpt",
            "seed": 3,
            "train": {"lora_rank": 8, "lora_targets": ["q_proj", "v_proj"], "steps": 5},
            "decode": {"max_new_tokens": {"classification": 4}, "weights": "final"},
        }
    )
    assert cfg.seed == 3 and cfg.train.lora_rank == 8 and cfg.train.steps == 5
    assert cfg.train.lora_targets == ("q_proj", "v_proj")
    assert cfg.decode.max_new_tokens[TaskType.CLASSIFICATION] == 4
    assert (
        cfg.decode.max_new_tokens[TaskType.REPORT_GENERATION]
        == DEFAULT_MAX_NEW_TOKENS[TaskType.REPORT_GENERATION]
    )
    assert cfg.decode.weights == "final"


@pytest.mark.parametrize(
    ("run", "message"),
    [
        ({"checkpoint": "c", "train": {"lr": 1e-4}}, "run.train.lr: unknown key"),
        ({"checkpoint": "c", "decode": {"beams": 2}}, "run.decode.beams: unknown key"),
        ({"checkpoint": "c", "optimiser": "sgd"}, "run.optimiser: unknown key"),
        ({"train": {}}, "run.checkpoint: missing"),
        ({"checkpoint": "c", "family": "paligemma"}, "run.family"),
        ({"checkpoint": "c", "decode": {"max_new_tokens": {"vqa": 3}}}, "max_new_tokens.vqa"),
        ({"checkpoint": "c", "decode": {"weights": "last"}}, "run.decode.weights"),
        ({"checkpoint": "c", "train": {"lora_dropout": 1.5}}, "run.train.lora_dropout"),
        ({"checkpoint": "c", "train": {"batch_size": 0}}, "run.train.batch_size"),
        ({"checkpoint": "c", "train": {"lora_rank": 0}}, "run.train.lora_rank: must be at least"),
        ({"checkpoint": "c", "train": {"steps": "ten"}}, "run.train.steps: expected a whole"),
        ({"checkpoint": "c", "train": {"lora_targets": "(q"}}, "run.train.lora_targets"),
    ],
)
def test_bad_runs_are_rejected_naming_the_key(run, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        MedGemmaRun.from_run(run)


def test_sft_args_reach_the_sft_config(tmp_path):
    run = MedGemmaRun.from_run({"checkpoint": "c", "train": {"sft_args": {"adam_beta2": 0.95}}})
    assert sft_config(run, tmp_path).adam_beta2 == 0.95
    assert sft_config(MedGemmaRun.from_run({"checkpoint": "c"}), tmp_path).adam_beta2 == 0.999


def test_the_mapped_sft_fields_are_the_ones_sft_config_sets(tmp_path):
    assert set(sft_arguments(MedGemmaRun.from_run({"checkpoint": "c"}), tmp_path)) == set(
        SFT_MAPPED
    )


@pytest.mark.parametrize(
    ("sft_args", "message"),
    [
        (
            {"weight_decy": 1},
            "runs.mg.train.sft_args.weight_decy: not a field of TRL's SFTConfig (trl "
            f"{TRL_VERSION}); did you mean 'weight_decay'?",
        ),
        (
            {"weight_decay": 0.01},
            "runs.mg.train.sft_args.weight_decay: medvlm sets SFTConfig.weight_decay from "
            "train.weight_decay: set that instead",
        ),
        ({"seed": 3}, "runs.mg.train.sft_args.seed: medvlm sets SFTConfig.seed from the run's"),
    ],
)
def test_a_wrong_sft_arg_stops_the_plan_naming_its_key(tmp_path, sft_args, message):
    config = tiny_runs_config(tmp_path)
    config["runs"]["mg"]["train"]["sft_args"] = sft_args
    validate_config(config)
    with pytest.raises(ConfigError) as caught:
        checked_runs(config)
    assert message in str(caught.value)
