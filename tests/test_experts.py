"""Per-task LoRA experts (``train.experts``): the groups and their checks at plan and train time,
the one-group batches (with a data mixture too: drawn by it), a tiny training of each family (a
group's adapter changes only on its batches, the shared one on every batch; with a mixture), and
prediction routing each question to its group."""

import copy
import csv
import json
import math
from collections import Counter

import jax
import numpy as np
import pytest

from medvlm.config import ConfigError, validate_config
from medvlm.data.mixture import GROUP_LOG
from medvlm.io import read_jsonl
from medvlm.models.base import get_family
from medvlm.models.experts import EXPERTS_FILE, SHARED, Experts, GroupBatches, split_experts
from medvlm.records import Record, TaskType
from medvlm.run_checks import checked_runs
from medvlm.settings import MixtureSettings, SettingError, from_mapping
from tests.support.medgemma_data import (
    colour_split,
    medgemma_demo,
    medgemma_run,
    paligemma_demo,
    paligemma_run,
)
from tests.support.snakemake_runner import run_snakemake, tiny_runs_config

# ---- settings, groups and their checks ----


@pytest.mark.parametrize(
    "train, key, words",
    [
        ({"experts": "dataset"}, "train.experts", "not 'task_type'"),
        ({"experts": [["detection"], []]}, "train.experts[1]", "an empty group"),
        ({"experts": [["detection", "segmentation"]]}, "train.experts[0][1]", "'segmentation'"),
        ({"experts": [["counting"], ["counting"]]}, "train.experts[1][0]", "in two groups"),
        ({"experts": "task_type", "lora_rank": 0}, "train.experts", "lora_rank above 0"),
        ({"shared_lora": True, "lora_rank": 2}, "train.shared_lora", "set train.experts"),
    ],
)
def test_a_bad_experts_setting_names_its_key(train, key, words):
    from medvlm.models.paligemma.settings import TrainSettings

    with pytest.raises(SettingError) as caught:
        from_mapping(TrainSettings, train, "train")
    assert caught.value.key == key and words in caught.value.problem


def plan(workdir, experts, mixture=None, **data) -> dict:
    config = copy.deepcopy(tiny_runs_config(workdir))
    config["data"].update(data)
    config["runs"]["mg"]["train"]["experts"] = experts
    if mixture is not None:
        config["runs"]["mg"]["train"]["mixture"] = mixture
    return checked_runs(validate_config(config))


def test_experts_and_a_mixture_combine_at_plan_time(tmp_path):
    from medvlm.models.paligemma.settings import TrainSettings

    mixture = {"by": "dataset", "temperature": 2}
    settings = from_mapping(
        TrainSettings, {"experts": "task_type", "lora_rank": 2, "mixture": mixture}, "train"
    )
    assert settings.experts == "task_type" and settings.mixture.temperature == 2
    runs = plan(tmp_path, "task_type", mixture)
    assert runs["mg"]["train"]["mixture"]["by"] == "dataset"


def test_the_plan_names_an_expert_task_type_without_questions(tmp_path):
    runs = plan(tmp_path, [["detection", "instance_detection"], ["classification"]],
                task_types=["detection", "instance_detection", "classification"])  # fmt: skip
    assert runs["mg"]["train"]["experts"] == [
        ["detection", "instance_detection"],
        ["classification"],
    ]
    plan(tmp_path, "task_type")
    bad = [
        ([["counting"]], {"task_types": ["classification", "counting"]}, "experts"),
        ([["counting"]], {"task_types": ["classification"]}, r"experts\[0\]\[0\]"),
        ([["counting"], ["kounting"]], {}, r"experts\[1\]\[0\]"),
    ]
    for experts, data, key in bad:
        with pytest.raises(ConfigError, match=rf"config key runs\.mg\.train\.{key}") as caught:
            plan(tmp_path, experts, **data)
        assert "Traceback" not in str(caught.value)


@pytest.mark.workflow
def test_a_dry_run_stops_at_experts_for_a_task_type_without_questions(tmp_path):
    config = copy.deepcopy(tiny_runs_config(tmp_path))
    config["data"]["task_types"] = ["classification", "detection"]
    config["runs"]["mg"]["train"]["experts"] = [["classification"], ["counting"]]
    result = run_snakemake(tmp_path, config, "-n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "config key runs.mg.train.experts[1][0]" in output
    assert "no question of the configured data" in output
    assert "Traceback" not in output, output[-3000:]


@pytest.fixture(scope="module")
def colours(tmp_path_factory):
    """21 colour questions (classification) and 5 three-view ones (regression)."""
    root = tmp_path_factory.mktemp("experts")
    train = colour_split(root / "data", "train", 21, views=5)
    val = colour_split(root / "data", "val", 6, seed=1, views=2)
    return root, train, val


def group_log(out) -> list[dict[str, int]]:
    """The rows of a run's examples-per-group log, as numbers."""
    with open(out / GROUP_LOG, newline="") as handle:
        return [{k: int(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def settings_of(**train):
    from medvlm.models.paligemma.settings import TrainSettings

    return from_mapping(TrainSettings, {"lora_rank": 2, **train}, "train")


def test_train_time_groups_follow_the_split(colours):
    _, train, _ = colours
    records = train.loader(1, shuffle=False).records
    experts = split_experts(settings_of(experts="task_type"), records, "pg")
    assert experts == Experts(
        {
            TaskType.CLASSIFICATION: (TaskType.CLASSIFICATION,),
            TaskType.REGRESSION: (TaskType.REGRESSION,),
        },
        False,
    )
    groups = [["regression", "classification"]]
    joined = split_experts(settings_of(experts=groups, shared_lora=True), records, "pg")
    assert joined.groups == {
        "regression+classification": (TaskType.REGRESSION, TaskType.CLASSIFICATION)
    }
    assert joined.adapters("regression+classification") == [SHARED, "regression+classification"]
    with pytest.raises(SettingError) as caught:
        split_experts(settings_of(experts=[["classification"], ["counting"]]), records, "pg")
    assert caught.value.key == "runs.pg.train.experts[1][0]"
    assert "has: classification, regression" in caught.value.problem
    with pytest.raises(SettingError, match="in no group: regression"):
        split_experts(settings_of(experts=[["classification"]]), records, "pg")


def test_batches_hold_one_group_and_cover_each_group_every_epoch(colours):
    _, train, _ = colours
    records = train.loader(1, shuffle=False).records
    experts = split_experts(settings_of(experts="task_type"), records, "pg")
    order = GroupBatches(records, experts, rows=4, seed=3)
    assert order.per_epoch == 6 + 2  # ceil(21 / 4) + ceil(5 / 4)
    for epoch in range(2):
        seen = {TaskType.CLASSIFICATION: [], TaskType.REGRESSION: []}
        for step in range(epoch * 8, epoch * 8 + 8):
            group, positions = order.batch(step)
            assert len(positions) == 4
            assert {records[p].task for p in positions} == {group}
            seen[group] += positions.tolist()
        # every record of the epoch, the last batch of a group filled from its start
        assert set(seen[TaskType.CLASSIFICATION]) == {
            i for i, r in enumerate(records) if r.task == TaskType.CLASSIFICATION
        }
        assert set(seen[TaskType.REGRESSION]) == {
            i for i, r in enumerate(records) if r.task == TaskType.REGRESSION
        }
    again = GroupBatches(records, experts, rows=4, seed=3)  # as after a kill
    assert [again.batch(s)[1].tolist() for s in range(9, 16)] == [
        order.batch(s)[1].tolist() for s in range(9, 16)
    ]


def mixed_records() -> list[Record]:
    """Data set ``big``: 60 classification questions; ``small``: 4 classification, 16 counting."""

    def record(dataset: str, task: str, i: int) -> Record:
        return Record(f"{dataset}-{task}-{i}", dataset, "Clinical", "training", "q.json", i, task,
                      task, "photo", "q", "a")  # fmt: skip

    return (
        [record("big", TaskType.CLASSIFICATION, i) for i in range(60)]
        + [record("small", TaskType.CLASSIFICATION, i) for i in range(4)]
        + [record("small", TaskType.COUNTING, i) for i in range(16)]
    )


MIXED_EXPERTS = Experts(
    {TaskType.CLASSIFICATION: (TaskType.CLASSIFICATION,), TaskType.COUNTING: (TaskType.COUNTING,)},
    False,
)


def mixed_order(seed: int = 3) -> GroupBatches:
    mixture = from_mapping(MixtureSettings, {"by": "dataset", "temperature": 2}, "mixture")
    return GroupBatches(mixed_records(), MIXED_EXPERTS, rows=4, seed=seed, mixture=mixture)


def test_with_a_mixture_the_groups_and_rows_follow_the_mixtures_masses():
    """By hand, T = 2: p(big) = √60 / (√60 + √20) = 0.6340, p(small) = 0.3660; the counting
    group holds 16 of small's 20 questions, so its mass is 0.3660 × 16/20 = 0.2928 (without the
    mixture 16/80 = 0.20), classification's 0.6340 + 0.3660 × 4/20 = 0.7072."""
    records = mixed_records()
    order = mixed_order()
    p_small = math.sqrt(20) / (math.sqrt(60) + math.sqrt(20))
    assert order.masses[TaskType.COUNTING] == pytest.approx(0.2928, abs=1e-4)
    assert order.masses[TaskType.COUNTING] == pytest.approx(p_small * 16 / 20)
    assert order.masses[TaskType.CLASSIFICATION] == pytest.approx(0.7072, abs=1e-4)
    steps, rows = 4000, 4
    groups, drawn = [], Counter()
    for step in range(steps):
        group, positions = order.batch(step)
        assert len(positions) == rows
        assert {records[p].task for p in positions} == {group}  # one expert group a batch
        groups.append(group)
        drawn.update(positions.tolist())
    sigma = math.sqrt(0.2928 * 0.7072 / steps)  # 0.0072
    assert groups.count(TaskType.COUNTING) / steps == pytest.approx(0.2928, abs=4 * sigma)
    # a question of small is drawn with p(small) / 20 = 0.0183 a row, one of big with
    # 0.6340 / 60 = 0.0106 (uniform: 1/80 = 0.0125); small's share of the rows is 0.366, not 0.25
    small = sum(n for p, n in drawn.items() if records[p].dataset == "small") / (steps * rows)
    assert small == pytest.approx(p_small, abs=0.02) and small > 0.3
    # within classification batches, small's 4 questions are 0.0732 / 0.7072 = 0.1035 of the
    # rows (uniform there: 4/64 = 0.0625)
    classification = [p for p, n in drawn.items() for _ in range(n)
                      if records[p].task == TaskType.CLASSIFICATION]  # fmt: skip
    share = np.mean([records[p].dataset == "small" for p in classification])
    assert share == pytest.approx(p_small * 4 / 20 / 0.7072, abs=0.015)
    # each small question comes equally often: the group's draws cycle through its questions
    counting = [drawn[i] for i, r in enumerate(records) if r.task == TaskType.COUNTING]
    assert max(counting) - min(counting) <= 1
    # the per-group log counts the same draws
    assert order.counts(steps) == {
        "big": sum(n for p, n in drawn.items() if records[p].dataset == "big"),
        "small": sum(n for p, n in drawn.items() if records[p].dataset == "small"),
    }


def test_with_a_mixture_a_batch_is_a_function_of_seed_and_step():
    order = mixed_order()
    expected = [order.batch(step) for step in range(5000)]
    again = mixed_order()  # as after a kill: straight to step 4090 (across a block's end)
    for step in [4090, 4100, *range(10), 4095, 4096, 4097]:
        group, positions = again.batch(step)
        assert group == expected[step][0] and positions.tolist() == expected[step][1].tolist()
    other = mixed_order(seed=4)
    assert [other.batch(s)[1].tolist() for s in range(20)] != [
        expected[s][1].tolist() for s in range(20)
    ]


# ---- PaliGemma ----


def factor_values(trainable) -> dict[str, np.ndarray]:
    """Host copies (the step donates the device buffers, which a view would share)."""
    return {k: np.array(v, copy=True) for k, v in jax.device_get(trainable).items()}


def changed_adapters(before: dict, after: dict) -> set[str]:
    return {key.split("/", 1)[0] for key in before if not np.array_equal(before[key], after[key])}


@pytest.fixture(scope="module")
def pg_demo(colours):
    root, train, val = colours
    return paligemma_demo(root / "pg-demo", train, val)


# Both families' expert runs: an adapter per task type and a shared one.
EXPERT_TRAINING = {"experts": "task_type", "shared_lora": True, "lora_rank": 2, "val_every": 3}


def pg_run(demo, **train):
    settings = {**EXPERT_TRAINING, "learning_rate": 0.05, "warmup_fraction": 0.0, **train}
    return paligemma_run(demo, {"constrained": False}, **settings)


def test_paligemma_step_moves_the_shared_and_the_batch_groups_adapter_only(colours, pg_demo):
    from medvlm.models.paligemma.batches import Batcher, BatchOrder
    from medvlm.models.paligemma.checkpoint import checkpoint_files, load_params
    from medvlm.models.paligemma.loading import model_config
    from medvlm.models.paligemma.model import PaliGemma
    from medvlm.models.paligemma.settings import PaliGemmaRun
    from medvlm.models.paligemma.tokenizer import load_tokenizer
    from medvlm.models.paligemma.train import Trainer

    _, train, _ = colours
    settings = PaliGemmaRun.from_run(pg_run(pg_demo))
    ts = settings.train
    npz, tokenizer_path, config_json = checkpoint_files(pg_demo)
    config = model_config(npz, config_json)
    loader = train.loader(4, seed=0, shuffle=True, drop_last=True)
    experts = split_experts(ts, loader.records, "pg")
    trainer = Trainer(PaliGemma(config), load_params(npz, config), ts, experts=experts)
    assert {k.split("/", 1)[0] for k in trainer.initial} == {
        SHARED,
        TaskType.CLASSIFICATION,
        TaskType.REGRESSION,
    }
    batcher = Batcher.for_training(load_tokenizer(tokenizer_path), loader, ts)
    order = BatchOrder.for_training(loader, ts, "pg", experts)
    trainable, opt = trainer.init_state()
    groups = []
    for step in range(6):
        group = order.group(step)
        groups.append(group)
        before = factor_values(trainable)
        batch = batcher(order.uids(step), 4)
        trainable, opt, _, _ = trainer.step(trainable, opt, batch, group)
        assert changed_adapters(before, factor_values(trainable)) == {SHARED, group}
    assert set(groups) == {
        TaskType.CLASSIFICATION,
        TaskType.REGRESSION,
    }  # both kinds of batch were taken


@pytest.fixture(scope="module")
def pg_trained(colours, pg_demo):
    root, train, val = colours
    run = pg_run(pg_demo, select="score")
    out = root / "pg-run"
    get_family("paligemma").train(run, train, val, out, root / "pg-resume")
    return run, out


def test_paligemma_trains_experts_on_a_mixture(colours, pg_demo):
    """Both keys set: a short real training, its per-group log counting the expert batches'
    draws (colours: 21 classification questions, neojaundice: 5 regression ones)."""
    root, train, val = colours
    run = pg_run(pg_demo, mixture={"by": "dataset", "temperature": 2}, val_every=6)
    out = root / "pg-mixed"
    get_family("paligemma").train(run, train, val, out, root / "pg-mixed-resume")
    assert Experts.read(out).names == [TaskType.CLASSIFICATION, TaskType.REGRESSION]
    settings = settings_of(**run["train"])
    records = train.loader(1, shuffle=False).records
    order = GroupBatches(records, split_experts(settings, records, "pg"), 4, 0, settings.mixture)
    last = group_log(out)[-1]
    assert last == {"step": 6, **order.counts(6)}
    assert last["colours"] + last["neojaundice"] == 6 * 4


def test_paligemma_expert_run_writes_its_groups_and_factors(pg_trained):
    from medvlm.models.paligemma.checkpoint import read_npz

    _, out = pg_trained
    assert json.loads((out / EXPERTS_FILE).read_text()) == {
        "groups": {
            TaskType.CLASSIFICATION: [TaskType.CLASSIFICATION],
            TaskType.REGRESSION: [TaskType.REGRESSION],
        },
        "shared": True,
    }
    for weights in ("best", "final"):
        factors = read_npz(out / f"{weights}.experts.npz")
        assert {k.split("/", 1)[0] for k in factors} == {
            TaskType.CLASSIFICATION,
            TaskType.REGRESSION,
        }
        assert any(np.any(v) for k, v in factors.items() if k.endswith("/lora_b"))


def test_paligemma_predict_routes_each_question_to_its_group(colours, pg_trained, tmp_path):
    """Scrambling the regression group's factors changes only the regression answers."""
    from medvlm.models.paligemma.checkpoint import read_npz, write_npz

    _, _, val = colours
    run, out = pg_trained
    family = get_family("paligemma")
    family.predict(run, out, val, tmp_path / "before.jsonl")
    factors = read_npz(out / "best.experts.npz")
    rng = np.random.default_rng(0)
    scrambled = {
        k: (rng.normal(0, 3.0, v.shape).astype(v.dtype) if k.startswith(TaskType.REGRESSION) else v)
        for k, v in factors.items()
    }
    copied = tmp_path / "run"
    copied.mkdir()
    for path in out.iterdir():
        if path.is_file():
            (copied / path.name).write_bytes(path.read_bytes())
    write_npz(copied / "best.experts.npz", scrambled)
    family.predict(run, copied, val, tmp_path / "after.jsonl")
    before = {p["uid"]: p for p in read_jsonl(tmp_path / "before.jsonl")}
    after = {p["uid"]: p for p in read_jsonl(tmp_path / "after.jsonl")}
    changed = {uid for uid in before if before[uid]["prediction"] != after[uid]["prediction"]}
    assert changed and {before[uid]["task"] for uid in changed} == {TaskType.REGRESSION}


# ---- MedGemma ----


@pytest.fixture(scope="module")
def mg_demo(colours):
    root, train, val = colours
    return medgemma_demo(root / "mg-demo", train, val)


def mg_run(demo, **train):
    settings = {
        **EXPERT_TRAINING,
        "steps": 6,
        "grad_accum": 1,  # one batch, so one group, an update
        "save_every": 6,
        "val_examples": 4,
        **train,
    }
    return medgemma_run(demo, {"constrained": False}, **settings)


def adapter_weights(model) -> dict[str, np.ndarray]:
    """Every LoRA weight by name, as host copies."""
    return {
        name: param.detach().cpu().numpy().copy()
        for name, param in model.named_parameters()
        if ".lora_" in name
    }


def adapter_of(name: str) -> str:
    """The adapter a PEFT LoRA weight belongs to: ``...lora_A.<adapter>.weight``."""
    return name.split(".lora_", 1)[1].split(".")[1]


def test_medgemma_step_moves_the_shared_and_the_batch_groups_adapter_only(
    colours, mg_demo, tmp_path
):
    from transformers import TrainerCallback

    from medvlm.models.medgemma.settings import MedGemmaRun
    from medvlm.models.medgemma.train import build_trainer

    _, train, val = colours
    cfg = MedGemmaRun.from_run(mg_run(mg_demo, val_every=100, select="final"))
    trainer = build_trainer(cfg, train, val, tmp_path / "out", tmp_path / "resume")
    model = trainer.model
    assert {adapter_of(n) for n in adapter_weights(model)} == {
        SHARED,
        TaskType.CLASSIFICATION,
        TaskType.REGRESSION,
    }
    moved = []

    class Watch(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self.before = adapter_weights(model)

        def on_step_end(self, args, state, control, **kwargs):
            after = adapter_weights(model)
            moved.append(
                {adapter_of(n) for n in after if not np.array_equal(after[n], self.before[n])}
            )

    trainer.add_callback(Watch())
    trainer.train()
    records = train.loader(1, shuffle=False).records
    order = GroupBatches(records, trainer.experts, 2, seed=0)
    groups = [order.batch(step)[0] for step in range(6)]
    assert set(groups) == {TaskType.CLASSIFICATION, TaskType.REGRESSION}
    assert moved == [{SHARED, group} for group in groups]


def test_medgemma_trains_on_one_group_batches_drawn_by_the_mixture(colours, mg_demo, tmp_path):
    """Both keys set: the trainer's data loader yields the mixture-drawn one-group batches, and
    a short training logs the examples those batches drew per data set."""
    from medvlm.models.medgemma.mixture import GroupLog
    from medvlm.models.medgemma.settings import MedGemmaRun
    from medvlm.models.medgemma.train import build_trainer
    from medvlm.models.medgemma.train import train as train_medgemma

    _, train, val = colours
    mixture = {"by": "dataset", "weights": {"neojaundice": 4}}
    run = mg_run(mg_demo, mixture=mixture, log_every=3, select="loss")
    cfg = MedGemmaRun.from_run(run)
    trainer = build_trainer(cfg, train, val, tmp_path / "out", tmp_path / "resume")
    records = train.loader(1, shuffle=False).records
    order = GroupBatches(records, trainer.experts, 2, 0, cfg.train.mixture)
    drawn = [list(batch) for batch in trainer.get_train_dataloader().batch_sampler]
    assert drawn == [order.batch(step)[1].tolist() for step in range(6)]
    assert all(len({records[i].task for i in batch}) == 1 for batch in drawn)
    logs = [c for c in trainer.callback_handler.callbacks if isinstance(c, GroupLog)]
    assert len(logs) == 1 and isinstance(logs[0].order, GroupBatches)
    assert logs[0].order.counts(6) == order.counts(6) and logs[0].per_update == 1
    out = tmp_path / "model"
    train_medgemma(run, train, val, out, tmp_path / "trained-resume")
    assert group_log(out) == [{"step": step, **order.counts(step)} for step in (3, 6)]


@pytest.fixture(scope="module")
def mg_trained(colours, mg_demo):
    from medvlm.models.medgemma.train import train as train_medgemma

    root, train, val = colours
    run = mg_run(mg_demo, select="score")
    out = root / "mg-run"
    train_medgemma(run, train, val, out, root / "mg-resume")
    return run, out


def test_medgemma_expert_run_keeps_every_adapter(mg_trained):
    _, out = mg_trained
    assert Experts.read(out) == Experts(
        {
            TaskType.CLASSIFICATION: (TaskType.CLASSIFICATION,),
            TaskType.REGRESSION: (TaskType.REGRESSION,),
        },
        True,
    )
    for weights in ("best", "final"):
        for adapter in (SHARED, TaskType.CLASSIFICATION, TaskType.REGRESSION):
            assert (out / weights / adapter / "adapter_model.safetensors").is_file()


def test_medgemma_predict_routes_each_question_to_its_group(colours, mg_trained, tmp_path):
    """Scrambling the classification adapter changes only the classification answers."""
    import shutil

    from safetensors.numpy import load_file, save_file

    _, _, val = colours
    run, out = mg_trained
    family = get_family("medgemma")
    family.predict(run, out, val, tmp_path / "before.jsonl")
    copied = tmp_path / "run"
    shutil.copytree(out, copied)
    path = copied / "best" / TaskType.CLASSIFICATION / "adapter_model.safetensors"
    rng = np.random.default_rng(0)
    tensors = {k: rng.normal(0, 2.0, v.shape).astype(v.dtype) for k, v in load_file(path).items()}
    save_file(tensors, path)
    family.predict(run, copied, val, tmp_path / "after.jsonl")
    before = {p["uid"]: p for p in read_jsonl(tmp_path / "before.jsonl")}
    after = {p["uid"]: p for p in read_jsonl(tmp_path / "after.jsonl")}
    changed = {uid for uid in before if before[uid]["prediction"] != after[uid]["prediction"]}
    assert changed and {before[uid]["task"] for uid in changed} == {TaskType.CLASSIFICATION}


# ---- export: one model per group, answering as the routed run does ----


def exported(run: dict, out, fmt: str, tmp_path):
    """``medvlm export`` of the trained run ``out`` (given its run.json, as the workflow's)."""
    import shutil

    from medvlm.models.export import export_model
    from medvlm.models.saved import save_run

    model_dir = tmp_path / "model"
    shutil.copytree(out, model_dir)
    save_run(model_dir, {"image_size": 16, **run})
    return export_model(model_dir, fmt, tmp_path / "export")


def answers_of(path) -> dict[str, dict]:
    return {row["uid"]: row for row in read_jsonl(path)}


def test_paligemma_export_gives_each_group_the_answers_the_run_gives(colours, pg_trained, tmp_path):
    _, _, val = colours
    run, out = pg_trained
    family = get_family("paligemma")
    family.predict(run, out, val, tmp_path / "routed.jsonl")
    routed = answers_of(tmp_path / "routed.jsonl")
    export = exported(run, out, "big_vision", tmp_path)
    assert Experts.read(export) == Experts.read(out)
    assert "## Per-task experts" in (export / "README.md").read_text()
    for group in (TaskType.CLASSIFICATION, TaskType.REGRESSION):
        family.predict(run, export / group, val, tmp_path / f"{group}.jsonl")
        alone = answers_of(tmp_path / f"{group}.jsonl")
        mine = [uid for uid, row in routed.items() if row["task"] == group]
        assert mine and all(alone[uid]["prediction"] == routed[uid]["prediction"] for uid in mine)


def test_medgemma_export_gives_each_group_the_answers_the_run_gives(colours, mg_trained, tmp_path):
    _, _, val = colours
    run, out = mg_trained
    family = get_family("medgemma")
    family.predict(run, out, val, tmp_path / "routed.jsonl")
    routed = answers_of(tmp_path / "routed.jsonl")
    export = exported(run, out, "hf", tmp_path)
    assert Experts.read(export) == Experts.read(out)
    for group in (TaskType.CLASSIFICATION, TaskType.REGRESSION):
        assert (export / group / "config.json").is_file()
        family.predict(run, export / group, val, tmp_path / f"{group}.jsonl")
        alone = answers_of(tmp_path / f"{group}.jsonl")
        mine = [uid for uid, row in routed.items() if row["task"] == group]
        assert mine and all(alone[uid]["prediction"] == routed[uid]["prediction"] for uid in mine)
    adapters = exported(run, out, "adapter", tmp_path / "adapter")
    assert sorted(p.name for p in adapters.iterdir() if p.is_dir()) == sorted(
        [SHARED, TaskType.CLASSIFICATION, TaskType.REGRESSION]
    )


# experts alone, and on a mixture: the resumed run draws the batches the whole one drew
KILLED_RUN_MIXTURES = [None, {"by": "dataset", "temperature": 2}]


@pytest.mark.parametrize("mixture", KILLED_RUN_MIXTURES, ids=["experts", "experts+mixture"])
def test_medgemma_killed_expert_run_resumes_to_the_same_adapters(
    colours, mg_demo, tmp_path, mixture
):
    """Killed after a checkpoint and rerun, an expert run ends with every adapter of an
    uninterrupted one: the same one-group batches, every adapter in the resumed optimizer, and
    the same examples per group in its log."""
    import torch
    from safetensors.torch import load_file

    from medvlm.models.medgemma.checkpoints import last_complete_checkpoint
    from medvlm.models.medgemma.train import train as train_medgemma
    from tests.support.training import kill_training

    _, train, val = colours
    run = mg_run(mg_demo, save_every=2, val_every=6, select="loss", mixture=mixture)
    train_medgemma(run, train, val, tmp_path / "whole", tmp_path / "whole-resume")
    out, resume = tmp_path / "killed", tmp_path / "killed-resume"
    kill_training(run, train, val, out, resume, last_complete_checkpoint)
    assert last_complete_checkpoint(resume) is not None and not (out / "final").exists()
    train_medgemma(run, train, val, out, resume)
    for adapter in (SHARED, TaskType.CLASSIFICATION, TaskType.REGRESSION):
        whole = load_file(tmp_path / "whole" / "final" / adapter / "adapter_model.safetensors")
        resumed = load_file(out / "final" / adapter / "adapter_model.safetensors")
        assert whole.keys() == resumed.keys()
        for name, tensor in whole.items():
            torch.testing.assert_close(resumed[name], tensor, rtol=0, atol=0, msg=name)
    if mixture:  # a run on a mixture logs the examples it drew per group
        assert group_log(out) == group_log(tmp_path / "whole")


@pytest.mark.parametrize("mixture", KILLED_RUN_MIXTURES, ids=["experts", "experts+mixture"])
def test_paligemma_killed_expert_run_resumes_to_the_same_weights(
    colours, pg_demo, tmp_path, mixture
):
    """Killed after a resume state and rerun, an expert run ends with the weights and group
    factors of an uninterrupted one, and the same examples per group in its log."""
    from medvlm.models.paligemma.checkpoint import read_npz
    from medvlm.models.paligemma.resume import saved_steps
    from tests.support.training import kill_training

    _, train, val = colours
    run = pg_run(pg_demo, save_every=2, val_every=6, select="loss", mixture=mixture)
    family = get_family("paligemma")
    family.train(run, train, val, tmp_path / "whole", tmp_path / "whole-resume")
    out, resume = tmp_path / "killed", tmp_path / "killed-resume"
    kill_training(run, train, val, out, resume, lambda folder: bool(saved_steps(folder)))
    assert not (out / "final.npz").exists()
    family.train(run, train, val, out, resume)
    for name in ("final.npz", "final.experts.npz"):
        whole, resumed = read_npz(tmp_path / "whole" / name), read_npz(out / name)
        assert whole.keys() == resumed.keys()
        for key, array in whole.items():
            np.testing.assert_array_equal(resumed[key], array, err_msg=f"{name}: {key}")
    if mixture:  # a run on a mixture logs the examples it drew per group
        assert group_log(out) == group_log(tmp_path / "whole")
