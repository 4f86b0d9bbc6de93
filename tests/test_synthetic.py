"""The synthetic FLARE tree: real layout and spellings, answers readable from the pixels, image
variety, determinism, and every planted fault where the manifest says it is."""

import dataclasses
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from medvlm import cli
from medvlm.data.synthetic import (
    DATASETS,
    DATASETS_BY_NAME,
    FAULT_KINDS,
    MANIFEST,
    SyntheticConfig,
    palette,
    write_synthetic_tree,
)
from medvlm.data.synthetic.render import shape_mask
from medvlm.records import REQUIRED_FIELDS, TASK_TYPES, UnknownTaskType, normalise_task_type

# The table in docs/data-format.md: category, data set, canonical task types.
TABLE = {
    "retino": ("Retinography", {"classification"}),
    "fundus": ("Retinography", {"classification"}),
    "BUSI-det": ("Ultrasound", {"detection"}),
    "BUS-UCLM-det": ("Ultrasound", {"detection"}),
    "BUSI": ("Ultrasound", {"classification"}),
    "BUS-UCLM": ("Ultrasound", {"classification"}),
    "iugc": ("Ultrasound", {"classification", "detection", "regression"}),
    "boneresorption": ("Xray", {"classification", "regression"}),
    "dental": ("Xray", {"classification"}),
    "periapical": ("Xray", {"classification", "multi_label"}),
    "IU_XRay": ("Xray", {"report_generation"}),
    "chestdr": ("Xray", {"classification", "multi_label"}),
    "neojaundice": ("Clinical", {"classification"}),
    "chromosome": ("Microscopy", {"instance_detection", "counting"}),
    "neurips22cell": ("Microscopy", {"counting"}),
    "bone_marrow": ("Microscopy", {"classification"}),
    "endo": ("Endoscopy", {"classification"}),
    "bcn20000": ("Dermatology", {"classification"}),
    "CMMD": ("Mammography", {"classification"}),
}
SPLITS = (("training", "imagesTr", "train"), ("validation-public", "imagesVal", "val"))
COMMA_LABEL = "Endodontic Treatment, Restorative Treatment, and Complications"


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """PNG only, so pixel values are exact; all 19 data sets; no faults."""
    root = tmp_path_factory.mktemp("clean")
    config = SyntheticConfig(
        seed=3, train_images_per_dataset=9, val_images_per_dataset=3, image_format="png"
    )
    write_synthetic_tree(root, config)
    return root


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    """Formats mixed as in real data, faults planted."""
    root = tmp_path_factory.mktemp("faulty")
    config = SyntheticConfig(
        seed=1, train_images_per_dataset=6, val_images_per_dataset=2, fault_rate=0.05
    )
    return root, write_synthetic_tree(root, config)


def questions(root, name, split="train"):
    """(entries, data set folder) of one questions file."""
    category = DATASETS_BY_NAME[name].category
    folder = "training" if split == "train" else "validation-public"
    ds_dir = Path(root) / folder / category / name
    return json.loads((ds_dir / f"{name}_questions_{split}.json").read_text()), ds_dir


def all_entries(root, name):
    for split in ("train", "val"):
        entries, ds_dir = questions(root, name, split)
        for entry in entries:
            yield entry, ds_dir


def pixels(path):
    """Exact 8-bit pixels: [H, W] for gray files, [H, W, 3] for colour ones (alpha dropped)."""
    with Image.open(path) as image:
        if image.mode == "I;16":
            values = np.asarray(image).astype(np.int64)
            assert (values % 257 == 0).all()  # 16-bit values are the 8-bit ones × 257
            return (values // 257).astype(np.uint8)
        if image.mode == "RGBA":
            return np.asarray(image)[:, :, :3]
        return np.asarray(image)


def gray(path):
    """Pixels of a gray scene, whatever mode stores it."""
    values = pixels(path)
    return values[:, :, 0] if values.ndim == 3 else values


def boxes_of(mask):
    """Corner boxes [x_min, y_min, x_max (exclusive), y_max (exclusive)] of each component."""
    labels, _ = ndimage.label(mask)
    objects = ndimage.find_objects(labels)
    return sorted([s[1].start, s[0].start, s[1].stop, s[0].stop] for s in objects)


def image_names(entry):
    names = entry.get("ImageName", [])
    return [names] if isinstance(names, str) else names


def as_boxes(answer):
    value = json.loads(answer)
    return [value] if isinstance(value[0], int) else value


# ---------------------------------------------------------------- layout and spellings


def test_the_19_data_sets_of_the_table():
    assert {spec.name: (spec.category, set(spec.task_types)) for spec in DATASETS} == TABLE


def test_layout_and_file_names_for_every_data_set(clean):
    for name, (category, _) in TABLE.items():
        for folder, images, split in SPLITS:
            ds_dir = clean / folder / category / name
            entries = json.loads((ds_dir / f"{name}_questions_{split}.json").read_text())
            assert entries, f"{name} {split} has no questions"
            for entry in entries:
                assert list(entry) == [*REQUIRED_FIELDS, "Split"]
                assert entry["Split"] == split
                names = image_names(entry)
                assert isinstance(entry["ImageName"], list) == (name == "neojaundice")
                assert len(names) == (3 if name == "neojaundice" else 1)
                for image in names:
                    assert re.fullmatch(rf"{images}/{re.escape(name)}_\d{{5}}(_\d)?\.png", image)
                    assert (ds_dir / image).is_file()
    top = {p.name for p in (clean / "training").iterdir()}
    assert top == {"Retinography", "Ultrasound", "Xray", "Clinical", "Microscopy", "Endoscopy",
                   "Dermatology", "Mammography"}  # fmt: skip


def test_every_canonical_task_type_and_the_real_spellings(clean):
    raw = {entry["TaskType"] for name in TABLE for entry, _ in all_entries(clean, name)}
    assert {normalise_task_type(t) for t in raw} == set(TASK_TYPES)
    assert raw >= {
        "Classification", "classification", "Multi-label Classification", "detection",
        "Detection", "instance_detection", "Counting", "regression", "Report_Generation",
        "disease_diagnosis_classification", "cell_counting",
    }  # fmt: skip
    for name, (_, tasks) in TABLE.items():
        found = {normalise_task_type(e["TaskType"]) for e, _ in all_entries(clean, name)}
        assert found == tasks, name
    modalities = {e["Modality"] for name in TABLE for e, _ in all_entries(clean, name)}
    assert {"microscopy", "Microscopy", "X-ray", "Xray", "Dermoscopy"} <= modalities


def test_several_questions_per_image(clean):
    for name in ("iugc", "chromosome", "boneresorption", "chestdr", "periapical"):
        entries, _ = questions(clean, name)
        per_image = {}
        for entry in entries:
            task = normalise_task_type(entry["TaskType"])
            per_image.setdefault(entry["ImageName"], set()).add(task)
        assert all(tasks == TABLE[name][1] for tasks in per_image.values()), name


# ---------------------------------------------------------------- answers from the pixels


def test_option_letters_past_e_in_both_question_shapes(clean):
    marrow, _ = questions(clean, "bone_marrow")
    endo, _ = questions(clean, "endo")
    marrow_question, endo_question = marrow[0]["Question"], endo[0]["Question"]
    assert marrow_question.startswith("Question: ") and "Options: A: " in marrow_question
    assert marrow_question.endswith(" K: Metastatic carcinoma")
    assert " A. Normal cecum, B. " in endo_question and endo_question.endswith(", T. Foreign body")
    assert {e["Answer"] for e in endo} <= set("ABCDEFGHIJKLMNOPQRST")
    assert {e["Answer"] for e, _ in all_entries(clean, "CMMD")} == {"Benign", "Malignant"}


@pytest.mark.parametrize("name", ["bone_marrow", "endo", "dental", "iugc", "chestdr", "CMMD"])
def test_class_is_the_shape_and_colour_of_the_object(clean, name):
    """Class k is drawn as shape CLASS_SHAPES[k % 5] in colour (k % 5 + k // 5) % 5 (docs of
    scenes.py)."""
    spec = DATASETS_BY_NAME[name]
    labels = spec.tasks[0].params.labels
    for entry, ds_dir in all_entries(clean, name):
        if normalise_task_type(entry["TaskType"]) != "classification":
            continue
        k = labels.index(entry["Answer"]) if name == "CMMD" else ord(entry["Answer"]) - ord("A")
        values = pixels(ds_dir / entry["ImageName"])
        if spec.colour:
            colours = np.asarray(palette.CLASS_RGB)
            hits = (values[:, :, None, :] == colours[None, None]).all(axis=3)
        else:
            values = values[:, :, 0] if values.ndim == 3 else values
            hits = values[:, :, None] == np.asarray(palette.CLASS_GRAY)[None, None]
        colour_index = set(np.flatnonzero(hits.any(axis=(0, 1))))
        assert colour_index == {(k % 5 + k // 5) % 5}, entry
        mask = hits.any(axis=2)
        ys, xs = np.nonzero(mask)
        crop = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        expected = shape_mask(palette.CLASS_SHAPES[k % 5], crop.shape[1], crop.shape[0])
        assert (crop == expected).all(), entry


def test_neojaundice_class_is_the_colour_in_all_three_views(clean):
    for entry, ds_dir in all_entries(clean, "neojaundice"):
        colour = palette.CLASS_RGB[ord(entry["Answer"]) - ord("A")]
        for name in entry["ImageName"]:
            assert (pixels(ds_dir / name) == colour).all(axis=2).sum() > 20


def test_multi_label_separators_and_marks(clean):
    for name, separator in (("chestdr", ", "), ("periapical", "; ")):
        labels = DATASETS_BY_NAME[name].tasks[1].params.labels
        answers = []
        for entry, ds_dir in all_entries(clean, name):
            if normalise_task_type(entry["TaskType"]) != "multi_label":
                continue
            assert entry["Question"].endswith(separator.join(labels))  # the allowed labels
            present = entry["Answer"].split(separator)
            assert set(present) <= set(labels)
            image = gray(ds_dir / entry["ImageName"])
            width = image.shape[1]
            # label i is a mark centred in the i-th of len(labels) equal slots of the top strip
            marks = boxes_of(image == palette.MARK)
            slots = {int((b[0] + b[2]) / 2 / (width / len(labels))) for b in marks}
            assert {labels[i] for i in slots} == set(present), entry
            answers.append(entry["Answer"])
        assert any(separator in answer for answer in answers), name
    periapical = [e["Answer"] for e, _ in all_entries(clean, "periapical")]
    assert any(COMMA_LABEL in answer for answer in periapical)


def test_detection_boxes_are_the_bright_objects(clean):
    several = 0
    for name in ("BUSI-det", "BUS-UCLM-det", "iugc"):
        for entry, ds_dir in all_entries(clean, name):
            if normalise_task_type(entry["TaskType"]) != "detection":
                continue
            box = r"\[\d+, \d+, \d+, \d+\]"
            assert re.fullmatch(rf"{box}|\[{box}(, {box})+\]", entry["Answer"])
            image = gray(ds_dir / entry["ImageName"])
            assert boxes_of(image == palette.BRIGHT) == sorted(as_boxes(entry["Answer"])), entry
            several += entry["Answer"].startswith("[[")
    assert several > 0  # some answers are a list of boxes


def test_instance_boxes_are_keyed_by_colour_and_counts_match(clean):
    entries, ds_dir = questions(clean, "chromosome")
    for instance, counting in zip(entries[::2], entries[1::2], strict=True):
        assert instance["ImageName"] == counting["ImageName"]
        answer = json.loads(instance["Answer"])
        assert list(answer) == sorted(answer, key=int) and all(k.isdigit() for k in answer)
        image = pixels(ds_dir / instance["ImageName"])
        for key, boxes in answer.items():
            colour = palette.INSTANCE_RGB[int(key) - 1]
            assert boxes_of((image == colour).all(axis=2)) == sorted(boxes)
        objects = image.max(axis=2) > palette.BACKGROUND_MAX
        assert len(boxes_of(objects)) == sum(map(len, answer.values())) == int(counting["Answer"])


def test_counts_are_the_blobs(clean):
    counts = []
    for entry, ds_dir in all_entries(clean, "neurips22cell"):
        values = pixels(ds_dir / entry["ImageName"])
        brightest = values.max(axis=2) if values.ndim == 3 else values
        assert re.fullmatch(r"\d+", entry["Answer"])
        assert len(boxes_of(brightest > palette.BACKGROUND_MAX)) == int(entry["Answer"])
        counts.append(int(entry["Answer"]))
    assert len(set(counts)) > 3


def test_regression_is_the_fill_fraction_of_the_bar(clean):
    for name, suffix in (("boneresorption", "%"), ("iugc", "")):
        params = DATASETS_BY_NAME[name].tasks[-1].params
        for entry, ds_dir in all_entries(clean, name):
            if normalise_task_type(entry["TaskType"]) != "regression":
                continue
            assert re.fullmatch(rf"\d+\.\d{{{params.decimals}}}{suffix}", entry["Answer"])
            image = gray(ds_dir / entry["ImageName"])
            (frame,) = boxes_of(image == palette.BAR_FRAME)
            row = image[(frame[1] + frame[3]) // 2]
            inner = frame[2] - frame[0] - 2
            filled = int((row == palette.BAR_FILL).sum())
            # e.g. 29 of 70 inner pixels filled on a 0..100 scale: 100 * 29 / 70 = 41.43%
            expected = params.low + (params.high - params.low) * filled / inner
            value = float(entry["Answer"].removesuffix("%"))
            assert value == pytest.approx(expected, abs=0.5 * 10**-params.decimals), entry


def test_reports_describe_the_marks(clean):
    reports = set()
    for entry, ds_dir in all_entries(clean, "IU_XRay"):
        report = entry["Answer"]
        image = gray(ds_dir / entry["ImageName"])
        width = image.shape[1]
        heart_width = (image == palette.HEART).sum(axis=1).max() / width
        assert ("The heart is enlarged." in report) == (heart_width > 0.35), report
        opacity = boxes_of(image == palette.OPACITY)
        assert ("The lungs are clear." in report) == (not opacity)
        for box in opacity:  # the patient's right is the image's left
            side = "right" if box[2] <= width / 2 else "left"
            assert f"opacity in the {side} lung" in report
        assert ("no pleural effusion" in report) == (not (image == palette.EFFUSION).any())
        reports.add(report)
    assert len(reports) > 3


# ---------------------------------------------------------------- images


def test_image_variety(faulty):
    root, _ = faulty
    found = {}
    for path in sorted(root.rglob("images*/*")):
        try:
            with Image.open(path) as image:
                image.load()
                found.setdefault((image.format, image.mode), []).append((path, image.size))
        except OSError:
            continue  # a planted truncated file
    assert {("PNG", "L"), ("PNG", "I;16"), ("PNG", "RGB"), ("PNG", "RGBA")} <= set(found)
    assert {("JPEG", "L"), ("JPEG", "RGB")} <= set(found)
    sizes = [size for items in found.values() for _, size in items]
    assert all(w != h and 48 <= w <= 160 and 48 <= h <= 160 for w, h in sizes)
    assert len(set(sizes)) > 50
    sixteen = [np.asarray(Image.open(p)) for p, _ in found[("PNG", "I;16")]]
    assert max(int(a.max()) for a in sixteen) > 50000 and all(a.max() > 255 for a in sixteen)


def test_fixed_size_and_format(tmp_path):
    config = SyntheticConfig(
        train_images_per_dataset=2, val_images_per_dataset=0, image_size=(64, 50),
        image_format="jpeg", datasets=("CMMD", "endo", "chromosome"),
    )  # fmt: skip
    summary = write_synthetic_tree(tmp_path, config)
    files = sorted(tmp_path.rglob("imagesTr/*"))
    assert len(files) == summary["images"] == 6
    assert not (tmp_path / "validation-public").exists()
    for path in files:
        with Image.open(path) as image:
            assert path.suffix == ".jpg" and image.format == "JPEG"
            assert image.size == (64, 50) and image.mode in ("L", "RGB")


# ---------------------------------------------------------------- determinism


def tree_digest(root):
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def test_same_config_same_bytes_whatever_the_workers(tmp_path):
    config = SyntheticConfig(seed=5, train_images_per_dataset=3, val_images_per_dataset=1,
                             fault_rate=0.1)  # fmt: skip
    write_synthetic_tree(tmp_path / "a", config, workers=1)
    write_synthetic_tree(tmp_path / "b", config, workers=2)
    write_synthetic_tree(tmp_path / "c", dataclasses.replace(config, seed=6))
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    assert tree_digest(tmp_path / "a") != tree_digest(tmp_path / "c")


def test_a_subset_holds_the_same_content(clean, tmp_path):
    config = SyntheticConfig(seed=3, train_images_per_dataset=9, val_images_per_dataset=3,
                             image_format="png", datasets=("dental",))  # fmt: skip
    write_synthetic_tree(tmp_path, config)
    assert tree_digest(tmp_path / "training/Xray/dental") == tree_digest(
        clean / "training/Xray/dental"
    )


def test_hidden_validation_withholds_answers_and_keeps_an_answered_copy(tmp_path):
    config = SyntheticConfig(train_images_per_dataset=2, val_images_per_dataset=1,
                             hidden_images_per_dataset=2, datasets=("BUSI", "chromosome"),
                             fault_rate=0.5)  # fmt: skip
    summary = write_synthetic_tree(tmp_path, config)
    for name in ("BUSI", "chromosome"):
        ds_dir = tmp_path / "validation-hidden" / DATASETS_BY_NAME[name].category / name
        unanswered = json.loads((ds_dir / f"{name}_questions_val.json").read_text())
        answered = json.loads((ds_dir / f"{name}_questions_val_withGT.json").read_text())
        assert len(unanswered) == len(answered) > 0
        for bare, full in zip(unanswered, answered, strict=True):
            assert "Answer" not in bare and isinstance(full["Answer"], str)
            assert {**bare, "Answer": full["Answer"]} == full
            assert all((ds_dir / image).is_file() for image in image_names(bare))
    # faults are planted in the labelled folders only: a hidden file is read as written
    assert summary["faults"]
    assert not any("validation-hidden" in fault["file"] for fault in summary["faults"])


# ---------------------------------------------------------------- faults


def entry_is_clean(entry):
    try:
        normalise_task_type(entry["TaskType"])
    except (KeyError, UnknownTaskType):
        return False
    return set(REQUIRED_FIELDS) <= set(entry) and isinstance(entry["Answer"], str)


def image_loads(path):
    try:
        with Image.open(path) as image:
            image.load()
        return True
    except OSError:
        return False


def test_every_fault_kind_is_planted_and_on_disk(faulty):
    root, summary = faulty
    manifest = json.loads((root / MANIFEST).read_text())
    assert manifest["faults"] == summary["faults"]
    assert {fault["kind"] for fault in manifest["faults"]} == set(FAULT_KINDS)
    for fault in manifest["faults"]:
        kind, file = fault["kind"], root / fault["file"]
        if kind == "invalid_json_file":
            assert file.name.endswith("_questions_train_part2.json")
            with pytest.raises(json.JSONDecodeError):
                json.loads(file.read_text())
            assert json.loads(Path(str(file).replace("_part2", "")).read_text())
            continue
        entries = json.loads(file.read_text())
        if kind in ("missing_image", "truncated_image"):
            image = root / fault["image"]
            assert not image.exists() if kind == "missing_image" else not image_loads(image)
            referenced = {file.parent / name for e in entries for name in image_names(e)}
            assert image in referenced
            continue
        entry = entries[fault["entry"]]
        if kind == "missing_field":
            assert set(REQUIRED_FIELDS) - set(entry)
        elif kind == "unknown_task_type":
            with pytest.raises(UnknownTaskType):
                normalise_task_type(entry["TaskType"])
        else:
            assert not isinstance(entry["Answer"], str)


def test_faults_are_only_where_the_manifest_says(faulty):
    root, _ = faulty
    faults = json.loads((root / MANIFEST).read_text())["faults"]
    bad_entries = {(f["file"], f["entry"]) for f in faults if f["entry"] is not None}
    bad_images = {f["image"] for f in faults if f["image"] is not None}
    checked = 0
    for path in root.rglob("*_questions_*.json"):
        if path.name.endswith("_part2.json"):
            continue
        rel = str(path.relative_to(root))
        for index, entry in enumerate(json.loads(path.read_text())):
            assert entry_is_clean(entry) == ((rel, index) not in bad_entries), (rel, index)
            if (rel, index) in bad_entries:
                continue
            for name in image_names(entry):
                image = str((path.parent / name).relative_to(root))
                assert image_loads(root / image) == (image not in bad_images), image
                checked += 1
    assert checked > 150


def test_no_faults_at_rate_zero(clean):
    manifest = json.loads((clean / MANIFEST).read_text())
    assert manifest["faults"] == [] and manifest["fault_counts"] == {}
    assert not list(clean.rglob("*_part2.json"))
    assert all(image_loads(p) for p in clean.rglob("images*/*"))


def test_every_fault_kind_even_on_a_tiny_tree(tmp_path):
    config = SyntheticConfig(train_images_per_dataset=3, val_images_per_dataset=0,
                             fault_rate=0.01, datasets=("dental", "CMMD"))  # fmt: skip
    summary = write_synthetic_tree(tmp_path, config)
    assert {fault["kind"] for fault in summary["faults"]} == set(FAULT_KINDS)


# ---------------------------------------------------------------- config, root and CLI


@pytest.mark.parametrize(
    "field, value",
    [
        ("train_images_per_dataset", 0),
        ("val_images_per_dataset", -1),
        ("fault_rate", 1.5),
        ("image_size", (32, 600)),
        ("image_format", "gif"),
        ("datasets", ("dental", "mnist")),
        ("seed", True),
    ],
)
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=f"SyntheticConfig.{field} must be"):
        SyntheticConfig(**{field: value})


def test_lists_from_yaml_become_tuples():
    config = SyntheticConfig(image_size=[800, 600], datasets=["dental"])
    assert config.image_size == (800, 600) and config.datasets == ("dental",)
    assert SyntheticConfig(**config.as_dict()) == config  # the manifest's copy reads back


def test_refuses_a_foreign_tree_and_rewrites_its_own(tmp_path):
    foreign = tmp_path / "foreign"
    (foreign / "training").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="not a synthetic tree"):
        write_synthetic_tree(foreign, SyntheticConfig())

    ours = tmp_path / "ours"
    config = SyntheticConfig(train_images_per_dataset=2, val_images_per_dataset=1,
                             datasets=("dental",))  # fmt: skip
    write_synthetic_tree(ours, config)
    first = tree_digest(ours)
    stale = ours / "training/Xray/dental/imagesTr/stale.png"
    stale.write_bytes(b"old")
    write_synthetic_tree(ours, config)
    assert not stale.exists() and tree_digest(ours) == first


def test_command_line(tmp_path, capsys):
    argv = ["synthetic", "--root", str(tmp_path), "--datasets", "chromosome", "--train-images", "2",
            "--val-images", "1", "--image-size", "80x60", "--image-format", "png"]  # fmt: skip
    assert cli.main(argv) == 0
    assert json.loads(capsys.readouterr().out) == {"images": 3, "questions": 6, "faults": 0}
    with Image.open(next(tmp_path.rglob("imagesVal/*.png"))) as image:
        assert image.size == (80, 60)
    with pytest.raises(SystemExit):
        cli.main(["synthetic", "--root", str(tmp_path), "--image-size", "big"])


def test_an_unbalanced_tree_has_more_images_of_the_named_data_set(tmp_path):
    """train_images_by_dataset: the named data set gets its own count of training images, the
    first of which are the balanced tree's; the other data sets and the validation split keep
    their content."""
    balanced = SyntheticConfig(seed=4, train_images_per_dataset=2, val_images_per_dataset=1,
                               datasets=("chromosome", "CMMD"))  # fmt: skip
    unbalanced = dataclasses.replace(balanced, train_images_by_dataset={"chromosome": 7})
    write_synthetic_tree(tmp_path / "b", balanced)
    write_synthetic_tree(tmp_path / "u", unbalanced)

    def answers(tree, name, split):
        return [entry["Answer"] for entry in questions(tmp_path / tree, name, split)[0]]

    def images(tree, name):
        return len(list(questions(tmp_path / tree, name)[1].joinpath("imagesTr").iterdir()))

    assert (images("b", "chromosome"), images("u", "chromosome")) == (2, 7)
    assert images("u", "CMMD") == 2
    big = answers("u", "chromosome", "train")
    assert big[:4] == answers("b", "chromosome", "train") and len(big) == 14
    for name, split in (("CMMD", "train"), ("CMMD", "val"), ("chromosome", "val")):
        assert answers("u", name, split) == answers("b", name, split)
    with pytest.raises(ValueError, match="train_images_by_dataset"):
        dataclasses.replace(balanced, train_images_by_dataset={"endo": 3})
