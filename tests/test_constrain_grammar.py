"""Output languages: every training target of the synthetic demo is in its question's language,
and every output the constraint lets through is well-formed and complete within its budget.

Random walks pick uniformly among the tokens the constraint allows (end-of-sequence included),
which reaches far more of each language than a model would; they run on both families'
tokenizers (sentencepiece with byte fallback and location tokens; a Gemma-style HF BPE).
"""

import numpy as np
import pytest

from medvlm.constrain.boxorder import still_ordered
from medvlm.constrain.grammar import BudgetTooSmall, language
from medvlm.constrain.matchers import BatchConstraint, RowConstraint
from medvlm.constrain.torch_processor import end_ids
from medvlm.constrain.vocab import hf_vocabulary, sentencepiece_vocabulary
from medvlm.data.synthetic.config import SyntheticConfig
from medvlm.data.synthetic.plan import plan_tree
from medvlm.models.medgemma.demo_model import train_tokenizer
from medvlm.models.paligemma.tokenizer import EOS, build_demo_tokenizer
from medvlm.records import TASK_TYPES, TaskType
from medvlm.records import normalise_task_type as canonical
from medvlm.tasks import task_spec
from medvlm.tasks.box_frame import NORMALIZED, PIXELS

FILES = plan_tree(SyntheticConfig(seed=3, train_images_per_dataset=4, val_images_per_dataset=2))
CASES = [(canonical(e["TaskType"]), e["Question"], e["Answer"]) for f in FILES for e in f.entries]
# One question per task type and question opening: the shapes the walks explore.
SHAPES = list({(t, q.split("?")[0][:40]): (t, q) for t, q, _ in CASES}.values())


@pytest.fixture(scope="module")
def sp(tmp_path_factory):
    texts = [q for _, q, _ in CASES] + [a for _, _, a in CASES]
    tokenizer = build_demo_tokenizer(texts, tmp_path_factory.mktemp("sp") / "t.model", 500)
    return tokenizer, sentencepiece_vocabulary(tokenizer)


@pytest.fixture(scope="module")
def hf():
    tokenizer = train_tokenizer([q for _, q, _ in CASES] + [a for _, _, a in CASES], 500)
    return tokenizer, hf_vocabulary(tokenizer, end_ids(tokenizer))


def test_the_synthetic_shapes_cover_every_task_type():
    assert {task for task, _ in SHAPES} == set(TASK_TYPES)


def _accepts(vocab, tokens, lang, budget) -> bool:
    row = RowConstraint(lang, vocab, budget)
    for token in tokens:
        if not row.matcher.consume_token(token):
            return False
    return row.matcher.is_accepting()


@pytest.mark.parametrize(("task", "question", "answer"), CASES)
def test_every_training_target_is_in_its_language(sp, task, question, answer):
    tokenizer, vocab = sp
    target = task_spec(task).target(answer, question)
    budget = 2 * len(target.encode()) + 40  # room for the worst-case box counts of grammar.py
    assert _accepts(vocab, tokenizer.encode(target), language(task, question), budget), target


def _walk(vocab, languages, budget, seed, width=None):
    """Token ids of random walks through the constraint, cut at the first end token."""
    rng = np.random.default_rng(seed)
    batch = BatchConstraint(languages, vocab, budget)
    out = [[] for _ in languages]
    for _ in range(budget):
        allowed = batch.allowed(width or vocab.size)
        tokens = [int(rng.choice(np.flatnonzero(row))) for row in allowed]
        for row, token in zip(out, tokens, strict=True):
            row.append(token)
        batch.consume(tokens)
    ends = [[i for i, token in enumerate(row) if token in vocab.eos] for row in out]
    return [row[: end[0]] if end else row for row, end in zip(out, ends, strict=True)]


@pytest.mark.parametrize("budget", [6, 30, 90])
@pytest.mark.parametrize("family", ["sp", "hf"])
def test_random_walks_are_always_well_formed(request, family, budget):
    tokenizer, vocab = request.getfixturevalue(family)
    for task, question in SHAPES:
        try:
            outputs = _walk(vocab, [language(task, question)] * 4, budget, seed=budget)
        except BudgetTooSmall:
            assert budget == 6 and task in ("detection", "instance_detection")
            continue
        for ids in outputs:
            text = tokenizer.decode(ids)
            assert task_spec(task).is_well_formed(text, question), (task, budget, text)


@pytest.mark.parametrize("family", ["sp", "hf"])
def test_normalised_walks_stay_in_the_frame_and_never_dead_end(request, family):
    """In the normalised frame every coordinate is at most 1000 and each box is ordered: the
    order filter knows a coordinate cannot grow past 1000 (after ``[441, 263, 20`` nothing can
    finish the box in order, so ``20`` is never offered)."""
    tokenizer, vocab = request.getfixturevalue(family)
    shapes = [(t, q) for t, q in SHAPES if t in ("detection", "instance_detection")]
    for seed in range(3):
        for task, question in shapes:
            langs = [language(task, question, NORMALIZED)] * 4
            for ids in _walk(vocab, langs, 120, seed=seed):
                text = tokenizer.decode(ids)
                parsed = task_spec(task).parse(text, question)
                assert task_spec(task).is_well_formed(text, question), text
                boxes = parsed if task == "detection" else sum(parsed.values(), [])
                assert all(0 <= v <= 1000 for box in boxes for v in box), text
    assert still_ordered("[441, 263, 20", PIXELS)  # 2000 and more are pixels
    assert not still_ordered("[441, 263, 20", NORMALIZED)  # 200..209 < 441, 2000 > 1000
    assert still_ordered("[441, 263, 10", NORMALIZED)  # 1000 is still possible


def test_ids_past_the_tokenizer_are_never_allowed(sp):
    _, vocab = sp
    batch = BatchConstraint([language(TaskType.REPORT_GENERATION, "Describe.")], vocab, 5)
    allowed = batch.allowed(vocab.size + 7)
    assert allowed.shape == (1, vocab.size + 7)
    assert allowed[0, : vocab.size].any() and not allowed[0, vocab.size :].any()


def test_text_answers_never_contain_special_tokens(sp):
    tokenizer, vocab = sp
    allowed = BatchConstraint(
        [language(TaskType.REPORT_GENERATION, "Describe.")], vocab, 50
    ).allowed(vocab.size)[0]
    assert not allowed[tokenizer.loc_offset :].any()  # <loc....>, <seg...>
    assert not allowed[EOS]  # an empty report is malformed


def test_the_bound_grows_when_tokens_carry_several_bytes(sp):
    tokenizer, vocab = sp
    text = "Define the position of the lesion in this image using its bounding box coordinates."
    ids = tokenizer.encode(text)
    assert len(ids) < len(text) // 2  # the demo tokenizer learnt these words
    batch = BatchConstraint(
        [language(TaskType.REPORT_GENERATION, "Describe.")], vocab, len(ids) + 2
    )
    for token in ids:
        assert batch.allowed(vocab.size)[0, token], tokenizer.decode([token])
        batch.consume([token])
    # the first bound was len(ids) + 2 bytes; the answer is far longer and still accepted
    row = batch.rows[0]
    assert row.budget >= len(text) and row.matcher.is_accepting()


def test_a_budget_that_holds_no_answer_is_reported():
    with pytest.raises(BudgetTooSmall, match="budget is 1"):
        language(TaskType.DETECTION, "Where is the lesion?").grammar(1)
    with pytest.raises(BudgetTooSmall):
        language(TaskType.MULTI_LABEL, "Select all that apply from: Caries, Bone Loss").grammar(3)


def test_multi_label_answers_keep_the_question_order_without_repeats(sp):
    tokenizer, vocab = sp
    question = "Which findings? Select all that apply from: Caries; Bone Loss; Impacted Tooth"
    lang = language(TaskType.MULTI_LABEL, question)
    assert _accepts(vocab, tokenizer.encode("Caries; Impacted Tooth"), lang, 60)
    assert not _accepts(vocab, tokenizer.encode("Impacted Tooth; Caries"), lang, 60)
    assert not _accepts(vocab, tokenizer.encode("Caries; Caries"), lang, 60)


@pytest.mark.parametrize(
    ("text", "ordered"),
    [
        ("[5, 7, 9, 8", True),  # y2 = 8 is unfinished and may become 80
        ("[5, 7, 9, 8]", True),
        ("[5, 7, 4", True),  # x2 may still become 40..4999
        ("[5, 7, 4,", False),  # x2 = 4 < x1 = 5, finished
        ("[5, 70, 9, 6]", False),  # y2 = 6 < y1 = 70
        ("[5000, 1, 4999", False),  # four digits already: 4999 < 5000
        ("[5000, 1, 0", False),  # "0" cannot grow
        ("[[1, 2, 3, 4], [9, 9, 8", True),
        ("[[1, 2, 3, 1], [9, 9, 10", False),  # the earlier box is out of order
    ],
)
def test_corner_order_of_partial_boxes(text, ordered):
    assert still_ordered(text) is ordered


def test_xywh_questions_leave_the_order_open():
    question = "Give the box as [x, y, width, height] of the mass."
    assert not language(TaskType.DETECTION, question).corners
    assert language(TaskType.DETECTION, "Give the bounding box of the mass.").corners
