"""big_vision npz checkpoints: round trip, V2-as-bfloat16, prefixes, mismatches, vocab growth."""

import json

import jax
import ml_dtypes
import numpy as np
import pytest

from medvlm.models.paligemma.checkpoint import (
    CheckpointMismatch,
    checkpoint_files,
    load_params,
    read_npz,
    save_params,
)
from medvlm.models.paligemma.config import PaliGemmaConfig, tiny
from medvlm.models.paligemma.params import (
    cast,
    flatten,
    infer_config,
    init_params,
    param_shapes,
    unflatten,
)

CONFIG = tiny(vocab_size=40, image_size=16, width=16, depth=2, patch=8)


@pytest.fixture(scope="module")
def params():
    return jax.device_get(init_params(CONFIG))


def test_round_trip_stores_bfloat16_as_void_like_big_vision(params, tmp_path):
    path = tmp_path / "model.npz"
    save_params(cast(params, ml_dtypes.bfloat16), path)
    with np.load(path) as raw:
        assert all(key.startswith("params/") for key in raw.files)
        assert raw["params/llm/final_norm/scale"].dtype == np.dtype("V2")
    loaded = flatten(load_params(path, CONFIG))
    for name, value in flatten(params).items():
        assert loaded[name].dtype == ml_dtypes.bfloat16
        expected = np.asarray(value).astype(ml_dtypes.bfloat16)
        np.testing.assert_array_equal(loaded[name].view(np.uint16), expected.view(np.uint16))


def test_npz_keys_are_slash_joined_paths_in_tree_order(tmp_path):
    tree = {"llm": {"b": np.ones(2), "a": {"w": np.zeros(1)}}, "img": np.ones(1)}
    save_params(tree, tmp_path / "tree.npz")
    with np.load(tmp_path / "tree.npz") as raw:
        assert raw.files == ["params/llm/b", "params/llm/a/w", "params/img"]
    assert unflatten(flatten(tree)).keys() == tree.keys()
    assert list(flatten(tree)) == ["llm/b", "llm/a/w", "img"]


def test_files_without_params_prefix_load(params, tmp_path):
    path = tmp_path / "colab.npz"
    np.savez(path, **{name: np.asarray(v) for name, v in flatten(params).items()})
    loaded = flatten(load_params(path, CONFIG))
    np.testing.assert_array_equal(
        loaded["img/head/bias"], np.asarray(params["img"]["head"]["bias"])
    )


def test_mismatch_names_first_wrong_key_and_both_shapes(params, tmp_path):
    flat = {name: np.asarray(v) for name, v in flatten(params).items()}
    flat["llm/layers/mlp/linear"] = np.zeros((2, 31, 16), np.float32)
    path = tmp_path / "bad.npz"
    np.savez(path, **flat)
    with pytest.raises(
        CheckpointMismatch, match=r"'llm/layers/mlp/linear'.*\(2, 31, 16\).*\(2, 32, 16\)"
    ):
        load_params(path, CONFIG)
    del flat["llm/layers/mlp/linear"]
    np.savez(path, **flat)
    with pytest.raises(CheckpointMismatch, match=r"'llm/layers/mlp/linear'.*None.*missing"):
        load_params(path, CONFIG)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(CheckpointMismatch, match="junk.npz"):
        load_params(tmp_path / "junk.npz", CONFIG)


def test_larger_vocab_gets_new_rows_from_normal_0_02(params, tmp_path):
    path = tmp_path / "model.npz"
    save_params(params, path)
    bigger = CONFIG.replace(vocab_size=40 + 3000)
    table = load_params(path, bigger)["llm"]["embedder"]["input_embedding"]
    np.testing.assert_array_equal(
        table[:40], np.asarray(params["llm"]["embedder"]["input_embedding"])
    )
    assert table.shape == (3040, 16)
    assert abs(table[40:].std() - 0.02) < 0.001 and abs(table[40:].mean()) < 0.001


def test_config_read_off_checkpoint_shapes(params, tmp_path):
    save_params(params, tmp_path / "model.npz")
    shapes = {name: a.shape for name, a in read_npz(tmp_path / "model.npz").items()}
    assert infer_config(shapes) == CONFIG
    gemma1 = tiny(vocab_size=40, image_size=16, width=16, patch=8, gemma2=False)
    assert infer_config(param_shapes(gemma1)) == gemma1
    assert PaliGemmaConfig.from_json(json.loads(json.dumps(CONFIG.to_json()))) == CONFIG


def test_checkpoint_files_finds_npz_and_tokenizer(tmp_path):
    (tmp_path / "paligemma2-3b-pt-224.b16.npz").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="no tokenizer"):
        checkpoint_files(tmp_path)
    (tmp_path / "paligemma_tokenizer.model").write_bytes(b"")
    npz, tokenizer, config = checkpoint_files(tmp_path)
    assert npz.name == "paligemma2-3b-pt-224.b16.npz" and tokenizer.name.endswith(".model")
    assert config is None
    assert checkpoint_files(npz)[0] == npz
