"""Prediction with a trained run's folder or a checkpoint as it is (a zero-shot baseline)."""

from __future__ import annotations

from pathlib import Path

from medvlm.models.base import SplitData
from medvlm.models.experts import Experts
from medvlm.models.paligemma.answer import (
    RoutedWeights,
    answer_records,
    constraint_vocabulary,
    pixel_answers,
)
from medvlm.models.paligemma.checkpoint import (
    CONFIG_NAME,
    checkpoint_files,
    load_params,
    read_npz,
)
from medvlm.models.paligemma.decode import Decoder
from medvlm.models.paligemma.loading import check_image_size, model_config
from medvlm.models.paligemma.lora import adapter_factors, merge
from medvlm.models.paligemma.model import PaliGemma
from medvlm.models.paligemma.params import flatten, unflatten
from medvlm.models.paligemma.settings import PaliGemmaRun
from medvlm.models.paligemma.tokenizer import find_tokenizer, load_tokenizer
from medvlm.models.paligemma.train import group_factors_path
from medvlm.predictions import write_predictions


def expert_weights(
    settings: PaliGemmaRun, model_dir: Path, npz: Path, params: dict
) -> RoutedWeights | None:
    """An expert run's weights per group (``params``, the run's weights with the common
    adapters merged, plus each group's factors from beside ``npz``); None for any other model."""
    experts = Experts.read(model_dir)
    if experts is None:
        return None
    factors = read_npz(group_factors_path(npz))
    flat = flatten(params)
    ts = settings.train

    def weights_of(group: str) -> dict:
        own = adapter_factors(factors, group)
        if not own:
            raise ValueError(f"{group_factors_path(npz)}: no factors of expert group {group!r}")
        return unflatten(merge(flat, own, ts.lora_alpha, ts.lora_rank))

    return RoutedWeights(experts, weights_of)


def predict_run(run: dict, model_dir: Path, data: SplitData, out_path: Path) -> None:
    """Answer with ``model_dir``: a training run's output (its best or final weights), or
    any checkpoint (file or directory) as it is, for a zero-shot baseline."""
    settings = PaliGemmaRun.from_run(run)
    model_dir = Path(model_dir)
    trained = model_dir / f"{settings.decode.weights}.npz"
    if trained.is_file():
        npz, tokenizer_path = trained, find_tokenizer(model_dir)
        config_json = model_dir / CONFIG_NAME
    else:
        npz, tokenizer_path, config_json = checkpoint_files(model_dir)
    config = model_config(npz, config_json, settings.train.final_softcap)
    check_image_size(config, settings.image_size, npz)
    tokenizer = load_tokenizer(tokenizer_path)
    decoder = Decoder(PaliGemma(config), load_params(npz, config))
    routed = expert_weights(settings, model_dir, npz, decoder.params)
    loader = data.loader(settings.decode.batch_size, shuffle=False)
    vocab = constraint_vocabulary(tokenizer, settings)
    raw = answer_records(
        decoder,
        tokenizer,
        settings,
        loader,
        loader.records,
        vocab,
        progress=True,
        routed=routed,
    )
    records = data.records()
    answers = pixel_answers(records, raw, settings.train)
    write_predictions(records, answers, out_path, raw=raw)
