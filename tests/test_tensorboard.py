"""Live curves: both families write TensorBoard event files while they train; read back here with
TensorBoard's own reader (tags, steps, values against train_log.csv), and a restart that hides
what a killed run wrote past its resume point."""

import csv

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from medvlm.models.base import get_family, run_settings
from medvlm.models.curves import Curves
from medvlm.settings import SettingError
from tests.support.medgemma_data import colour_split, demo_texts
from tests.test_paligemma_family import QUESTION, SIZE, make_run, make_split

TRAIN_TAGS = ("train/loss", "train/learning_rate", "train/grad_norm", "train/examples_per_s")
EVAL_TAGS = ("eval/loss", "eval/score", "eval/score/classification")


def read_curves(log_dir) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {
        tag: [(event.step, event.value) for event in events.Scalars(tag)]
        for tag in events.Tags()["scalars"]
    }


def read_log(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("family", ["paligemma", "medgemma"])
@pytest.mark.parametrize(
    ("train", "message"),
    [
        (
            {"report_to": ["wandb"]},
            r"run\.train\.report_to\[0\]: 'wandb' is not one of 'tensorboard'",
        ),
        ({"report_to": "tensorboard"}, r"run\.train\.report_to: expected a list of strings"),
        ({"max_loss_spikes": -1}, r"run\.train\.max_loss_spikes: must not be negative"),
    ],
)
def test_bad_curve_and_guard_settings_name_their_key(family, train, message):
    run = {"family": family, "checkpoint": "x", "image_size": 16, "train": train}
    with pytest.raises(SettingError, match=message):
        run_settings(family).from_run(run)
    off = run_settings(family).from_run(
        {**run, "train": {"report_to": [], "max_loss_spikes": None}}
    )
    assert off.train.report_to == () and off.train.max_loss_spikes is None


def test_a_restart_hides_what_the_killed_run_wrote_after_it(tmp_path):
    first = Curves(tmp_path, 0)
    for step in (1, 2, 3, 4):
        first.add(step, {"train/loss": float(step)})
    first.close()
    resumed = Curves(tmp_path, 2)  # resumed from the state of step 2: steps 3, 4 again
    for step in (3, 4, 5):
        resumed.add(step, {"train/loss": 10.0 * step})
    resumed.close()
    assert read_curves(tmp_path)["train/loss"] == [(1, 1), (2, 2), (3, 30), (4, 40), (5, 50)]
    fresh = Curves(tmp_path, 0)  # another training: the old files go
    fresh.add(1, {"train/loss": 7.0})
    fresh.close()
    assert read_curves(tmp_path)["train/loss"] == [(1, 7)]


def test_paligemma_writes_its_curves_while_training(tmp_path):
    train, val = make_split(tmp_path, "train", 24, 0), make_split(tmp_path, "val", 8, 1)
    family = get_family("paligemma")
    texts = [QUESTION + " Answer with the option letter.", "A", "B"] * 5
    family.build_demo_model(tmp_path / "demo", texts, {"image_size": SIZE, "patch": 8, "width": 16})
    run = make_run(tmp_path / "demo", steps=6, val_every=3, log_every=2, save_every=6)
    family.train(run, train, val, tmp_path / "model", tmp_path / "resume", tmp_path / "tb")
    curves = read_curves(tmp_path / "tb")
    assert set(curves) == {*TRAIN_TAGS, *EVAL_TAGS}
    for tag in TRAIN_TAGS:
        assert [step for step, _ in curves[tag]] == [2, 3, 4, 6], tag
    for tag in EVAL_TAGS:
        assert [step for step, _ in curves[tag]] == [3, 6], tag
    rows = read_log(tmp_path / "model" / "train_log.csv")
    assert [value for _, value in curves["train/loss"]] == pytest.approx(
        [float(row["loss"]) for row in rows], abs=1e-5
    )
    evaluated = [row for row in rows if row["val_loss"]]
    assert [value for _, value in curves["eval/score"]] == pytest.approx(
        [float(row["val_score"]) for row in evaluated], abs=1e-5
    )
    assert all(value > 0 for _, value in curves["train/grad_norm"])


def test_medgemma_writes_its_curves_through_transformers(tmp_path):
    from medvlm.models.medgemma.demo_model import build_demo_model
    from medvlm.models.medgemma.train import train

    train_data = colour_split(tmp_path / "data", "train", 24)
    val_data = colour_split(tmp_path / "data", "val", 6, seed=1)
    build_demo_model(tmp_path / "demo", demo_texts(train_data, val_data), {})
    settings = {"steps": 7, "batch_size": 4, "grad_accum": 1, "learning_rate": 5e-3}
    settings |= {"activation_checkpointing": False, "val_every": 3, "log_every": 3}
    run = {"family": "medgemma", "checkpoint": str(tmp_path / "demo"), "seed": 0}
    run["train"] = {**settings, "save_every": 7, "val_examples": 6}
    train(run, train_data, val_data, tmp_path / "model", tmp_path / "resume", tmp_path / "tb")
    curves = read_curves(tmp_path / "tb")
    assert {*TRAIN_TAGS, *EVAL_TAGS} <= set(curves)
    for tag in TRAIN_TAGS:
        assert [step for step, _ in curves[tag]] == [3, 6], tag
    for tag in EVAL_TAGS:  # every val_every updates and after the last
        assert sorted({step for step, _ in curves[tag]}) == [3, 6, 7], tag
    rows = read_log(tmp_path / "model" / "train_log.csv")
    logged = {int(row["step"]): float(row["loss"]) for row in rows if row["loss"]}
    assert dict(curves["train/loss"]) == pytest.approx(logged, abs=1e-5)
