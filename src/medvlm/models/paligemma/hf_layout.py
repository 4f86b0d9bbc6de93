"""PaliGemma in the Hugging Face transformers layout, read and written through one table.

A transformers folder holds ``config.json`` (``model_type: paligemma``, a Gemma 2 or Gemma
``text_config``, a SigLIP ``vision_config``), the weights as ``model.safetensors`` or as shards
named by ``model.safetensors.index.json``, and the tokenizer and processor files.
:func:`links` is the one table of correspondences between our big_vision-named parameters and
``PaliGemmaForConditionalGeneration``'s state dict: each entry says which tensors hold one of our
arrays and how its axes are permuted and merged, and both directions are derived from it.
docs/paligemma.md lists every difference the table and the config mapping handle.

Nothing here imports JAX, torch or transformers at module level: the plan-time checks
(:func:`check_folder`) read only ``config.json``, the index and the safetensors headers.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medvlm.io import atomic_dir
from medvlm.models.paligemma.config import (
    CheckpointMismatch,
    GemmaConfig,
    PaliGemmaConfig,
    ViTConfig,
    check_shapes,
)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
IMAGE_TOKEN = "<image>"
VOCAB_MULTIPLE = 64  # the HF table is padded past the <image> row to a multiple of this
SLIDING_WINDOW = 4096  # Gemma 2's local attention span; our sequences are far shorter
EMBEDDING = "llm/embedder/input_embedding"
LM = "model.language_model."
VISION = "model.vision_tower."
PROJECTOR = "model.multi_modal_projector.linear."
# How transformers' save_pretrained names the state dict's tensors in the files (its
# checkpoint conversion for PaliGemma, undone on save); write_hf writes the same.
_SAVED_PREFIXES = (
    (LM, "language_model.model."),
    (VISION, "vision_tower."),
    ("model.multi_modal_projector.", "multi_modal_projector."),
)
# File names of older transformers versions (and the hub's official folders), and ours.
_LEGACY_PREFIXES = (
    ("language_model.model.", LM),
    ("language_model.lm_head.", "lm_head."),
    ("vision_tower.vision_model.", VISION),
    ("model.vision_tower.vision_model.", VISION),
    ("vision_tower.", VISION),
    ("multi_modal_projector.", "model.multi_modal_projector."),
)
# Tensors PaliGemma never uses: SigLIP's pooling head, and the output layer tied to the table.
_UNUSED_PREFIXES = (VISION + "head.", "lm_head.")
_TORCH_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


def _dtypes() -> dict[str, np.dtype]:
    """safetensors dtype names → numpy dtypes (ml_dtypes imported only when weights are read)."""
    import ml_dtypes

    kinds = {"F32": np.float32, "F16": np.float16, "BF16": ml_dtypes.bfloat16}
    return {name: np.dtype(kind) for name, kind in kinds.items()}


# --- the table ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """One of our arrays and the HF tensors that hold it.

    ``hf``: the tensor names, ``{}`` standing for the layer index when ``layered`` (our array
    then has a leading layer axis). With several names, our per-layer array's first axis
    enumerates them. ``perm`` orders the axes of one such part as HF stores them and ``merge``
    says how many consecutive permuted axes make each HF axis (``(2, 1)``: the first two merge).
    """

    ours: str
    hf: tuple[str, ...]
    perm: tuple[int, ...]
    merge: tuple[int, ...]
    layered: bool = False

    def hf_shape(self, part_shape: tuple[int, ...]) -> tuple[int, ...]:
        permuted = [part_shape[axis] for axis in self.perm]
        shape, start = [], 0
        for count in self.merge:
            shape.append(math.prod(permuted[start : start + count]))
            start += count
        return tuple(shape)

    def to_hf(self, part: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(part.transpose(self.perm).reshape(self.hf_shape(part.shape)))

    def to_ours(self, tensor: np.ndarray, part_shape: tuple[int, ...]) -> np.ndarray:
        permuted = tuple(part_shape[axis] for axis in self.perm)
        return tensor.reshape(permuted).transpose(np.argsort(self.perm))

    def part_shape(self, our_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of one layer's one part of our array."""
        return our_shape[int(self.layered) + int(len(self.hf) > 1) :]

    def names(self, depth: int) -> Iterator[tuple[tuple[int, ...], str]]:
        """``(index into our array, HF name)`` of every tensor this link covers."""
        layers = range(depth) if self.layered else [None]
        for layer in layers:
            for part, name in enumerate(self.hf):
                index = () if layer is None else (layer,)
                if len(self.hf) > 1:
                    index += (part,)
                yield index, name.format(layer)


_SAME = ((0,), (1,))
_T = ((1, 0), (1, 1))  # a Dense kernel [in, out] ↔ a Linear weight [out, in]
_HEADS_IN = ((0, 2, 1), (2, 1))  # [N, D, H] ↔ [N·H, D]
_HEADS_OUT = ((2, 0, 1), (1, 2))  # [N, H, D] ↔ [D, N·H]


def links(config: PaliGemmaConfig) -> list[Link]:
    """Every correspondence for ``config`` (Gemma 2 when ``post_norms``, else Gemma 1)."""
    layer = LM + "layers.{}."
    attn, mlp = layer + "self_attn.", layer + "mlp."
    table = [
        Link(EMBEDDING, (LM + "embed_tokens.weight",), (0, 1), (1, 1)),
        Link("llm/final_norm/scale", (LM + "norm.weight",), *_SAME),
        Link("llm/layers/attn/attn_vec_einsum/w", (attn + "o_proj.weight",), *_HEADS_OUT, True),
        Link(
            "llm/layers/mlp/gating_einsum",
            (mlp + "gate_proj.weight", mlp + "up_proj.weight"),
            *_T,
            True,
        ),
        Link("llm/layers/mlp/linear", (mlp + "down_proj.weight",), *_T, True),
        Link(
            "llm/layers/pre_attention_norm/scale", (layer + "input_layernorm.weight",), *_SAME, True
        ),
    ]
    qkv = (attn + "q_proj.weight", attn + "k_proj.weight", attn + "v_proj.weight")
    if config.llm.fused_qkv:
        table.append(Link("llm/layers/attn/qkv_einsum/w", qkv, *_HEADS_IN, True))
    else:
        table.append(Link("llm/layers/attn/q_einsum/w", qkv[:1], *_HEADS_IN, True))
        table.append(Link("llm/layers/attn/kv_einsum/w", qkv[1:], *_HEADS_IN, True))
    # Gemma 1's ``post_attention_layernorm`` is the norm before the MLP; Gemma 2 renamed it.
    norms = (
        {
            "post_attention_norm": "post_attention_layernorm",
            "pre_ffw_norm": "pre_feedforward_layernorm",
            "post_ffw_norm": "post_feedforward_layernorm",
        }
        if config.llm.post_norms
        else {"pre_ffw_norm": "post_attention_layernorm"}
    )
    for ours, theirs in norms.items():
        table.append(Link(f"llm/layers/{ours}/scale", (f"{layer}{theirs}.weight",), *_SAME, True))

    block, hf_block = "img/Transformer/encoderblock/", VISION + "encoder.layers.{}."
    table += [
        # Flax Conv [kh, kw, in, out] ↔ torch Conv2d [out, in, kh, kw]
        Link(
            "img/embedding/kernel",
            (VISION + "embeddings.patch_embedding.weight",),
            (3, 2, 0, 1),
            (1, 1, 1, 1),
        ),
        Link("img/embedding/bias", (VISION + "embeddings.patch_embedding.bias",), *_SAME),
        Link(
            "img/pos_embedding",
            (VISION + "embeddings.position_embedding.weight",),
            (0, 1, 2),
            (2, 1),
        ),
        Link("img/Transformer/encoder_norm/scale", (VISION + "post_layernorm.weight",), *_SAME),
        Link("img/Transformer/encoder_norm/bias", (VISION + "post_layernorm.bias",), *_SAME),
        Link("img/head/kernel", (PROJECTOR + "weight",), *_T),
        Link("img/head/bias", (PROJECTOR + "bias",), *_SAME),
    ]
    for ours, theirs in (("LayerNorm_0", "layer_norm1"), ("LayerNorm_1", "layer_norm2")):
        for leaf, hf_leaf in (("scale", "weight"), ("bias", "bias")):
            name = f"{hf_block}{theirs}.{hf_leaf}"
            table.append(Link(f"{block}{ours}/{leaf}", (name,), *_SAME, True))
    for ours, theirs in (("Dense_0", "fc1"), ("Dense_1", "fc2")):
        name = f"{hf_block}mlp.{theirs}."
        table.append(Link(f"{block}MlpBlock_0/{ours}/kernel", (name + "weight",), *_T, True))
        table.append(Link(f"{block}MlpBlock_0/{ours}/bias", (name + "bias",), *_SAME, True))
    mha = block + "MultiHeadDotProductAttention_0/"
    for ours, theirs in (("query", "q_proj"), ("key", "k_proj"), ("value", "v_proj")):
        name = f"{hf_block}self_attn.{theirs}."
        # [D, heads, head dim] ↔ [heads·head dim, D]; bias [heads, head dim] ↔ [heads·head dim]
        table.append(Link(f"{mha}{ours}/kernel", (name + "weight",), (1, 2, 0), (2, 1), True))
        table.append(Link(f"{mha}{ours}/bias", (name + "bias",), (0, 1), (2,), True))
    out = hf_block + "self_attn.out_proj."
    table.append(Link(mha + "out/kernel", (out + "weight",), (2, 0, 1), (1, 2), True))
    table.append(Link(mha + "out/bias", (out + "bias",), *_SAME, True))
    return table


# --- configs ------------------------------------------------------------------------------

# transformers' defaults for the keys read here, where a config.json leaves them out.
_TEXT_DEFAULTS = {
    "gemma2": dict(
        hidden_size=2304,
        num_hidden_layers=26,
        intermediate_size=9216,
        num_attention_heads=8,
        num_key_value_heads=4,
        head_dim=256,
        vocab_size=256000,
        query_pre_attn_scalar=256,
        attn_logit_softcapping=50.0,
        final_logit_softcapping=30.0,
        rms_norm_eps=1e-6,
        hidden_activation="gelu_pytorch_tanh",
    ),
    "gemma": dict(
        hidden_size=3072,
        num_hidden_layers=28,
        intermediate_size=24576,
        num_attention_heads=16,
        num_key_value_heads=16,
        head_dim=256,
        vocab_size=256000,
        rms_norm_eps=1e-6,
        hidden_activation="gelu_pytorch_tanh",
    ),
}
# PaliGemma's own defaults when config.json has no text_config / vision_config at all.
_ABSENT_TEXT = dict(
    model_type="gemma",
    hidden_size=2048,
    num_hidden_layers=18,
    intermediate_size=16384,
    num_attention_heads=8,
    num_key_value_heads=1,
    vocab_size=257152,
)
_VISION_DEFAULTS = dict(
    hidden_size=768,
    intermediate_size=3072,
    num_hidden_layers=12,
    num_attention_heads=12,
    patch_size=16,
    image_size=224,
    layer_norm_eps=1e-6,
    hidden_act="gelu_pytorch_tanh",
)
_ABSENT_VISION = dict(
    hidden_size=1152,
    intermediate_size=4096,
    num_hidden_layers=27,
    num_attention_heads=16,
    patch_size=14,
    image_size=224,
)
_TANH_GELU = ("gelu_pytorch_tanh", "gelu_tanh")
_ROPE_THETA = 10_000.0
_EPS = 1e-6


def _sub_config(data: dict, key: str, absent: dict, path: Path) -> dict:
    """``data[key]`` (``absent`` when it is missing), checked to be an object."""
    sub = data.get(key)
    if sub is None:
        sub = absent
    if not isinstance(sub, dict):
        raise CheckpointMismatch(f"{path}: {key} is not an object")
    return sub


def _need(ok: bool, path: Path, key: str, value, why: str) -> None:
    if not ok:
        raise CheckpointMismatch(f"{path}: {key} is {value!r}; {why}")


def config_from_hf(data: dict, path: Path) -> PaliGemmaConfig:
    """Our config for a transformers PaliGemma ``config.json`` (``data``, read from ``path``).

    The vocabulary is the rows before the ``<image>`` token: HF's table adds that row and pads.
    Settings our model cannot follow (another activation, norm epsilon or RoPE base) are
    errors naming the key.
    """
    _need(
        data.get("model_type") == "paligemma",
        path,
        "model_type",
        data.get("model_type"),
        "a PaliGemma folder says 'paligemma'",
    )
    text = _sub_config(data, "text_config", _ABSENT_TEXT, path)
    kind = text.get("model_type", "gemma")
    _need(
        kind in _TEXT_DEFAULTS,
        path,
        "text_config.model_type",
        kind,
        f"supported: {', '.join(_TEXT_DEFAULTS)}",
    )
    text = {**_TEXT_DEFAULTS[kind], **text}
    vision = {**_VISION_DEFAULTS, **_sub_config(data, "vision_config", _ABSENT_VISION, path)}
    activation = text.get("hidden_activation") or text.get("hidden_act")
    _need(
        activation in _TANH_GELU,
        path,
        "text_config.hidden_activation",
        activation,
        "the model computes tanh-approximated GELU",
    )
    _need(
        vision["hidden_act"] in _TANH_GELU,
        path,
        "vision_config.hidden_act",
        vision["hidden_act"],
        "the model computes tanh-approximated GELU",
    )
    for key, sub in (
        ("text_config.rms_norm_eps", text["rms_norm_eps"]),
        ("vision_config.layer_norm_eps", vision["layer_norm_eps"]),
    ):
        _need(math.isclose(sub, _EPS), path, key, sub, f"the model uses {_EPS}")
    rope = text.get("rope_parameters") or {}
    theta = rope.get("rope_theta", text.get("rope_theta", _ROPE_THETA))
    _need(
        theta == _ROPE_THETA,
        path,
        "text_config.rope_parameters.rope_theta",
        theta,
        f"the model uses {_ROPE_THETA:g}",
    )
    rows = int(text["vocab_size"])
    image_token = int(data.get("image_token_index", data.get("image_token_id", 256000)))
    width, heads = int(text["hidden_size"]), int(text["num_attention_heads"])
    head_dim = int(text.get("head_dim") or width // heads)
    gemma2 = kind == "gemma2"
    scalar = text.get("query_pre_attn_scalar", head_dim) if gemma2 else head_dim
    scalings = {width / heads: "width_per_head", head_dim: "head_dim"}  # head_dim wins a tie
    _need(
        scalar in scalings,
        path,
        "text_config.query_pre_attn_scalar",
        scalar,
        f"queries are scaled by head_dim ({head_dim}) or width/heads ({width / heads:g})",
    )
    attn_cap = text.get("attn_logit_softcapping") if gemma2 else None
    final_cap = text.get("final_logit_softcapping") if gemma2 else None
    size = vision["image_size"]
    patch = vision["patch_size"]
    img = ViTConfig(
        width=int(vision["hidden_size"]),
        depth=int(vision["num_hidden_layers"]),
        mlp_dim=int(vision["intermediate_size"]),
        num_heads=int(vision["num_attention_heads"]),
        patch=int(patch if isinstance(patch, int) else patch[0]),
        image_size=int(size if isinstance(size, int) else size[0]),
    )
    llm = GemmaConfig(
        width=width,
        depth=int(text["num_hidden_layers"]),
        mlp_dim=int(text["intermediate_size"]),
        num_heads=heads,
        num_kv_heads=int(text["num_key_value_heads"]),
        head_dim=head_dim,
        vocab_size=image_token if image_token < rows else rows,
        post_norms=gemma2,
        attn_softcap=float(attn_cap or 0.0),
        final_softcap=float(final_cap or 0.0),
        query_scaling=scalings[scalar],
    )
    return PaliGemmaConfig(img=img, llm=llm)


def hf_rows(vocab_size: int) -> int:
    """HF's table: our rows, the ``<image>`` row, padded to a multiple of 64 (257,152 → 257,216)."""
    return -(-(vocab_size + 1) // VOCAB_MULTIPLE) * VOCAB_MULTIPLE


def config_to_hf(config: PaliGemmaConfig, dtype: str) -> dict:
    """The transformers ``config.json`` of ``config`` (``dtype``: ``float32`` or ``bfloat16``)."""
    llm, img = config.llm, config.img
    rows = hf_rows(llm.vocab_size)
    text = dict(
        model_type="gemma2" if llm.post_norms else "gemma",
        hidden_size=llm.width,
        num_hidden_layers=llm.depth,
        intermediate_size=llm.mlp_dim,
        num_attention_heads=llm.num_heads,
        num_key_value_heads=llm.num_kv_heads,
        head_dim=llm.head_dim,
        vocab_size=rows,
        hidden_activation="gelu_pytorch_tanh",
        rms_norm_eps=_EPS,
        rope_parameters={"rope_type": "default", "rope_theta": _ROPE_THETA},
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        num_image_tokens=img.num_tokens,
        dtype=dtype,
    )
    if llm.post_norms:
        per_head = llm.head_dim if llm.query_scaling == "head_dim" else llm.width // llm.num_heads
        text.update(
            query_pre_attn_scalar=per_head,
            attn_logit_softcapping=llm.attn_softcap or None,
            final_logit_softcapping=llm.final_softcap or None,
            sliding_window=SLIDING_WINDOW,
        )
    vision = dict(
        model_type="siglip_vision_model",
        hidden_size=img.width,
        num_hidden_layers=img.depth,
        intermediate_size=img.mlp_dim,
        num_attention_heads=img.num_heads,
        patch_size=img.patch,
        image_size=img.image_size,
        hidden_act="gelu_pytorch_tanh",
        layer_norm_eps=_EPS,
        projection_dim=llm.width,
        vision_use_head=False,
        dtype=dtype,
    )
    return dict(
        architectures=["PaliGemmaForConditionalGeneration"],
        model_type="paligemma",
        text_config=text,
        vision_config=vision,
        image_token_index=llm.vocab_size,
        vocab_size=rows,
        projection_dim=llm.width,
        hidden_size=llm.width,
        tie_word_embeddings=True,
        bos_token_id=2,
        eos_token_id=1,
        pad_token_id=0,
        dtype=dtype,
    )


# --- files --------------------------------------------------------------------------------


def read_json(path: Path):
    """A JSON file's value; :class:`CheckpointMismatch` naming the file when it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointMismatch(f"{path}: not readable JSON ({error})") from None


def read_config(config_json: Path) -> PaliGemmaConfig:
    """A checkpoint's ``config.json``: ours (``img``/``llm``) or transformers' (``paligemma``)."""
    config_json = Path(config_json)
    data = read_json(config_json)
    if isinstance(data, dict) and data.get("model_type") == "paligemma":
        return config_from_hf(data, config_json)
    try:
        return PaliGemmaConfig.from_json(data)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointMismatch(f"{config_json}: not a PaliGemma config ({error})") from None


def is_hf_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder in the transformers layout: safetensors weights (single or
    indexed), or a ``config.json`` that names ``model_type: paligemma``."""
    folder = Path(path)
    if not folder.is_dir():
        return False
    if (folder / WEIGHTS_FILE).is_file() or (folder / INDEX_FILE).is_file():
        return True
    config = folder / CONFIG_FILE
    if not config.is_file():
        return False
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and data.get("model_type") == "paligemma"


def weight_files(folder: str | os.PathLike) -> list[Path]:
    """The safetensors files of a transformers folder, each checked to exist: the index's shards
    (the index names a missing one: an error naming both), else ``model.safetensors``."""
    folder = Path(folder)
    index = folder / INDEX_FILE
    if index.is_file():
        data = read_json(index)
        mapping = data.get("weight_map") if isinstance(data, dict) else None
        if not isinstance(mapping, dict) or not mapping:
            raise CheckpointMismatch(f"{index}: no weight_map naming the shards")
        shards = []
        for name in sorted(set(mapping.values())):
            shard = folder / str(name)
            if not shard.is_file():
                tensor = next(t for t, s in mapping.items() if s == name)
                raise CheckpointMismatch(
                    f"{index}: names shard {name} (for {tensor!r} and others) but {shard} "
                    "does not exist"
                )
            shards.append(shard)
        return shards
    single = folder / WEIGHTS_FILE
    if single.is_file():
        return [single]
    raise CheckpointMismatch(f"{folder}: no {WEIGHTS_FILE} and no {INDEX_FILE}")


def check_folder(folder: str | os.PathLike) -> PaliGemmaConfig:
    """Plan-time check of a transformers folder (config.json, the weight files, a tokenizer),
    reading only JSON; its config."""
    from medvlm.models.paligemma.tokenizer import find_tokenizer

    folder = Path(folder)
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise CheckpointMismatch(f"{folder}: a transformers folder needs {CONFIG_FILE}")
    data = read_json(config_path)
    if not isinstance(data, dict):
        raise CheckpointMismatch(f"{config_path}: not a JSON object")
    config = config_from_hf(data, config_path)
    for shard in weight_files(folder):
        _header(shard)
    find_tokenizer(folder)
    return config


def _header(path: Path) -> tuple[dict, int]:
    """A safetensors file's header (name → dtype, shape, offsets) and where its data starts."""
    try:
        with open(path, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > 100_000_000:
                raise ValueError(f"a header of {length} bytes")
            header = json.loads(handle.read(length))
    except (OSError, struct.error, ValueError, UnicodeDecodeError) as error:
        raise CheckpointMismatch(f"{path}: not a readable safetensors file ({error})") from None
    header.pop("__metadata__", None)
    return header, 8 + length


def _canonical(name: str) -> str:
    for old, new in _LEGACY_PREFIXES:
        if name.startswith(old):
            return new + name[len(old) :]
    return name


class _Tensors:
    """Every tensor of a folder's safetensors files by its canonical name, read on demand."""

    def __init__(self, files: list[Path]):
        self.where: dict[str, tuple[Path, dict, int]] = {}
        for path in files:
            header, start = _header(path)
            for name, entry in header.items():
                canonical = _canonical(name)
                if canonical in self.where:
                    raise CheckpointMismatch(f"{path}: tensor {name!r} is also in another file")
                self.where[canonical] = (path, entry, start, name)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.where[name][1]["shape"])

    def describe(self, name: str) -> str:
        """``file: tensor 'name as stored'`` for a message."""
        path, _, _, stored = self.where[name]
        return f"{path}: tensor {stored!r}"

    def read(self, name: str) -> np.ndarray:
        path, entry, start, _ = self.where[name]
        dtype = _dtypes().get(entry["dtype"])
        if dtype is None:
            raise CheckpointMismatch(
                f"{self.describe(name)} has dtype {entry['dtype']}; supported: "
                f"{', '.join(_TORCH_DTYPES)}"
            )
        begin, end = entry["data_offsets"]
        with open(path, "rb") as handle:
            handle.seek(start + begin)
            data = handle.read(end - begin)
        shape = tuple(entry["shape"])
        if len(data) != math.prod(shape) * dtype.itemsize:
            raise CheckpointMismatch(f"{self.describe(name)} is cut short")
        return np.frombuffer(data, dtype).reshape(shape)


def read_hf(folder: str | os.PathLike) -> tuple[dict[str, np.ndarray], PaliGemmaConfig]:
    """A transformers folder as flat big_vision-named arrays (as ``checkpoint.read_npz`` gives
    them, in the files' dtype) and our config; errors name the file and the tensor."""
    from medvlm.models.paligemma.params import param_shapes

    folder = Path(folder)
    config = check_folder(folder)
    tensors = _Tensors(weight_files(folder))
    expected = param_shapes(config)
    flat, used = {}, set()
    depth = {"llm": config.llm.depth, "img": config.img.depth}
    for link in links(config):
        shape = expected[link.ours]
        part_shape = link.part_shape(shape)
        array = None
        for index, name in link.names(depth[link.ours.split("/")[0]]):
            if name not in tensors.where:
                raise CheckpointMismatch(f"{folder}: no tensor {name!r} in its safetensors files")
            got, want = tensors.shape(name), link.hf_shape(part_shape)
            if link.ours == EMBEDDING:  # at least our rows; the <image> row and padding follow
                want = (max(got[0], shape[0]), shape[1])
            if got != want:
                raise CheckpointMismatch(
                    f"{tensors.describe(name)} has shape {got}, {CONFIG_FILE} implies {want}"
                )
            value = tensors.read(name)
            if link.ours == EMBEDDING:  # drop the <image> row and the padding
                flat[link.ours] = np.array(value[: shape[0]])
                used.add(name)
                continue
            if array is None:
                array = np.empty(shape, value.dtype)
            array[index] = link.to_ours(value, part_shape)
            used.add(name)
        if array is not None:
            flat[link.ours] = array
    for name in sorted(set(tensors.where) - used):
        if not name.startswith(_UNUSED_PREFIXES):
            raise CheckpointMismatch(
                f"{tensors.describe(name)} has no place in the PaliGemma model"
            )
    return flat, config


def _saved_name(name: str) -> str:
    for ours, saved in _SAVED_PREFIXES:
        if name.startswith(ours):
            return saved + name[len(ours) :]
    return name


def _write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    names = {dtype: name for name, dtype in _dtypes().items()}
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, array in tensors.items():
        header[_saved_name(name)] = {
            "dtype": names[array.dtype],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + array.nbytes],
        }
        offset += array.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(text)))
        handle.write(text)
        for array in tensors.values():
            handle.write(np.ascontiguousarray(array).tobytes())


def hf_tensors(flat: dict[str, np.ndarray], config: PaliGemmaConfig) -> dict[str, np.ndarray]:
    """Our flat arrays as the transformers state dict (the table read the other way)."""
    tensors = {}
    depth = {"llm": config.llm.depth, "img": config.img.depth}
    for link in links(config):
        array = np.asarray(flat[link.ours])
        if link.ours == EMBEDDING:  # append the <image> row and the padding, as zeros
            rows = hf_rows(array.shape[0]) - array.shape[0]
            padded = np.concatenate([array, np.zeros((rows, array.shape[1]), array.dtype)])
            tensors[link.hf[0]] = padded
            continue
        for index, name in link.names(depth[link.ours.split("/")[0]]):
            tensors[name] = link.to_hf(array[index])
    return tensors


def _processor_files(config: PaliGemmaConfig, tokenizer) -> dict[str, dict]:
    """tokenizer_config.json, preprocessor_config.json, processor_config.json and
    generation_config.json for AutoProcessor / generate, with no code of ours."""
    size = config.img.image_size
    image = dict(
        image_processor_type="SiglipImageProcessor",
        processor_class="PaliGemmaProcessor",
        image_seq_length=config.img.num_tokens,
        size={"height": size, "width": size},
        do_resize=True,
        resample=2,  # bilinear, as the shards are resized
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        do_convert_rgb=True,
    )
    pad, eos, bos, unk = tokenizer.special_pieces()
    return {
        "tokenizer_config.json": dict(
            tokenizer_class="GemmaTokenizer",
            processor_class="PaliGemmaProcessor",
            pad_token=pad,
            eos_token=eos,
            bos_token=bos,
            unk_token=unk,
            mask_token=None,  # GemmaTokenizer would otherwise add "<mask>" before "<image>"
            add_bos_token=False,
            add_eos_token=False,
            extra_special_tokens={"image_token": IMAGE_TOKEN},
            model_max_length=1_000_000,
        ),
        "preprocessor_config.json": image,
        "processor_config.json": dict(processor_class="PaliGemmaProcessor"),
        "generation_config.json": dict(bos_token_id=2, eos_token_id=1, pad_token_id=0),
    }


def write_hf(
    params: dict,
    config: PaliGemmaConfig,
    tokenizer_file: Path,
    out_dir: Path,
    dtype=None,
) -> None:
    """Write ``params`` (nested or flat) as a transformers folder that
    ``PaliGemmaForConditionalGeneration.from_pretrained`` and ``AutoProcessor.from_pretrained``
    load with no code of ours. ``dtype`` (``"bfloat16"``, ``"float32"`` or a numpy dtype) casts
    every tensor; without it each keeps its own. Atomic: on an error nothing is left."""
    from medvlm.models.paligemma.params import flatten, param_shapes
    from medvlm.models.paligemma.tokenizer import load_tokenizer

    flat = {name: np.asarray(value) for name, value in flatten(params).items()}
    check_shapes(flat, param_shapes(config), "params")
    tokenizer_file = Path(tokenizer_file)
    tokenizer = load_tokenizer(tokenizer_file)
    if tokenizer.vocab_size != config.llm.vocab_size:
        raise CheckpointMismatch(
            f"{tokenizer_file}: {tokenizer.vocab_size} pieces but the model has "
            f"{config.llm.vocab_size} embedding rows"
        )
    if tokenizer.after_vocabulary() not in ([], [IMAGE_TOKEN]):
        raise CheckpointMismatch(
            f"{tokenizer_file}: tokens {tokenizer.after_vocabulary()[:4]} follow the vocabulary; "
            f"only {IMAGE_TOKEN} may, at id {config.llm.vocab_size}"
        )
    tensors = hf_tensors(flat, config)
    names = {
        numpy: torch
        for numpy, torch in zip(_dtypes().values(), _TORCH_DTYPES.values(), strict=True)
    }
    if dtype is not None:
        cast = next((np_ for np_, torch in names.items() if dtype in (torch, np_)), None)
        if cast is None:
            raise ValueError(f"dtype {dtype!r}: supported: {', '.join(names.values())}")
        tensors = {name: value.astype(cast) for name, value in tensors.items()}
    kinds = {names.get(value.dtype, str(value.dtype)) for value in tensors.values()}
    if kinds - set(names.values()):
        raise ValueError(f"params hold dtypes {sorted(kinds)}; give dtype=")
    name = "float32" if "float32" in kinds else kinds.pop()
    with atomic_dir(out_dir) as tmp:
        _write_safetensors(tmp / WEIGHTS_FILE, tensors)
        (tmp / CONFIG_FILE).write_text(json.dumps(config_to_hf(config, name), indent=2) + "\n")
        for file, content in _processor_files(config, tokenizer).items():
            (tmp / file).write_text(json.dumps(content, indent=2) + "\n")
        shutil.copyfile(tokenizer_file, tmp / tokenizer.HF_NAME)
