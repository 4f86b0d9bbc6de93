"""PaliGemma from and to the transformers layout (medvlm.models.paligemma.hf_layout): tiny
random models made by transformers and by us, compared logit for logit and token for token;
bad folders refused naming the file and tensor."""

import copy
import json
import shutil
from pathlib import Path

import jax
import ml_dtypes
import numpy as np
import pytest
import torch
from safetensors import safe_open
from transformers import (
    AutoProcessor,
    GemmaTokenizer,
    PaliGemmaConfig,
    PaliGemmaForConditionalGeneration,
    PaliGemmaProcessor,
    SiglipImageProcessor,
)

from medvlm.models.paligemma import hf_layout
from medvlm.models.paligemma.checkpoint import (
    CheckpointMismatch,
    checkpoint_files,
    load_params,
    read_npz,
    save_params,
)
from medvlm.models.paligemma.config import tiny
from medvlm.models.paligemma.decode import Decoder
from medvlm.models.paligemma.hf_layout import is_hf_folder, read_hf, write_hf
from medvlm.models.paligemma.model import PaliGemma
from medvlm.models.paligemma.params import cast, flatten, init_params, unflatten
from medvlm.models.paligemma.tokenizer import (
    BOS,
    EOS,
    JsonTokenizer,
    Tokenizer,
    build_demo_tokenizer,
    load_tokenizer,
)

SIZE, PATCH, WIDTH = 32, 8, 32
N_IMG = (SIZE // PATCH) ** 2
TEXTS = ["what organ is shown? liver", "detect kidney", "answer en is it normal? yes no"] * 3
PREFIX, SUFFIX = "what organ is shown?", "liver"


@pytest.fixture(scope="module")
def sp_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sp") / "tokenizer.model"
    build_demo_tokenizer(TEXTS, path, 400)
    return path


def hf_config(vocab: int, gemma1: bool = False) -> PaliGemmaConfig:
    """A tiny PaliGemma 2: Gemma 2 text (GQA, soft caps), SigLIP vision; with ``gemma1`` a
    PaliGemma 1 (Gemma text, as many key/value heads as query heads: big_vision's fused qkv)."""
    rows = hf_layout.hf_rows(vocab)
    text_config = dict(
        model_type="gemma2",
        hidden_size=WIDTH,
        intermediate_size=2 * WIDTH,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        vocab_size=rows,
        query_pre_attn_scalar=8,
        final_logit_softcapping=30.0,
    )
    if gemma1:
        text_config.update(model_type="gemma", num_key_value_heads=4)
        del text_config["query_pre_attn_scalar"], text_config["final_logit_softcapping"]
    vision_config = dict(
        model_type="siglip_vision_model",
        hidden_size=WIDTH,
        intermediate_size=2 * WIDTH,
        num_hidden_layers=2,
        num_attention_heads=2,
        patch_size=PATCH,
        image_size=SIZE,
        vision_use_head=False,
    )
    return PaliGemmaConfig(
        vision_config=vision_config,
        text_config=text_config,
        image_token_index=vocab,
        projection_dim=WIDTH,
        hidden_size=WIDTH,
        vocab_size=rows,
    )


def save_processor(sp_model: Path, out: Path) -> None:
    """transformers' own processor files: tokenizer.json converted from the sentencepiece model."""
    tokenizer = GemmaTokenizer.from_pretrained(
        sp_model.parent, bos_token="<s>", eos_token="</s>", pad_token="<pad>", mask_token=None
    )
    images = SiglipImageProcessor(size={"height": SIZE, "width": SIZE}, image_seq_length=N_IMG)
    PaliGemmaProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(out)


@pytest.fixture(scope="module")
def hf_model(sp_model):
    """A random tiny transformers PaliGemma with weights large enough to matter."""
    torch.manual_seed(0)
    model = PaliGemmaForConditionalGeneration(hf_config(Tokenizer(sp_model).vocab_size))
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn_like(param) * 0.1)
    return model.eval()


@pytest.fixture(scope="module")
def hf_folders(tmp_path_factory, hf_model, sp_model):
    """The model saved three ways: one f32 file, f32 shards, bf16; tokenizer.json only."""
    root = tmp_path_factory.mktemp("hf")
    folders = {"f32": root / "f32", "sharded": root / "sharded", "bf16": root / "bf16"}
    hf_model.save_pretrained(folders["f32"])
    hf_model.save_pretrained(folders["sharded"], max_shard_size="20KB")
    copy.deepcopy(hf_model).to(torch.bfloat16).save_pretrained(folders["bf16"])
    for folder in folders.values():
        save_processor(sp_model, folder)
    return folders


def inputs(vocab_tokenizer, seed=0):
    """One image and a prefix + suffix, as our model and transformers' take them."""
    image = np.random.default_rng(seed).integers(0, 256, (1, SIZE, SIZE, 3), np.uint8)
    prefix = [BOS, *vocab_tokenizer.encode(PREFIX), *vocab_tokenizer.encode("\n")]
    suffix = [*vocab_tokenizer.encode(SUFFIX), EOS]
    text = np.array([prefix + suffix], np.int32)
    mask_ar = np.array([[0] * len(prefix) + [1] * len(suffix)], np.int32)
    return image, text, mask_ar, prefix


def hf_logits(model, image, text, mask_ar, image_token):
    ids = np.concatenate([np.full((1, N_IMG), image_token), text], axis=1)
    types = np.concatenate([np.zeros((1, N_IMG), np.int64), mask_ar], axis=1)
    pixels = torch.tensor(image.transpose(0, 3, 1, 2) / 127.5 - 1.0, dtype=torch.float32)
    with torch.no_grad():
        out = model(
            input_ids=torch.tensor(ids),
            pixel_values=pixels,
            token_type_ids=torch.tensor(types),
            attention_mask=torch.ones(ids.shape, dtype=torch.long),
        )
    return out.logits[0, N_IMG:].numpy()


def our_logits(params, config, image, text, mask_ar):
    params = cast(params, np.float32)
    logits, _ = PaliGemma(config).apply({"params": params}, image, text, mask_ar)
    return np.asarray(logits[0])


@pytest.mark.parametrize("kind", ["f32", "sharded", "bf16"])
def test_transformers_folder_is_imported_with_equal_logits(hf_folders, hf_model, sp_model, kind):
    folder = hf_folders[kind]
    assert is_hf_folder(folder) and not is_hf_folder(sp_model.parent)
    if kind == "sharded":
        assert len(hf_layout.weight_files(folder)) > 3
    flat, config = read_hf(folder)
    vocab = Tokenizer(sp_model).vocab_size
    assert config.llm.vocab_size == vocab and config.llm.final_softcap == 30.0
    assert config.img.image_size == SIZE and config.llm.num_kv_heads == 2
    want = "bfloat16" if kind == "bf16" else "float32"
    assert {str(a.dtype) for a in flat.values()} == {want}
    reference = PaliGemmaForConditionalGeneration.from_pretrained(
        folder, attn_implementation="eager", dtype=torch.float32
    ).eval()
    assert AutoProcessor.from_pretrained(folder).image_token_id == vocab  # a coherent folder
    tokenizer = JsonTokenizer(folder / "tokenizer.json")
    image, text, mask_ar, _ = inputs(tokenizer)
    theirs = hf_logits(reference, image, text, mask_ar, vocab)
    ours = our_logits(unflatten(flat), config, image, text, mask_ar)
    assert theirs.shape[1] == hf_layout.hf_rows(vocab) and ours.shape[1] == vocab
    np.testing.assert_allclose(ours, theirs[:, :vocab], atol=1e-4, rtol=0)
    assert np.abs(ours).max() > 1  # the comparison is not between near-zero numbers


def test_paligemma_1_folder_is_imported_with_equal_logits(sp_model, tmp_path):
    torch.manual_seed(1)
    vocab = Tokenizer(sp_model).vocab_size
    model = PaliGemmaForConditionalGeneration(hf_config(vocab, gemma1=True))
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn_like(param) * 0.1)
    model.save_pretrained(tmp_path / "pg1")
    shutil.copyfile(sp_model, tmp_path / "pg1" / "tokenizer.model")
    flat, config = read_hf(tmp_path / "pg1")
    assert config.llm.fused_qkv and not config.llm.post_norms and config.llm.attn_softcap == 0
    assert "llm/layers/attn/qkv_einsum/w" in flat
    image, text, mask_ar, _ = inputs(Tokenizer(sp_model))
    reference = PaliGemmaForConditionalGeneration.from_pretrained(
        tmp_path / "pg1", attn_implementation="eager"
    ).eval()
    theirs = hf_logits(reference, image, text, mask_ar, vocab)
    ours = our_logits(unflatten(flat), config, image, text, mask_ar)
    np.testing.assert_allclose(ours, theirs[:, :vocab], atol=1e-4, rtol=0)
    write_hf(flat, config, sp_model, tmp_path / "again")
    for name, value in read_hf(tmp_path / "again")[0].items():
        assert value.tobytes() == flat[name].tobytes(), name


def test_greedy_tokens_equal_transformers_generate(hf_folders, hf_model, sp_model):
    folder = hf_folders["f32"]
    flat, config = read_hf(folder)
    tokenizer = load_tokenizer(folder / "tokenizer.json")
    image, _, _, prefix = inputs(tokenizer)
    decoder = Decoder(PaliGemma(config), unflatten(flat))
    prompt = np.array([prefix], np.int32)
    ours = decoder.greedy(image, prompt, np.ones(prompt.shape, bool), max_new_tokens=8)[0]
    vocab = config.llm.vocab_size
    ids = torch.tensor([[vocab] * N_IMG + prefix])
    pixels = torch.tensor(image.transpose(0, 3, 1, 2) / 127.5 - 1.0, dtype=torch.float32)
    with torch.no_grad():
        out = hf_model.generate(
            input_ids=ids,
            pixel_values=pixels,
            token_type_ids=torch.zeros_like(ids),
            attention_mask=torch.ones_like(ids),
            max_new_tokens=8,
            do_sample=False,
            # the <image> row and the padding rows are not tokens our model can emit
            suppress_tokens=list(range(vocab, hf_layout.hf_rows(vocab))),
        )
    theirs = out[0, ids.shape[1] :].tolist()
    if EOS in theirs:
        theirs = theirs[: theirs.index(EOS) + 1]
    assert ours.tolist()[: len(theirs)] == theirs
    assert len(set(theirs)) > 1


def test_tokenizer_json_reads_as_sentencepiece_does(hf_folders, sp_model):
    sp, tj = Tokenizer(sp_model), JsonTokenizer(hf_folders["f32"] / "tokenizer.json")
    assert (tj.vocab_size, tj.loc_offset) == (sp.vocab_size, sp.loc_offset)
    for text in [*TEXTS, "<loc0012><loc1000> kidney ; x\n", "é 12.5 ü"]:
        assert tj.encode(text) == sp.encode(text)
        assert tj.decode(sp.encode(text) + [EOS]) == sp.decode(sp.encode(text) + [EOS])
    assert [kind for _, kind in tj.pieces()] == [kind for _, kind in sp.pieces()]


@pytest.fixture(scope="module")
def ours(tmp_path_factory, sp_model):
    """Our tiny random model (image head perturbed) saved as a big_vision checkpoint."""
    folder = tmp_path_factory.mktemp("ours")
    shutil.copyfile(sp_model, folder / "tokenizer.model")
    config = tiny(Tokenizer(sp_model).vocab_size, SIZE, WIDTH, 2, PATCH)
    flat = flatten(jax.device_get(init_params(config, 1)))
    rng = np.random.default_rng(1)
    flat = {name: rng.normal(0, 0.3, v.shape).astype(np.float32) for name, v in flat.items()}
    save_params(unflatten(flat), folder / "params.npz")
    return folder, config


def test_written_folder_loads_in_transformers_with_equal_logits(ours, tmp_path):
    folder, config = ours
    params = read_npz(folder / "params.npz")
    out = tmp_path / "hf"
    write_hf(params, config, folder / "tokenizer.model", out)
    model = PaliGemmaForConditionalGeneration.from_pretrained(out, attn_implementation="eager")
    processor = AutoProcessor.from_pretrained(out)
    vocab = config.llm.vocab_size
    assert processor.image_token_id == vocab == model.config.image_token_index
    assert processor.image_seq_length == N_IMG
    assert processor.image_processor.size == {"height": SIZE, "width": SIZE}
    tokenizer = Tokenizer(folder / "tokenizer.model")
    assert processor.tokenizer.convert_tokens_to_ids("<loc0000>") == tokenizer.loc_offset
    image, text, mask_ar, _ = inputs(tokenizer)
    theirs = hf_logits(model.eval(), image, text, mask_ar, vocab)
    mine = our_logits(unflatten(params), config, image, text, mask_ar)
    np.testing.assert_allclose(mine, theirs[:, :vocab], atol=1e-4, rtol=0)
    assert np.abs(mine).max() > 1
    model.save_pretrained(tmp_path / "again")  # transformers names the tensors as we do
    with (
        safe_open(out / "model.safetensors", "np") as ours_,
        safe_open(tmp_path / "again" / "model.safetensors", "np") as theirs_,
    ):
        assert sorted(ours_.keys()) == sorted(theirs_.keys())


@pytest.mark.parametrize("dtype", [None, "bfloat16"])
def test_npz_to_hf_to_npz_is_bit_exact(ours, tmp_path, dtype):
    folder, config = ours
    params = read_npz(folder / "params.npz")
    if dtype:
        params = {name: value.astype(ml_dtypes.bfloat16) for name, value in params.items()}
    write_hf(unflatten(params), config, folder / "tokenizer.model", tmp_path / "hf")
    back, read_config = read_hf(tmp_path / "hf")
    assert read_config == config
    save_params(unflatten(back), tmp_path / "back.npz")
    again = read_npz(tmp_path / "back.npz")
    assert sorted(again) == sorted(params)
    for name, value in params.items():
        assert again[name].dtype == value.dtype, name
        assert again[name].tobytes() == value.tobytes(), name
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["dtype"] == (
        dtype or "float32"
    )


def test_checkpoint_files_and_load_params_take_a_transformers_folder(hf_folders):
    folder = hf_folders["sharded"]
    weights, tokenizer, config_json = checkpoint_files(folder)
    assert weights.name == hf_layout.INDEX_FILE and tokenizer.name == "tokenizer.json"
    assert config_json == folder / "config.json"
    flat, config = read_hf(folder)
    params = load_params(weights, config)
    for name, value in flatten(params).items():
        assert np.array_equal(value, flat[name]), name


def test_constrained_decoding_vocabulary_from_tokenizer_json(hf_folders, sp_model):
    from medvlm.constrain.vocab import sentencepiece_vocabulary

    from_json = sentencepiece_vocabulary(JsonTokenizer(hf_folders["f32"] / "tokenizer.json"))
    from_sp = sentencepiece_vocabulary(Tokenizer(sp_model))
    assert from_json.size == from_sp.size
    for token in range(from_sp.size):
        assert from_json.text(token) == from_sp.text(token), token
        assert from_json.units(token) == from_sp.units(token), token


# --- bad input -----------------------------------------------------------------------------


def copy_folder(folder: Path, to: Path) -> Path:
    shutil.copytree(folder, to)
    return to


def test_a_folder_in_neither_layout_is_refused(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"\0" * 8)
    (tmp_path / "config.json").write_text('{"model_type": "llava"}')
    assert not is_hf_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path}: expected one \.npz.*transformers"):
        checkpoint_files(tmp_path)


def test_an_index_naming_a_missing_shard_is_refused(hf_folders, tmp_path):
    folder = copy_folder(hf_folders["sharded"], tmp_path / "hf")
    shard = hf_layout.weight_files(folder)[1]
    shard.unlink()
    words = rf"{folder}/model\.safetensors\.index\.json: names shard {shard.name} \(for '"
    with pytest.raises(CheckpointMismatch, match=words):
        checkpoint_files(folder)
    with pytest.raises(CheckpointMismatch, match=words):
        read_hf(folder)


def test_a_tensor_of_the_wrong_shape_is_refused_naming_file_and_tensor(hf_folders, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = copy_folder(hf_folders["f32"], tmp_path / "hf")
    tensors = load_file(folder / "model.safetensors")
    name = "language_model.model.layers.1.mlp.down_proj.weight"  # as save_pretrained names it
    tensors[name] = tensors[name][:, :-1].contiguous()
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    weights, _, config_json = checkpoint_files(folder)
    words = rf"{folder}/model\.safetensors: tensor '{name}' has shape \(32, 63\)"
    with pytest.raises(CheckpointMismatch, match=words + r", config\.json implies \(32, 64\)"):
        load_params(weights, hf_layout.read_config(config_json))


def test_a_vocabulary_without_location_tokens_is_refused(tmp_path):
    from tokenizers import Tokenizer as Backend
    from tokenizers.models import BPE

    vocab = {"<pad>": 0, "</s>": 1, "<s>": 2, "<unk>": 3, "a": 4, "b": 5}
    Backend(BPE(vocab=vocab, merges=[], unk_token="<unk>")).save(str(tmp_path / "tokenizer.json"))
    with pytest.raises(ValueError, match=rf"{tmp_path}/tokenizer\.json: no consecutive <loc0000>"):
        load_tokenizer(tmp_path / "tokenizer.json")


def test_write_hf_leaves_nothing_on_error(ours, sp_model, tmp_path):
    folder, config = ours
    params = read_npz(folder / "params.npz")
    smaller = tiny(100, SIZE, WIDTH, 2, PATCH)  # the tokenizer has more pieces than 100 rows
    with pytest.raises(CheckpointMismatch, match=r"input_embedding"):
        write_hf(params, smaller, folder / "tokenizer.model", tmp_path / "out")
    bad = {**params, "llm/final_norm/scale": np.zeros(WIDTH + 1, np.float32)}
    with pytest.raises(CheckpointMismatch, match=r"'llm/final_norm/scale'"):
        write_hf(bad, config, folder / "tokenizer.model", tmp_path / "out")
    other = tmp_path / "other.model"
    build_demo_tokenizer(["a different vocabulary entirely"], other, 300)
    with pytest.raises(CheckpointMismatch, match=rf"{other}: \d+ pieces but the model has"):
        write_hf(params, config, other, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.model"]


# --- plan time -----------------------------------------------------------------------------


def planned(tmp_path, checkpoint, image_size=SIZE):
    from medvlm.config import validate_config
    from medvlm.run_checks import checked_runs
    from tests.support.snakemake_runner import tiny_runs_config

    config = tiny_runs_config(tmp_path)
    config["runs"] = {
        "pg": {"family": "paligemma", "checkpoint": str(checkpoint), "image_size": image_size}
    }
    return checked_runs(validate_config(config))


def test_plan_accepts_a_transformers_folder(hf_folders, tmp_path):
    assert planned(tmp_path, hf_folders["sharded"])["pg"]["checkpoint"] == str(
        hf_folders["sharded"]
    )


def test_plan_names_the_key_of_a_bad_transformers_checkpoint(hf_folders, tmp_path):
    from medvlm.config import ConfigError

    sharded = copy_folder(hf_folders["sharded"], tmp_path / "sharded")
    hf_layout.weight_files(sharded)[2].unlink()
    with pytest.raises(ConfigError, match=r"config key runs\.pg\.checkpoint: .*names shard"):
        planned(tmp_path, sharded)
    no_config = copy_folder(hf_folders["f32"], tmp_path / "no_config")
    (no_config / "config.json").unlink()
    with pytest.raises(ConfigError, match=r"runs\.pg\.checkpoint: .*needs config\.json"):
        planned(tmp_path, no_config)
    neither = tmp_path / "neither"
    neither.mkdir()
    (neither / "weights.bin").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"runs\.pg\.checkpoint: .*expected one \.npz"):
        planned(tmp_path, neither)
    with pytest.raises(ConfigError, match=r"runs\.pg\.image_size: is 64 but .* for 32 px"):
        planned(tmp_path, hf_folders["f32"], image_size=64)


@pytest.mark.workflow
def test_dry_run_reports_the_image_size_of_a_transformers_checkpoint(hf_folders, tmp_path):
    from tests.support.snakemake_runner import run_snakemake, tiny_runs_config

    config = tiny_runs_config(tmp_path)
    config["runs"]["pg"]["checkpoint"] = str(hf_folders["f32"])
    config["runs"]["pg"]["image_size"] = 64
    result = run_snakemake(tmp_path, config, "-n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "config key runs.pg.image_size: is 64 but the checkpoint" in output, output[-3000:]
    assert "Traceback" not in output


# --- a run from either layout ----------------------------------------------------------------


def test_a_run_from_the_transformers_copy_trains_the_same_weights(tmp_path):
    from medvlm.io import read_jsonl
    from medvlm.models.base import get_family
    from medvlm.models.saved import model_run
    from tests.test_paligemma_family import QUESTION, make_run, make_split

    family = get_family("paligemma")
    train, val = make_split(tmp_path, "train", 8, 0), make_split(tmp_path, "val", 4, 1)
    texts = [QUESTION + " Answer with the option letter.", "A", "B"] * 5
    demo = tmp_path / "demo"
    family.build_demo_model(demo, texts, {"image_size": 16, "patch": 8, "width": 16})
    config = hf_layout.read_config(demo / "config.json")
    write_hf(read_npz(demo / "params.npz"), config, demo / "tokenizer.model", tmp_path / "hf")
    assert is_hf_folder(tmp_path / "hf") and not is_hf_folder(demo)
    finals = []
    for name, checkpoint in (("npz", demo), ("hf", tmp_path / "hf")):
        run = make_run(checkpoint, steps=3, val_every=100, select="final", batch_size=4)
        family.train(run, train, val, tmp_path / f"model_{name}", tmp_path / f"resume_{name}")
        finals.append(read_npz(tmp_path / f"model_{name}" / "final.npz"))
    start = read_npz(demo / "params.npz")
    assert sorted(finals[0]) == sorted(finals[1])
    for name in finals[0]:
        assert finals[0][name].tobytes() == finals[1][name].tobytes(), name
    changed = [
        n
        for n in start
        if start[n].astype(np.float32).tobytes() != finals[0][n].astype(np.float32).tobytes()
    ]
    assert changed  # training moved the weights
    # medvlm predict --model <folder>: the folder alone names the family and the image size
    decode = make_run(demo)["decode"]
    answers = []
    for name, folder in (("npz", demo), ("hf", tmp_path / "hf")):
        run = model_run(folder, decode=decode)
        assert (run["family"], run["image_size"]) == ("paligemma", 16)
        family.predict(run, folder, val, tmp_path / f"{name}.jsonl")
        answers.append([row["answer"] for row in read_jsonl(tmp_path / f"{name}.jsonl")])
    assert answers[0] == answers[1] and len(answers[0]) == 4


# --- configs -------------------------------------------------------------------------------

# config.json as the hub's PaliGemma 2 folders have it: most text keys left to Gemma 2's defaults.
SPARSE = {
    "architectures": ["PaliGemmaForConditionalGeneration"],
    "model_type": "paligemma",
    "image_token_index": 257152,
    "hidden_size": 2048,
    "projection_dim": 2304,
    "text_config": {
        "model_type": "gemma2",
        "hidden_activation": "gelu_pytorch_tanh",
        "hidden_size": 2304,
        "intermediate_size": 9216,
        "num_attention_heads": 8,
        "num_hidden_layers": 26,
        "num_key_value_heads": 4,
        "vocab_size": 257216,
    },
    "vision_config": {
        "model_type": "siglip_vision_model",
        "hidden_size": 1152,
        "image_size": 224,
        "intermediate_size": 4304,
        "num_attention_heads": 16,
        "num_hidden_layers": 27,
        "patch_size": 14,
        "projection_dim": 2304,
        "vision_use_head": False,
    },
}


def test_a_sparse_hub_config_reads_as_transformers_reads_it(tmp_path):
    from medvlm.models.paligemma.config import variant

    ours = hf_layout.config_from_hf(SPARSE, tmp_path / "config.json")
    assert ours == variant("paligemma2-3b-224").replace(final_softcap=30.0)
    theirs = PaliGemmaConfig.from_dict(copy.deepcopy(SPARSE)).text_config
    assert theirs.final_logit_softcapping == ours.llm.final_softcap
    assert theirs.attn_logit_softcapping == ours.llm.attn_softcap
    assert theirs.query_pre_attn_scalar == ours.llm.head_dim
    assert theirs.head_dim == ours.llm.head_dim


@pytest.mark.parametrize("name", ["paligemma2-3b-448", "paligemma2-28b-224", "paligemma-3b-896"])
def test_configs_round_trip_through_config_json(name):
    from medvlm.models.paligemma.config import variant

    config = variant(name)
    written = hf_layout.config_to_hf(config, "bfloat16")
    assert hf_layout.config_from_hf(written, Path("config.json")) == config
    theirs = PaliGemmaConfig.from_dict(written)  # transformers takes it as it is
    assert theirs.text_config.vocab_size == 257_216 and theirs.image_token_index == 257_152
    assert theirs.text_config.num_image_tokens == config.img.num_tokens


def test_settings_the_model_cannot_follow_are_refused_naming_the_key(tmp_path):
    bad = copy.deepcopy(SPARSE)
    bad["text_config"]["query_pre_attn_scalar"] = 100
    with pytest.raises(CheckpointMismatch, match=r"text_config\.query_pre_attn_scalar is 100"):
        hf_layout.config_from_hf(bad, tmp_path / "config.json")
    bad = copy.deepcopy(SPARSE)
    bad["vision_config"]["hidden_act"] = "relu"
    with pytest.raises(CheckpointMismatch, match=r"config\.json: vision_config\.hidden_act"):
        hf_layout.config_from_hf(bad, tmp_path / "config.json")


def test_write_hf_takes_a_tokenizer_json(hf_folders, sp_model, tmp_path):
    flat, config = read_hf(hf_folders["bf16"])
    write_hf(flat, config, hf_folders["bf16"] / "tokenizer.json", tmp_path / "out")
    assert (tmp_path / "out" / "tokenizer.json").is_file()
    processor = AutoProcessor.from_pretrained(tmp_path / "out")
    assert processor.image_token_id == config.llm.vocab_size
    assert json.loads((tmp_path / "out" / "config.json").read_text())["dtype"] == "bfloat16"
    back, _ = read_hf(tmp_path / "out")
    for name, value in flat.items():
        assert back[name].tobytes() == value.tobytes(), name
    masked = tmp_path / "masked"
    masked.mkdir()
    GemmaTokenizer.from_pretrained(sp_model.parent, mask_token="<mask>").save_pretrained(masked)
    with pytest.raises(CheckpointMismatch, match=r"tokens \['<.*follow the vocabulary"):
        write_hf(flat, config, masked / "tokenizer.json", tmp_path / "refused")
    assert not (tmp_path / "refused").exists()


NO_FRAMEWORK = """
import json, sys
from medvlm.config import validate_config
from medvlm.run_checks import checked_runs
config = json.loads(sys.argv[1])
checked_runs(validate_config(config))
print(json.dumps(sorted(m for m in ("jax", "flax", "torch", "transformers", "sentencepiece",
                                    "ml_dtypes", "tokenizers") if m in sys.modules)))
"""


def test_planning_a_transformers_checkpoint_imports_no_framework(hf_folders, tmp_path):
    import subprocess
    import sys

    from tests.support.snakemake_runner import tiny_runs_config

    config = tiny_runs_config(tmp_path)
    config["runs"] = {
        "pg": {"family": "paligemma", "checkpoint": str(hf_folders["sharded"]), "image_size": 32}
    }
    result = subprocess.run(
        [sys.executable, "-c", NO_FRAMEWORK, json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout) == []
