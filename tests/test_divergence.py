"""The divergence guard: non-finite values and loss spikes counted by hand, and a learning rate of
1e4 that stops each family with a message naming the step and the value, nothing non-finite
written and the weights kept before it intact."""

import json
import math
import re

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from safetensors.numpy import load_file

from medvlm.models.base import get_family
from medvlm.models.divergence import SPIKE_FACTOR, SPIKE_WINDOW, Diverged, DivergenceGuard
from medvlm.models.medgemma.checkpoints import checkpoint_steps
from medvlm.models.paligemma.checkpoint import read_npz
from medvlm.models.paligemma.resume import STATE_DIR, saved_steps
from tests.support.medgemma_data import colour_split, demo_texts
from tests.test_paligemma_family import QUESTION, SIZE, make_run, make_split

STOPPED = re.compile(
    r"training diverged at step (\d+): (loss|gradient norm|validation loss) (\S+) is not finite"
)


def test_a_non_finite_loss_or_gradient_norm_stops_at_once(caplog):
    guard = DivergenceGuard(max_spikes=None)
    guard.check(1, 2.0, 1.0)
    with pytest.raises(Diverged, match=r"at step 2: loss nan is not finite"):
        guard.check(2, math.nan, 1.0)
    with pytest.raises(Diverged, match=r"at step 3: gradient norm inf is not finite"):
        guard.check(3, 2.0, math.inf)
    with pytest.raises(Diverged, match=r"at step 4: the updated weights are not finite"):
        guard.check_weights(4, False)
    assert "training diverged at step 2: loss nan" in caplog.text  # the job's log says why


def test_spikes_count_against_the_median_of_the_window_and_resume():
    assert SPIKE_FACTOR == 10 and SPIKE_WINDOW == 100
    guard = DivergenceGuard(max_spikes=2)
    for step in range(1, 101):
        guard.check(step, 1.0)
    guard.check(101, 10.0)  # 10 × the median 1.0 is not above it
    guard.check(102, 10.5)  # the window: 98 ones, 10, 10.5; median 1.0
    guard.check(103, 11.0)
    assert guard.spikes == 2
    resumed = DivergenceGuard(2, **json.loads(json.dumps(guard.state())))
    with pytest.raises(Diverged) as stop:
        resumed.check(104, 12.0)
    assert str(stop.value) == (
        "training diverged at step 104: loss 12 is above 10 × 1, the median of the last 100 "
        "updates' losses: loss spike 3, more than train.max_loss_spikes (2)"
    )
    unlimited = DivergenceGuard(max_spikes=None, **guard.state())
    for step in range(104, 110):
        unlimited.check(step, 1e6)
    assert unlimited.spikes == 8


def test_a_falling_or_noisy_loss_makes_no_spike():
    guard = DivergenceGuard(max_spikes=0)
    rng = np.random.default_rng(0)
    for step in range(1, 2001):  # falls from 8 to 0.05, each update ±3× around the trend
        trend = 8 * math.exp(-step / 200) + 0.05
        guard.check(step, trend * float(np.exp(rng.uniform(-1.1, 1.1))))
    assert guard.spikes == 0


def stopped_at(error: Diverged) -> int:
    match = STOPPED.fullmatch(str(error))
    assert match, str(error)
    assert not math.isfinite(float(match[3]))
    return int(match[1])


def all_finite(arrays) -> bool:
    return all(np.isfinite(np.asarray(a, np.float32)).all() for a in arrays)


def test_paligemma_stops_and_writes_nothing_non_finite(tmp_path, caplog):
    train, val = make_split(tmp_path, "train", 24, 0), make_split(tmp_path, "val", 8, 1)
    family = get_family("paligemma")
    texts = [QUESTION + " Answer with the option letter.", "A", "B"] * 5
    family.build_demo_model(tmp_path / "demo", texts, {"image_size": SIZE, "patch": 8, "width": 16})
    # plain SGD, no clipping, warm-up to 1e4: the first update (learning rate 0) leaves the
    # weights as they are and is kept; the weights then blow up within a few updates
    run = make_run(
        tmp_path / "demo",
        steps=20,
        optimizer="sgd",
        learning_rate=1e4,
        warmup_fraction=0.5,
        max_grad_norm=0,
        log_every=1,
        val_every=1,
        save_every=1,
    )
    resume = tmp_path / "resume"
    with pytest.raises(Diverged) as stop:
        family.train(run, train, val, tmp_path / "model", resume, tmp_path / "curves")
    step = stopped_at(stop.value)
    assert step > 1 and str(stop.value) in caplog.text
    assert not (tmp_path / "model").exists()
    kept, initial = read_npz(resume / "best.npz"), read_npz(tmp_path / "demo" / "params.npz")
    assert kept.keys() == initial.keys()
    for name, value in kept.items():  # the weights of step 1: the demo's own
        assert np.array_equal(value.astype(np.float32), initial[name].astype(np.float32)), name
    assert saved_steps(resume) == [step - 1]  # the last finite state, nothing after it
    state = ocp.StandardCheckpointer().restore(resume / STATE_DIR / str(step - 1) / "state")
    leaves = [np.asarray(leaf) for leaf in jax.tree.leaves(state)]
    assert all_finite(leaf for leaf in leaves if np.issubdtype(leaf.dtype, np.floating))


def test_medgemma_stops_and_writes_nothing_non_finite(tmp_path, caplog):
    from medvlm.models.medgemma.demo_model import build_demo_model
    from medvlm.models.medgemma.train import BEST, BEST_INFO, train

    train_data = colour_split(tmp_path / "data", "train", 48)
    val_data = colour_split(tmp_path / "data", "val", 12, seed=1)
    build_demo_model(tmp_path / "demo", demo_texts(train_data, val_data), {})
    run = {
        "family": "medgemma",
        "checkpoint": str(tmp_path / "demo"),
        "seed": 0,
        "train": {
            "steps": 20,
            "batch_size": 4,
            "grad_accum": 1,
            "learning_rate": 1e4,
            "warmup_fraction": 0.5,
            "max_grad_norm": 0,
            "activation_checkpointing": False,
            "val_every": 1,
            "save_every": 1,
            "log_every": 1,
            "val_examples": 3,
        },
    }
    resume = tmp_path / "resume"
    with pytest.raises(Diverged) as stop:
        train(run, train_data, val_data, tmp_path / "model", resume, tmp_path / "curves")
    step = stopped_at(stop.value)
    assert step > 1 and str(stop.value) in caplog.text
    assert not (tmp_path / "model" / BEST).exists()  # the live train_log.csv alone is there
    kept = json.loads((resume / BEST / BEST_INFO).read_text())
    assert kept["step"] < step and math.isfinite(kept["loss"])
    checkpoints = checkpoint_steps(resume)
    assert checkpoints and max(checkpoints) < step
    adapters = [load_file(resume / BEST / "adapter_model.safetensors")]
    adapters += [load_file(path / "adapter_model.safetensors") for path in checkpoints.values()]
    assert all(all_finite(adapter.values()) for adapter in adapters)
