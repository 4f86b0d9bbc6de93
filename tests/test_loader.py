"""ShardLoader: every record once per epoch, seeded order, image slots and masks, dtypes."""

import numpy as np
import pytest
from PIL import Image

from medvlm.data.images import load_rgb
from medvlm.data.loader import ShardLoader
from medvlm.data.shards import build_shards
from medvlm.io import write_jsonl
from medvlm.records import Record, TaskType

SIZE = 8


def record(uid, paths, task=TaskType.CLASSIFICATION):
    return Record(
        uid=uid,
        dataset="neojaundice" if len(paths) > 1 else "ds",
        category="Clinical",
        split_folder="training",
        source_file="training/Clinical/ds/ds_questions_train.json",
        entry_index=0,
        task=task,
        task_raw=task,
        modality="clinical",
        question=f"question {uid}",
        answer=f"answer {uid}",
        image_names=[p.rsplit("/", 1)[-1] for p in paths],
        image_paths=paths,
    )


@pytest.fixture(scope="module")
def shard(tmp_path_factory):
    """20 single-image records, one 3-image record and one record whose image is corrupt."""
    root = tmp_path_factory.mktemp("shard")
    paths = []
    for i in range(23):  # image i is a solid grey of value 10·i: easy to tell apart
        path = root / f"{i}.png"
        Image.new("RGB", (12, 10), (10 * i,) * 3).save(path)
        paths.append(str(path))
    (root / "bad.png").write_bytes(b"corrupt")
    records = [
        record(f"r{i:02d}", [paths[i]], TaskType.COUNTING if i % 2 else TaskType.CLASSIFICATION)
        for i in range(20)
    ]
    records.append(record("multi", [paths[20], paths[21], paths[22]]))
    records.append(record("broken", [str(root / "bad.png")]))
    split = root / "train.jsonl"
    write_jsonl(split, records)
    build_shards(split, root / "out", SIZE)
    return root / "out", split, records


def uids_of(batches):
    return [uid for batch in batches for uid in batch["uid"]]


def test_every_record_once_per_epoch_and_broken_skipped(shard):
    out, split, records = shard
    loader = ShardLoader(out, split, batch_size=4, seed=1)
    # 21 usable records in batches of 4 → 5 full batches and one of 1
    assert loader.skipped == 1 and len(loader) == 6
    batches = list(loader)
    assert [len(b["uid"]) for b in batches] == [4, 4, 4, 4, 4, 1]
    expected = sorted(r.uid for r in records if r.uid != "broken")
    assert sorted(uids_of(batches)) == expected
    assert sorted(uids_of(loader.epoch(5))) == expected

    dropping = ShardLoader(out, split, batch_size=4, seed=1, drop_last=True)
    assert len(dropping) == 5 and len(uids_of(dropping)) == 20


def test_order_is_seeded_and_changes_per_epoch(shard):
    out, split, _ = shard
    first = ShardLoader(out, split, batch_size=5, seed=3)
    second = ShardLoader(out, split, batch_size=5, seed=3)
    other_seed = ShardLoader(out, split, batch_size=5, seed=4)
    assert uids_of(first.epoch(0)) == uids_of(second.epoch(0))
    for a, b in zip(first.epoch(2), second.epoch(2), strict=True):
        np.testing.assert_array_equal(a["images"], b["images"])
    assert uids_of(first.epoch(0)) != uids_of(other_seed.epoch(0))
    assert uids_of(first.epoch(0)) != uids_of(first.epoch(1))
    first.set_epoch(1)
    assert uids_of(first) == uids_of(second.epoch(1))


def test_unshuffled_keeps_split_order(shard):
    out, split, records = shard
    loader = ShardLoader(out, split, batch_size=6, shuffle=False)
    assert uids_of(loader) == [r.uid for r in records if r.uid != "broken"]


def test_batches_carry_the_records_images_and_text(shard):
    out, split, records = shard
    by_uid = {r.uid: r for r in records}
    loader = ShardLoader(out, split, batch_size=7, seed=0)
    assert loader.max_images == 3  # the largest image count in the split
    for batch in loader:
        assert batch["images"].shape == (len(batch["uid"]), 3, SIZE, SIZE, 3)
        assert batch["images"].dtype == np.uint8
        for b, uid in enumerate(batch["uid"]):
            rec = by_uid[uid]
            assert batch["dataset"][b] == rec.dataset and batch["task"][b] == rec.task
            assert batch["question"][b] == rec.question and batch["answer"][b] == rec.answer
            n = len(rec.image_paths)
            assert batch["image_mask"][b].tolist() == [True] * n + [False] * (3 - n)
            for slot, path in enumerate(rec.image_paths):
                np.testing.assert_array_equal(batch["images"][b, slot], load_rgb(path, SIZE))
            assert (batch["images"][b, n:] == 0).all()


def test_multi_image_slots_in_record_order(shard):
    out, split, _ = shard
    loader = ShardLoader(out, split, batch_size=2)
    batch = loader.read_images(["multi", "r03"])
    assert batch["uid"] == ["multi", "r03"]
    # images 20, 21, 22 are solid greys 200, 210, 220; r03's image is 30
    assert batch["images"][0, :, 0, 0, 0].tolist() == [200, 210, 220]
    assert batch["image_mask"].tolist() == [[True, True, True], [True, False, False]]
    assert batch["images"][1, 0, 0, 0, 0] == 30
    with pytest.raises(KeyError, match="'broken' is not in this loader's split"):
        loader.read_images(["broken"])


def test_float32_is_scaled_to_minus_one_one(shard):
    out, split, _ = shard
    as_uint8 = ShardLoader(out, split, batch_size=32, shuffle=False)
    as_float = ShardLoader(out, split, batch_size=32, shuffle=False, dtype="float32")
    (raw,) = list(as_uint8)
    (scaled,) = list(as_float)
    assert scaled["images"].dtype == np.float32
    # x/127.5 - 1: grey 0 → -1, 30 → -0.7647..., 220 → 0.7254...; empty slots (0) → -1
    np.testing.assert_allclose(scaled["images"], raw["images"] / 127.5 - 1, atol=1e-6)
    assert scaled["images"].min() == -1.0 and scaled["images"].max() <= 1.0
    np.testing.assert_array_equal(scaled["image_mask"], raw["image_mask"])


def test_float32_maps_255_to_exactly_one(tmp_path):
    path = tmp_path / "white.png"
    Image.new("L", (4, 4), 255).save(path)
    split = tmp_path / "s.jsonl"
    write_jsonl(split, [record("w", [str(path)])])
    build_shards(split, tmp_path / "out", 4)
    batch = ShardLoader(tmp_path / "out", split, batch_size=1, dtype="float32").read_images(["w"])
    assert (batch["images"] == 1.0).all()


def test_max_images_truncates_and_counts(shard):
    out, split, _ = shard
    loader = ShardLoader(out, split, batch_size=3, max_images=1)
    assert loader.truncated == 1
    batch = loader.read_images(["multi"])
    assert batch["images"].shape == (1, 1, SIZE, SIZE, 3)
    assert batch["images"][0, 0, 0, 0, 0] == 200
    # every slot filled: the single-gather path; each record gets its own first image
    by_uid = {r.uid: r for r in loader.records}
    for batch in loader:
        assert batch["image_mask"].all()
        for b, uid in enumerate(batch["uid"]):
            expected = load_rgb(by_uid[uid].image_paths[0], SIZE)
            np.testing.assert_array_equal(batch["images"][b, 0], expected)


def test_stale_shard_is_refused(shard, tmp_path):
    out, _, records = shard
    moved = [record(r.uid, [p + ".moved" for p in r.image_paths]) for r in records]
    stale = tmp_path / "stale.jsonl"
    write_jsonl(stale, moved)
    with pytest.raises(ValueError, match="stale"):
        ShardLoader(out, stale, batch_size=2)


def test_bad_arguments(shard):
    out, split, _ = shard
    with pytest.raises(ValueError, match="dtype"):
        ShardLoader(out, split, batch_size=2, dtype="float16")
    with pytest.raises(ValueError, match="batch_size"):
        ShardLoader(out, split, batch_size=0)
