"""The PaliGemma family behind the workflow's interface (medvlm.models.base.Family)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import jax
import ml_dtypes
import numpy as np

from medvlm.io import atomic_path, write_json
from medvlm.models.base import (
    SplitData,
    claim_resume_dir,
    release_resume_dir,
    training_fingerprint,
)
from medvlm.models.experts import Experts, split_experts
from medvlm.models.keep import validation_sample
from medvlm.models.launch import in_worker
from medvlm.models.paligemma.answer import (
    RoutedWeights,
    ValidationScorer,
    answer_records,
    constraint_vocabulary,
    pixel_answers,
)
from medvlm.models.paligemma.checkpoint import (
    CONFIG_NAME,
    checkpoint_files,
    load_params,
    read_npz,
    save_params,
    source_files,
)
from medvlm.models.paligemma.config import PaliGemmaConfig, tiny
from medvlm.models.paligemma.decode import Decoder
from medvlm.models.paligemma.distributed import ProcessRows, barrier, is_main
from medvlm.models.paligemma.examples import Batcher
from medvlm.models.paligemma.gemma import INIT_STDDEV
from medvlm.models.paligemma.hf_layout import read_config
from medvlm.models.paligemma.model import PaliGemma
from medvlm.models.paligemma.params import (
    cast,
    flatten,
    infer_config,
    init_params,
    ordered_location_rows,
    unflatten,
)
from medvlm.models.paligemma.settings import DemoSettings, PaliGemmaRun
from medvlm.models.paligemma.sharding import batch_sharding
from medvlm.models.paligemma.tokenizer import (
    NUM_LOC,
    build_demo_tokenizer,
    find_tokenizer,
    load_tokenizer,
)
from medvlm.models.paligemma.train import Trainer, fit
from medvlm.predictions import write_predictions
from medvlm.settings import from_mapping

log = logging.getLogger(__name__)

TOKENIZER_FILE = "tokenizer.model"


def model_config(
    npz: Path, config_json: Path | None, final_softcap: float = 0.0
) -> PaliGemmaConfig:
    """``config.json`` beside the checkpoint when there is one (ours or a transformers
    folder's), else read off its shapes (with ``final_softcap``, which shapes cannot tell)."""
    if config_json is not None:
        return read_config(config_json)
    shapes = {name: array.shape for name, array in read_npz(npz).items()}
    return infer_config(shapes, final_softcap)


def _check_image_size(config: PaliGemmaConfig, image_size: int, where: Path) -> None:
    if config.img.image_size != image_size:
        raise ValueError(
            f"run.image_size is {image_size} but the checkpoint {where} is for "
            f"{config.img.image_size} px images"
        )


def expert_weights(
    settings: PaliGemmaRun, model_dir: Path, npz: Path, params: dict
) -> RoutedWeights | None:
    """An expert run's weights per group (``params``, the run's weights with the common
    adapters merged, plus each group's factors from beside ``npz``); None for any other model."""
    experts = Experts.read(model_dir)
    if experts is None:
        return None
    from medvlm.models.paligemma.lora import adapter_factors, merge
    from medvlm.models.paligemma.train import group_factors_path

    factors = read_npz(group_factors_path(npz))
    flat = flatten(params)
    ts = settings.train

    def weights_of(group: str) -> dict:
        own = adapter_factors(factors, group)
        if not own:
            raise ValueError(f"{group_factors_path(npz)}: no factors of expert group {group!r}")
        return unflatten(merge(flat, own, ts.lora_alpha, ts.lora_rank))

    return RoutedWeights(experts, weights_of)


class PaliGemmaFamily:
    name = "paligemma"

    def build_demo_model(self, out_dir: Path, vocab_texts: list[str], cfg: dict) -> None:
        """A tiny random PaliGemma 2 (image head perturbed, so images matter; location-token
        embeddings ordered by location, as pretraining leaves them:
        :func:`~.params.ordered_location_rows`) + a demo tokenizer trained on ``vocab_texts``,
        saved as ``params.npz`` + ``tokenizer.model`` + ``config.json`` and read back through
        ``load_params``.

        ``cfg``: the keys of :class:`DemoSettings` (``demo_models.paligemma``).
        """
        demo = from_mapping(DemoSettings, cfg, "demo_models.paligemma")
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        tokenizer = build_demo_tokenizer(vocab_texts, out_dir / TOKENIZER_FILE, demo.vocab_size)
        config = tiny(tokenizer.vocab_size, demo.image_size, demo.width, demo.depth, demo.patch)
        flat = flatten(jax.device_get(init_params(config, demo.seed)))
        head = flat["img/head/kernel"]
        rng = np.random.default_rng(demo.seed)
        flat["img/head/kernel"] = rng.normal(0, INIT_STDDEV, head.shape)
        embedding = np.array(flat["llm/embedder/input_embedding"])
        locs = slice(tokenizer.loc_offset, tokenizer.loc_offset + NUM_LOC)
        embedding[locs] = ordered_location_rows(config.llm.width, NUM_LOC)
        flat["llm/embedder/input_embedding"] = embedding
        save_params(cast(unflatten(flat), ml_dtypes.bfloat16), out_dir / "params.npz")
        write_json(out_dir / CONFIG_NAME, config.to_json())
        load_params(out_dir / "params.npz", config)  # the demo goes through the real loader

    def train(
        self,
        run: dict,
        train: SplitData,
        val: SplitData,
        out_dir: Path,
        resume_dir: Path,
        curves_dir: Path | None = None,
    ) -> None:
        """Train in this process, or with ``train.nodes`` × ``train.processes`` above one in
        that many JAX processes (:mod:`.launch`), each of which runs this again and trains its
        share: one global mesh over every process's devices, each process building only its
        rows of every batch; the main process writes the outputs (and the curves in
        ``curves_dir``)."""
        settings = PaliGemmaRun.from_run(run)
        ts = settings.train
        out_dir, resume_dir = Path(out_dir), Path(resume_dir)
        workers = ts.nodes * ts.processes
        if workers > 1 and not in_worker():
            from medvlm.models.paligemma.launch import launch_workers

            launch_workers(run, ts.nodes, ts.processes, train, val, out_dir, resume_dir, curves_dir)
            return
        if jax.process_count() != workers:
            raise ValueError(
                f"run.train.nodes × processes is {workers} but this training has "
                f"{jax.process_count()} JAX process(es)"
            )
        npz, tokenizer_path, config_json = checkpoint_files(settings.checkpoint)
        config = model_config(npz, config_json).replace(final_softcap=ts.final_softcap)
        _check_image_size(config, settings.image_size, npz)
        tokenizer = load_tokenizer(tokenizer_path)
        if tokenizer.vocab_size > config.llm.vocab_size:
            config = config.replace(vocab_size=tokenizer.vocab_size)
        params = load_params(npz, config, settings.seed)
        model = PaliGemma(config, remat=ts.activation_checkpointing)
        loader_options = dict(seed=settings.seed, shuffle=True, drop_last=True)
        train_loader = train.loader(ts.batch_size, **loader_options)
        experts = split_experts(ts, train_loader.records, out_dir.name)
        trainer = Trainer(model, params, ts, seed=settings.seed, experts=experts)
        rows = batch_sharding(trainer.mesh)
        batcher = ProcessRows(Batcher.for_training(tokenizer, train_loader, ts), rows)
        val_batcher, sample, scorer = None, [], None
        try:
            val_loader = val.loader(ts.batch_size, shuffle=False)
        except ValueError as error:
            log.warning("no validation: %s", error)
        else:
            val_batcher = ProcessRows(Batcher.for_training(tokenizer, val_loader, ts), rows)
            sample = validation_sample(val_loader.records, ts.val_examples, settings.seed)
            if ts.select == "score":
                decoder = Decoder(PaliGemma(config), None)
                scorer = ValidationScorer(decoder, tokenizer, settings, val_loader)
        if is_main():
            files = [*source_files(npz), tokenizer_path]
            files += [config_json] if config_json is not None else []
            fingerprint = training_fingerprint(settings, files, npz.parent, train, val)
            claim_resume_dir(resume_dir, fingerprint)
        barrier("resume state claimed")
        fit(trainer, batcher, val_batcher, out_dir, resume_dir, sample, scorer, curves_dir)
        barrier("trained")  # every process is done with the resume state
        if is_main():
            write_json(out_dir / CONFIG_NAME, config.to_json())
            with atomic_path(out_dir / tokenizer.HF_NAME) as tmp:
                shutil.copyfile(tokenizer_path, tmp)
            release_resume_dir(resume_dir)

    def predict(self, run: dict, model_dir: Path, data: SplitData, out_path: Path) -> None:
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
        _check_image_size(config, settings.image_size, npz)
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
