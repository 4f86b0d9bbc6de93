"""Every reference answer of the synthetic demo tree reads, and its training target round-trips.

The demo imitates the real files' question and answer shapes (letters past E, label answers, a
comma label, both multi-label separators, JSON-valued answers), so this is where the parsers
meet the data the workflow runs on.
"""

import pytest

from medvlm.data.synthetic.config import SyntheticConfig
from medvlm.data.synthetic.plan import plan_tree
from medvlm.records import answer_text, normalise_task_type
from medvlm.tasks import task_spec

FILES = plan_tree(SyntheticConfig(seed=3, train_images_per_dataset=12, val_images_per_dataset=4))
CASES = [
    pytest.param(entry, native, id=f"{file.dataset.name}-{file.split.name}-{i}")
    for file in FILES
    for i, (entry, native) in enumerate(zip(file.entries, file.natives, strict=True))
    if i < 6
]


@pytest.mark.parametrize(("entry", "native"), CASES)
def test_reference_answers_read_and_round_trip(entry, native):
    spec = task_spec(normalise_task_type(entry["TaskType"]))
    question = entry["Question"]
    parsed = spec.parse(entry["Answer"], question)
    assert parsed is not None
    # the same answer given as a JSON value (later FLARE editions) reads the same
    assert spec.parse(answer_text(native), question) == parsed
    target = spec.target(entry["Answer"], question)
    assert spec.is_well_formed(target, question), target
    assert spec.parse(target, question) == parsed
