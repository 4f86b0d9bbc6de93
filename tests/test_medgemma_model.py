"""The MedGemma family's model, data and generation on a tiny random Gemma 3 built offline.

The demo model is loaded back through AutoModelForImageTextToText / AutoProcessor, exactly as a
real checkpoint directory would be.
"""

import json

import numpy as np
import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor, LogitsProcessor

from medvlm.models.base import get_family
from medvlm.models.medgemma.data import ExampleSource, sft_dataset
from medvlm.models.medgemma.demo_model import DemoSettings, build_demo_model
from medvlm.models.medgemma.generate import generate_ids
from medvlm.models.medgemma.model import check_checkpoint, load_model, load_processor
from medvlm.models.medgemma.predict import predict, task_batches
from medvlm.models.medgemma.settings import MedGemmaRun
from medvlm.models.medgemma.train import build_trainer
from medvlm.records import TaskType
from medvlm.tasks.box_frame import PIXELS
from tests.support.medgemma_data import QUESTION, colour_split, demo_texts


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("medgemma")
    train = colour_split(root / "data", "train", 6, views=2)
    model_dir = root / "demo-model"
    get_family("medgemma").build_demo_model(model_dir, demo_texts(train), {})
    return model_dir, train


@pytest.fixture(scope="module")
def loaded(demo):
    model_dir, _ = demo
    return load_model(model_dir).eval(), load_processor(model_dir)


def test_demo_model_loads_like_a_real_checkpoint(demo):
    model_dir, _ = demo
    model = AutoModelForImageTextToText.from_pretrained(model_dir, local_files_only=True)
    processor = AutoProcessor.from_pretrained(model_dir, local_files_only=True)
    assert type(model).__name__ == "Gemma3ForConditionalGeneration"
    assert type(processor).__name__ == "Gemma3Processor"
    tokenizer = processor.tokenizer
    for token in ("<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<image_soft_token>"):
        assert tokenizer.tokenize(f"x{token}y").count(token) == 1, token
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Hi"}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert (
        prompt
        == "<bos><start_of_turn>user\n<start_of_image>Hi<end_of_turn>\n<start_of_turn>model\n"
    )
    # transformers starts the projector at zero: the demo model redraws it, else it is blind
    assert model.model.multi_modal_projector.mm_input_projection_weight.abs().sum() > 0
    parameters = sum(p.numel() for p in model.parameters())
    assert parameters < 500_000


def test_the_image_changes_the_output(loaded, demo):
    model, processor = loaded
    _, train = demo
    images = ExampleSource(train, PIXELS).examples(["train-0", "train-1"])["images"]  # red, green
    record = train.records()[0]
    logits = []
    for views in images:
        prompt = processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "?"}]}],
            add_generation_prompt=True,
            tokenize=False,
        )
        inputs = processor(
            images=[views], text=[prompt], add_special_tokens=False, return_tensors="pt"
        )
        with torch.no_grad():
            logits.append(model(**inputs).logits[0, -1])
    assert record.answer == "A"
    assert not torch.allclose(logits[0], logits[1])


def test_bad_checkpoint_and_demo_sizes_are_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a local model directory"):
        check_checkpoint(tmp_path / "missing")
    with pytest.raises(ValueError, match="image tokens"):
        DemoSettings(image_size=32, patch_size=8, mm_tokens_per_image=3)
    with pytest.raises(ValueError, match="demo_models.medgemma.width: unknown key"):
        build_demo_model(tmp_path / "m", ["a b"], {"width": 3})


def test_examples_carry_every_view_from_the_shard(demo):
    _, train = demo
    source = ExampleSource(train, PIXELS)
    example = source.examples(["train-views-1"])
    views = example["images"][0]
    assert len(views) == 3
    # view v of the multi-view records is a noisy square of colour v (red, green, blue)
    means = [np.asarray(view).reshape(-1, 3).mean(axis=0) for view in views]
    assert [int(np.argmax(m)) for m in means] == [0, 1, 2]
    content = example["prompt"][0][0]["content"]
    assert [part["type"] for part in content] == ["image", "image", "image", "text"]
    assert example["completion"][0][0]["content"][0]["text"] == "11.5"


def test_only_the_answer_tokens_carry_loss(demo, tmp_path):
    model_dir, train = demo
    cfg = MedGemmaRun.from_run({"checkpoint": str(model_dir), "train": {"steps": 1}})
    trainer = build_trainer(cfg, train, train, tmp_path / "out", tmp_path / "resume")
    dataset = sft_dataset(train, PIXELS)
    uids = [r.uid for r in train.records()]  # the dataset keeps split order
    batch = trainer.data_collator(
        [dataset[uids.index("train-0")], dataset[uids.index("train-views-0")]]
    )
    tokenizer = trainer.processing_class.tokenizer
    image_ids = {tokenizer.image_token_id, tokenizer.boi_token_id, tokenizer.eoi_token_id}

    # four image soft tokens per view: one view, then three
    assert (batch["input_ids"] == tokenizer.image_token_id).sum(dim=1).tolist() == [4, 12]
    assert batch["pixel_values"].shape[0] == 4
    assert batch["token_type_ids"].sum(dim=1).tolist() == [4, 12]
    for row, target in zip(batch["labels"], ["A", "10.5"], strict=True):
        supervised = row[row != -100]
        assert not image_ids & set(supervised.tolist())
        assert tokenizer.decode(supervised) == f"{target}<end_of_turn>\n"
    question_ids = tokenizer(QUESTION, add_special_tokens=False)["input_ids"]
    labels = batch["labels"][0].tolist()
    assert not any(labels[i : i + len(question_ids)] == question_ids for i in range(len(labels)))


class Forbid(LogitsProcessor):
    def __init__(self, token_id):
        self.token_id = token_id

    def __call__(self, input_ids, scores):
        scores[:, self.token_id] = -torch.inf
        return scores


def test_a_logits_processor_hook_is_obeyed(loaded, demo):
    model, processor = loaded
    _, train = demo
    records = [r for r in train.records() if r.task == TaskType.CLASSIFICATION][:3]
    images = ExampleSource(train, PIXELS).examples([r.uid for r in records])["images"]
    free = generate_ids(model, processor, records, images, 6, PIXELS)
    chosen = int(free[0, 0])  # what greedy decoding picks first without the hook
    assert chosen not in processor.tokenizer.all_special_ids

    calls = []

    def factory(batch, tokenizer, prompt_length):
        calls.append(([r.uid for r in batch], prompt_length))
        return [Forbid(chosen)]

    forced = generate_ids(model, processor, records, images, 6, PIXELS, factory)
    assert calls[0][0] == [r.uid for r in records] and calls[0][1] > 20
    assert chosen in free.tolist()[0]
    assert chosen not in forced.flatten().tolist()


def test_batched_generation_matches_one_at_a_time(loaded, demo):
    """Left padding: a short and a long prompt in one batch give what they give alone."""
    model, processor = loaded
    _, train = demo
    records = [r for r in train.records() if r.task == TaskType.REGRESSION]
    short = records[0].__class__(**{**records[0].__dict__, "question": "Level?"})
    batch = [short, records[1]]
    images = ExampleSource(train, PIXELS).examples([r.uid for r in batch])["images"]

    def texts(records, views):
        ids = generate_ids(model, processor, records, views, 5, PIXELS)
        return processor.batch_decode(ids, skip_special_tokens=True)

    together = texts(batch, images)
    alone = [texts([r], [v])[0] for r, v in zip(batch, images, strict=True)]
    assert together == alone


def test_task_batches_keep_one_task_per_batch(demo):
    _, train = demo
    records = train.records()
    batches = task_batches(records, batch_size=4)
    assert [len(b) for b in batches] == [4, 2, 2]
    for positions in batches:
        assert len({records[p].task for p in positions}) == 1
    assert sorted(p for b in batches for p in b) == list(range(len(records)))


def test_predict_writes_the_shared_predictions_file(demo, tmp_path):
    model_dir, train = demo
    run = {
        "family": "medgemma",
        "checkpoint": str(model_dir),
        "decode": {"batch_size": 3, "max_new_tokens": {"classification": 2, "regression": 3}},
    }
    out = tmp_path / "predictions.jsonl"
    assert predict(run, model_dir, train, out) == 8
    get_family("medgemma").predict(run, model_dir, train, tmp_path / "again.jsonl")
    assert (tmp_path / "again.jsonl").read_text() == out.read_text()
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["uid"] for row in rows] == [r.uid for r in train.records()]
    for row in rows:
        assert {"prediction", "parsed", "well_formed", "answer", "task"} <= row.keys()
    views = next(row for row in rows if row["uid"] == "train-views-0")
    assert len(views["ImageName"]) == 3
