"""The PaliGemma family behind the workflow's interface (medvlm.models.base.Family): a
dispatcher. Training runs in this process (:func:`.train.train_run`) or, with several
processes, in workers that :mod:`.launch` starts and that each run ``train_run``; prediction is
:func:`.predict.predict_run`; the demo model is :mod:`.demo_model`'s."""

from __future__ import annotations

from pathlib import Path

from medvlm.models.base import SplitData
from medvlm.models.launch import in_worker
from medvlm.models.paligemma.demo_model import build_demo_model
from medvlm.models.paligemma.launch import launch_workers
from medvlm.models.paligemma.predict import predict_run
from medvlm.models.paligemma.settings import PaliGemmaRun
from medvlm.models.paligemma.train import train_run


class PaliGemmaFamily:
    name = "paligemma"

    def build_demo_model(self, out_dir: Path, vocab_texts: list[str], cfg: dict) -> None:
        """The demo's tiny random model (:func:`.demo_model.build_demo_model`)."""
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
        that many JAX processes (:mod:`.launch`), each of which runs :func:`.train.train_run`.
        Already inside a launched worker it never relaunches."""
        ts = PaliGemmaRun.from_run(run).train
        if ts.nodes * ts.processes > 1 and not in_worker():
            launch_workers(run, ts.nodes, ts.processes, train, val, out_dir, resume_dir, curves_dir)
            return
        train_run(run, train, val, out_dir, resume_dir, curves_dir)

    def predict(self, run: dict, model_dir: Path, data: SplitData, out_path: Path) -> None:
        """Answer with ``model_dir`` (:func:`.predict.predict_run`)."""
        predict_run(run, model_dir, data, out_path)
