"""``medvlm plan``: the memory estimate of each trained run, its inputs, and its checks against
real training steps."""

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from medvlm.generated import read_block
from medvlm.memory_plan import fits, profile_gpu_memory
from medvlm.models.medgemma.memory import MEDGEMMA_4B, extrapolate, trace
from medvlm.models.paligemma.checkpoint import read_npz_shapes, save_params
from medvlm.models.paligemma.config import tiny, variant
from medvlm.models.paligemma.memory import architecture
from medvlm.models.paligemma.params import cast, param_shapes, unflatten
from medvlm.models.paligemma.settings import PaliGemmaRun
from tests.support.cli import run_medvlm

REPO = Path(__file__).resolve().parents[1]

TINY_GEMMA3 = {
    "model_type": "gemma3",
    "boi_token_index": 997,
    "eoi_token_index": 998,
    "image_token_index": 999,
    "mm_tokens_per_image": 16,
    "text_config": {
        "model_type": "gemma3_text",
        "hidden_size": 64,
        "intermediate_size": 256,
        "num_hidden_layers": 5,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "query_pre_attn_scalar": 16,
        "sliding_window": 64,
        "vocab_size": 1000,
    },
    "vision_config": {
        "model_type": "siglip_vision_model",
        "hidden_size": 32,
        "image_size": 64,
        "intermediate_size": 64,
        "num_attention_heads": 2,
        "num_hidden_layers": 4,
        "patch_size": 8,
        "vision_use_head": False,
    },
}


def test_fits_compares_with_the_usable_share_of_each_gpu():
    gib = 2**30
    # JAX may use 75 %: 40,960 MiB × 0.75 = 30,720 MiB = 30 GiB exactly; 81,559 × 0.75 = 59.7 GiB
    assert fits(30 * gib, 0.75) == "40 GB, 80 GB, 141 GB"
    assert fits(30 * gib + 1, 0.75) == "80 GB, 141 GB"
    assert fits(60 * gib, 0.75) == "141 GB"  # above 59.7 GiB, below 143,771 × 0.75 MiB
    assert fits(106 * gib, 0.75) == "none"  # 143,771 MiB × 0.75 = 105.3 GiB


def test_profile_gives_the_gpu_memory(tmp_path):
    profile = tmp_path / "config.yaml"
    profile.write_text(
        yaml.safe_dump(
            {
                "default-resources": {"gpu_mem_mb": 40960},
                "set-resources": {"train": {"gpu_mem_mb": 81920}},
            }
        )
    )
    assert profile_gpu_memory(tmp_path) == 81920  # the train rule's, over the default
    profile.write_text(yaml.safe_dump({"default-resources": {"gpu_mem_mb": 40960}}))
    assert profile_gpu_memory(profile) == 40960
    profile.write_text(yaml.safe_dump({"set-resources": {"train": {"mem_mb": 2}}}))
    assert profile_gpu_memory(profile) is None and profile_gpu_memory(None) is None
    # the repository's own profile names the GPU of its train jobs
    assert profile_gpu_memory(REPO / "profiles" / "slurm") in (40_960, 81_559, 81_920, 143_771)


def test_paligemma_architecture_from_the_checkpoint_or_its_name(tmp_path):
    def arch(checkpoint, image_size=224):
        run = {"family": "paligemma", "checkpoint": str(checkpoint), "image_size": image_size}
        return architecture(PaliGemmaRun.from_run(run))

    assert arch("/nowhere/paligemma2-3b-pt-224")[0] == variant("paligemma2-3b-224")
    assert arch("/nowhere/paligemma2-10b-pt-448.b16.npz", 448)[0] == variant("paligemma2-10b-448")
    assert arch("/nowhere/paligemma2-28b", 896)[0] == variant("paligemma2-28b-896")
    with pytest.raises(ValueError, match="no known PaliGemma variant"):
        arch("/nowhere/my-model")
    # a checkpoint that is here: its array shapes, read from the .npy headers alone
    config = tiny(vocab_size=40, image_size=32, width=16, depth=2, patch=8)
    zeros = {name: np.zeros(shape, "float32") for name, shape in param_shapes(config).items()}
    save_params(cast(unflatten(zeros), "bfloat16"), tmp_path / "params.npz")
    (tmp_path / "tokenizer.model").write_bytes(b"")
    assert arch(tmp_path, 32) == (config, f"{tmp_path / 'params.npz'} (array shapes)")


def test_npz_shapes_are_read_without_the_arrays(tmp_path):
    params = {"img": {"w": np.zeros((3, 4), np.float32)}, "llm": {"e": np.zeros(7, "bfloat16")}}
    save_params(cast(params, "bfloat16"), tmp_path / "p.npz")
    assert read_npz_shapes(tmp_path / "p.npz") == {"img/w": (3, 4), "llm/e": (7,)}
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz: not a readable .npz"):
        read_npz_shapes(tmp_path / "bad.npz")


@pytest.mark.slow
def test_known_medgemma_config_builds_the_documented_model():
    from medvlm.models.medgemma.memory import _build

    spec = {
        "lora_rank": 16,
        "lora_alpha": 16,
        "lora_dropout": 0.05,
        "lora_targets": "all-linear",
        "attn_implementation": "eager",
        "precision": "gpu",
    }
    model, _ = _build(MEDGEMMA_4B, spec, 34, 27)
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    # docs/medgemma.md: 4,300,079,472 parameters; LoRA r=16 all-linear trains 38,497,792
    assert trained == 38_497_792
    assert sum(p.numel() for p in model.parameters()) - trained == 4_300_079_472


@pytest.mark.slow
@pytest.mark.parametrize("remat", [False, True])
def test_medgemma_depth_extrapolation_matches_a_full_depth_trace(remat):
    spec = {
        "config": TINY_GEMMA3,
        "batch_size": 3,
        "tokens": 48,
        "image_tokens": 16,
        "lora_rank": 4,
        "lora_alpha": 8,
        "lora_dropout": 0.05,
        "lora_targets": "all-linear",
        "attn_implementation": "eager",
        "precision": "gpu",
    }
    samples = {depth: trace(spec, remat, *depth) for depth in ((1, 1), (2, 1), (1, 2))}
    estimated = extrapolate(samples, 5, 4)
    full = trace(spec, remat, 5, 4)
    assert estimated["weights"] == full["weights"]
    assert estimated["after_step"] == full["after_step"]
    peak, exact = max(estimated["peaks"].values()), max(full["peaks"].values())
    assert abs(peak - exact) <= 0.03 * exact, (estimated["peaks"], full["peaks"])
    # rematerialisation keeps one layer's activations instead of every layer's
    no_remat = extrapolate({d: trace(spec, not remat, *d) for d in samples}, 5, 4)
    other = max(no_remat["peaks"].values())
    assert (peak < other) if remat else (peak > other)


def plan_config(tmp_path) -> Path:
    """Two trained runs (one per family, tiny models whose config.json is all there is) and a
    zero-shot one."""
    pg = tmp_path / "pg"
    pg.mkdir()
    (pg / "config.json").write_text(
        json.dumps(tiny(vocab_size=4096, image_size=32, width=64, depth=2, patch=8).to_json())
    )
    (pg / "params.npz").write_bytes(b"")
    (pg / "tokenizer.model").write_bytes(b"")
    mg = tmp_path / "mg"
    mg.mkdir()
    (mg / "config.json").write_text(json.dumps(TINY_GEMMA3))
    config = {
        "results": str(tmp_path / "results"),
        "data": {"root": str(tmp_path / "data")},
        "runs": {
            "pg_a": {"family": "paligemma", "checkpoint": str(pg), "image_size": 32,
                     "train": {"batch_size": 4, "seqlen": 16, "fsdp_min_mib": 0.0,
                               "processes": 2}},
            "pg_b": {"family": "paligemma", "checkpoint": str(pg), "image_size": 32,
                     "train": {"batch_size": 4, "seqlen": 16, "fsdp_min_mib": 0.0,
                               "processes": 2, "learning_rate": 0.1}},
            "mg": {"family": "medgemma", "checkpoint": str(mg), "image_size": 32,
                   "train": {"batch_size": 2, "processes": 2}},
            "mg_zero_shot": {"family": "medgemma", "checkpoint": str(mg), "image_size": 32,
                             "zero_shot": True},
        },
    }  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def rows(text: str, section: str) -> tuple[dict[str, list[str]], str]:
    """ "<devices><on|off>" → the cells of that section's table, and the row marked with *."""
    part = text.split(f"#### {section}\n")[1].split("####")[0]
    table, marked = {}, None
    for line in part.splitlines():
        match = re.match(r"\| (\d+)(\*?) \| (on|off) \|(.*)\|$", line)
        if match:
            table[match[1] + match[3]] = [cell.strip(" *") for cell in match[4].split("|")]
            marked = match[1] + match[3] if match[2] else marked
    return table, marked


@pytest.mark.slow
def test_plan_tables_warnings_and_cache(tmp_path):
    config = plan_config(tmp_path)
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump({"set-resources": {"train": {"gpu_mem_mb": 1}}}))
    cache = tmp_path / "cache"
    args = ("plan", config, "--profile", profile, "--cache", cache, "--out", tmp_path / "plan.md")
    first = run_medvlm(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    out = first.stdout
    assert "Not trained (no plan): mg_zero_shot." in out
    assert "GPUs of 1 MiB" in out
    # the two PaliGemma runs differ only in the learning rate: one estimate, one table
    (pg, pg_marked), (mg, mg_marked) = rows(out, "pg_a, pg_b"), rows(out, "mg")
    assert set(pg) == set(mg) == {f"{n}{r}" for n in (1, 2, 4, 8) for r in ("on", "off")}
    # configured: each run on its train.nodes × processes devices (2)
    assert pg_marked == "2off" and mg_marked == "2on"
    # a batch of 4 does not split over 8 devices
    assert pg["8off"][-1] == pg["8on"][-1] == "batch 4 does not split over 8 devices"
    peak = {key: float(cells[4]) for key, cells in pg.items() if not key.startswith("8")}
    assert peak["1on"] < peak["1off"] and peak["2off"] < peak["1off"]
    weights = {key: float(cells[0]) for key, cells in pg.items() if not key.startswith("8")}
    assert weights["1off"] > 0 and weights["1off"] > weights["2off"]  # FSDP: split over 2
    mg_peak = {key: float(cells[4]) for key, cells in mg.items()}
    assert mg_peak["1on"] < mg_peak["1off"] and mg_peak["1on"] <= mg_peak["2on"]
    # a 1 MiB GPU fits nothing: both runs warned, with the GPU named
    assert "pg_a, pg_b needs an estimated" in first.stderr
    assert "mg needs an estimated" in first.stderr and "(1 MiB)" in first.stderr
    assert (tmp_path / "plan.md").read_text() == out
    assert len(list(cache.glob("*.json"))) == 2
    # the second run reads the cache and prints the same tables
    again = run_medvlm(*args, timeout=120)
    assert again.returncode == 0 and again.stdout == out


@pytest.mark.slow
def test_plan_names_a_run_it_cannot_estimate(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data": {"root": str(tmp_path)},
                "runs": {
                    "mystery": {"family": "paligemma", "checkpoint": "/x/model", "image_size": 224}
                },
            }
        )
    )
    done = run_medvlm("plan", config, "--no-cache", "--profile", REPO / "profiles" / "slurm")
    assert done.returncode == 1
    assert "mystery: no estimate: /x/model: not here" in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("family", "remat", "batch"), [("paligemma", False, 8), ("medgemma", True, 2)]
)
def test_estimate_matches_the_measured_growth_of_a_real_step(family, remat, batch):
    """The benchmark's check (BENCHMARKS.md): the resident set's growth over a real CPU step."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import memory_plan

    estimated = memory_plan.child(f"{family}_estimate", remat, batch)
    measured = memory_plan.child(f"{family}_measure", remat, batch)
    if family == "paligemma":  # XLA's temporaries as compiled, plus its runtime's own buffers
        assert 0.95 * estimated <= measured <= 1.15 * estimated, (estimated, measured)
    else:  # every tensor as counted
        assert 0.97 * estimated <= measured <= 1.05 * estimated, (estimated, measured)


@pytest.mark.slow
def test_readme_table_is_what_the_command_prints(tmp_path):
    """README's plan of config/flare25.yaml, rerun from scratch (no cache)."""
    shown = read_block((REPO / "README.md").read_text(), "memory-plan", "README.md")
    done = run_medvlm("plan", "config/flare25.yaml", "--cache", tmp_path, cwd=REPO, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == shown


def checkpoint_dirs(tmp_path) -> tuple[Path, Path]:
    """``(paligemma, medgemma)`` folders of tiny models: a config.json, the rest empty."""
    pg, mg = tmp_path / "pg", tmp_path / "mg"
    pg.mkdir()
    (pg / "config.json").write_text(
        json.dumps(tiny(vocab_size=256, image_size=32, width=32, depth=2, patch=8).to_json())
    )
    (pg / "params.npz").write_bytes(b"")
    (pg / "tokenizer.model").write_bytes(b"")
    mg.mkdir()
    (mg / "config.json").write_text(json.dumps(TINY_GEMMA3))
    return pg, mg


@pytest.mark.slow
def test_medgemma_expert_run_is_sized_with_every_adapter(tmp_path):
    """``train.experts: task_type`` + ``shared_lora`` with data the plan cannot read: one
    expert per task type (7) and the shared adapter, 8 in all. The optimizer holds all 8, a step
    trains 2 (shared + one group), and with 2 micro-batches an update holds the gradients of 2
    groups' adapters beside the shared one's."""
    from medvlm.models.medgemma.memory import estimate, plan_input

    _, mg = checkpoint_dirs(tmp_path)
    train = {"batch_size": 1, "grad_accum": 2, "lora_rank": 4, "lora_alpha": 8}
    run = {"family": "medgemma", "checkpoint": str(mg), "image_size": 32, "train": train}
    experts = {**run, "train": {**train, "experts": "task_type", "shared_lora": True}}
    plain, many = plan_input(run, 8), plan_input(experts, 8)
    assert plain.adapters is None
    assert many.adapters == (
        "8 LoRA adapters (shared + 7 experts), one expert per task type: the plan cannot read "
        "the data's task types"
    )
    assert many.spec["adapters"] == 8 and plain.spec["adapters"] == 1  # so in the cache key
    one, eight = estimate(plain.spec, (1,)), estimate(many.spec, (1, 2))
    # one adapter of rank 4 on every linear layer, by hand: a text layer's q (64→64), k and v
    # (64→32 each), o (64→64), gate and up (64→256), down (256→64); a vision layer's q, k, v,
    # out (32→32), fc1 (32→64), fc2 (64→32); r × (in + out) each, 5 text and 4 vision layers
    text = 4 * (128 + 96 + 96 + 128 + 320 + 320 + 320)
    vision = 4 * (4 * 64 + 96 + 96)
    adapter = 5 * text + 4 * vision
    assert one["trainable_params"] == adapter and eight["trainable_params"] == 8 * adapter
    assert eight["params"] == one["params"]  # the base model's
    [plain_row], [row, none] = ([r for r in out["rows"] if not r["remat"]] for out in (one, eight))
    fp32 = 4  # PEFT keeps the adapters in float32 beside bf16 weights
    assert row["weights"] - plain_row["weights"] == 7 * adapter * fp32
    assert row["optimizer"] == 8 * plain_row["optimizer"]  # AdamW's moments of every adapter
    assert plain_row["gradients"] == adapter * fp32
    assert row["gradients"] == 3 * adapter * fp32  # shared + this group + the earlier group
    assert row["peak"] > plain_row["peak"] + 7 * adapter * fp32 + 7 * plain_row["optimizer"]
    assert none["devices"] == 2 and none["peak"] is None
    assert none["why"] == "MedGemma trains experts in one process"


@pytest.mark.slow
def test_paligemma_expert_run_compiles_every_adapter_into_the_step(tmp_path):
    """``train.experts: task_type`` over synthetic data sets with four task types: four
    experts, no shared adapter. The compiled update holds every adapter's factors and AdamW
    state and trains one adapter's."""
    from medvlm.models.paligemma.memory import estimate, plan_input

    pg, _ = checkpoint_dirs(tmp_path)
    train = {"batch_size": 2, "seqlen": 8, "lora_rank": 4, "optimizer": "adamw"}
    run = {"family": "paligemma", "checkpoint": str(pg), "image_size": 32, "train": train}
    experts = {**run, "train": {**train, "experts": "task_type"}}
    # classification, detection, instance_detection and counting
    datasets = ["retino", "BUSI-det", "chromosome"]
    data = {"root": str(tmp_path), "synthetic": {}, "datasets": datasets}
    plain, many = plan_input(run, 8, data), plan_input(experts, 8, data)
    assert plain.adapters is None and many.adapters == "4 LoRA adapters (4 experts)"
    assert many.spec["experts"] == {"groups": 4, "shared": False}
    one, four = estimate(plain.spec, (1,), threads=2), estimate(many.spec, (1,), threads=2)
    # the LLM's einsums (2 layers, width 32, 4 heads and 2 KV heads of 8, MLP 64), rank 4:
    # r × (in + out) per layer of q (32→32), kv (32→32), attn_vec (32→32), gating (32→128),
    # linear (64→32)
    adapter = 2 * 4 * (64 + 64 + 64 + 160 + 96)
    assert one["trainable_params"] == adapter and four["trainable_params"] == 4 * adapter
    fp32 = 4
    for plain_row, row in zip(one["rows"], four["rows"], strict=True):
        assert row["weights"] - plain_row["weights"] == 3 * adapter * fp32
        assert row["optimizer"] - plain_row["optimizer"] == 3 * 2 * adapter * fp32  # mu, nu
        assert row["gradients"] == plain_row["gradients"] == adapter * fp32  # one group's
        extra = 3 * 3 * adapter * fp32
        assert row["peak"] - plain_row["peak"] >= 0.9 * extra, (row, plain_row)
