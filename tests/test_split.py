"""Splits: no image (or multi-image case) in two splits, per-data-set fractions, determinism."""

import dataclasses

import pytest

from medvlm.data.split import (
    SplitConfig,
    assign_splits,
    image_groups,
    run_split,
    split_records,
    write_unlabelled_split,
)
from medvlm.io import read_jsonl
from medvlm.records import Record


def record(uid, dataset, images, task="classification", split_folder="training", category="Xray"):
    return Record(
        uid=uid,
        dataset=dataset,
        category=category,
        split_folder=split_folder,
        source_file=f"{split_folder}/{category}/{dataset}/q.json",
        entry_index=0,
        task=task,
        task_raw=task,
        modality="x",
        question="q",
        answer="A",
        image_names=list(images),
        image_paths=[f"/data/{split_folder}/{dataset}/{i}" for i in images],
    )


def corpus():
    """Two data sets; every image has two questions; neojaundice cases tie three images."""
    records = []
    for i in range(40):
        for task in ("classification", "regression"):
            records.append(record(f"t/dental/{i}/{task}", "dental", [f"{i}.png"], task))
    for case in range(12):
        views = [f"c{case}_{v}.jpg" for v in range(3)]
        records.append(record(f"t/neo/{case}", "neojaundice", views, category="Clinical"))
        # a second question that shares only one of the case's views
        records.append(record(f"t/neo/{case}/b", "neojaundice", views[2:], category="Clinical"))
    for i in range(10):
        records.append(
            record(f"v/dental/{i}", "dental", [f"{i}.png"], split_folder="validation-public")
        )
    return records


def images_by_split(splits):
    return {name: {p for r in rs for p in r.image_paths} for name, rs in splits.items()}


@pytest.mark.parametrize("test_source", ["validation-public", "holdout"])
def test_no_image_is_in_two_splits(test_source):
    config = SplitConfig(test_source=test_source, val_fraction=0.2, test_fraction=0.2, seed=3)
    splits = split_records(corpus(), config)
    images = images_by_split(splits)
    assert not images["train"] & images["val"]
    assert not images["train"] & images["test"]
    assert not images["val"] & images["test"]
    # every question about one image lands in the same split
    where = {r.uid: name for name, rs in splits.items() for r in rs}
    assert where["t/dental/5/classification"] == where["t/dental/5/regression"]
    assert where["t/neo/3"] == where["t/neo/3/b"]


def test_multi_image_questions_are_grouped_transitively():
    groups = image_groups(corpus())
    assert groups["t/neo/7"] == groups["t/neo/7/b"]
    assert groups["t/neo/7"] != groups["t/neo/8"]


def test_fractions_are_per_data_set():
    splits = split_records(corpus(), SplitConfig(val_fraction=0.25))
    val = splits["val"]
    # dental: 40 images → round(0.25 * 40) = 10 images, 2 questions each
    assert sum(r.dataset == "dental" for r in val) == 20
    # neojaundice: 12 cases → 3 cases, 2 questions each
    assert sum(r.dataset == "neojaundice" for r in val) == 6
    # test comes from validation-public: its 10 questions, none from training
    assert {r.split_folder for r in splits["test"]} == {"validation-public"}
    assert len(splits["test"]) == 10


def test_holdout_takes_test_from_training_and_ignores_validation_public():
    splits = split_records(corpus(), SplitConfig(test_source="holdout", val_fraction=0.1))
    assert all(r.split_folder == "training" for rs in splits.values() for r in rs)
    # dental: val round(0.1*40)=4 images; test round(0.1*36)=4 images → 8 questions each
    assert sum(r.dataset == "dental" for r in splits["test"]) == 8
    assert sum(r.dataset == "dental" for r in splits["val"]) == 8


def test_deterministic_for_a_seed_and_different_for_another():
    a = assign_splits(corpus(), SplitConfig(seed=1))
    assert a == assign_splits(list(reversed(corpus())), SplitConfig(seed=1))
    assert a != assign_splits(corpus(), SplitConfig(seed=2))


def test_the_split_does_not_depend_on_where_the_tree_lies():
    # the same tree under another root (another machine, a moved data.root, a clone elsewhere)
    moved = [
        dataclasses.replace(r, image_paths=[p.replace("/data/", "/mnt/x/") for p in r.image_paths])
        for r in corpus()
    ]
    for seed in range(5):
        assert assign_splits(moved, SplitConfig(seed=seed)) == assign_splits(
            corpus(), SplitConfig(seed=seed)
        )
    groups = image_groups(corpus())
    assert groups["t/neo/7"] == groups["t/neo/7/b"] == "training/Clinical/neojaundice/c7_0.jpg"


def test_filters_do_not_move_records_between_splits():
    everything = split_records(corpus(), SplitConfig())
    only_regression = split_records(corpus(), SplitConfig(task_types=("regression",)))
    where = {r.uid: name for name, rs in everything.items() for r in rs}
    kept = [(r.uid, name) for name, rs in only_regression.items() for r in rs]
    assert kept and all(r_uid.endswith("regression") for r_uid, _ in kept)
    assert all(where[uid] == name for uid, name in kept)


def test_dataset_and_category_filters():
    splits = split_records(corpus(), SplitConfig(categories=("Clinical",)))
    assert {r.dataset for rs in splits.values() for r in rs} == {"neojaundice"}
    splits = split_records(corpus(), SplitConfig(datasets=("dental",)))
    assert {r.dataset for rs in splits.values() for r in rs} == {"dental"}


@pytest.mark.parametrize(
    "filters, message",
    [
        (
            {"datasets": ("dental", "Dental2")},
            r"data\.datasets: 'Dental2' matches no merged "
            r"question; did you mean 'dental'\? the merged dataset values are dental, neojaundice",
        ),
        ({"categories": ("X-ray",)}, r"data\.categories: 'X-ray' .*did you mean 'Xray'"),
        ({"task_types": ("counting",)}, r"data\.task_types: 'counting' matches no merged"),
    ],
)
def test_a_filter_value_that_matches_nothing_stops_the_split(tmp_path, filters, message):
    paths = {name: tmp_path / f"{name}.jsonl" for name in ("train", "val", "test")}
    with pytest.raises(ValueError, match=message):
        run_split(corpus(), SplitConfig(**filters), paths, tmp_path / "summary.json")
    assert not list(tmp_path.iterdir())  # nothing written


def test_run_split_writes_files_and_rejects_an_empty_training_split(tmp_path):
    paths = {name: tmp_path / f"{name}.jsonl" for name in ("train", "val", "test")}
    summary = run_split(corpus(), SplitConfig(), paths, tmp_path / "summary.json")
    assert summary["test"]["questions"] == len(list(read_jsonl(paths["test"]))) == 10
    with pytest.raises(ValueError, match="data.datasets"):
        run_split(corpus(), SplitConfig(datasets=("nope",)), paths, tmp_path / "s.json")


def test_unknown_test_source_is_rejected():
    with pytest.raises(ValueError, match="test_source"):
        SplitConfig(test_source="validation-hidden")


def test_unlabelled_questions_stay_out_of_every_split_and_get_their_own_file(tmp_path):
    records = corpus()
    hidden = [record(f"validation-hidden/dental/q/{i}", "dental", [f"h{i}.png"],
                     split_folder="validation-hidden") for i in (2, 10, 1)]  # fmt: skip
    splits = split_records(records + hidden, SplitConfig(val_fraction=0.2, test_source="holdout"))
    assert not any(r.split_folder == "validation-hidden" for s in splits.values() for r in s)
    out = tmp_path / "validation-hidden.jsonl"
    assert write_unlabelled_split(records + hidden, "validation-hidden", out) == 3
    # uid order, as every split is written, so batches match the workflow's
    assert [row["uid"] for row in read_jsonl(out)] == sorted(r.uid for r in hidden)
    with pytest.raises(ValueError, match="no usable question in testing/"):
        write_unlabelled_split(records, "testing", tmp_path / "testing.jsonl")
