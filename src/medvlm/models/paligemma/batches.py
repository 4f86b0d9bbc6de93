"""Questions as model inputs: the task's prompt and training target, tokenised, plus images."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from medvlm.data.mixture import MixtureOrder, mixture_order
from medvlm.models.experts import Experts, GroupBatches
from medvlm.models.paligemma.inputs import batch_images, training_text
from medvlm.models.paligemma.location_tokens import LOC_TASKS, location_target
from medvlm.models.paligemma.settings import TrainSettings
from medvlm.models.paligemma.tokenizer import Tokenizer
from medvlm.records import Record
from medvlm.tasks.framed_answers import frame_prompt, frame_target, record_size

log = logging.getLogger(__name__)


def prompt_of(record: Record, template: str, frame: str) -> str:
    """The model's prompt: the task's prompt (boxes named in ``frame``) in the template."""
    return template.format(prompt=frame_prompt(record, frame))


def target_of(record: Record, location_tokens: bool, frame: str, instance_order: str) -> str:
    """The training target; detection boxes in location tokens (instances in
    ``instance_order``) when ``location_tokens``, else JSON boxes in ``frame``."""
    if location_tokens and record.task in LOC_TASKS:
        size = record_size(record)
        return location_target(record.task, record.answer, record.question, size, instance_order)
    return frame_target(record, frame)


def targets_of(
    records: Sequence[Record], location_tokens: bool, frame: str, instance_order: str
) -> dict[str, str | None]:
    """Training target per uid; None (logged) when the task cannot read the reference answer
    (or, with location tokens or normalised boxes, the image size cannot be read)."""
    targets = {}
    for record in records:
        try:
            targets[record.uid] = target_of(record, location_tokens, frame, instance_order)
        except ValueError as error:
            log.warning("%s: no training target, left out of the loss (%s)", record.uid, error)
            targets[record.uid] = None
    return targets


class Batcher:
    """Training/validation batches of a loader's records, padded to a fixed number of rows.

    Padding rows repeat the first row with weight 0 (so every batch has the compiled shape and
    splits evenly over the devices); a record without a target also gets weight 0.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        loader,
        template: str,
        seqlen: int,
        multi_image: str,
        location_tokens: bool,
        frame: str,
        instance_order: str,
    ):
        self.tokenizer, self.loader = tokenizer, loader
        self.template, self.seqlen, self.multi_image = template, seqlen, multi_image
        self.records = {r.uid: r for r in loader.records}
        self.frame = frame
        self.targets = targets_of(loader.records, location_tokens, frame, instance_order)
        self.truncated = 0

    @classmethod
    def for_training(cls, tokenizer: Tokenizer, loader, settings: TrainSettings) -> Batcher:
        """The batcher of a loader under a run's training settings (template, seqlen,
        multi-image layout, location-token targets and their instance order, box frame)."""
        return cls(
            tokenizer,
            loader,
            settings.prompt_template,
            settings.seqlen,
            settings.multi_image,
            settings.location_tokens,
            settings.box_frame,
            settings.instance_order,
        )

    def __call__(self, uids: Sequence[str], rows: int) -> dict:
        if not 0 < len(uids) <= rows:
            raise ValueError(f"a batch of {rows} rows cannot hold {len(uids)} questions")
        real = np.arange(rows) < len(uids)
        uids = list(uids) + [uids[0]] * (rows - len(uids))
        records = [self.records[uid] for uid in uids]
        prefixes = [prompt_of(r, self.template, self.frame) for r in records]
        suffixes = [self.targets[r.uid] or "" for r in records]
        text = training_text(self.tokenizer, prefixes, suffixes, self.seqlen)
        self.truncated += text.truncated
        weights = real & np.array([self.targets[uid] is not None for uid in uids])
        loader_batch = self.loader.read_images(uids)
        images, image_mask = batch_images(
            loader_batch["images"], loader_batch["image_mask"], self.multi_image
        )
        return {
            "images": images,
            "image_mask": image_mask,
            "tokens": text.tokens,
            "mask_ar": text.mask_ar,
            "mask_loss": text.mask_loss * weights[:, None].astype(np.int32),
            "mask_input": text.mask_input,
            "weights": weights.astype(np.float32),
        }


class BatchOrder:
    """The uids of each training step's batch of ``rows`` questions.

    Without a mixture, the loader's seeded per-epoch permutation cut into whole batches (an
    epoch's last partial batch left out); with one (``mixture``), the draws ``step * rows`` to
    ``(step + 1) * rows`` of its order; with experts (``groups``), batches of one group each
    (:class:`medvlm.models.experts.GroupBatches`, which draws them by the mixture where the run
    has one), whose group :meth:`group` names. All are
    functions of the seed and the step, so a resumed run draws what the killed one would have;
    every process computes the same global batch and builds its own rows of it
    (:class:`.distributed.ProcessRows`).
    """

    def __init__(
        self,
        loader,
        rows: int,
        mixture: MixtureOrder | None = None,
        groups: GroupBatches | None = None,
    ):
        self.loader, self.rows, self.mixture, self.groups = loader, rows, mixture, groups
        self.per_epoch = len(loader.records) // rows
        if self.per_epoch < 1:
            raise ValueError(
                f"{len(loader.records)} training questions cannot fill one batch of {rows}"
            )

    @classmethod
    def for_training(
        cls, loader, settings: TrainSettings, run: str, experts: Experts | None = None
    ) -> BatchOrder:
        """The order under a run's ``train.mixture`` (errors name ``runs.<run>.train.mixture``)
        and its ``experts``."""
        mixture = groups = None
        where = f"runs.{run}.train.mixture"
        if experts is not None:
            groups = GroupBatches(
                loader.records, experts, settings.batch_size, loader.seed, settings.mixture, where
            )
        elif settings.mixture is not None:
            mixture = mixture_order(loader.records, settings.mixture, loader.seed, where)
        return cls(loader, settings.batch_size, mixture, groups)

    def write_group_log(self, path, steps: list[int]) -> None:
        """With a mixture, :data:`~medvlm.data.mixture.GROUP_LOG` at ``steps``."""
        if self.groups is not None and self.groups.mixture_names:
            self.groups.write_log(path, steps, 1)
        elif self.mixture is not None:
            self.mixture.write_log(path, steps, self.rows)

    def group(self, step: int) -> str | None:
        """The expert group of step ``step``'s batch; None without experts."""
        return None if self.groups is None else self.groups.batch(step)[0]

    def uids(self, step: int) -> list[str]:
        if self.groups is not None:
            positions = self.groups.batch(step)[1]
        elif self.mixture is not None:
            positions = self.mixture.positions(step * self.rows, (step + 1) * self.rows)
        else:
            epoch, index = divmod(step, self.per_epoch)
            positions = self.loader.order(epoch)[index * self.rows : (index + 1) * self.rows]
        return [self.loader.records[i].uid for i in positions]
