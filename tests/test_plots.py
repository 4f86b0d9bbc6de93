"""Figures from small real inputs: PNGs that decode at the expected size, the numbers drawn
(loss points, bar heights, confusion counts, format counts) and box edges at the right pixels."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from medvlm.io import write_json, write_jsonl
from medvlm.metrics.items import Item
from medvlm.metrics.scoring import score_items
from medvlm.plots import (
    plot_confusion,
    plot_detections,
    plot_loss,
    plot_metrics_overview,
    plot_task_metrics,
    plot_wrong_format,
    run_palette,
)
from medvlm.plots.style import UNPARSABLE_LABEL
from medvlm.predictions import write_predictions
from medvlm.records import Record

CLS_Q = "Which finding is shown? Options: A: Normal B: Disease"
ENDO_Q = "Which finding is shown? Options: A: Polyp B: Ulcer C: Bleeding"
COUNT_Q = "What is the cell count in this image?"
DET_Q = "Define the position of the lesion using its bounding box coordinates."
INST_Q = "Locate every chromosome and give the bounding boxes of each one by id."


def png(path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


# --- loss -------------------------------------------------------------------------------------

LOG = """step,loss,val_loss,lr,examples_per_s
10,2.5,,0.0001,30.0
20,2.0,2.2,0.0001,31.0
30,1.5,,0.0001,29.5
40,,1.9,,
"""


def test_loss_curves_skip_missing_values(tmp_path):
    log = tmp_path / "train_log.csv"
    log.write_text(LOG)
    out = tmp_path / "loss.png"
    curves = plot_loss({"base": log}, out)
    # empty val_loss at steps 10 and 30 and the empty loss at step 40 are left out, not zeros
    assert curves["base"].train == [(10, 2.5), (20, 2.0), (30, 1.5)]
    assert curves["base"].val == [(20, 2.2), (40, 1.9)]
    assert png(out).shape == (450, 700, 3)  # 7 x 4.5 inches at 100 dpi


def test_the_selection_score_is_drawn_on_its_own_axis(tmp_path):
    header = "step,loss,val_loss,val_score,lr,examples_per_s\n"
    scored, unscored = tmp_path / "scored.csv", tmp_path / "unscored.csv"
    scored.write_text(header + "10,2.5,,,0.1,3\n20,2.0,2.2,0.25,0.1,3\n40,,2.6,0.75,,\n")
    unscored.write_text(header + "10,2.5,,,0.1,3\n20,2.0,2.2,,0.1,3\n40,,2.6,,,\n")
    curves = plot_loss({"run": scored}, tmp_path / "scored.png")
    # the validation loss rises (2.2 -> 2.6) while the answers improve (0.25 -> 0.75)
    assert curves["run"].val == [(20, 2.2), (40, 2.6)]
    assert curves["run"].score == [(20, 0.25), (40, 0.75)]
    assert plot_loss({"run": unscored}, tmp_path / "unscored.png")["run"].score == []
    with_score, without = png(tmp_path / "scored.png"), png(tmp_path / "unscored.png")
    assert with_score.shape == without.shape
    assert (with_score != without).any(axis=2).sum() > 1000  # a second axis, a third curve


def test_loss_runs_picks_and_orders_runs_on_a_log_scale(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(LOG)
    b.write_text("step,loss,val_loss,lr,examples_per_s\n5,3.0,,,\n")
    curves = plot_loss({"a": a, "b": b}, tmp_path / "both.png", runs=["b", "a"], log_scale=True)
    assert list(curves) == ["b", "a"]
    assert curves["b"].train == [(5, 3.0)] and curves["b"].val == []
    assert png(tmp_path / "both.png").shape == (450, 700, 3)
    with pytest.raises(ValueError, match="'c'"):
        plot_loss({"a": a}, tmp_path / "x.png", runs=["c"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("step,loss,val_loss,lr,examples_per_s\n", "holds no loss value"),
        ("step,loss\n1,2\n", "no column val_loss"),
        ("step,loss,val_loss,lr,examples_per_s\n1,abc,,,\n", r":2: loss 'abc' is not a number"),
    ],
)
def test_bad_training_log_names_the_file(tmp_path, text, message):
    log = tmp_path / "run_log.csv"
    log.write_text(text)
    with pytest.raises(ValueError, match=message) as error:
        plot_loss({"base": log}, tmp_path / "loss.png")
    assert "run_log.csv" in str(error.value)
    assert not (tmp_path / "loss.png").exists()


# --- score files ------------------------------------------------------------------------------


def item(uid, dataset, task, question, reference, prediction):
    return Item(uid, dataset, task, question, reference, prediction, image_key=uid)


def score_file(path, cls_predictions, count_predictions):
    """Four retino classification questions (references A A B B) and two counting (10, 20)."""
    items = [
        item(f"c{i}", "retino", "classification", CLS_Q, ref, pred)
        for i, (ref, pred) in enumerate(zip("AABB", cls_predictions, strict=True))
    ] + [
        item(f"n{i}", "cells", "counting", COUNT_Q, ref, pred)
        for i, (ref, pred) in enumerate(zip(["10", "20"], count_predictions, strict=True))
    ]
    write_json(path, score_items(items, profiles=("default",), bootstrap=50, seed=0))
    return path


@pytest.fixture
def scores(tmp_path):
    return {
        "good": score_file(tmp_path / "good.json", ["A", "A", "B", "B"], ["10", "20"]),
        # classification: A, B, B, none -> recall(A) = 1/2, recall(B) = 1/2 -> BA 0.5;
        # wrong format: "Answer: B" and "nonsense" (2), unparsable: "nonsense" (1).
        # counting: |12 - 10| = 2; "many" is replaced by the reference farthest from 20 (10):
        # |10 - 20| = 10 -> MAE (2 + 10) / 2 = 6; wrong format and unparsable: "many" (1).
        "weak": score_file(
            tmp_path / "weak.json", ["A", "Answer: B", "B", "nonsense"], ["12", "many"]
        ),
    }


def test_metric_bars_are_the_score_file_values_with_their_intervals(tmp_path, scores):
    out = tmp_path / "classification.png"
    drawn = plot_task_metrics(scores, "classification", out)
    assert list(drawn.index) == ["good", "weak"]
    assert drawn.loc["good", "balanced_accuracy"] == pytest.approx(1.0)
    assert drawn.loc["weak", "balanced_accuracy"] == pytest.approx(0.5)
    for run, path in scores.items():
        entry = json.loads(path.read_text())["profiles"]["default"]["classification"]
        assert drawn.loc[run, "balanced_accuracy"] == entry["pooled"]["balanced_accuracy"]
        lo, hi = entry["ci"]["balanced_accuracy"]
        assert (drawn.loc[run, "balanced_accuracy_lo"], drawn.loc[run, "balanced_accuracy_hi"]) == (
            lo,
            hi,
        )
    height, width, _ = png(out).shape
    assert height == 420 and width >= 400


def test_metrics_overview_has_a_panel_per_task(tmp_path, scores):
    out = tmp_path / "overview.png"
    drawn = plot_metrics_overview(scores, out)
    assert list(drawn) == ["classification", "counting"]
    assert drawn["counting"].loc["good", "mae"] == pytest.approx(0.0)
    assert drawn["counting"].loc["weak", "mae"] == pytest.approx(6.0)
    assert png(out).shape == (410, 840, 3)  # 2 panels of 4.2 x 3.6 in, 0.5 in for the legend


def test_metric_plot_errors_name_the_files(tmp_path, scores):
    with pytest.raises(ValueError, match=r"no detection metric .*good\.json"):
        plot_task_metrics(scores, "detection", tmp_path / "d.png")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match=r"bad\.json"):
        plot_metrics_overview({"bad": bad}, tmp_path / "o.png")
    empty = tmp_path / "empty.json"
    empty.write_text('{"profiles": {"default": {}}}')
    with pytest.raises(ValueError, match=r"no task .*empty\.json"):
        plot_metrics_overview({"e": empty}, tmp_path / "o.png")


def test_wrong_format_counts(tmp_path, scores):
    out = tmp_path / "wrong_format.png"
    counts = plot_wrong_format(scores, out)
    assert counts.loc[("weak", "classification")].tolist() == [4, 2, 1]
    assert counts.loc[("weak", "counting")].tolist() == [2, 1, 1]
    assert counts.loc[("good", "classification")].tolist() == [4, 0, 0]
    assert png(out).shape[0] == 650


def test_a_run_keeps_its_palette_colour_in_a_figure_of_its_own(tmp_path):
    palette = run_palette(["a", "b", "c"])
    assert len(set(palette.values())) == 3
    log = tmp_path / "train_log.csv"
    log.write_text(LOG)
    plot_loss({"c": log}, tmp_path / "c.png", palette=palette)
    colours = {tuple(p) for p in png(tmp_path / "c.png").reshape(-1, 3)}
    assert (0x2C, 0xA0, 0x2C) in colours  # tab10's third colour: c's place in the palette
    assert (0x1F, 0x77, 0xB4) not in colours  # the first colour, a lone run's default


# --- predictions ------------------------------------------------------------------------------


def record(uid, dataset, task, question, answer, image_paths=()):
    return Record(
        uid=f"validation-public/{dataset}/q/{uid}",
        dataset=dataset,
        category="Test",
        split_folder="validation-public",
        source_file=f"{dataset}/q.json",
        entry_index=int(uid),
        task=task,
        task_raw=task,
        modality="test",
        question=question,
        answer=answer,
        image_names=[str(p) for p in image_paths],
        image_paths=[str(p) for p in image_paths],
    )


def test_confusion_counts(tmp_path):
    rows = [
        (record("0", "retino", "classification", CLS_Q, "A"), "A"),
        (record("1", "retino", "classification", CLS_Q, "A"), "Answer: B"),
        (record("2", "retino", "classification", CLS_Q, "B"), "B"),
        (record("3", "retino", "classification", CLS_Q, "B"), "nonsense"),
        (record("4", "endo", "classification", ENDO_Q, "A"), "C"),
        (record("5", "endo", "classification", ENDO_Q, "B"), "B"),
        (record("6", "lesions", "detection", DET_Q, "[1, 2, 3, 4]"), "[1, 2, 3, 4]"),
    ]
    predictions = tmp_path / "test.jsonl"
    write_predictions([r for r, _ in rows], {r.uid: t for r, t in rows}, predictions)
    out = tmp_path / "confusion.png"
    matrices = plot_confusion(predictions, out, run="weak")
    assert list(matrices) == ["endo", "retino"]  # sorted; the detection row is not a class
    retino = matrices["retino"]
    # A -> A, A -> B ("Answer: B" parses), B -> B, B -> unparsable ("nonsense")
    assert retino.rows == ["A", "B"] and retino.columns == ["A", "B", UNPARSABLE_LABEL]
    assert retino.counts.tolist() == [[1, 1, 0], [0, 1, 1]]
    endo = matrices["endo"]
    # C was offered but is no reference: a column after the reference classes
    assert endo.columns == ["A", "B", "C", UNPARSABLE_LABEL]
    assert endo.counts.tolist() == [[0, 0, 1, 0], [0, 1, 0, 0]]
    assert png(out).ndim == 3
    assert list(plot_confusion(predictions, out, datasets=["retino"])) == ["retino"]


def test_confusion_errors_name_the_file(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ValueError, match=r"empty\.jsonl is empty"):
        plot_confusion(empty, tmp_path / "c.png")
    detections_only = tmp_path / "det.jsonl"
    only = record("0", "d", "detection", DET_Q, "[1, 2, 3, 4]")
    write_predictions([only], {only.uid: "x"}, detections_only)
    with pytest.raises(ValueError, match=r"det\.jsonl has no classification rows of data set 'd'"):
        plot_confusion(detections_only, tmp_path / "c.png", datasets=["d"])
    with pytest.raises(ValueError, match=r"missing\.jsonl does not exist"):
        plot_confusion(tmp_path / "missing.jsonl", tmp_path / "c.png")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"uid": "x", "task": "classification"}\n')
    with pytest.raises(ValueError, match=r"broken\.jsonl, row 1: no dataset"):
        plot_confusion(broken, tmp_path / "c.png")


def pixels_near_box(mask, box, to_px, tolerance=3.0):
    """(all pixels of ``mask`` lie within ``tolerance`` of the box outline, edges touched)."""
    ys, xs = np.nonzero(mask)
    x1, y1 = to_px(box[0], box[1])
    x2, y2 = to_px(box[2], box[3])
    inside_x = (xs >= x1 - tolerance) & (xs <= x2 + tolerance)
    inside_y = (ys >= y1 - tolerance) & (ys <= y2 + tolerance)
    near = {
        "left": inside_y & (np.abs(xs - x1) <= tolerance),
        "right": inside_y & (np.abs(xs - x2) <= tolerance),
        "top": inside_x & (np.abs(ys - y1) <= tolerance),
        "bottom": inside_x & (np.abs(ys - y2) <= tolerance),
    }
    on_outline = np.logical_or.reduce(list(near.values()))
    return bool(on_outline.all()), {edge: int(hits.sum()) for edge, hits in near.items()}


def test_overlay_draws_reference_green_and_prediction_red_at_the_box_edges(tmp_path):
    image = tmp_path / "wide.png"
    blue = np.zeros((100, 200, 3), dtype=np.uint8)
    blue[..., 2] = 255  # neither red nor green anywhere in the image
    Image.fromarray(blue).save(image)
    det = record("0", "lesions", "detection", DET_Q, "[20, 20, 80, 60]", [image])
    predictions, split = tmp_path / "test.jsonl", tmp_path / "split.jsonl"
    write_predictions([det], {det.uid: "[110, 30, 180, 90]"}, predictions)
    write_jsonl(split, [det])
    out = tmp_path / "det.png"
    (overlay,) = plot_detections(predictions, split, out)
    assert overlay.reference == [(20.0, 20.0, 80.0, 60.0)]
    assert overlay.predicted == [(110.0, 30.0, 180.0, 90.0)] and overlay.problem is None

    rgb = png(out).astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    ys, xs = np.nonzero((b > 200) & (r < 60) & (g < 60))  # the image's pixels
    top, left, bottom, right = ys.min(), xs.min(), ys.max() + 1, xs.max() + 1
    assert (right - left) / (bottom - top) == pytest.approx(2.0, rel=0.03)  # aspect kept

    def to_px(x, y):
        return left + x * (right - left) / 200, top + y * (bottom - top) / 100

    region = np.zeros(r.shape, dtype=bool)
    region[top:bottom, left:right] = True  # the legend's sample lines lie outside
    green = region & (g > 140) & (r < 60) & (b < 60)
    red = region & (r > 200) & (g < 60) & (b < 60)
    on_outline, edges = pixels_near_box(green, (20, 20, 80, 60), to_px)
    assert on_outline and min(edges.values()) > 5, edges
    on_outline, edges = pixels_near_box(red, (110, 30, 180, 90), to_px)
    assert on_outline and min(edges.values()) > 5, edges


def test_overlays_take_the_first_n_detection_questions(tmp_path):
    gray16 = tmp_path / "gray16.png"
    Image.fromarray(np.full((40, 60), 30000, dtype=np.uint16)).save(gray16)
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (50, 50), (10, 20, 30, 0)).save(rgba)
    rows = [
        (record("0", "cells", "classification", CLS_Q, "A", [rgba]), "A"),
        (
            record(
                "1",
                "chromosome",
                "instance_detection",
                INST_Q,
                '{"1": [[1, 1, 9, 9]], "2": []}',
                [gray16],
            ),
            '{"1": [[2, 1, 9, 9]], "2": [[20, 20, 30',  # cut off: the complete box is kept
        ),
        (
            record("2", "lesions", "detection", DET_Q, "[5, 5, 20, 20]", [tmp_path / "gone.png"]),
            "no",
        ),
        (record("3", "lesions", "detection", DET_Q, "[5, 5, 20, 20]", [rgba]), "[5, 5, 20, 20]"),
    ]
    predictions, split = tmp_path / "test.jsonl", tmp_path / "split.jsonl"
    write_predictions([r for r, _ in rows], {r.uid: t for r, t in rows}, predictions)
    write_jsonl(split, [r for r, _ in rows])
    out = tmp_path / "grid.png"
    drawn = plot_detections(predictions, split, out, n=2, columns=2)
    assert [o.uid.rsplit("/", 1)[1] for o in drawn] == ["1", "2"]  # classification skipped
    assert drawn[0].reference == [(1.0, 1.0, 9.0, 9.0)]
    assert drawn[0].predicted == [(2.0, 1.0, 9.0, 9.0)] and drawn[0].problem is None
    assert drawn[1].predicted is None  # "no" holds no box
    assert "gone.png" in drawn[1].problem  # a missing image is a panel, not a crash
    grid = png(out)
    assert grid.shape == (400, 680, 3)  # 2 panels of 3.4 in; 3.4 in + 0.6 in high
    # the 16-bit image shows as load_rgb converts it: 30000 * 255 / 65535 = 116.7 -> gray 117
    assert (grid == 117).all(axis=2).sum() > 100 * 100

    write_jsonl(tmp_path / "other.jsonl", [rows[0][0]])
    with pytest.raises(ValueError, match=r"has no image in .*other\.jsonl"):
        plot_detections(predictions, tmp_path / "other.jsonl", out)


def test_a_split_without_the_task_gets_a_figure_that_says_so(tmp_path):
    # a data.datasets filter can leave a split with no classification or no detection question;
    # the workflow still asks for both figures, so each says in words that there is nothing
    cls = record("0", "retino", "classification", CLS_Q, "A")
    det = record("1", "lesions", "detection", DET_Q, "[1, 2, 3, 4]")
    for only, figure in ((det, plot_confusion), (cls, plot_detections)):
        predictions, split = tmp_path / "p.jsonl", tmp_path / "split.jsonl"
        write_predictions([only], {only.uid: "A"}, predictions)
        write_jsonl(split, [only])
        out = tmp_path / f"{figure.__name__}.png"
        args = (predictions, out) if figure is plot_confusion else (predictions, split, out)
        assert not figure(*args, run="r")  # nothing drawn
        notice = png(out)
        assert notice.shape == (200, 600, 3)  # 6 x 2 inches at 100 dpi
        assert (notice.max(axis=2) < 100).sum() > 200  # dark text on the white figure
