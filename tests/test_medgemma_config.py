"""MedGemmaRun.from_run: the recipe's defaults, overrides, and errors naming the bad key."""

import pytest

from medvlm.models.medgemma.settings import DEFAULT_MAX_NEW_TOKENS, MedGemmaRun
from medvlm.records import TaskType


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
