"""Peak memory of a MedGemma LoRA training step per GPU: an estimate from the model's config.

The real model (transformers' Gemma 3 built from ``config.json``, with the run's PEFT LoRA
adapter) runs forward, backward and two AdamW steps on *fake* tensors (``FakeTensorMode``: shapes
and dtypes, no data, nothing allocated), while :class:`LiveBytes` adds up the storage of every
tensor alive and keeps the most alive at once. What that counts is what the GPU's caching
allocator has to hold: the weights, the LoRA gradients, AdamW's two moments, the activations
autograd saves (or, with activation checkpointing, only each layer's input, and one layer
recomputed at a time), and every temporary (the fp32 logits of the loss included).

Tracing the full 4B model op by op takes minutes, so it is traced at depth 1 and 2 of each tower
(language model and vision tower) and the peak extrapolated: each phase of a step (vision
forward, text forward, text backward, vision backward, optimizer) holds a fixed part plus a part
per layer of each tower, so each phase's peak is linear in the two depths; the estimate is the
largest of the extrapolated phase peaks. ``tests/test_memory_plan.py`` checks the extrapolation
against a full-depth trace and the traced peak against a real run's measured peak.

On the GPU the family trains bf16 weights under bf16 autocast (``precision="gpu"``); on the CPU
fp32 (``precision="cpu"``, what the checks measure). Data-parallel workers (``train.processes``)
each hold a full replica; DistributedDataParallel adds one fp32 bucket copy of the gradients.
A run with per-task experts (``train.experts``) holds every adapter, as its training does
(:mod:`medvlm.models.medgemma.experts`): the model is built with all of them, AdamW holds them
all (their moments made, as once every group has trained a batch), and a step trains the shared
adapter and one group's; an update of ``grad_accum`` micro-batches keeps the gradients of up to
that many groups' adapters, added as fixed bytes. Such a run trains in one process.
Not counted: TRL's logging extras (entropy and token accuracy, computed without gradients from
the logits) and CUDA's own context (≈0.5 GB per process).
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import sys
import weakref
from collections import defaultdict
from pathlib import Path

from medvlm.memory_plan import PlanInput
from medvlm.models.experts import Experts, planned_experts
from medvlm.models.medgemma.settings import MedGemmaRun

# What torch can use of a GPU: the CUDA context and the caching allocator's slack take the rest.
USABLE = 0.95

# config.json of google/medgemma-4b-it: the keys that fix the architecture (docs/medgemma.md;
# tests check it builds the documented 4,300,079,472 parameters).
MEDGEMMA_4B = {
    "architectures": ["Gemma3ForConditionalGeneration"],
    "model_type": "gemma3",
    "boi_token_index": 255999,
    "eoi_token_index": 256000,
    "image_token_index": 262144,
    "mm_tokens_per_image": 256,
    "text_config": {
        "model_type": "gemma3_text",
        "hidden_size": 2560,
        "intermediate_size": 10240,
        "num_hidden_layers": 34,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "query_pre_attn_scalar": 256,
        "sliding_window": 1024,
        "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
        "vocab_size": 262208,
    },
    "vision_config": {
        "model_type": "siglip_vision_model",
        "hidden_size": 1152,
        "image_size": 896,
        "intermediate_size": 4304,
        "num_attention_heads": 16,
        "num_hidden_layers": 27,
        "patch_size": 14,
        "vision_use_head": False,
    },
}
# MedGemma 1.5 4B (google/medgemma-1.5-4b-it) has MedGemma 4B's architecture.
KNOWN = {"medgemma-4b": MEDGEMMA_4B, "medgemma-1.5-4b": MEDGEMMA_4B}
_KNOWN_NAME = re.compile(r"medgemma-(?:1\.5-)?4b", re.IGNORECASE)


def architecture(run: MedGemmaRun) -> tuple[dict, str]:
    """The model's ``config.json`` content and where it came from: the checkpoint's own
    ``config.json`` when the checkpoint is here, else the known config its path names."""
    path = Path(run.checkpoint)
    config_json = path / "config.json"
    if config_json.is_file():
        return json.loads(config_json.read_text("utf-8")), f"{config_json}"
    match = _KNOWN_NAME.search(str(path))
    if match:
        name = match[0].lower()
        return copy.deepcopy(KNOWN[name]), f"known {name} config (named in the path)"
    raise ValueError(
        f"{path}: no config.json there and no known model size in its name "
        f"(known: {', '.join(KNOWN)}); put the model's config.json in that folder"
    )


def spec(
    run: MedGemmaRun,
    config: dict,
    text_tokens: int,
    precision: str = "gpu",
    experts: Experts | None = None,
) -> dict:
    """What the estimate depends on, as JSON: the architecture and the training settings that
    shape memory. A sequence is the image's tokens plus ``text_tokens`` (``train.max_length``
    caps the whole sequence when set). With ``experts``: how many adapters the model holds, how
    many a step trains, and how many groups' adapters an update's micro-batches can train."""
    ts = run.train
    image_tokens = int(config.get("mm_tokens_per_image", 256))
    tokens = image_tokens + text_tokens
    if ts.max_length is not None:
        tokens = min(tokens, ts.max_length)
    return {
        "config": config,
        "batch_size": ts.batch_size,
        "tokens": tokens,
        "image_tokens": image_tokens,
        "lora_rank": ts.lora_rank,
        "lora_alpha": ts.lora_alpha,
        "lora_dropout": ts.lora_dropout,
        "lora_targets": ts.lora_targets
        if isinstance(ts.lora_targets, str)
        else list(ts.lora_targets),
        "attn_implementation": ts.attn_implementation,
        "precision": precision,
        "adapters": len(experts.all_adapters) if experts else 1,
        "active": len(experts.adapters(experts.names[0])) if experts else 1,
        "grad_groups": min(ts.grad_accum, len(experts.names)) if experts else 1,
    }


def describe(config: dict) -> str:
    text, vision = config["text_config"], config["vision_config"]
    return (
        f"Gemma 3 {text['hidden_size']}×{text['num_hidden_layers']} layers + SigLIP "
        f"{vision['hidden_size']}×{vision['num_hidden_layers']} layers at "
        f"{vision['image_size']} px"
    )


def plan_input(run: dict, text_tokens: int, data: dict | None = None) -> PlanInput:
    """The plan's view of a run: bf16 weights under bf16 autocast, as on a GPU; ``data`` (the
    config's ``data:``) gives an expert run's groups."""
    settings = MedGemmaRun.from_run(run)
    config, source = architecture(settings)
    experts, adapters = planned_experts(settings.train, data)
    spec_ = spec(settings, config, text_tokens, experts=experts)
    ts = settings.train
    return PlanInput(
        spec=spec_,
        model=f"{describe(config)}, from {source}",
        batch=f"{ts.batch_size} per process and micro-step (× {ts.grad_accum} accumulated)",
        tokens=f"{spec_['image_tokens']} image + {spec_['tokens'] - spec_['image_tokens']} text",
        remat=ts.activation_checkpointing,
        devices=ts.nodes * ts.processes,
        usable=USABLE,
        adapters=adapters,
    )


class LiveBytes:
    """A ``TorchDispatchMode`` (built lazily: torch is imported only here) counting the bytes
    of tensor storage alive, with the most alive at once per phase of a step."""

    def __new__(cls):
        from torch.utils._python_dispatch import TorchDispatchMode

        class _LiveBytes(TorchDispatchMode):
            def __init__(self):
                super().__init__()
                self.alive: dict[int, weakref.ref] = {}
                self.now, self.phase = 0, "setup"
                self.peaks: dict[str, int] = defaultdict(int)

            def track(self, tensor) -> None:
                storage = tensor.untyped_storage()
                key = id(storage)
                if key in self.alive:
                    return
                size = storage.nbytes()

                def freed(_, key=key, size=size):
                    self.alive.pop(key, None)
                    self.now -= size

                self.alive[key] = weakref.ref(storage, freed)
                self.now += size
                self.peaks[self.phase] = max(self.peaks[self.phase], self.now)

            def enter(self, phase: str) -> None:
                self.phase = phase
                self.peaks[phase] = max(self.peaks[phase], self.now)

            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                import torch
                from torch.utils._pytree import tree_leaves

                out = func(*args, **(kwargs or {}))
                for leaf in tree_leaves(out):
                    if isinstance(leaf, torch.Tensor):
                        self.track(leaf)
                return out

        return _LiveBytes()


def adapter_names(spec_: dict) -> list[str]:
    """The names of the model's LoRA adapters: PEFT's ``default``, or one per expert adapter
    (the step's active ones first)."""
    adapters = spec_.get("adapters", 1)
    return ["default"] if adapters == 1 else [f"adapter{i}" for i in range(adapters)]


def _build(config: dict, spec_: dict, text_layers: int, vision_layers: int):
    """The PEFT model at these depths, built on the meta device (no memory, no init work), with
    every adapter of the spec active and trainable (as an expert run's training builds it)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForImageTextToText

    config = copy.deepcopy(config)
    config["text_config"]["num_hidden_layers"] = text_layers
    if "layer_types" in config["text_config"]:
        config["text_config"]["layer_types"] = config["text_config"]["layer_types"][:text_layers]
    config["vision_config"]["num_hidden_layers"] = vision_layers
    model_config = AutoConfig.for_model(**config)
    dtype = torch.bfloat16 if spec_["precision"] == "gpu" else torch.float32
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(
            model_config, dtype=dtype, attn_implementation=spec_["attn_implementation"]
        )
    lora = LoraConfig(
        r=spec_["lora_rank"],
        lora_alpha=spec_["lora_alpha"],
        lora_dropout=spec_["lora_dropout"],
        target_modules=spec_["lora_targets"],
        bias="none",
        task_type="CAUSAL_LM",
    )
    first, *others = adapter_names(spec_)
    model = get_peft_model(model, lora, adapter_name=first)
    for name in others:
        model.add_adapter(name, lora)
    if others:
        model.base_model.set_adapter([first, *others])
    return model, model_config


def prime_optimizer(model, optimizer, adapters: list[str]) -> None:
    """AdamW's state of the ``adapters``' parameters as a run holds it once each has trained a
    batch: a step on zero gradients, one adapter at a time."""
    import torch

    for name in adapters:
        params = [p for n, p in model.named_parameters() if f".{name}." in n]
        for param in params:
            param.grad = torch.zeros_like(param)
        optimizer.step()
        for param in params:
            param.grad = None


def _inputs(model_config, spec_: dict) -> dict:
    import torch

    batch, tokens, image_tokens = spec_["batch_size"], spec_["tokens"], spec_["image_tokens"]
    ids = torch.full((batch, tokens), 3, dtype=torch.long)
    ids[:, 1 : 1 + image_tokens] = model_config.image_token_index
    types = torch.zeros((batch, tokens), dtype=torch.long)
    types[:, 1 : 1 + image_tokens] = 1
    size = model_config.vision_config.image_size
    dtype = torch.bfloat16 if spec_["precision"] == "gpu" else torch.float32
    return {
        "input_ids": ids,
        "token_type_ids": types,
        "attention_mask": torch.ones((batch, tokens), dtype=torch.long),
        "pixel_values": torch.zeros((batch, 3, size, size), dtype=dtype),
        "labels": ids,
    }


@contextlib.contextmanager
def training_setup(spec_: dict, remat: bool, text_layers: int, vision_layers: int, fake=True):
    """``(model, optimizer, inputs)`` of one training step at these tower depths, inside the
    tensor mode they live in: fake tensors, or (``fake=False``, for the checks) real ones with
    zero weights."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    model, model_config = _build(spec_["config"], spec_, text_layers, vision_layers)
    if remat:
        base = model.get_base_model()
        base.activation_checkpointing_enable({"use_reentrant": False})
        base.enable_input_require_grads()
    # A shape environment lets the model's data-dependent checks (image token counts) pass on
    # fake tensors.
    mode = FakeTensorMode(allow_non_fake_inputs=True, shape_env=ShapeEnv()) if fake else None
    with mode or contextlib.nullcontext():
        model = model.to_empty(device="cpu")
        model.get_base_model().tie_weights()  # to_empty gives tied weights separate storage
        if not fake:
            with torch.no_grad():
                for tensor in [*model.parameters(), *model.buffers()]:
                    tensor.zero_()
        model.train()
        trainable = [p for p in model.parameters() if p.requires_grad]  # every adapter
        optimizer = torch.optim.AdamW(trainable, lr=1e-4)
        names = adapter_names(spec_)
        if len(names) > 1:  # the shared adapter and one group's train; the others wait
            active = spec_["active"]
            prime_optimizer(model, optimizer, names[active:])
            model.base_model.set_adapter(names[:active])
        yield model, optimizer, _inputs(model_config, spec_)


def train_step(model, optimizer, inputs: dict, precision: str, live=None) -> None:
    """Forward (under bf16 autocast for ``precision="gpu"``), backward, AdamW step."""
    import torch

    autocast = (
        torch.autocast("cpu", dtype=torch.bfloat16)
        if precision == "gpu"
        else contextlib.nullcontext()
    )
    with autocast:
        loss = model(**inputs).loss
    if live is not None:
        live.enter("text backward")
    loss.backward()
    del loss
    if live is not None:
        live.enter("optimizer")
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def trace(spec_: dict, remat: bool, text_layers: int, vision_layers: int, fake: bool = True):
    """Peak bytes alive per phase over two training steps of the model at these depths, and
    the bytes of its weights, of the parameters a step trains (``trainable``: its gradients),
    the count of those the optimizer holds (``trainable_params``: every adapter's) and the
    bytes of what a step leaves alive (AdamW's moments)."""
    import torch

    with training_setup(spec_, remat, text_layers, vision_layers, fake) as setup:
        model, optimizer, inputs = setup
        live = LiveBytes()
        for tensor in [*model.parameters(), *model.buffers()]:
            live.track(tensor)
        weights = live.now
        for tensor in inputs.values():
            live.track(tensor)
        held = live.now
        for state in optimizer.state.values():  # the waiting adapters' moments (experts)
            for value in state.values():
                if isinstance(value, torch.Tensor):
                    live.track(value)
        towers = model.get_base_model().model
        towers.vision_tower.register_forward_pre_hook(lambda *_: live.enter("vision forward"))
        towers.language_model.register_forward_pre_hook(lambda *_: live.enter("text forward"))

        def mark_vision_backward(module, args, output):
            hidden = output.last_hidden_state
            if hidden.requires_grad:
                hidden.register_hook(lambda grad: live.enter("vision backward"))

        towers.vision_tower.register_forward_hook(mark_vision_backward)
        with live:
            for _ in range(2):
                train_step(model, optimizer, inputs, spec_["precision"], live)
            after_step = live.now - held  # AdamW's moments
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimized = [p for group in optimizer.param_groups for p in group["params"]]
        return {
            "peaks": dict(live.peaks),
            "weights": weights,
            "inputs": held - weights,
            "after_step": after_step,
            "trainable": sum(p.numel() * p.element_size() for p in trainable),
            "trainable_params": sum(p.numel() for p in optimized),
            "params": sum(p.numel() for p in model.parameters()),
        }


def _depths(config: dict) -> tuple[int, int]:
    return config["text_config"]["num_hidden_layers"], config["vision_config"]["num_hidden_layers"]


def extrapolate(samples: dict[tuple[int, int], dict], text_layers: int, vision_layers: int):
    """The trace of the full model from traces at depths (1, 1), (2, 1) and (1, 2): every count
    is linear in each tower's depth; the peak is the largest extrapolated phase peak."""
    base, text, vision = samples[(1, 1)], samples[(2, 1)], samples[(1, 2)]

    def line(get):
        return round(
            get(base)
            + (text_layers - 1) * (get(text) - get(base))
            + (vision_layers - 1) * (get(vision) - get(base))
        )

    phases = set(base["peaks"]) & set(text["peaks"]) & set(vision["peaks"])
    peaks = {phase: line(lambda t, p=phase: t["peaks"][p]) for phase in phases}
    out = {key: line(lambda t, k=key: t[k]) for key in base if key != "peaks"}
    out["peaks"] = peaks
    return out


def estimate(spec_: dict, device_counts=(1, 2, 4, 8)) -> dict:
    """Per-device bytes of one training step, with and without activation checkpointing; an
    expert run's rows for more than one device have ``peak`` None and the reason."""
    text_layers, vision_layers = _depths(spec_["config"])
    experts = spec_.get("adapters", 1) > 1
    rows = []
    for remat in (False, True):
        samples = {d: trace(spec_, remat, *d) for d in ((1, 1), (2, 1), (1, 2))}
        full = extrapolate(samples, text_layers, vision_layers)
        peak = max(full["peaks"].values())
        optimizer = full["after_step"]
        gradients = full["trainable"]
        # an update's earlier micro-batches' groups keep their adapters' gradients (experts)
        earlier = (spec_.get("grad_groups", 1) - 1) * gradients // spec_.get("active", 1)
        for devices in device_counts:
            if experts and devices > 1:
                why = "MedGemma trains experts in one process"
                rows.append({"devices": devices, "remat": remat, "peak": None, "why": why})
                continue
            buckets = gradients if devices > 1 else 0  # DDP's fp32 gradient buckets
            rows.append(
                {
                    "devices": devices,
                    "remat": remat,
                    "weights": full["weights"],
                    "gradients": gradients + earlier + buckets,
                    "optimizer": optimizer,
                    "activations": peak - full["weights"] - optimizer - gradients,
                    "peak": peak + earlier + buckets,
                }
            )
    return {
        "rows": rows,
        "params": full["params"] - full["trainable_params"],  # the model's, LoRA aside
        "trainable_params": full["trainable_params"],
    }


def main() -> None:
    """Child process: specs (a JSON list) on stdin, estimates (a JSON list) on stdout."""
    import warnings

    warnings.filterwarnings("ignore")
    specs = json.load(sys.stdin)
    json.dump([estimate(s) for s in specs], sys.stdout)


if __name__ == "__main__":
    main()
