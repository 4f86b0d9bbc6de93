"""``medvlm export``: trained tiny models of both families out of the pipeline, loaded back by
transformers / PEFT with no code of ours, the model card, and the workflow's ``export:`` rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from medvlm.config import load_schema
from medvlm.data.shards import build_shards
from medvlm.io import write_json, write_jsonl
from medvlm.models.base import (
    SplitData,
    checkpoint_digest,
    checkpoint_dir_files,
    training_fingerprint,
)
from medvlm.models.export import DTYPES, FORMAT_NAMES, export_model
from medvlm.models.saved import save_run
from tests.support.cli import run_medvlm
from tests.support.medgemma_data import SHARD_SIZE, colour_records
from tests.support.snakemake_runner import planned_jobs, run_snakemake, tiny_runs_config

# A score file as `medvlm score` writes it, cut to what the card reads (hand-made numbers).
SCORES = {
    "profiles": {
        "default": {
            "classification": {
                "n": 4,
                "pooled": {"balanced_accuracy": 0.75},
                "ci": {"balanced_accuracy": [0.5, 1.0]},
            }
        }
    }
}


def workflow_data(root: Path, seed: int = 0) -> Path:
    """Colour questions laid out as the workflow's results/data: splits/ and shards/<split>/16."""
    for split, count in (("train", 8), ("val", 4)):
        records = colour_records(root / "images", split, count, seed)
        path = root / "data" / "splits" / f"{split}.jsonl"
        write_jsonl(path, records)
        build_shards(path, root / "data" / "shards" / split / str(SHARD_SIZE), SHARD_SIZE)
    return root / "data"


def data_split(data: Path, split: str) -> SplitData:
    return SplitData(data / "splits" / f"{split}.jsonl", data / "shards" / split / str(SHARD_SIZE))


@pytest.fixture(scope="module")
def medgemma_run(tmp_path_factory):
    """A MedGemma run trained for two LoRA steps, laid out as the workflow leaves it:
    results/models/<run> (with run.json), results/data, results/scores/<run>/test.json."""
    from medvlm.models.medgemma.demo_model import build_demo_model
    from medvlm.models.medgemma.train import train
    from tests.support.medgemma_data import demo_texts

    results = tmp_path_factory.mktemp("export") / "results"
    (results / "images").mkdir(parents=True)
    data = workflow_data(results)
    base = results / "demo_models" / "medgemma"
    build_demo_model(base, demo_texts(data_split(data, "train")), {})
    run = {
        "family": "medgemma",
        "checkpoint": str(base),
        "image_size": SHARD_SIZE,
        "seed": 0,
        "train": {
            "steps": 2,
            "batch_size": 4,
            "grad_accum": 1,
            "learning_rate": 0.05,
            "warmup_fraction": 0,
            "val_every": 2,
            "select": "final",
            "activation_checkpointing": False,
        },
    }
    model = results / "models" / "mg"
    train(run, data_split(data, "train"), data_split(data, "val"), model, results / "resume")
    save_run(model, run)
    write_json(results / "scores" / "mg" / "test.json", SCORES)
    return results, run


def gemma_inputs(processor):
    import numpy as np

    prompt = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "colour?"}]}],
        add_generation_prompt=True,
        tokenize=False,
    )
    image = np.random.default_rng(0).integers(0, 256, (20, 20, 3), dtype=np.uint8)
    return processor(images=[[image]], text=[prompt], add_special_tokens=False, return_tensors="pt")


def test_a_merged_medgemma_gives_the_adapter_models_logits(medgemma_run, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor

    results, run = medgemma_run
    out = tmp_path / "merged"
    export_model(results / "models" / "mg", "hf", out)
    assert not list(out.glob("adapter_*"))  # a plain model: no adapter left to apply
    merged = AutoModelForImageTextToText.from_pretrained(out, local_files_only=True).eval()
    processor = AutoProcessor.from_pretrained(out, local_files_only=True)
    base = AutoModelForImageTextToText.from_pretrained(
        run["checkpoint"], local_files_only=True, dtype=torch.float32
    )
    adapted = PeftModel.from_pretrained(base, results / "models" / "mg" / "best").eval()
    inputs = gemma_inputs(processor)
    with torch.no_grad():
        ours, theirs = adapted(**inputs).logits, merged(**inputs).logits
    assert merged.dtype == torch.float32  # the demo base checkpoint's type
    torch.testing.assert_close(theirs, ours, atol=1e-4, rtol=1e-4)
    with adapted.disable_adapter(), torch.no_grad():
        untrained = adapted(**inputs).logits
    assert (untrained - ours).abs().max() > 1e-3  # the adapter changed the model


def test_a_merged_medgemma_is_saved_in_its_bases_type_or_the_one_asked(medgemma_run, tmp_path):
    import shutil

    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    results, run = medgemma_run
    model = results / "models" / "mg"
    f32, bf16 = tmp_path / "f32", tmp_path / "bf16"
    export_model(model, "hf", f32)
    export_model(model, "hf", bf16, dtype="bfloat16")
    inputs = gemma_inputs(AutoProcessor.from_pretrained(f32, local_files_only=True))
    logits = []
    for folder, dtype in ((f32, torch.float32), (bf16, torch.bfloat16)):
        loaded = AutoModelForImageTextToText.from_pretrained(folder, local_files_only=True)
        assert loaded.dtype == dtype
        with torch.no_grad():
            logits.append(loaded.eval().float()(**inputs).logits)
    torch.testing.assert_close(logits[1], logits[0], atol=0.1, rtol=0.05)  # bf16 rounding

    # a bf16 base (as google/medgemma-4b-it is stored) gives a bf16 merged model by default
    base16 = tmp_path / "base16"
    AutoModelForImageTextToText.from_pretrained(
        run["checkpoint"], local_files_only=True, dtype=torch.bfloat16
    ).save_pretrained(base16)
    AutoProcessor.from_pretrained(run["checkpoint"], local_files_only=True).save_pretrained(base16)
    on_bf16 = tmp_path / "models" / "mg"
    shutil.copytree(model, on_bf16)
    save_run(on_bf16, {**run, "checkpoint": str(base16)})
    export_model(on_bf16, "hf", tmp_path / "merged16")
    merged = AutoModelForImageTextToText.from_pretrained(tmp_path / "merged16")
    assert merged.dtype == torch.bfloat16


def test_the_adapter_export_loads_with_peft(medgemma_run, tmp_path):
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForImageTextToText

    results, run = medgemma_run
    out = tmp_path / "adapter"
    export_model(results / "models" / "mg", "adapter", out)
    kept = load_file(results / "models" / "mg" / "best" / "adapter_model.safetensors")
    base = AutoModelForImageTextToText.from_pretrained(run["checkpoint"], local_files_only=True)
    model = PeftModel.from_pretrained(base, out)
    loaded = {name: tensor for name, tensor in model.state_dict().items() if "lora_" in name}
    assert len(loaded) == len(kept) > 0
    for name, tensor in kept.items():
        match = [
            value for key, value in loaded.items() if key.startswith(name.removesuffix(".weight"))
        ]
        assert len(match) == 1 and torch.equal(match[0], tensor), name


def card_sections(card: str) -> dict[str, str]:
    sections = {}
    for block in card.split("\n## ")[1:]:
        title, _, body = block.partition("\n")
        sections[title] = body
    return sections


def test_the_cli_refuses_a_non_empty_folder_then_force_replaces_it(medgemma_run):
    results, run = medgemma_run
    out = results / "exports" / "mg"
    out.mkdir(parents=True)
    (out / "mine.txt").write_text("keep me")
    model = results / "models" / "mg"
    refused = run_medvlm("export", "--model", model, "--format", "adapter", "--out", out)
    assert refused.returncode == 1 and "not empty; give --force" in refused.stderr
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    assert not [p for p in out.parent.iterdir() if p.name != "mg"]  # no temporary left

    forced = run_medvlm("export", "--model", model, "--format", "adapter", "--out", out, "--force")
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert not (out / "mine.txt").exists() and (out / "adapter_config.json").is_file()
    # the workflow's data folder and score file beside results/models are found
    assert f"data: {results / 'data'}" in forced.stderr
    sections = card_sections((out / "README.md").read_text())
    assert sections["Base checkpoint"].strip() == f"`{run['checkpoint']}`"
    assert "learning_rate: 0.05" in sections["Training settings"]
    assert "lora_rank: " in sections["Training settings"]  # defaults filled in
    assert "| classification · balanced_accuracy |" in sections["Test scores"]
    assert "| mg | 0.750 (0.500–1.000) |" in sections["Test scores"]
    # how to ask: the run's image size and each task's prompt, as training wrote them
    inputs = sections["Inputs"]
    assert f"resized to {SHARD_SIZE} px" in inputs and "chat template" in inputs
    assert "| counting | `QUESTION Answer with a number.` |" in inputs
    from medvlm.models.medgemma.settings import MedGemmaRun

    data = results / "data"
    expected = training_fingerprint(
        MedGemmaRun.from_run(run), checkpoint_dir_files(Path(run["checkpoint"])),
        Path(run["checkpoint"]), data_split(data, "train"), data_split(data, "val"),
    )  # fmt: skip
    for part, digest in expected.items():
        assert f"| {part} | `{digest}` |" in sections["Data fingerprint"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--format", "big_vision"], "'big_vision' is not a format of a medgemma model"),
        (["--dtype", "bfloat16"], "for --format hf only"),
        (["--model", "{results}/data"], "not a trained run's folder (no run.json)"),
        (["--model", "{results}/nowhere"], "is not a folder"),
        (["--scores", "{results}/data/splits/train.jsonl"], "splits/train.jsonl (run 'mg')"),
    ],
)
def test_bad_exports_fail_naming_the_problem_and_write_nothing(medgemma_run, args, message):
    results, _ = medgemma_run
    given = {"--model": str(results / "models" / "mg"), "--format": "adapter",
             "--out": str(results / "bad")}  # fmt: skip
    for flag, value in zip(args[::2], args[1::2], strict=True):
        given[flag] = value.format(results=results)
    result = run_medvlm("export", *[part for pair in given.items() for part in pair])
    assert result.returncode == 1 and message in result.stderr, result.stderr[-2000:]
    assert not [p for p in results.iterdir() if p.name.startswith((".bad", "bad"))]


def test_the_schema_knows_the_formats_the_code_has():
    export = load_schema()["properties"]["export"]["properties"]
    assert tuple(export["format"]["enum"]) == FORMAT_NAMES
    assert tuple(export["dtype"]["enum"]) == DTYPES


@pytest.mark.workflow
def test_the_export_block_adds_one_export_per_trained_run(tmp_path):
    config = tiny_runs_config(tmp_path)
    plain = planned_jobs(run_snakemake(tmp_path, config, "-n"))
    assert "export" not in plain
    config["export"] = {"format": "hf"}
    planned = planned_jobs(run_snakemake(tmp_path, config, "-n"))
    assert planned == {**plain, "export": 2}  # pg and mg, not the zero-shot mg_zero_shot
    config["export"] = {"format": "adapter"}
    refused = run_snakemake(tmp_path, config, "-n")
    assert refused.returncode != 0
    assert "config key export.format: 'adapter' is not a format of a paligemma model" in (
        refused.stderr + refused.stdout
    )


@pytest.fixture(scope="module")
def paligemma_run(tmp_path_factory):
    """A PaliGemma run trained with LoRA for two steps (its kept weights: the base with the
    factors merged in), laid out as the workflow leaves it."""
    from medvlm.models.base import get_family
    from tests.support.medgemma_data import demo_texts

    results = tmp_path_factory.mktemp("export-pg") / "results"
    (results / "images").mkdir(parents=True)
    data = workflow_data(results)
    family = get_family("paligemma")
    base = results / "demo_models" / "paligemma"
    demo = {"image_size": SHARD_SIZE, "patch": 8, "width": 16, "vocab_size": 400}
    family.build_demo_model(base, demo_texts(data_split(data, "train")), demo)
    run = {
        "family": "paligemma",
        "checkpoint": str(base),
        "image_size": SHARD_SIZE,
        "seed": 0,
        "train": {
            "steps": 2,
            "batch_size": 4,
            "learning_rate": 0.05,
            "optimizer": "adam",
            "lora_rank": 2,
            "val_every": 2,
            "save_every": 2,
            "log_every": 1,
            "seqlen": 48,
            "select": "loss",
            "val_examples": 4,
        },
    }
    model = results / "models" / "pg"
    family.train(run, data_split(data, "train"), data_split(data, "val"), model, results / "r")
    save_run(model, run)
    return results, run


def paligemma_logits_ours(model_dir: Path, image, tokens, prefix: int):
    """Our model's f32 logits for one image and token row (``prefix`` tokens fully attended)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from medvlm.models.paligemma.checkpoint import CONFIG_NAME, load_params
    from medvlm.models.paligemma.loading import model_config
    from medvlm.models.paligemma.model import PaliGemma

    config = model_config(model_dir / "best.npz", model_dir / CONFIG_NAME)
    params = jax.tree.map(
        lambda a: np.asarray(a, np.float32), load_params(model_dir / "best.npz", config)
    )
    mask_ar = jnp.array([[0] * prefix + [1] * (len(tokens) - prefix)])
    logits, _ = PaliGemma(config).apply(
        {"params": params}, jnp.asarray(image[None]), jnp.array([tokens]), mask_ar
    )
    return np.asarray(logits[0]), config


def test_a_paligemma_hf_export_loads_in_transformers_with_our_logits(paligemma_run, tmp_path):
    import numpy as np
    import torch
    from transformers import AutoProcessor, PaliGemmaForConditionalGeneration

    results, _ = paligemma_run
    model_dir = results / "models" / "pg"
    out = tmp_path / "hf"
    export_model(model_dir, "hf", out, dtype="float32")
    model = PaliGemmaForConditionalGeneration.from_pretrained(out, local_files_only=True).eval()
    processor = AutoProcessor.from_pretrained(out, local_files_only=True)

    image = np.random.default_rng(0).integers(0, 256, (SHARD_SIZE, SHARD_SIZE, 3), np.uint8)
    tokens = [2, 17, 40, 99, 5, 300, 12, 1]
    ours, config = paligemma_logits_ours(model_dir, image, tokens, prefix=5)
    n_image = config.img.num_tokens
    image_id = model.config.image_token_id
    input_ids = torch.tensor([[image_id] * n_image + tokens])
    token_type_ids = torch.tensor([[0] * (n_image + 5) + [1] * 3])
    pixels = processor.image_processor(images=[image], return_tensors="pt")["pixel_values"]
    expected = torch.tensor(image / 127.5 - 1, dtype=torch.float32).permute(2, 0, 1)[None]
    torch.testing.assert_close(pixels, expected, atol=1e-6, rtol=0)  # same normalisation
    with torch.no_grad():
        logits = model(
            input_ids=input_ids, pixel_values=pixels, token_type_ids=token_type_ids
        ).logits[0, n_image:, : config.llm.vocab_size]
    np.testing.assert_allclose(logits.numpy(), ours, atol=1e-4, rtol=0)
    # the processor's tokenizer is ours: the same ids for the same text
    from medvlm.models.paligemma.tokenizer import Tokenizer

    text = "Which colour is the square?"
    theirs = processor.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert theirs == Tokenizer(model_dir / "tokenizer.model").encode(text)
    # as a server runs it: the processor's image tokens, prompt and prefix mask into the model
    inputs = processor(images=[image], text=["<image>" + text], return_tensors="pt")
    ids = inputs["input_ids"][0].tolist()
    assert ids[:n_image] == [image_id] * n_image
    ours, _ = paligemma_logits_ours(model_dir, image, ids[n_image:], prefix=len(ids) - n_image)
    with torch.no_grad():
        logits = model(**inputs).logits[0, n_image:, : config.llm.vocab_size]
    np.testing.assert_allclose(logits.numpy(), ours, atol=1e-4, rtol=0)


def test_a_paligemma_big_vision_export_gives_back_the_same_arrays(paligemma_run, tmp_path):
    import numpy as np

    from medvlm.models.paligemma.checkpoint import checkpoint_files, read_npz
    from medvlm.models.paligemma.hf_layout import read_hf

    results, _ = paligemma_run
    model_dir = results / "models" / "pg"
    kept = read_npz(model_dir / "best.npz")
    out = tmp_path / "bv"
    export_model(model_dir, "big_vision", out, data_dir=results / "data")
    base_dir = results / "demo_models" / "paligemma"
    files = [base_dir / name for name in ("params.npz", "tokenizer.model", "config.json")]
    digest = checkpoint_digest(files, base_dir)  # what the training fingerprinted
    assert f"| initial checkpoint | `{digest}` |" in (out / "README.md").read_text()
    npz, tokenizer, config = checkpoint_files(out)  # a checkpoint another run can start from
    exported = read_npz(npz)
    assert exported.keys() == kept.keys()
    for name, array in kept.items():
        assert exported[name].dtype == array.dtype and np.array_equal(exported[name], array), name
    assert tokenizer.read_bytes() == (model_dir / "tokenizer.model").read_bytes()
    # LoRA merged: no factors, and the targeted weights moved off the base's
    base = read_npz(base_dir / "params.npz")
    assert not [name for name in exported if "lora" in name]
    changed = [name for name in base if not np.array_equal(base[name], exported[name])]
    assert changed and all(name.startswith("llm/layers/") for name in changed), changed
    # the transformers export holds the same arrays too (kept dtypes: bit for bit)
    export_model(model_dir, "hf", tmp_path / "hf")
    flat, _ = read_hf(tmp_path / "hf")
    for name, array in kept.items():
        assert flat[name].dtype == array.dtype and np.array_equal(flat[name], array), name


def test_a_failed_export_leaves_the_old_folder_as_it_was(medgemma_run, tmp_path):
    import shutil

    results, _ = medgemma_run
    broken = tmp_path / "models" / "mg"
    shutil.copytree(results / "models" / "mg", broken)
    (broken / "best" / "adapter_model.safetensors").unlink()  # fails inside the export
    out = tmp_path / "exports" / "mg"
    out.mkdir(parents=True)
    (out / "mine.txt").write_text("keep me")
    with pytest.raises((OSError, ValueError)):
        export_model(broken, "hf", out, force=True)
    assert [p.name for p in out.parent.iterdir()] == ["mg"]  # no temporary left
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
