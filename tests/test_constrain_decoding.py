"""Both families decode under the constraint: random tiny models answer every task type in a
well-formed way (and, without the constraint, mostly do not)."""

import jax
import numpy as np
import pytest
from PIL import Image

from medvlm.constrain.grammar import language
from medvlm.constrain.jax_hook import ConstraintHook
from medvlm.constrain.location_grammar import LocationLanguage
from medvlm.constrain.torch_processor import ConstraintFactory
from medvlm.constrain.vocab import sentencepiece_vocabulary
from medvlm.data.synthetic.config import SyntheticConfig
from medvlm.data.synthetic.plan import plan_tree
from medvlm.models.medgemma.demo_model import (
    DemoSettings,
    build_model,
    build_processor,
    train_tokenizer,
)
from medvlm.models.medgemma.generate import generate_ids
from medvlm.models.paligemma.config import tiny
from medvlm.models.paligemma.decode import Decoder, decode_text
from medvlm.models.paligemma.inputs import prompt_text
from medvlm.models.paligemma.location_tokens import decode_locations
from medvlm.models.paligemma.model import PaliGemma
from medvlm.models.paligemma.params import flatten, init_params, unflatten
from medvlm.models.paligemma.tokenizer import build_demo_tokenizer
from medvlm.records import TASK_TYPES, Record, TaskType
from medvlm.records import normalise_task_type as canonical
from medvlm.tasks import task_spec
from medvlm.tasks.box_frame import PIXELS

BUDGET = 40
FILES = plan_tree(SyntheticConfig(seed=5, train_images_per_dataset=2, val_images_per_dataset=1))
ENTRIES = [e for f in FILES for e in f.entries]
# Two questions per task type, as records (one batch per task type, as both families decode).
RECORDS = [
    Record(
        uid=f"q{i}",
        dataset="demo",
        category="demo",
        split_folder="training",
        source_file="demo.json",
        entry_index=i,
        task=canonical(e["TaskType"]),
        task_raw=e["TaskType"],
        modality="demo",
        question=e["Question"],
        answer=str(e["Answer"]),
    )
    for i, e in enumerate(ENTRIES)
]
BY_TASK = {task: [r for r in RECORDS if r.task == task][:2] for task in TASK_TYPES}
TEXTS = [task_spec(r.task).prompt(r.question) for r in RECORDS] + [
    task_spec(r.task).target(r.answer, r.question) for r in RECORDS
]


def _malformed(records, texts):
    return sum(
        not task_spec(r.task).is_well_formed(t, r.question)
        for r, t in zip(records, texts, strict=True)
    )


@pytest.fixture(scope="module")
def paligemma(tmp_path_factory):
    tokenizer = build_demo_tokenizer(TEXTS, tmp_path_factory.mktemp("pg") / "t.model", 400)
    config = tiny(vocab_size=tokenizer.vocab_size + 6, image_size=16, width=16, patch=8)
    rng = np.random.default_rng(0)
    flat = flatten(jax.device_get(init_params(config)))
    flat = {k: rng.normal(0, 0.4, v.shape).astype(np.float32) for k, v in flat.items()}
    decoder = Decoder(PaliGemma(config), unflatten(flat))
    images = rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    return decoder, tokenizer, sentencepiece_vocabulary(tokenizer), images


def _paligemma_answers(paligemma, records, languages=None):
    decoder, tokenizer, vocab, images = paligemma
    text = prompt_text(tokenizer, [task_spec(r.task).prompt(r.question) for r in records], 48)
    hook = None if languages is None else ConstraintHook(languages, vocab, BUDGET)
    tokens = decoder.greedy(images, text.tokens, text.mask_input, BUDGET, hook=hook)
    return decode_text(tokenizer, tokens)


def test_paligemma_answers_are_well_formed_under_the_constraint(paligemma):
    free, constrained = 0, 0
    for records in BY_TASK.values():
        languages = [language(r.task, r.question) for r in records]
        constrained += _malformed(records, _paligemma_answers(paligemma, records, languages))
        free += _malformed(records, _paligemma_answers(paligemma, records))
    assert constrained == 0
    assert free >= len(TASK_TYPES)  # the random model alone gets most formats wrong


def test_paligemma_location_answers_decode_to_well_formed_boxes(paligemma):
    _, tokenizer, _, _ = paligemma
    for task in (TaskType.DETECTION, TaskType.INSTANCE_DETECTION):
        records = BY_TASK[task]
        languages = [LocationLanguage(r.task, r.question, tokenizer.loc_offset) for r in records]
        answers = _paligemma_answers(paligemma, records, languages)
        for record, text in zip(records, answers, strict=True):
            answer = decode_locations(task, text, record.question, (640, 480))
            assert answer is not None, text
            assert task_spec(task).is_well_formed(answer, record.question), (text, answer)


@pytest.fixture(scope="module")
def medgemma():
    import torch

    cfg = DemoSettings(vocab_size=420)
    tokenizer = train_tokenizer(TEXTS, cfg.vocab_size)
    torch.manual_seed(0)
    model = build_model(tokenizer, cfg).eval()
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    return model, build_processor(tokenizer, cfg), image


def test_medgemma_answers_are_well_formed_under_the_constraint(medgemma):
    model, processor, image = medgemma
    factory = ConstraintFactory(dict.fromkeys(TASK_TYPES, BUDGET))
    free, constrained = 0, 0

    def answers(records, constraint=None):
        images = [[image]] * len(records)
        ids = generate_ids(model, processor, records, images, BUDGET, PIXELS, constraint)
        return processor.batch_decode(ids, skip_special_tokens=True)

    for records in BY_TASK.values():
        constrained += _malformed(records, answers(records, factory))
        free += _malformed(records, answers(records))
    assert constrained == 0
    assert free >= len(TASK_TYPES)
