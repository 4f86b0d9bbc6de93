"""Data mixtures (``train.mixture``): the group probabilities, the seeded order both families
read, resume and process slices, the checks at plan and train time, and one tiny training of
each family that logs the examples it drew per group."""

import copy
import csv
import math

import numpy as np
import pytest

from medvlm.config import ConfigError, validate_config
from medvlm.data.mixture import (
    BLOCK,
    GROUP_LOG,
    MixtureOrder,
    group_of,
    group_probabilities,
    mixture_order,
)
from medvlm.models.base import TRAIN_LOG_COLUMNS, get_family
from medvlm.records import TaskType
from medvlm.run_checks import checked_runs
from medvlm.settings import MixtureSettings, SettingError, from_mapping
from tests.support.medgemma_data import (
    colour_split,
    medgemma_demo,
    medgemma_run,
    paligemma_demo,
    paligemma_run,
)
from tests.support.snakemake_runner import tiny_runs_config


def two_groups(big: int = 90, small: int = 10) -> list[str]:
    return ["big"] * big + ["small"] * small


def test_group_probabilities_by_hand():
    sizes = {"big": 90, "small": 10}
    # T = 2: 90^0.5 = 9.4868, 10^0.5 = 3.1623; 9.4868 / 12.6491 = 0.75
    assert group_probabilities(sizes, 2.0, {}) == pytest.approx({"big": 0.75, "small": 0.25})
    # T = 1 without weights: proportional to size, i.e. uniform over records
    assert group_probabilities(sizes, 1.0, {}) == pytest.approx({"big": 0.9, "small": 0.1})
    # T -> inf: uniform over groups
    assert group_probabilities(sizes, math.inf, {}) == pytest.approx({"big": 0.5, "small": 0.5})
    # weights multiply: 0.75 * 1 against 0.25 * 3 is an even split
    assert group_probabilities(sizes, 2.0, {"small": 3}) == pytest.approx(
        {"big": 0.5, "small": 0.5}
    )
    assert group_probabilities(sizes, 2.0, {"small": 0}) == {"big": 1.0, "small": 0.0}


def test_draws_follow_the_probabilities_and_cover_a_group_evenly():
    groups = two_groups()
    order = MixtureOrder(groups, group_probabilities({"big": 90, "small": 10}, 2.0, {}), seed=3)
    draws = 100_000
    positions = order.positions(0, draws)
    drawn = np.array(groups)[positions]
    share = (drawn == "small").mean()
    assert share == pytest.approx(0.25, abs=0.005)  # 0.25 ± 3.6 standard errors
    assert order.counts(draws) == {"big": int((drawn == "big").sum()), "small": int(share * draws)}
    # within a group the records come in shuffled passes: after k draws of the group each of
    # its n records was drawn floor(k / n) or ceil(k / n) times
    small = np.bincount(positions[drawn == "small"] - 90, minlength=10)
    assert small.max() - small.min() <= 1
    big = np.bincount(positions[drawn == "big"], minlength=90)
    assert big.max() - big.min() <= 1
    # a group of weight 0 is never drawn
    none = MixtureOrder(groups, {"big": 1.0, "small": 0.0}, seed=3)
    assert (none.positions(0, 5000) < 90).all()


def test_the_order_is_a_function_of_seed_and_position():
    """A resumed run builds the order afresh and reads on from its step: the same draws as an
    uninterrupted run, across block boundaries and group passes."""
    groups = two_groups(7, 3)
    probabilities = group_probabilities({"big": 7, "small": 3}, 1.5, {})
    whole = MixtureOrder(groups, probabilities, seed=11).positions(0, 3 * BLOCK + 17)
    resumed = MixtureOrder(groups, probabilities, seed=11)
    k = BLOCK + 5  # resume in the middle of the second block
    assert np.array_equal(resumed.positions(k, 3 * BLOCK + 17), whole[k:])
    pieces = [resumed.positions(a, a + 8) for a in range(0, 3 * BLOCK + 16, 8)]
    assert np.array_equal(np.concatenate(pieces), whole[: len(np.concatenate(pieces))])
    other = MixtureOrder(groups, probabilities, seed=12).positions(0, 3 * BLOCK + 17)
    assert not np.array_equal(other, whole)


def test_group_names():
    from medvlm.records import Record

    record = Record("u", "chestdr", "Xray", "training", "f", 0, "multi_label", "x", "m", "q", "a")
    assert group_of(record, "dataset") == "chestdr"
    assert group_of(record, "task_type") == "multi_label"
    assert group_of(record, "dataset_task") == "chestdr/multi_label"


# ---- the checks: settings, plan time, train time ----

BAD_SETTINGS = [
    ({"temperature": 0}, "train.mixture.temperature", "must be positive"),
    ({"temperature": -2}, "train.mixture.temperature", "must be positive"),
    ({"by": "modality"}, "train.mixture.by", "'modality' is not one of 'dataset'"),
    ({"weights": {"chestdr": -1}}, "train.mixture.weights.chestdr", "finite number >= 0"),
    ({"by": "task_type", "weights": {"vqa": 2}}, "train.mixture.weights.vqa", "is not one of"),
    ({"by": "dataset_task", "weights": {"chestdr": 2}}, "train.mixture.weights.chestdr",
     "named <data set>/<task type>"),
    ({"tempreture": 2}, "train.mixture.tempreture", "did you mean 'temperature'?"),
]  # fmt: skip


@pytest.mark.parametrize(("mixture", "key", "words"), BAD_SETTINGS)
def test_a_bad_mixture_setting_names_its_key(mixture, key, words):
    from medvlm.models.paligemma.settings import TrainSettings

    with pytest.raises(SettingError) as caught:
        from_mapping(TrainSettings, {"mixture": mixture}, "train")
    assert caught.value.key == key and words in caught.value.problem


def plan(workdir, mixture: dict, **data) -> dict:
    config = copy.deepcopy(tiny_runs_config(workdir))
    config["data"].update(data)
    config["runs"]["mg"]["train"]["mixture"] = mixture
    return checked_runs(validate_config(config))


def test_the_plan_names_a_weighted_group_without_questions(tmp_path):
    runs = plan(tmp_path, {"by": "dataset", "temperature": 2, "weights": {"chestdr": 3}})
    assert runs["mg"]["train"]["mixture"]["weights"] == {"chestdr": 3}
    plan(tmp_path, {"by": "dataset_task", "weights": {"chromosome/instance_detection": 2}})
    unknown = [
        ({"weights": {"chest_dr": 3}}, {}, "runs.mg.train.mixture.weights.chest_dr"),
        # filtered out of the data by the config
        ({"weights": {"chestdr": 3}}, {"datasets": ["retino"]},
         "runs.mg.train.mixture.weights.chestdr"),
        ({"by": "task_type", "weights": {"counting": 2}}, {"task_types": ["classification"]},
         "runs.mg.train.mixture.weights.counting"),
        # a pair the synthetic tree does not have
        ({"by": "dataset_task", "weights": {"chestdr/counting": 2}}, {},
         "runs.mg.train.mixture.weights.chestdr/counting"),
        ({"temperature": 0}, {}, "runs.mg.train.mixture.temperature"),
    ]  # fmt: skip
    for mixture, data, key in unknown:
        with pytest.raises(ConfigError, match=f"config key {key}") as caught:
            plan(tmp_path, mixture, **data)
        assert "Traceback" not in str(caught.value)


def test_a_real_tree_is_checked_by_its_training_folders(tmp_path):
    root = tmp_path / "tree"
    (root / "training" / "Xray" / "chestdr").mkdir(parents=True)
    config = tiny_runs_config(tmp_path)
    config["data"] = {"root": str(root)}
    config["runs"]["mg"]["train"]["mixture"] = {"weights": {"chestdr": 2}}
    checked_runs(validate_config(copy.deepcopy(config)))
    config["runs"]["mg"]["train"]["mixture"] = {"weights": {"retino": 2}}
    with pytest.raises(ConfigError, match=r"runs\.mg\.train\.mixture\.weights\.retino: no q"):
        checked_runs(validate_config(copy.deepcopy(config)))
    # a tree that is not there yet: only the training split can tell
    config["data"] = {"root": str(tmp_path / "later")}
    checked_runs(validate_config(copy.deepcopy(config)))


def test_train_time_check_names_the_run_key(tmp_path):
    split = colour_split(tmp_path, "train", 6, views=2)
    records = split.loader(1, shuffle=False).records
    mixture = MixtureSettings(weights={"chestdr": 2.0})
    with pytest.raises(SettingError) as caught:
        mixture_order(records, mixture, 0, "runs.mg.train.mixture")
    assert caught.value.key == "runs.mg.train.mixture.weights.chestdr"
    assert "groups: colours, neojaundice" in caught.value.problem
    everything_off = MixtureSettings(weights={"colours": 0.0, "neojaundice": 0.0})
    with pytest.raises(SettingError, match=r"runs\.mg\.train\.mixture\.weights: every group"):
        mixture_order(records, everything_off, 0, "runs.mg.train.mixture")


# ---- PaliGemma: the default order is today's; a tiny training with a mixture ----


@pytest.fixture(scope="module")
def colours(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixture")
    train = colour_split(root / "data", "train", 21, views=3)  # colours 21, neojaundice 3
    val = colour_split(root / "data", "val", 6, seed=1)
    return root, train, val


def test_paligemma_default_order_is_the_epoch_permutation(colours):
    """Without a mixture the batches are today's: epoch e's seeded permutation
    ``default_rng([seed, e])``, cut into whole batches, the last partial one left out."""
    from medvlm.models.paligemma.batches import BatchOrder
    from medvlm.models.paligemma.settings import TrainSettings

    _, train, _ = colours
    loader = train.loader(4, seed=5, shuffle=True, drop_last=True)
    order = BatchOrder.for_training(loader, TrainSettings(batch_size=4), "pg")
    assert order.mixture is None
    uids = [r.uid for r in loader.records]
    expected = []
    for epoch in range(3):  # 24 records: 6 whole batches an epoch
        permutation = np.random.default_rng([5, epoch]).permutation(24)
        expected += [[uids[i] for i in permutation[b * 4 : b * 4 + 4]] for b in range(6)]
    assert [order.uids(step) for step in range(18)] == expected


def read_csv(path):
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return reader.fieldnames, list(reader)


def test_paligemma_trains_on_the_mixture_and_logs_the_groups(colours):
    from medvlm.models.paligemma.batches import BatchOrder
    from medvlm.models.paligemma.settings import PaliGemmaRun

    root, train, val = colours
    demo = paligemma_demo(root / "pg-demo", train, val)
    mixture = {"by": "dataset", "temperature": math.inf}
    run = paligemma_run(demo, val_every=6, select="loss", mixture=mixture)
    out = root / "pg-run"
    get_family("paligemma").train(run, train, val, out, root / "pg-resume")
    columns, rows = read_csv(out / "train_log.csv")
    assert tuple(columns) == TRAIN_LOG_COLUMNS  # the loss plot's reader is unchanged
    columns, groups = read_csv(out / GROUP_LOG)
    assert columns == ["step", "colours", "neojaundice"]
    assert [int(g["step"]) for g in groups] == [int(r["step"]) for r in rows] == [2, 4, 6]
    # what the log says equals what the batches held: the same order, read step by step
    settings = PaliGemmaRun.from_run(run).train
    loader = train.loader(4, seed=0, shuffle=True, drop_last=True)
    order = BatchOrder.for_training(loader, settings, "pg")
    seen = [uid for step in range(6) for uid in order.uids(step)]
    resumed = BatchOrder.for_training(loader, settings, "pg")  # built afresh, as after a kill
    assert [uid for step in range(3, 6) for uid in resumed.uids(step)] == seen[12:]
    neojaundice = sum("views" in uid for uid in seen)
    assert int(groups[-1]["neojaundice"]) == neojaundice
    assert int(groups[-1]["colours"]) == 24 - neojaundice
    # uniform over two groups: 3 of 24 records get about half the draws
    assert 6 <= neojaundice <= 18


# ---- MedGemma: the trainer's own data loader reads the global order ----


@pytest.fixture(scope="module")
def mg_demo(colours):
    root, train, val = colours
    return medgemma_demo(root / "mg-demo", train, val)


def mg_run(model_dir, **train):
    return medgemma_run(model_dir, **{"grad_accum": 2, "select": "loss", **train})


def batches(dataloader) -> list[list[int]]:
    return [list(batch) for batch in dataloader.batch_sampler]


def test_medgemma_default_sampler_is_the_trainers_own(colours, mg_demo, tmp_path):
    from torch.utils.data import RandomSampler

    from medvlm.models.medgemma.settings import MedGemmaRun
    from medvlm.models.medgemma.train import build_trainer

    _, train, val = colours
    cfg = MedGemmaRun.from_run(mg_run(mg_demo, steps=3))
    trainer = build_trainer(cfg, train, val, tmp_path / "out", tmp_path / "resume")
    assert isinstance(trainer._get_train_sampler(), RandomSampler)
    assert trainer.args.max_steps == 3


def test_medgemma_reads_the_global_order_and_resumes_where_it_stopped(colours, mg_demo, tmp_path):
    """The trainer's prepared data loader yields the mixture's draws, update by update; after
    the trainer's own resume skip it yields the same draws an uninterrupted run reads next."""
    from accelerate import skip_first_batches

    from medvlm.models.medgemma.settings import MedGemmaRun
    from medvlm.models.medgemma.train import build_trainer

    _, train, val = colours
    run = mg_run(mg_demo, steps=5, mixture={"by": "task_type", "temperature": 2})
    cfg = MedGemmaRun.from_run(run)
    trainer = build_trainer(cfg, train, val, tmp_path / "out", tmp_path / "resume")
    assert trainer.args.max_steps == 5
    records = train.loader(1, shuffle=False).records
    order = mixture_order(records, cfg.train.mixture, 0, "runs.mg.train.mixture")
    dataloader = trainer.get_train_dataloader()
    drawn = batches(dataloader)
    assert [i for batch in drawn for i in batch] == order.positions(0, 5 * 4).tolist()
    assert {records[i].task for batch in drawn for i in batch} == {
        TaskType.CLASSIFICATION,
        TaskType.REGRESSION,
    }
    for done in (1, 3):  # resuming after `done` updates of 2 batches each
        assert batches(skip_first_batches(dataloader, done * 2)) == drawn[done * 2 :]


def test_process_slices_are_disjoint_and_cover_the_global_order():
    """With w processes accelerate hands process i the global batches i, i + w, ...: together
    they read each draw of the global order once, an update's draws in one block."""
    from accelerate.data_loader import BatchSamplerShard
    from torch.utils.data import BatchSampler

    from medvlm.models.medgemma.mixture import MixtureSampler

    order = MixtureOrder(two_groups(), {"big": 0.5, "small": 0.5}, seed=1)
    batch, accum, world, updates = 2, 3, 4, 5
    per_update = batch * accum * world
    sampler = MixtureSampler(order, updates * per_update)
    global_order = order.positions(0, len(sampler)).tolist()
    assert list(sampler) == global_order

    def shard(source, rank):
        return list(BatchSamplerShard(BatchSampler(source, batch, False), world, rank))

    for rank in range(world):  # each process's records are those of its draws
        records, draws = shard(sampler, rank), shard(range(len(sampler)), rank)
        assert records == [[global_order[d] for d in b] for b in draws]
    draws = [shard(range(len(sampler)), rank) for rank in range(world)]
    every = sorted(d for rank in draws for b in rank for d in b)
    assert every == list(range(len(sampler)))  # disjoint and covering
    for u in range(updates):  # update u of all processes together: draws u·D to (u+1)·D
        update = [d for rank in draws for b in rank[u * accum : (u + 1) * accum] for d in b]
        assert sorted(update) == list(range(u * per_update, (u + 1) * per_update))


def test_medgemma_trains_on_the_mixture_and_logs_the_groups(colours, mg_demo, tmp_path):
    from medvlm.models.medgemma.train import train as train_medgemma

    _, train, val = colours
    run = mg_run(
        mg_demo,
        steps=4,
        log_every=2,
        val_every=4,
        save_every=4,
        val_examples=4,
        mixture={"by": "dataset", "weights": {"neojaundice": 4}},
    )
    out = tmp_path / "model"
    train_medgemma(run, train, val, out, tmp_path / "resume")
    columns, rows = read_csv(out / "train_log.csv")
    assert tuple(columns) == TRAIN_LOG_COLUMNS
    columns, groups = read_csv(out / GROUP_LOG)
    assert columns == ["step", "colours", "neojaundice"]
    assert [int(g["step"]) for g in groups] == [2, 4]
    last = {k: int(v) for k, v in groups[-1].items()}
    assert last["colours"] + last["neojaundice"] == 4 * 4  # 4 updates of 2 × 2 examples
    # p(neojaundice) = 4 * 3 / (4 * 3 + 21) = 0.36: the small data set drawn far above 3 / 24
    assert last["neojaundice"] >= 2


def test_medgemma_killed_mixture_run_resumes_to_the_same_adapter(colours, mg_demo, tmp_path):
    """Killed after a checkpoint and rerun, a mixture run ends with the adapter and the group
    log of an uninterrupted one: the trainer's resume skips exactly the draws already read."""
    import torch
    from safetensors.torch import load_file

    from medvlm.models.medgemma.checkpoints import last_complete_checkpoint
    from medvlm.models.medgemma.train import train as train_medgemma
    from tests.support.training import kill_training

    _, train, val = colours
    mixture = {"by": "dataset_task", "temperature": 3}
    run = mg_run(
        mg_demo, steps=6, log_every=2, val_every=6, save_every=2, val_examples=4,
        mixture=mixture,
    )  # fmt: skip
    train_medgemma(run, train, val, tmp_path / "whole", tmp_path / "whole-resume")
    out, resume = tmp_path / "killed", tmp_path / "killed-resume"
    kill_training(run, train, val, out, resume, last_complete_checkpoint)
    assert last_complete_checkpoint(resume) is not None and not (out / "final").exists()
    train_medgemma(run, train, val, out, resume)
    whole = load_file(tmp_path / "whole" / "final" / "adapter_model.safetensors")
    resumed = load_file(out / "final" / "adapter_model.safetensors")
    assert whole.keys() == resumed.keys()
    for name, tensor in whole.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=0, atol=0, msg=name)
    assert (out / GROUP_LOG).read_text() == (tmp_path / "whole" / GROUP_LOG).read_text()
