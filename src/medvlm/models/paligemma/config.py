"""Model configurations: SigLIP ViT + Gemma sizes, named PaliGemma variants, JSON round trip.

Plain frozen data, like big_vision's ``ConfigDict``s: a config fixes every parameter shape, so a
checkpoint's shapes can be checked against it (and the config inferred from a checkpoint).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

QUERY_SCALINGS = ("head_dim", "width_per_head")


class CheckpointMismatch(ValueError):
    """A checkpoint whose files, names or shapes differ from what the model needs."""


def check_shapes(flat: dict, expected: dict[str, tuple[int, ...]], path, skip=()) -> None:
    """Raise naming the first missing, unexpected or wrongly shaped key, with both shapes."""
    for name in sorted(set(expected) | set(flat)):
        if name in skip:
            continue
        want = expected.get(name)
        got = tuple(flat[name].shape) if name in flat else None
        if want != got:
            raise CheckpointMismatch(
                f"{path}: parameter {name!r} has shape {got} in the checkpoint but the model "
                f"expects {want}"
                + (" (missing)" if got is None else "")
                + (" (not in the model)" if want is None else "")
            )


@dataclass(frozen=True)
class ViTConfig:
    """SigLIP image encoder: ``patch`` px patches, learned position embedding, no class token."""

    width: int = 1152
    depth: int = 27
    mlp_dim: int = 4304
    num_heads: int = 16
    patch: int = 14
    image_size: int = 224

    @property
    def num_tokens(self) -> int:
        return (self.image_size // self.patch) ** 2


@dataclass(frozen=True)
class GemmaConfig:
    """Gemma decoder. ``post_norms`` and ``attn_softcap`` are Gemma 2's; 0.0 disables a cap.

    ``query_scaling``: queries are multiplied by ``head_dim**-0.5`` (``"head_dim"``) or by
    ``(width/num_heads)**-0.5`` (``"width_per_head"``, Gemma 2 27B).
    """

    width: int = 2304
    depth: int = 26
    mlp_dim: int = 9216
    num_heads: int = 8
    num_kv_heads: int = 4
    head_dim: int = 256
    vocab_size: int = 257_152
    post_norms: bool = True
    attn_softcap: float = 50.0
    final_softcap: float = 0.0
    query_scaling: str = "head_dim"

    def __post_init__(self):
        if self.query_scaling not in QUERY_SCALINGS:
            raise ValueError(f"query_scaling must be one of {QUERY_SCALINGS}")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"num_heads {self.num_heads} not a multiple of {self.num_kv_heads}")

    @property
    def fused_qkv(self) -> bool:
        """big_vision stores one ``qkv_einsum`` when every query head has its own key head."""
        return self.num_heads == self.num_kv_heads


@dataclass(frozen=True)
class PaliGemmaConfig:
    img: ViTConfig = field(default_factory=ViTConfig)
    llm: GemmaConfig = field(default_factory=GemmaConfig)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> PaliGemmaConfig:
        unknown = set(data) - {"img", "llm"}
        if unknown:
            raise ValueError(f"model config: unknown keys {sorted(unknown)}")
        return cls(img=_build(ViTConfig, data["img"]), llm=_build(GemmaConfig, data["llm"]))

    def replace(self, **llm_changes) -> PaliGemmaConfig:
        return dataclasses.replace(self, llm=dataclasses.replace(self.llm, **llm_changes))


def _build(kind, data: dict):
    names = {f.name for f in dataclasses.fields(kind)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"model config: unknown {kind.__name__} keys {sorted(unknown)}")
    return kind(**data)


_GEMMA = {
    "gemma_2b": GemmaConfig(
        width=2048,
        depth=18,
        mlp_dim=16384,
        num_heads=8,
        num_kv_heads=1,
        head_dim=256,
        post_norms=False,
        attn_softcap=0.0,
    ),
    "gemma2_2b": GemmaConfig(
        width=2304, depth=26, mlp_dim=9216, num_heads=8, num_kv_heads=4, head_dim=256
    ),
    "gemma2_9b": GemmaConfig(
        width=3584, depth=42, mlp_dim=14336, num_heads=16, num_kv_heads=8, head_dim=256
    ),
    "gemma2_27b": GemmaConfig(
        width=4608,
        depth=46,
        mlp_dim=36864,
        num_heads=32,
        num_kv_heads=16,
        head_dim=128,
        query_scaling="width_per_head",
    ),
}
_SIZES = {"paligemma-3b": "gemma_2b", "paligemma2-3b": "gemma2_2b", "paligemma2-10b": "gemma2_9b"}
_SIZES["paligemma2-28b"] = "gemma2_27b"
_RESOLUTIONS = (224, 448, 896)

VARIANTS = tuple(f"{size}-{px}" for size in _SIZES for px in _RESOLUTIONS)


def variant(name: str) -> PaliGemmaConfig:
    """A named variant such as ``paligemma2-3b-224``; So400m/14 image encoder at that size."""
    size, _, px = name.rpartition("-")
    if size not in _SIZES or not px.isdigit() or int(px) not in _RESOLUTIONS:
        raise ValueError(f"unknown PaliGemma variant {name!r}; known: {', '.join(VARIANTS)}")
    return PaliGemmaConfig(img=ViTConfig(image_size=int(px)), llm=_GEMMA[_SIZES[size]])


def tiny(
    vocab_size: int,
    image_size: int = 32,
    width: int = 32,
    depth: int = 2,
    patch: int = 8,
    gemma2: bool = True,
) -> PaliGemmaConfig:
    """A few-thousand-parameter model with every feature of the real ones (GQA, post norms...)."""
    return PaliGemmaConfig(
        img=ViTConfig(
            width=width,
            depth=depth,
            mlp_dim=2 * width,
            num_heads=2,
            patch=patch,
            image_size=image_size,
        ),
        llm=GemmaConfig(
            width=width,
            depth=depth,
            mlp_dim=2 * width,
            num_heads=4,
            num_kv_heads=2 if gemma2 else 1,
            head_dim=width // 4,
            vocab_size=vocab_size,
            post_norms=gemma2,
            attn_softcap=50.0 if gemma2 else 0.0,
        ),
    )
