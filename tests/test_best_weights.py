"""Which weights a training run keeps (medvlm.models.best_weights): the validation sample and
the rule."""

from __future__ import annotations

from collections import Counter

import pytest

from medvlm.models.best_weights import Candidate, is_better, score_answers, validation_sample
from medvlm.records import Record


def record(i, task, answer="A", question="Is it? A. No, B. Yes"):
    return Record(
        uid=f"u{i}",
        dataset="d",
        category="c",
        split_folder="training",
        source_file="d.json",
        entry_index=i,
        task=task,
        task_raw=task,
        modality="m",
        question=question,
        answer=answer,
        image_names=[f"{i}.png"],
        image_paths=[],
    )


RECORDS = (
    [record(i, "classification") for i in range(40)]
    + [record(40 + i, "counting", "3", "How many?") for i in range(10)]
    + [record(50 + i, "regression", "2.5", "What is the value?") for i in range(2)]
)


def test_task_types_take_turns_and_the_sample_is_fixed_by_the_seed():
    sample = validation_sample(RECORDS, 12, seed=0)
    # 3 task types: regression has only 2 questions, so classification and counting take
    # turns for the rest: 2 regression, 5 counting, 5 classification
    assert Counter(r.task for r in sample) == {
        "classification": 5,
        "counting": 5,
        "regression": 2,
    }
    assert sample == validation_sample(RECORDS, 12, seed=0)  # every evaluation, every resume
    assert sample != validation_sample(RECORDS, 12, seed=1)
    positions = [RECORDS.index(r) for r in sample]
    assert positions == sorted(positions)  # split order
    assert validation_sample(RECORDS, None, 0) == RECORDS
    assert validation_sample(RECORDS, 500, 0) == RECORDS


def test_score_rule_keeps_the_higher_score_and_breaks_ties_by_loss():
    best = Candidate(step=100, loss=2.5, score=0.2)
    assert is_better("score", Candidate(200, 3.9, 0.6), best)  # loss rose, answers improved
    assert not is_better("score", Candidate(200, 1.0, 0.1), best)
    assert is_better("score", Candidate(200, 2.4, 0.2), best)  # same score, lower loss
    assert not is_better("score", Candidate(200, 2.6, 0.2), best)
    assert not is_better("score", Candidate(200, 1.0, None), best)  # nothing scored
    assert is_better("score", Candidate(100, None, None), None)  # the first one is kept


def test_loss_and_final_rules():
    best = Candidate(step=100, loss=2.5, score=0.9)
    assert is_better("loss", Candidate(200, 2.4, 0.0), best)
    assert not is_better("loss", Candidate(200, 2.6, 1.0), best)
    assert is_better("final", Candidate(200, 9.0, 0.0), best)
    with pytest.raises(ValueError, match="train.select must be one of"):
        is_better("latest", Candidate(200, 1.0, 1.0), best)


def test_answers_are_scored_against_the_records():
    records = [record(0, "classification", "A"), record(1, "classification", "B")]
    # refs A B; answers A, (none -> empty, wrong): recall A 1, recall B 0 -> 0.5
    selection = score_answers(records, {"u0": "A"})
    assert selection.parts == {"classification": 0.5}
    assert score_answers(records, {"u0": "A", "u1": "B"}).score == 1.0
