"""Answering questions with a :class:`Decoder`: batches of one task type under each question's
output grammar, then boxes back to pixels of the original image. ``predict`` answers a split with
it; training answers its validation sample with it to pick the weights it keeps."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

from tqdm import tqdm

from medvlm.metrics.selection import Selection
from medvlm.models.best_weights import score_answers
from medvlm.models.experts import Experts
from medvlm.models.paligemma.batches import prompt_of
from medvlm.models.paligemma.decode import Decoder, decode_text
from medvlm.models.paligemma.inputs import batch_images, prompt_text
from medvlm.models.paligemma.location_tokens import LOC_TASKS, answers_from_locations
from medvlm.models.paligemma.settings import PaliGemmaRun, TrainSettings
from medvlm.models.paligemma.tokenizer import Tokenizer
from medvlm.records import Record
from medvlm.tasks.framed_answers import answers_in_pixels


class RoutedWeights:
    """The weights an expert run answers each question with: its group's (the common adapters
    and the group's merged in), made by ``weights_of(group)`` when a batch of the group needs
    them; one group's are kept at a time."""

    def __init__(self, experts: Experts, weights_of: Callable[[str], dict]):
        self.experts, self.weights_of = experts, weights_of
        self._group: str | None = None
        self._params = None

    def for_task(self, task: str) -> dict:
        group = self.experts.group_of(task)
        if group != self._group:
            self._params = None  # let the last group's go before making the next
            self._group, self._params = group, self.weights_of(group)
        return self._params


def output_languages(records: Sequence[Record], tokenizer: Tokenizer, ts: TrainSettings) -> list:
    """The output language of each record: location tokens for detection when the run trains
    them, else the task's language with boxes in the run's frame."""
    from medvlm.constrain.grammar import language
    from medvlm.constrain.location_grammar import LocationLanguage

    return [
        LocationLanguage(r.task, r.question, tokenizer.loc_offset)
        if ts.location_tokens and r.task in LOC_TASKS
        else language(r.task, r.question, ts.box_frame)
        for r in records
    ]


def constraint_vocabulary(tokenizer: Tokenizer, settings: PaliGemmaRun):
    """The vocabulary constrained decoding needs, or None when the run decodes freely."""
    if not settings.decode.constrained:
        return None
    from medvlm.constrain.vocab import sentencepiece_vocabulary

    return sentencepiece_vocabulary(tokenizer)


def answer_records(
    decoder: Decoder,
    tokenizer: Tokenizer,
    settings: PaliGemmaRun,
    loader,
    records: Sequence[Record],
    vocab=None,
    progress: bool = False,
    routed: RoutedWeights | None = None,
) -> dict[str, str]:
    """Raw model output per uid for ``records`` (images read through ``loader``), decoded in
    batches of one task type each; constrained when a ``vocab`` is given; each batch with its
    group's weights when ``routed`` (an expert run)."""
    ds, ts = settings.decode, settings.train
    by_task = defaultdict(list)
    for record in records:
        by_task[record.task].append(record)
    batches = [
        (task, chosen[start : start + ds.batch_size])
        for task, chosen in sorted(by_task.items())
        for start in range(0, len(chosen), ds.batch_size)
    ]
    raw = {}
    for task, chunk in tqdm(batches, desc="predict", unit="batch", disable=not progress):
        if routed is not None:
            decoder.params = routed.for_task(task)
        padded = chunk + [chunk[0]] * (ds.batch_size - len(chunk))
        prompts = [prompt_of(r, ts.prompt_template, ts.box_frame) for r in padded]
        text = prompt_text(tokenizer, prompts, ds.prompt_len)
        batch = loader.read_images([r.uid for r in padded])
        images, image_mask = batch_images(batch["images"], batch["image_mask"], ts.multi_image)
        hook = None
        if vocab is not None:
            from medvlm.constrain.jax_hook import ConstraintHook

            languages = output_languages(padded, tokenizer, ts)
            hook = ConstraintHook(languages, vocab, ds.max_new_tokens[task])
        tokens = decoder.greedy(
            images, text.tokens, text.mask_input, ds.max_new_tokens[task], image_mask, hook
        )
        for record, answer in zip(chunk, decode_text(tokenizer, tokens), strict=False):
            raw[record.uid] = answer
    return raw


def pixel_answers(
    records: Sequence[Record], raw: dict[str, str], ts: TrainSettings
) -> dict[str, str]:
    """Answers whose boxes are pixels of the original image: location tokens decoded, or JSON
    boxes brought back from the run's frame; records without an answer are left out."""
    answered = [r for r in records if r.uid in raw]
    texts = [raw[r.uid] for r in answered]
    if ts.location_tokens:
        converted = answers_from_locations(answered, texts)
    else:
        converted = answers_in_pixels(answered, texts, ts.box_frame)
    return {r.uid: text for r, text in zip(answered, converted, strict=True)}


class ValidationScorer:
    """Answers a fixed validation sample with given weights (a parameter tree, or an expert
    run's :class:`RoutedWeights`) and scores the answers."""

    def __init__(self, decoder: Decoder, tokenizer: Tokenizer, settings: PaliGemmaRun, loader):
        self.decoder, self.tokenizer, self.loader = decoder, tokenizer, loader
        self.settings = settings
        self.vocab = constraint_vocabulary(tokenizer, settings)

    def __call__(self, params, records: Sequence[Record]) -> Selection:
        routed = params if isinstance(params, RoutedWeights) else None
        if routed is None:
            self.decoder.params = params
        raw = answer_records(
            self.decoder,
            self.tokenizer,
            self.settings,
            self.loader,
            records,
            self.vocab,
            routed=routed,
        )
        return score_answers(records, pixel_answers(records, raw, self.settings.train))
