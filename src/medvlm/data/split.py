"""Leak-free train/val/test splits: grouped by image, stratified by data set, deterministic.

Many FLARE questions share an image, and multi-image questions (neojaundice) tie several images
into one case. Questions are grouped into connected components over the images they use, so no
image — and no case — is in two splits. Each group's place is decided by a seeded hash of its
key, ranked within its data set, so the assignment is exact per data set and does not move when
unrelated data is added or filtered out. Filters apply after assignment for the same reason.
The key names an image by its place in the tree (``training/Xray/dental/imagesTr/3.png``), never
by where the tree lies on disk: the same data gives the same split on every machine and under
every ``data.root``.
"""

from __future__ import annotations

import difflib
import hashlib
import posixpath
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from medvlm.io import write_json, write_jsonl
from medvlm.records import Record

SPLITS = ("train", "val", "test")
TEST_SOURCES = ("validation-public", "holdout")


@dataclass(frozen=True)
class SplitConfig:
    test_source: str = "validation-public"  # test = validation-public, or a held-out fraction
    val_fraction: float = 0.1  # of training groups, per data set
    test_fraction: float = 0.1  # of training groups, per data set; only for test_source holdout
    seed: int = 0
    datasets: tuple[str, ...] = ()  # empty = all
    task_types: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    def __post_init__(self):
        if self.test_source not in TEST_SOURCES:
            raise ValueError(f"split.test_source must be one of {TEST_SOURCES}")


def _tree_names(record: Record) -> list[str]:
    """The record's images named by their place in the tree: its data set folder (from the
    questions file's path under the data root) joined with each ``ImageName`` as written."""
    folder = posixpath.dirname(record.source_file)
    return [posixpath.normpath(posixpath.join(folder, name)) for name in record.image_names]


def image_groups(records: Iterable[Record]) -> dict[str, str]:
    """Map each record uid to its group key. Questions are connected through the image files
    they share (their real paths); a group's key is the smallest tree name of its images
    (:func:`_tree_names`), which does not depend on where the tree lies."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    records = list(records)
    for record in records:
        for path in record.image_paths:
            parent.setdefault(path, path)
        for path in record.image_paths[1:]:
            union(record.image_paths[0], path)
    key: dict[str, str] = {}
    for record in records:
        component, name = find(record.image_paths[0]), min(_tree_names(record))
        key[component] = min(key.get(component, name), name)
    return {record.uid: key[find(record.image_paths[0])] for record in records}


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}\0{key}".encode()).hexdigest()


def _portion(fraction: float, n: int) -> int:
    """How many of ``n`` groups a fraction takes: rounded, at least one if the fraction is
    positive and there are two or more groups, and never all of them."""
    if fraction <= 0 or n < 2:
        return 0
    return min(max(1, round(fraction * n)), n - 1)


def assign_splits(records: list[Record], config: SplitConfig) -> dict[str, str]:
    """Map each record uid to "train", "val", "test" or "" (not used: e.g. the held-out
    validation-public questions when test comes from a hold-out)."""
    group_of = image_groups(records)
    groups_by_dataset: dict[str, set[str]] = defaultdict(set)
    first_dataset: dict[str, str] = {}
    for record in sorted(records, key=lambda r: r.uid):
        group = group_of[record.uid]
        if record.split_folder == "training":
            dataset = first_dataset.setdefault(group, record.dataset)
            groups_by_dataset[dataset].add(group)

    split_of_group: dict[str, str] = {}
    holdout = config.test_source == "holdout"
    for groups in groups_by_dataset.values():
        ranked = sorted(groups, key=lambda g: _rank(config.seed, g))
        n_val = _portion(config.val_fraction, len(ranked))
        n_test = _portion(config.test_fraction, len(ranked) - n_val) if holdout else 0
        for position, group in enumerate(ranked):
            if position < n_val:
                split_of_group[group] = "val"
            elif position < n_val + n_test:
                split_of_group[group] = "test"
            else:
                split_of_group[group] = "train"

    assignment = {}
    for record in records:
        if record.split_folder == "training":
            assignment[record.uid] = split_of_group[group_of[record.uid]]
        elif record.split_folder == "validation-public" and not holdout:
            assignment[record.uid] = "test"
        else:
            assignment[record.uid] = ""
    return assignment


def keep(record: Record, config: SplitConfig) -> bool:
    """Whether the configured data set / task type / category filters keep a record."""
    return (
        (not config.datasets or record.dataset in config.datasets)
        and (not config.task_types or record.task in config.task_types)
        and (not config.categories or record.category in config.categories)
    )


def split_records(records: list[Record], config: SplitConfig) -> dict[str, list[Record]]:
    """The records of each split, filtered, in uid order."""
    assignment = assign_splits(records, config)
    splits: dict[str, list[Record]] = {name: [] for name in SPLITS}
    for record in sorted(records, key=lambda r: r.uid):
        name = assignment[record.uid]
        if name and keep(record, config):
            splits[name].append(record)
    return splits


def split_summary(splits: dict[str, list[Record]]) -> dict:
    summary = {}
    for name, records in splits.items():
        counts: dict[str, Counter] = defaultdict(Counter)
        for record in records:
            counts[record.dataset][record.task] += 1
        summary[name] = {
            "questions": len(records),
            "images": len({p for r in records for p in r.image_paths}),
            "by_dataset": {d: dict(sorted(c.items())) for d, c in sorted(counts.items())},
        }
    return summary


# config filter (data.<key>) → the record field it matches
FILTER_FIELDS = {"datasets": "dataset", "task_types": "task", "categories": "category"}


def check_filters(records: list[Record], config: SplitConfig) -> None:
    """Raise naming the config key when a filter value matches no merged question: a misspelt
    data set would otherwise only leave that data set out."""
    for key, field in FILTER_FIELDS.items():
        present = sorted({getattr(record, field) for record in records})
        for value in getattr(config, key):
            if value not in present:
                close = difflib.get_close_matches(value, present, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ValueError(
                    f"config key data.{key}: {value!r} matches no merged question; {hint}"
                    f"the merged {field} values are {', '.join(present)} (one whose every "
                    "entry was skipped is named in the merge's problems.jsonl)"
                )


def run_split(records: list[Record], config: SplitConfig, out_paths: dict[str, str], summary_path):
    """The split stage: write one JSONL per split and a summary; fail on a filter value that
    matches nothing (:func:`check_filters`) or when train ends up empty."""
    check_filters(records, config)
    splits = split_records(records, config)
    if not splits["train"]:
        raise ValueError(
            "the training split is empty: check the filters data.datasets, data.task_types and "
            "data.categories, and that the data root has a training/ folder"
        )
    for name in SPLITS:
        write_jsonl(out_paths[name], splits[name])
    summary = split_summary(splits)
    write_json(summary_path, summary)
    return summary


def write_unlabelled_split(records: list[Record], folder: str, out_path) -> int:
    """Write the questions of unlabelled split folder ``folder`` (``validation-hidden``,
    ``testing``) in uid order, as a split's records are: they are answered, never trained on or
    scored, and no filter applies (a submission answers every question)."""
    chosen = sorted((r for r in records if r.split_folder == folder), key=lambda r: r.uid)
    if not chosen:
        raise ValueError(
            f"no usable question in {folder}/: is it under data.root? (see the merge's problems)"
        )
    return write_jsonl(out_path, chosen)
