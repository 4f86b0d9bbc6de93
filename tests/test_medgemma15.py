"""MedGemma 1.5 (``google/medgemma-1.5-4b-it``, the base of the FLARE 2026 runner-up) through the
MedGemma family: a tiny folder laid out like the release loads, trains and predicts.

The folder carries the release's config structure and flags at tiny widths: a
``Gemma3ForConditionalGeneration`` config written by transformers 4.5x, so the rotary settings
are the legacy flat keys (``rope_scaling`` linear ×8 for the full-attention layers,
``rope_theta``, ``rope_local_base_freq``) that transformers 5 turns into ``rope_parameters``,
the attention pattern is an explicit ``layer_types`` list (five sliding layers, then one
full), ``use_bidirectional_attention`` is false, ``dtype`` names bfloat16, and the processor is
saved as ``preprocessor_config.json`` (a ``Gemma3ImageProcessor`` with the pan-and-scan keys
off) beside ``processor_config.json`` (``image_seq_length``), as MedGemma 4B's folder is.
"""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file

from medvlm.io import read_jsonl
from medvlm.models.medgemma.demo_model import (
    DemoSettings,
    build_processor,
    random_model,
    train_tokenizer,
)
from medvlm.models.medgemma.model import load_model, load_processor
from medvlm.models.medgemma.predict import predict
from medvlm.models.medgemma.train import train
from medvlm.tasks import task_spec
from tests.support.medgemma_data import colour_split, demo_texts

LAYERS = 6  # the release: 34, the same pattern
SLIDING, FULL = "sliding_attention", "full_attention"
LAYER_TYPES = [FULL if (i + 1) % 6 == 0 else SLIDING for i in range(LAYERS)]
TINY = DemoSettings()  # 32 px, patch 8, 4 image tokens (the release: 896 px, patch 14, 256)


def release_config(tokenizer) -> dict:
    """MedGemma 1.5's ``config.json`` with tiny widths (the release's value in each comment)."""
    ids = tokenizer.convert_tokens_to_ids
    return {
        "architectures": ["Gemma3ForConditionalGeneration"],
        "boi_token_index": ids("<start_of_image>"),  # 255999
        "dtype": "bfloat16",
        "eoi_token_index": ids("<end_of_image>"),  # 256000
        "eos_token_id": [tokenizer.eos_token_id, ids("<end_of_turn>")],  # [1, 106]
        "image_token_index": ids("<image_soft_token>"),  # 262144
        "initializer_range": 0.02,
        "mm_tokens_per_image": TINY.mm_tokens_per_image,  # 256
        "model_type": "gemma3",
        "text_config": {
            "attention_bias": False,
            "attention_dropout": 0.0,
            "attn_logit_softcapping": None,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "final_logit_softcapping": None,
            "head_dim": 32,  # 256
            "hidden_activation": "gelu_pytorch_tanh",
            "hidden_size": 64,  # 2560
            "initializer_range": 0.02,
            "intermediate_size": 128,  # 10240
            "layer_types": LAYER_TYPES,
            "max_position_embeddings": 131072,
            "model_type": "gemma3_text",
            "num_attention_heads": 2,  # 8
            "num_hidden_layers": LAYERS,  # 34
            "num_key_value_heads": 1,  # 4
            "pad_token_id": tokenizer.pad_token_id,
            "query_pre_attn_scalar": 32,  # 256
            "rms_norm_eps": 1e-06,
            "rope_local_base_freq": 10000.0,
            "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
            "rope_theta": 1000000.0,
            "sliding_window": 1024,
            "use_bidirectional_attention": False,
            "use_cache": True,
            "vocab_size": len(tokenizer),  # 262208
        },
        "vision_config": {
            "attention_dropout": 0.0,
            "hidden_act": "gelu_pytorch_tanh",
            "hidden_size": TINY.vision_hidden_size,  # 1152
            "image_size": TINY.image_size,  # 896
            "intermediate_size": TINY.vision_intermediate_size,  # 4304
            "layer_norm_eps": 1e-06,
            "model_type": "siglip_vision_model",
            "num_attention_heads": TINY.vision_heads,  # 16
            "num_channels": 3,
            "num_hidden_layers": TINY.vision_layers,  # 27
            "patch_size": TINY.patch_size,  # 14
            "vision_use_head": False,
        },
    }


def release_processor_files(folder) -> None:
    """The processor as the release lays it out: image processor and processor configs apart."""
    size = {"height": TINY.image_size, "width": TINY.image_size}
    image = {
        "do_convert_rgb": None,
        "do_normalize": True,
        "do_pan_and_scan": None,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_processor_type": "Gemma3ImageProcessor",
        "image_seq_length": TINY.mm_tokens_per_image,
        "image_std": [0.5, 0.5, 0.5],
        "pan_and_scan_max_num_crops": None,
        "pan_and_scan_min_crop_size": None,
        "pan_and_scan_min_ratio_to_activate": None,
        "processor_class": "Gemma3Processor",
        "resample": 2,
        "rescale_factor": 1 / 255,
        "size": size,
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(image, indent=2))
    processor = {"image_seq_length": TINY.mm_tokens_per_image, "processor_class": "Gemma3Processor"}
    (folder / "processor_config.json").write_text(json.dumps(processor, indent=2))


@pytest.fixture(scope="module")
def medgemma15(tmp_path_factory):
    from transformers import AutoConfig

    root = tmp_path_factory.mktemp("medgemma15")
    train_data = colour_split(root / "data", "train", 16)
    val_data = colour_split(root / "data", "val", 6, seed=1)
    tokenizer = train_tokenizer(demo_texts(train_data, val_data), TINY.vocab_size)
    release = release_config(tokenizer)
    folder = root / "medgemma-1.5-4b-it-tiny"
    random_model(AutoConfig.for_model(**release), tokenizer, seed=0).save_pretrained(folder)
    build_processor(tokenizer, TINY).save_pretrained(folder)
    (folder / "config.json").write_text(json.dumps(release, indent=2))
    release_processor_files(folder)
    return folder, train_data, val_data


def test_the_release_config_loads_with_its_rotary_and_attention_settings(medgemma15):
    folder, _, _ = medgemma15
    model, processor = load_model(folder), load_processor(folder)
    text = model.config.text_config
    assert text.layer_types == LAYER_TYPES
    assert text.rope_parameters["full_attention"]["rope_type"] == "linear"
    assert text.rope_parameters["full_attention"]["factor"] == 8.0
    assert text.rope_parameters["full_attention"]["rope_theta"] == 1_000_000.0
    assert text.rope_parameters["sliding_attention"]["rope_theta"] == 10_000.0
    assert text.sliding_window == 1024  # not halved: attention is causal
    assert processor.image_seq_length == TINY.mm_tokens_per_image
    assert type(processor.image_processor).__name__ == "Gemma3ImageProcessorPil"  # no torchvision


def test_it_trains_and_predicts_through_the_family(medgemma15, tmp_path):
    folder, train_data, val_data = medgemma15
    run = {
        "family": "medgemma",
        "checkpoint": str(folder),
        "seed": 0,
        "train": {
            "steps": 4,
            "batch_size": 4,
            "grad_accum": 1,
            "learning_rate": 5e-3,
            "warmup_fraction": 0,
            "val_every": 2,
            "save_every": 2,
            "log_every": 1,
            "select": "loss",
        },
        "decode": {"batch_size": 6, "max_new_tokens": {"classification": 3}},
    }
    out = tmp_path / "model"
    train(run, train_data, val_data, out, tmp_path / "resume")

    for kept in ("best", "final"):
        adapter = load_file(out / kept / "adapter_model.safetensors")
        lora_b = [tensor for name, tensor in adapter.items() if "lora_B" in name]
        assert lora_b and any(tensor.abs().sum() > 0 for tensor in lora_b)  # B starts at zero
    config = json.loads((out / "final" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(folder)
    assert (out / "train_log.csv").read_text().count("\n") >= 5  # header + 4 steps

    predictions = tmp_path / "val.jsonl"
    predict(run, out, val_data, predictions)
    rows = {row["uid"]: row for row in read_jsonl(predictions)}
    records = val_data.records()
    assert sorted(rows) == sorted(r.uid for r in records)
    for record in records:
        answer = rows[record.uid]["prediction"]
        assert task_spec(record.task).is_well_formed(answer, record.question), answer


def test_the_memory_plan_knows_medgemma15_by_name():
    from medvlm.models.medgemma.memory import MEDGEMMA_4B, architecture
    from medvlm.models.medgemma.settings import MedGemmaRun

    run = {"family": "medgemma", "checkpoint": "/models/google/medgemma-1.5-4b-it"}
    config, source = architecture(MedGemmaRun.from_run(run))
    assert config == MEDGEMMA_4B  # the same Gemma 3 4B architecture as MedGemma 4B
    assert source == "known medgemma-1.5-4b config (named in the path)"
