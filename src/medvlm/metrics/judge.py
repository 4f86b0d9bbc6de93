"""Report judges: a local language model reads one prompt per report pair and writes an
assessment, which a metric (GREEN, CRIMSON) parses into a score.

What the metrics share lives here. :func:`check_judge_dir` checks a folder without importing
torch, so the workflow runs it at plan time. :class:`LocalJudge` loads a folder offline (local
files only, safetensors weights), batches prompts with left padding, decodes greedily with a cap
per answer (so no answer depends on which pairs share its batch) and returns each answer's new
text. A metric subclasses it with its prompt, its chat layout, its GPU dtype and its parser.

Importing this module (or a metric's) imports no framework and no text-metric library: the
plan-time check needs none.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from medvlm.io import JSONError, open_regular, parse_json

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")
CHAT_TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json")


def check_judge_dir(
    directory: str | Path,
    metric: str,
    model_types: Collection[str] = (),
    chat_template: bool = False,
) -> None:
    """Raise, naming the folder, unless it holds a loadable model: a ``config.json`` with a
    ``model_type`` (one of ``model_types`` when given), ``*.safetensors`` weights, a tokenizer
    and, with ``chat_template``, a chat template. Missing pieces raise ``FileNotFoundError``,
    a config that is not a model's ``ValueError``."""
    directory = Path(directory)
    what = f"{metric} judge checkpoint"
    if not directory.is_dir():
        raise FileNotFoundError(f"{what} directory not found: {directory}")
    config = _json_file(directory / "config.json", what)
    model_type = config.get("model_type")
    if not isinstance(model_type, str):
        raise ValueError(f"{what} {directory / 'config.json'} names no model_type: not a model")
    if model_types and model_type not in model_types:
        raise ValueError(
            f"{what} {directory / 'config.json'} is a {model_type!r} model; a {metric} judge is "
            f"one of {', '.join(sorted(model_types))}"
        )
    if not any(directory.glob("*.safetensors")):
        raise FileNotFoundError(
            f"{what} {directory} has no *.safetensors weights "
            "(only safetensors are loaded; convert .bin weights first)"
        )
    if not any((directory / name).is_file() for name in TOKENIZER_FILES):
        raise FileNotFoundError(
            f"{what} {directory} has no tokenizer ({' or '.join(TOKENIZER_FILES)})"
        )
    if chat_template and not _has_chat_template(directory, what):
        raise FileNotFoundError(
            f"{what} {directory} has no chat template ({', '.join(CHAT_TEMPLATE_FILES)} or "
            "chat_template in tokenizer_config.json)"
        )


def _json_file(path: Path, what: str) -> dict:
    """The JSON object in ``path``; errors name the file."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path.parent} has no {path.name}")
    try:
        with open_regular(path) as handle:
            value = parse_json(handle.read())
    except (OSError, JSONError) as error:
        raise ValueError(f"{what} {path}: {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} {path} is not a JSON object")
    return value


def _has_chat_template(directory: Path, what: str) -> bool:
    if any((directory / name).is_file() for name in CHAT_TEMPLATE_FILES):
        return True
    tokenizer_config = directory / "tokenizer_config.json"
    return tokenizer_config.is_file() and bool(
        _json_file(tokenizer_config, what).get("chat_template")
    )


class LocalJudge:
    """A judge model from a local Hugging Face checkpoint directory.

    Subclasses set ``metric`` (the score's name), ``model_types`` and ``needs_chat_template``
    (what the folder must hold), ``gpu_dtype`` (weights on a GPU; float32 on the CPU), and
    implement :meth:`make_prompt`, :meth:`encode` and :meth:`score_outputs`.
    ``max_new_tokens`` caps each answer.
    """

    metric = "judge"
    model_types: Collection[str] = ()
    needs_chat_template = False
    gpu_dtype = "float16"

    def __init__(
        self,
        checkpoint_dir: str | Path,
        batch_size: int = 8,
        max_new_tokens: int = 2048,
        device: str | None = None,
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        directory = Path(checkpoint_dir)
        self.check(directory)
        if batch_size < 1 or max_new_tokens < 1:
            raise ValueError(
                f"{self.metric} judge needs batch_size >= 1 and max_new_tokens >= 1, "
                f"got {batch_size} and {max_new_tokens}"
            )
        self.name = directory.name
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.tokenizer = AutoTokenizer.from_pretrained(
            directory, local_files_only=True, padding_side="left"
        )
        if self.tokenizer.eos_token is None:
            raise ValueError(f"{self.metric} judge tokenizer in {directory} defines no EOS token")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = getattr(torch, self.gpu_dtype) if self.device.type == "cuda" else torch.float32
        self.model = AutoModelForCausalLM.from_pretrained(
            directory, local_files_only=True, use_safetensors=True, dtype=dtype
        )
        self.model.to(self.device).eval()

    @classmethod
    def check(cls, directory: str | Path) -> None:
        """Raise, naming the folder, unless it holds a model this judge can load (no torch)."""
        check_judge_dir(directory, cls.metric, cls.model_types, cls.needs_chat_template)

    def make_prompt(self, reference: str, candidate: str) -> str:
        """The metric's prompt for one pair."""
        raise NotImplementedError

    def encode(self, prompts: Sequence[str]) -> Mapping[str, Any]:
        """Left-padded ``input_ids`` and ``attention_mask`` tensors for a batch of prompts."""
        raise NotImplementedError

    def score_outputs(self, outputs: Sequence[str]) -> dict[str, Any]:
        """The metric's scores of raw judge outputs, with ``per_pair`` among them."""
        raise NotImplementedError

    def generation_settings(self) -> dict[str, Any]:
        """Extra ``generate`` arguments (end-of-answer tokens the checkpoint does not set)."""
        return {}

    def pad(self, ids: Sequence[Sequence[int]]) -> Mapping[str, Any]:
        """Token id lists padded on the left into one batch of tensors."""
        return self.tokenizer.pad({"input_ids": list(ids)}, padding=True, return_tensors="pt")

    def judge(self, references: Sequence[str], predictions: Sequence[str]) -> list[str]:
        """The judge's raw output (new tokens only, decoded) for each pair, in input order."""
        import torch
        from tqdm import tqdm

        from medvlm.metrics.report_text import check_report_pairs

        check_report_pairs(references, predictions)
        prompts = [self.make_prompt(r, p) for r, p in zip(references, predictions, strict=True)]
        outputs: list[str] = []
        starts = range(0, len(prompts), self.batch_size)
        for start in tqdm(starts, desc=f"{self.metric} judge {self.name}", unit="batch"):
            batch = self.encode(prompts[start : start + self.batch_size]).to(self.device)
            with torch.inference_mode():
                generated = self.model.generate(
                    **batch,
                    do_sample=False,
                    num_beams=1,
                    max_new_tokens=self.max_new_tokens,
                    pad_token_id=self.tokenizer.pad_token_id,
                    **self.generation_settings(),
                )
            new_tokens = generated[:, batch["input_ids"].shape[1] :]
            outputs.extend(self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
        return outputs

    def score(self, references: Sequence[str], predictions: Sequence[str]) -> dict[str, Any]:
        """The metric's scores of the pairs, with ``judge`` (the folder's name) and the raw
        ``responses``."""
        responses = self.judge(references, predictions)
        return {**self.score_outputs(responses), "judge": self.name, "responses": responses}
