"""The MedGemma family behind the workflow's :class:`medvlm.models.base.Family` interface."""

from __future__ import annotations

from pathlib import Path

from medvlm.models.base import SplitData


class MedGemmaFamily:
    """Gemma 3 vision-language checkpoints, LoRA-tuned with TRL.

    ``logits_processor_factory`` (see :mod:`.generate`) is applied to every generated batch;
    constrained decoding plugs in here.
    """

    name = "medgemma"

    def __init__(self, logits_processor_factory=None):
        self.logits_processor_factory = logits_processor_factory

    def build_demo_model(self, out_dir: Path, vocab_texts: list[str], cfg: dict) -> None:
        from medvlm.models.medgemma.demo_model import build_demo_model

        build_demo_model(out_dir, vocab_texts, cfg)

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
        that many torchrun workers (:mod:`.launch`), each of which runs :func:`.train.train`.
        Already inside a launched worker (ours, torchrun, accelerate launch) it never
        relaunches."""
        from medvlm.models.launch import in_worker
        from medvlm.models.medgemma.launch import launch_workers
        from medvlm.models.medgemma.settings import MedGemmaRun

        ts = MedGemmaRun.from_run(run).train
        if ts.nodes * ts.processes > 1 and not in_worker():
            launch_workers(
                run, ts.nodes, ts.processes, train, val, Path(out_dir), Path(resume_dir), curves_dir
            )
            return
        from medvlm.models.medgemma.train import train as train_run

        train_run(run, train, val, out_dir, resume_dir, curves_dir)

    def predict(self, run: dict, model_dir: Path, data: SplitData, out_path: Path) -> None:
        from medvlm.models.medgemma.predict import predict

        predict(run, model_dir, data, out_path, self.logits_processor_factory)
