"""Runs from the config: explicit runs, sweep grids and point lists, the family's slice."""

import pytest

from medvlm.runs import expand_runs, family_run, training_slice

BASE = {
    "family": "paligemma",
    "checkpoint": "/ckpt/pg.npz",
    "image_size": 224,
    "train": {"steps": 9},
}


def test_grid_expands_to_the_product_with_readable_names():
    runs = expand_runs(
        {"zero": {"family": "medgemma", "image_size": 32, "zero_shot": True}},
        {
            "study": {
                "base": BASE,
                "grid": {"train.batch_size": [8, 16], "train.learning_rate": [5e-05, 0.0002]},
            }
        },
    )
    assert list(runs) == [
        "zero",
        "study_batch_size8_learning_rate5e-05",
        "study_batch_size8_learning_rate0.0002",
        "study_batch_size16_learning_rate5e-05",
        "study_batch_size16_learning_rate0.0002",
    ]
    run = runs["study_batch_size16_learning_rate0.0002"]
    assert run["train"] == {"steps": 9, "batch_size": 16, "learning_rate": 0.0002}
    assert BASE["train"] == {"steps": 9}  # the base is not modified


def test_points_allow_designs_that_are_not_a_grid():
    points = [
        {"name": "model1", "train.batch_size": 8, "train.learning_rate": 5e-05},
        {"train.batch_size": 16, "train.learning_rate": 0.0001},
    ]
    runs = expand_runs({}, {"pg": {"base": BASE, "points": points}})
    assert list(runs) == ["model1", "pg_batch_size16_learning_rate0.0001"]
    assert runs["model1"]["train"]["learning_rate"] == 5e-05


@pytest.mark.parametrize(
    "sweeps, message",
    [
        ({"s": {"base": BASE}}, "exactly one of 'grid' or 'points'"),
        ({"s": {"base": BASE, "grid": {"train.steps": []}}}, "non-empty list"),
        ({"s": {"base": BASE, "grid": {"image_size.x": [1]}}}, "not a mapping"),
        ({"s": {"base": BASE, "points": [{"name": "a"}]}}, "already taken"),
        ({"s": {"base": BASE, "points": [{"name": "a b"}]}}, "letters, digits"),
    ],
)
def test_bad_sweeps_name_the_sweep(sweeps, message):
    with pytest.raises(ValueError, match=message):
        expand_runs({"a": BASE}, sweeps)


def test_family_run_resolves_the_demo_checkpoint_and_drops_workflow_keys():
    run = {"family": "medgemma", "checkpoint": "demo", "image_size": 32, "zero_shot": True}
    assert family_run(run, "results/demo_models/medgemma") == {
        "family": "medgemma",
        "checkpoint": "results/demo_models/medgemma",
        "image_size": 32,
    }
    assert family_run(BASE, "unused")["checkpoint"] == "/ckpt/pg.npz"


def test_training_does_not_depend_on_decoding_settings():
    assert training_slice({**BASE, "decode": {"batch_size": 4}}) == BASE
