"""Loss, trainable selection, schedule, FSDP rule, and two devices giving one device's loss."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from medvlm.models.paligemma.loss import per_example_loss
from medvlm.models.paligemma.optim import schedule, split_trainable
from medvlm.models.paligemma.settings import TrainSettings
from medvlm.models.paligemma.sharding import fsdp_spec


def test_masked_cross_entropy_by_hand():
    # Two classes, logits (0, ln 3): p = (1/4, 3/4). Example 0 targets [1, 0] with mask [1, 1]:
    # (-ln 3/4 - ln 1/4) / 2. Example 1 masks everything: 0 / max(0, 1) = 0.
    logits = np.array([[[0.0, math.log(3)]] * 2] * 2, np.float32)
    targets = np.array([[1, 0], [1, 0]])
    mask = np.array([[1, 1], [0, 0]])
    expected = [(-math.log(0.75) - math.log(0.25)) / 2, 0.0]
    np.testing.assert_allclose(per_example_loss(logits, targets, mask), expected, rtol=1e-6)


def test_attention_preset_selects_the_three_einsums():
    names = {
        "llm/layers/attn/q_einsum/w": 1,
        "llm/layers/attn/kv_einsum/w": 2,
        "llm/layers/attn/attn_vec_einsum/w": 3,
        "llm/layers/mlp/linear": 4,
        "img/head/bias": 5,
    }
    trainable, frozen = split_trainable(names, TrainSettings().trainable_regex)
    assert set(trainable) == {n for n in names if "/attn/" in n}
    assert set(frozen) == {"llm/layers/mlp/linear", "img/head/bias"}
    assert set(split_trainable(names, TrainSettings(trainable="llm").trainable_regex)[0]) == {
        n for n in names if n.startswith("llm/")
    }
    with pytest.raises(ValueError, match="matches no parameter"):
        split_trainable(names, "nothing/.*")
    with pytest.raises(ValueError, match="optimizer: 'lion' is not one of 'sgd', 'adam', 'adamw'"):
        TrainSettings(optimizer="lion")


def test_warmup_then_cosine():
    lr = schedule(TrainSettings(steps=100, learning_rate=0.5, warmup_fraction=0.1))
    assert float(lr(0)) == 0.0 and float(lr(5)) == pytest.approx(0.25)  # linear to step 10
    assert float(lr(10)) == pytest.approx(0.5)
    # cosine over the remaining 90 steps: halfway (step 55) is half the peak
    assert float(lr(55)) == pytest.approx(0.25, rel=1e-5) and float(lr(100)) == 0.0


def test_fsdp_rule():
    # 8 MiB float32 (2 × 1M) over 2 devices: split along the largest divisible dimension.
    assert fsdp_spec((2, 1_048_576), 8 * 2**20, 2, 4 * 2**20) == P(None, "data")
    assert fsdp_spec((3, 5), 8 * 2**20, 2, 4 * 2**20) == P()  # nothing divisible: replicated
    assert fsdp_spec((1024, 1024), 2**20, 2, 4 * 2**20) == P()  # small: replicated
    assert fsdp_spec((1024, 1024), 8 * 2**20, 1, 4 * 2**20) == P()


TWO_DEVICES = """
import jax, numpy as np
from medvlm.models.paligemma.config import tiny
from medvlm.models.paligemma.model import PaliGemma
from medvlm.models.paligemma.params import init_params
from medvlm.models.paligemma.settings import TrainSettings
from medvlm.models.paligemma.sharding import data_mesh
from medvlm.models.paligemma.train import Trainer
assert len(jax.devices()) == 2
config = tiny(vocab_size=48, image_size=16, width=16, depth=2, patch=8)
params = jax.device_get(init_params(config))
rng = np.random.default_rng(0)
batch = {
    "images": rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8),
    "tokens": rng.integers(3, 48, (4, 10)).astype(np.int32),
    "mask_ar": np.array([[0] * 4 + [1] * 6] * 4, np.int32),
    "mask_loss": np.array([[0] * 4 + [1] * 6] * 4, np.int32),
    "mask_input": np.ones((4, 10), bool),
    "weights": np.ones(4, np.float32),
}
settings = TrainSettings(batch_size=4, optimizer="adam", learning_rate=0.01, trainable="full",
                         fsdp_min_mib=0.0, frozen_dtype="float32")
losses = {}
for devices in (jax.devices()[:1], jax.devices()):
    trainer = Trainer(PaliGemma(config), params, settings, data_mesh(devices))
    trainable, opt = trainer.init_state()
    curve = []
    for _ in range(3):
        trainable, opt, loss, _ = trainer.step(trainable, opt, batch)
        curve.append(float(loss))
    sharded = [x for x in jax.tree.leaves(trainable) if len(x.sharding.device_set) == 2
               and not x.sharding.is_fully_replicated]
    losses[len(devices)] = (curve, len(sharded))
print("RESULT", losses)
np.testing.assert_allclose(losses[1][0], losses[2][0], rtol=1e-5)
assert losses[2][1] > 0 and losses[1][1] == 0
"""


def test_two_host_devices_give_the_one_device_loss():
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2"
    env = {**os.environ, "XLA_FLAGS": flags.strip()}
    done = subprocess.run(
        [sys.executable, "-c", TWO_DEVICES], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "RESULT" in done.stdout
