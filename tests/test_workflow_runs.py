"""The whole DAG with real Snakemake and tiny models of both families, then partial reruns.

One run of everything (synthetic tree → shards → demo models → train → predict → score →
tables → plots, and a submission of every run for the unlabelled validation-hidden folder), then
dry runs after config changes: each must plan exactly the jobs that depend on what changed; then
the installed `medvlm predict` and `medvlm score` on a run's model give the workflow's numbers.
"""

import copy
import csv
import json
from pathlib import Path

import pytest

from medvlm.metrics.profiles import PROFILES
from tests.support.cli import run_medvlm
from tests.support.snakemake_runner import planned_jobs, run_snakemake, tiny_runs_config

pytestmark = [pytest.mark.workflow, pytest.mark.slow]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("runs")
    config = tiny_runs_config(workdir)
    config["data"]["synthetic"]["hidden_images_per_dataset"] = 1
    config["submit"] = {"splits": ["validation-hidden"]}
    result = run_snakemake(workdir, config, "--cores", "2")
    assert result.returncode == 0, result.stderr[-6000:]
    return workdir, config


def dry_run(workdir, config):
    return planned_jobs(run_snakemake(workdir, config, "--cores", "2", "-n"))


def test_every_run_is_trained_predicted_scored_tabled_and_plotted(finished):
    workdir, config = finished
    results = workdir / "results"
    for run in ("pg", "mg"):
        log = list(csv.DictReader(open(results / "models" / run / "train_log.csv")))
        assert list(log[0]) == ["step", "loss", "val_loss", "val_score", "lr", "examples_per_s"]
        scored = [float(row["val_score"]) for row in log if row["val_loss"]]
        assert scored and all(0 <= score <= 1 for score in scored)  # select: score, the default
        assert (results / "plots" / "loss" / f"{run}.png").stat().st_size > 0
    for run in config["runs"]:
        rows = [json.loads(line) for line in open(results / "predictions" / run / "test.jsonl")]
        test = [json.loads(line) for line in open(results / "data" / "splits" / "test.jsonl")]
        assert {r["uid"] for r in rows} == {r["uid"] for r in test}
        scores = json.loads((results / "scores" / run / "test.json").read_text())
        assert {"default", "study", "qwen25vl", "paligemma", "qwen3vl", "flare26"} <= set(
            scores["profiles"]
        )
        for figure in ("confusion", "detections"):
            assert (results / "plots" / "test" / figure / f"{run}.png").stat().st_size > 0
    summary = list(csv.DictReader(open(results / "tables" / "test" / "summary.csv")))
    assert [row["run"] for row in summary] == list(config["runs"])
    assert (results / "plots" / "test" / "metrics.png").stat().st_size > 0
    assert dry_run(workdir, config) == {}


def test_changing_one_learning_rate_reruns_only_that_run(finished):
    workdir, config = finished
    changed = copy.deepcopy(config)
    changed["runs"]["pg"]["train"]["learning_rate"] = 0.002
    assert dry_run(workdir, changed) == {
        "train": 1,
        "predict": 2,  # the test split and validation-hidden
        "score": 1,
        "submission": 1,
        "tables": 1,
        "plot_loss": 1,
        "plot_metrics": 1,
        "plot_confusion": 1,
        "plot_detections": 1,
        "all": 1,
    }


def test_changing_decoding_does_not_retrain(finished):
    workdir, config = finished
    changed = copy.deepcopy(config)
    changed["runs"]["mg"]["decode"]["batch_size"] = 4
    plan = dry_run(workdir, changed)
    assert "train" not in plan and plan["predict"] == 2 and plan["submission"] == 1


def test_changing_the_image_size_rebuilds_only_that_size(finished):
    workdir, config = finished
    changed = copy.deepcopy(config)
    changed["runs"]["mg_zero_shot"]["image_size"] = 48
    plan = dry_run(workdir, changed)
    assert plan["shards"] == 4  # train, val, test and validation-hidden at 48 px; 32 px stays
    assert "train" not in plan and "demo_model" not in plan
    assert plan["predict"] == 2


def test_adding_a_run_adds_only_its_jobs_and_the_tables(finished):
    workdir, config = finished
    changed = copy.deepcopy(config)
    changed["runs"]["pg_zero_shot"] = {
        "family": "paligemma",
        "image_size": 32,
        "zero_shot": True,
        "decode": config["runs"]["pg"]["decode"],
    }
    assert dry_run(workdir, changed) == {
        "predict": 2,
        "score": 1,
        "submission": 1,
        "tables": 1,
        "plot_metrics": 1,
        "plot_confusion": 1,
        "plot_detections": 1,
        "all": 1,
    }


def test_every_run_submits_every_unlabelled_question_once_in_input_order(finished):
    workdir, config = finished
    results = workdir / "results"
    hidden = Path(config["data"]["root"]) / "validation-hidden"
    questions = []  # the organisers' order: files as found, entries as written
    for path in sorted(hidden.rglob("*_questions_*.json")):
        if "withGT" not in path.name:
            questions += json.loads(path.read_text())
    assert questions and all("Answer" not in q for q in questions)
    assert len(list(hidden.rglob("*_withGT.json"))) == 19  # present, and never read
    for run in config["runs"]:
        submitted = json.loads(
            (results / "submissions" / run / "validation-hidden" / "predictions.json").read_text()
        )
        assert [{k: v for k, v in e.items() if k != "Answer"} for e in submitted] == questions
        assert all(isinstance(e["Answer"], str) for e in submitted)
        answered = sum(bool(e["Answer"]) for e in submitted)
        assert answered > len(submitted) / 2, f"{run}: {answered} of {len(submitted)} answered"
        assert not (results / "scores" / run / "validation-hidden.json").exists()
    for split in ("train", "val", "test"):  # unlabelled questions never enter a split
        rows = [json.loads(line) for line in open(results / "data" / "splits" / f"{split}.jsonl")]
        assert not any(row["split_folder"] == "validation-hidden" for row in rows)


@pytest.mark.parametrize("run", ["pg", "mg", "mg_zero_shot"])
def test_medvlm_predict_then_score_give_the_workflows_numbers(finished, run, tmp_path):
    """The installed commands on a run's model folder: the organisers' predictions.json for the
    test split's questions, scored against the test split, equals the workflow's score file."""
    workdir, config = finished
    results = workdir / "results"
    model = results / "models" / run
    extra = []
    if config["runs"][run].get("zero_shot"):  # the checkpoint itself: no run.json in it
        model = results / "demo_models" / config["runs"][run]["family"]
        extra = ["--image-size", str(config["runs"][run]["image_size"])]
    out = tmp_path / "predictions.json"
    predicted = run_medvlm(
        "predict", "--model", model, "--questions", config["data"]["root"], "--out", out,
        "--decode", json.dumps(config["runs"][run]["decode"]), *extra,
    )  # fmt: skip
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    assert isinstance(json.loads(out.read_text()), list) and out.with_suffix(".jsonl").is_file()
    scores = tmp_path / "scores.json"
    scored = run_medvlm(
        "score", "--references", results / "data" / "splits" / "test.jsonl",
        "--predictions", out, "--out", scores, "--profiles", ",".join(PROFILES),
        "--bootstrap", str(config["evaluate"]["bootstrap"]),
    )  # fmt: skip
    assert scored.returncode == 0, scored.stderr[-3000:]
    ours = json.loads(scores.read_text())
    workflow = json.loads((results / "scores" / run / "test.json").read_text())
    assert ours["missing"]["n_references_without_prediction"] == 0
    assert ours["profiles"] == workflow["profiles"]


def test_a_plot_setting_reruns_no_training_or_prediction(finished):
    workdir, config = finished
    changed = copy.deepcopy(config)
    changed["plots"] = {"detection_examples": 3}
    assert dry_run(workdir, changed) == {"plot_detections": 3, "all": 1}


def test_export_writes_every_trained_run_for_serving(finished):
    """export: {format: hf} adds one export per trained run and nothing else; each loads in
    transformers with no code of ours and carries its model card."""
    from transformers import AutoModelForImageTextToText, PaliGemmaForConditionalGeneration

    workdir, config = finished
    exported = {**config, "export": {"format": "hf"}}
    assert dry_run(workdir, exported) == {"export": 2, "all": 1}
    result = run_snakemake(workdir, exported, "--cores", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    exports = workdir / "results" / "exports"
    assert sorted(path.name for path in exports.iterdir()) == ["mg", "pg"]  # no temporaries
    PaliGemmaForConditionalGeneration.from_pretrained(exports / "pg", local_files_only=True)
    AutoModelForImageTextToText.from_pretrained(exports / "mg", local_files_only=True)
    for run in ("pg", "mg"):
        card = (exports / run / "README.md").read_text()
        assert "| train shard images | `" in card  # the data fingerprint
        assert f"| {run} | " in card  # its test scores
    assert dry_run(workdir, exported) == {}


def test_predictions_made_elsewhere_are_scored_next_to_the_runs(finished):
    """Runs last: it really executes, adding a row to the tables."""
    workdir, config = finished
    results = workdir / "results"
    elsewhere = workdir / "elsewhere.jsonl"
    with open(results / "predictions" / "pg" / "test.jsonl") as source, open(elsewhere, "w") as out:
        for line in source:
            row = json.loads(line)
            keyed = {
                "ImageName": row["ImageName"],
                "Question": row["Question"],
                "Answer": row["answer"],
            }
            out.write(json.dumps(keyed) + "\n")
    changed = {**config, "external": {"oracle": {"predictions": str(elsewhere)}}}
    assert dry_run(workdir, changed) == {
        "score_external": 1,
        "tables": 1,
        "plot_metrics": 1,
        "all": 1,
    }
    result = run_snakemake(workdir, changed, "--cores", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    scores = json.loads((results / "scores" / "oracle" / "test.json").read_text())
    assert scores["profiles"]["default"]["classification"]["pooled"]["balanced_accuracy"] == 1.0
    summary = list(csv.DictReader(open(results / "tables" / "test" / "summary.csv")))
    assert [row["run"] for row in summary][-1] == "oracle"
