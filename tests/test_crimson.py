"""CRIMSON: the score formula on hand-computed judge answers, reading malformed answers, the
prompt, a tiny Gemma 3 judge end to end through ``medvlm score``, and the plan-time folder check."""

import copy
import hashlib
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from medvlm.config import ConfigError, validate_config
from medvlm.metrics.crimson import (
    SYSTEM_PROMPT,
    CrimsonJudge,
    CrimsonOutputError,
    crimson_result,
    make_prompt,
    read_evaluation,
    score_judge_outputs,
)
from medvlm.run_checks import check_judges
from tests.support.cli import run_medvlm
from tests.support.snakemake_runner import run_snakemake, tiny_runs_config
from tests.support.tiny_lm import build_tiny_causal_lm, build_tiny_gemma3_judge

# --- the score of one answer, by hand -------------------------------------------------------


def finding(ident, level=None):
    return {
        "id": ident,
        "finding": "x",
        **({} if level is None else {"clinical_significance": level}),
    }


def evaluation(references=(), predictions=(), matched=(), false=(), missing=(), attributes=()):
    return {
        "reference_findings": list(references),
        "predicted_findings": list(predictions),
        "matched_findings": [{"ref_id": r, "pred_id": p} for r, p in matched],
        "errors": {
            "false_findings": list(false),
            "missing_findings": list(missing),
            "attribute_errors": [
                {"ref_id": r, "pred_id": p, "severity": s, "error_types": t, "explanation": "e"}
                for r, p, s, t in attributes
            ],
        },
    }


# R1 urgent (1), R2 actionable (0.5), R3 benign (0); P1 urgent matches R1 with a significant
# location error (0.5), P2 not actionable (0.25) is false, R2 and R3 are missed.
# N_G = 1.5; E_false = 0.25; correct = 1 * 1 / (1 + 0.5) = 2/3;
# S = (2/3 - 0.25) / 1.5 = 0.27777... -> 0.2778.
MIXED = evaluation(
    references=[
        finding("R1", "urgent"),
        finding("R2", "actionable_not_urgent"),
        finding("R3", "benign_expected"),
    ],
    predictions=[finding("P1", "urgent"), finding("P2", "not_actionable_not_urgent")],
    matched=[("R1", "P1")],
    false=["P2"],
    missing=["R2", "R3"],
    attributes=[("R1", "P1", "significant", ["location"])],
)
MIXED_SCORE = 0.2778


def test_mixed_answer_by_hand():
    result = crimson_result(MIXED)
    assert result.score == MIXED_SCORE
    assert result.metrics == pytest.approx(
        {"N_G": 1.5, "E_penalty": 0.25, "correct": 2 / 3, "errors_more_than_correct": 0.25 - 2 / 3,
         "S": (2 / 3 - 0.25) / 1.5}
    )  # fmt: skip
    assert result.weighted_error_counts == {
        "false_findings": 0.25,
        "missing_findings": 0.5,
        "attribute_errors": 0.5,
    }
    counts = result.error_counts
    assert (counts["false_findings"], counts["missing_findings"], counts["attribute_errors"]) == (
        1,
        2,
        1,
    )
    assert counts["location_errors"] == 1 and counts["severity_errors"] == 0


@pytest.mark.parametrize(
    ("answer", "score"),
    [
        # everything found, nothing false: 1
        (evaluation([finding("R1", "urgent")], [finding("P1", "urgent")], [("R1", "P1")]), 1.0),
        # a normal reference and a normal candidate (no findings listed): N_G = 0, S = 1
        (evaluation(), 1.0),
        # a normal reference, an invented urgent finding: N_G = 0, S = -(1 + 0 + 1) < 0,
        # d = 1 - 0 = 1 -> -1 / 2
        (evaluation([], [finding("P1", "urgent")], false=["P1"]), -0.5),
        # a negligible attribute error costs nothing: 0.5 * 0.5 / (0.5 + 0) / 0.5 = 1
        (evaluation([finding("R1", "actionable_not_urgent")], [finding("P1")], [("R1", "P1")],
                    attributes=[("R1", "P1", "negligible", ["severity"])]), 1.0),
        # an unknown severity weighs 0.25: 0.5 * 0.5 / 0.75 = 1/3, over N_G 0.5 -> 0.6667
        (evaluation([finding("R1", "actionable_not_urgent")], [finding("P1")], [("R1", "P1")],
                    attributes=[("R1", "P1", "odd", ["severity"])]), 0.6667),
        # an unlabelled finding weighs 0.25: matched R1 (0.25) of N_G 0.25 + 0.5 -> 1/3
        (evaluation([finding("R1"), finding("R2", "actionable_not_urgent")], [finding("P1")],
                    [("R1", "P1")], missing=["R2"]), 0.3333),
        # only benign findings, one of them missed: N_G = 0 and E_miss = 0, so S = 1
        (evaluation([finding("R1", "benign_expected")], missing=["R1"]), 1.0),
        # more false weight than correct: N_G 0.25, correct 0.25, E_false 1 -> S = -3;
        # d = 0.75 -> -0.75 / 1.75 = -0.4286
        (evaluation([finding("R1", "not_actionable_not_urgent")],
                    [finding("P1"), finding("P2", "urgent")], [("R1", "P1")], false=["P2"]),
         -0.4286),
        # a reference finding matched twice counts once; an id no list defines weighs 0
        (evaluation([finding("R1", "urgent"), finding("R2", "urgent")],
                    [finding("P1"), finding("P2")], [("R1", "P1"), ("R1", "P2")],
                    false=["P9"], missing=["R2"]), 0.5),
        # no reference list at all: N_G = matched pairs + missing weight = 1 + 0, correct 0
        # (R1's weight is unknown without the list) -> S = 0
        ({"matched_findings": [{"ref_id": "R1", "pred_id": "P1"}], "errors": {}}, 0.0),
    ],
)  # fmt: skip
def test_scores_by_hand(answer, score):
    assert crimson_result(answer).score == score


def test_mean_over_scored_pairs_leaves_failures_out():
    perfect = json.dumps(
        evaluation([finding("R1", "urgent")], [finding("P1", "urgent")], [("R1", "P1")])
    )
    outputs = [json.dumps(MIXED), "I cannot assess this.", perfect]
    scores = score_judge_outputs(outputs)
    assert scores["per_pair"] == [MIXED_SCORE, None, 1.0]
    assert scores["crimson"] == pytest.approx((MIXED_SCORE + 1.0) / 2)
    assert (scores["valid"], scores["failed"]) == (2, 1)
    assert list(scores["problems"]) == [1] and "not JSON" in scores["problems"][1]
    # means of the counts over the two scored pairs
    assert scores["means"]["error_counts"]["missing_findings"] == 1.0  # (2 + 0) / 2
    assert scores["means"]["weighted_error_counts"]["false_findings"] == 0.125
    assert scores["means"]["metrics"]["N_G"] == 1.25  # (1.5 + 1) / 2


def test_no_answer_scored_gives_no_mean():
    scores = score_judge_outputs(["{", "[]"])
    assert scores["crimson"] is None and scores["per_pair"] == [None, None]
    assert (scores["valid"], scores["failed"], scores["means"]) == (0, 2, {})


def test_no_outputs_is_an_error():
    with pytest.raises(ValueError, match="at least one"):
        score_judge_outputs([])


# --- reading answers: the authors' repairs, and clear failures --------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": "he said "hi" to me", "b": 1}', {"a": 'he said "hi" to me', "b": 1}),
        ('{"a": "a \u201cquoted\u201d word"}', {"a": 'a "quoted" word'}),  # curly quotes
        ('{"ids": ["":["R1"]}', {"ids": ["R1"]}),  # array/object hybrid
        ('{"a": [], attribute_errors": []}', {"a": [], "attribute_errors": []}),  # lost quote
        ('{"ref_id": "R3", "pred_old", "pred_id": "P2"}', {"ref_id": "R3", "pred_id": "P2"}),
        ('{"finding": "C\\_spine"}', {"finding": "C\\_spine"}),  # invalid escape kept as text
        ('{"a": 1, "a": 2}', {"a": 1}),  # the first of duplicate keys
    ],
)
def test_repairs(text, expected):
    assert read_evaluation(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("```json\n{}\n```", "not JSON"),
        ("", "not JSON"),
        ("[1, 2]", "not an object"),
        ("[" * 100_000, "not JSON"),  # nested too deeply for the parser
        ('{"n": ' + "9" * 5000 + "}", "not JSON"),  # an integer too long to read
    ],
)
def test_unreadable_answers_fail_clearly(text, words):
    with pytest.raises(CrimsonOutputError, match=words):
        read_evaluation(text)


@pytest.mark.parametrize(
    "answer",
    [
        {"errors": []},  # errors not an object
        {"reference_findings": [{"finding": "x"}]},  # a finding without an id
        {"matched_findings": [{"pred_id": "P1"}]},  # a match without a reference id
        {"matched_findings": ["R1"]},  # a match that is not an object
        {"reference_findings": [{"id": "R1", "clinical_significance": ["urgent"]}]},
        {"errors": {"attribute_errors": [{"ref_id": "R1", "error_types": None}]}},
        {"errors": {"false_findings": 3}},
    ],
)
def test_answers_without_a_crimson_structure_fail_clearly(answer):
    with pytest.raises(CrimsonOutputError, match="not a CRIMSON evaluation"):
        crimson_result(answer)
    assert score_judge_outputs([json.dumps(answer)])["failed"] == 1


def test_corrupted_answers_never_raise():
    """Cut and spliced versions of a real answer are scored or counted as failed."""
    text = json.dumps(MIXED)
    rng = np.random.default_rng(0)
    corrupted = []
    for _ in range(200):
        at = int(rng.integers(len(text)))
        corrupted.append(text[:at] + str(rng.choice(['"', "\\", ",", "}", ":", "["])) + text[at:])
    corrupted += [text[: len(text) // 2], text + "}", text.replace(",", "")]
    scores = score_judge_outputs(corrupted)
    assert scores["valid"] + scores["failed"] == len(corrupted)
    assert all(s is None or -1 < s <= 1 for s in scores["per_pair"])


# --- the prompt --------------------------------------------------------------------------------


def test_prompt_is_the_judges_exact_text():
    # sha256 of rajpurkarlab/CRIMSON prompt_parts.build_prompt("REFERENCE", "CANDIDATE") with the
    # guidelines off and no patient context (what its scorer sends medgemma-4b-it-crimson),
    # computed from the original function's output.
    digest = hashlib.sha256(make_prompt("REFERENCE", "CANDIDATE").encode()).hexdigest()
    assert digest == "f31b5e007ab5158dc3044ad8270b9cc9568b15483aa9659a84bbb80648e0ec9a"


def test_prompt_places_the_reports_as_they_are():
    prompt = make_prompt("Lungs  clear.\n{x}", "")
    assert "\n\nReference Findings (Ground Truth):\nLungs  clear.\n{x}\n\n" in prompt
    assert "\n\nPredicted Findings (Candidate):\n\n\nTask:\n" in prompt
    assert '{{"id": "R1", "finding": "<finding text>"' in prompt  # the braces the judge saw


def test_importing_crimson_does_not_import_torch():
    code = "import sys, medvlm.metrics.crimson, medvlm.run_checks; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- a tiny Gemma 3 judge, end to end ----------------------------------------------------------


def demo_reports(n: int) -> list[str]:
    """Reference reports as the demo's synthetic IU_XRay scene writes them."""
    from medvlm.data.synthetic.scenes import report

    rng = np.random.default_rng(7)
    return [report(64, 64, rng)[1].text for _ in range(n)]


REFERENCES = demo_reports(3)
PREDICTIONS = ["The heart size is normal. The lungs are clear.", "", REFERENCES[2]]
ANSWER = json.dumps(MIXED, separators=(",", ":"))


@pytest.fixture(scope="module")
def answering_dir(tmp_path_factory):
    texts = [make_prompt(r, p) for r, p in zip(REFERENCES, PREDICTIONS, strict=True)]
    folder = tmp_path_factory.mktemp("judges") / "tiny-crimson"
    return build_tiny_gemma3_judge(folder, texts, answer=ANSWER)


@pytest.fixture(scope="module")
def judge(answering_dir):
    return CrimsonJudge(answering_dir, batch_size=3, max_new_tokens=4, device="cpu")


def test_chat_layout_is_the_checkpoints_with_the_system_turn(judge):
    # Gemma 3's template puts the system text at the head of the user turn
    text = judge.chat_text("P")
    assert (
        text
        == f"<bos><start_of_turn>user\n{SYSTEM_PROMPT}\n\nP<end_of_turn>\n<start_of_turn>model\n"
    )
    ids = judge.encode(["P"])["input_ids"][0].tolist()
    assert ids.count(judge.tokenizer.bos_token_id) == 1  # the template's BOS, no second one


def test_the_judge_answers_and_is_scored(judge, answering_dir):
    scores = judge.score(REFERENCES, PREDICTIONS)
    assert scores["responses"] == [ANSWER] * 3
    assert scores["per_pair"] == [MIXED_SCORE] * 3 and scores["crimson"] == MIXED_SCORE
    assert scores["judge"] == "tiny-crimson"
    one_by_one = CrimsonJudge(answering_dir, batch_size=1, max_new_tokens=4, device="cpu")
    assert one_by_one.judge(REFERENCES, PREDICTIONS) == scores["responses"]


def test_decoding_is_greedy_whatever_the_checkpoint_asks(tmp_path, answering_dir):
    """A checkpoint whose generation_config.json asks for hot sampling still answers greedily."""
    folder = tmp_path / "sampling-crimson"
    shutil.copytree(answering_dir, folder)
    settings = json.loads((folder / "generation_config.json").read_text())
    settings.update(do_sample=True, temperature=50.0, top_k=0, top_p=1.0)
    (folder / "generation_config.json").write_text(json.dumps(settings))
    judge = CrimsonJudge(folder, batch_size=3, max_new_tokens=4, device="cpu")
    assert judge.model.generation_config.do_sample  # what the folder asks for
    assert judge.judge(REFERENCES, PREDICTIONS) == [ANSWER] * 3


def write_split(folder, references, predictions):
    """A report split in the workflow's records JSONL and our predictor's JSONL."""
    refs, preds = folder / "test.jsonl", folder / "predictions.jsonl"
    rows = [
        {"uid": f"u{i}", "dataset": "IU_XRay", "task": "report_generation",
         "question": "Describe the findings.", "answer": text, "image_names": [f"img{i}.png"]}
        for i, text in enumerate(references)
    ]  # fmt: skip
    refs.write_text("".join(json.dumps(row) + "\n" for row in rows))
    preds.write_text(
        "".join(
            json.dumps({"uid": f"u{i}", "prediction": p}) + "\n" for i, p in enumerate(predictions)
        )
    )
    return refs, preds


def test_medvlm_score_reports_crimson(tmp_path, answering_dir):
    refs, preds = write_split(tmp_path, REFERENCES, PREDICTIONS)
    out = tmp_path / "scores.json"
    result = run_medvlm(
        "score", "--references", refs, "--predictions", preds, "--out", out,
        "--profiles", "default,flare26,paligemma", "--bootstrap", "20",
        "--crimson-judge", answering_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    profiles = json.loads(out.read_text())["profiles"]
    default = profiles["default"]["report_generation"]
    assert default["pooled"]["crimson"] == pytest.approx(MIXED_SCORE)
    assert default["pooled"]["n_crimson_failed"] == 0
    assert default["ci"]["crimson"] == pytest.approx([MIXED_SCORE, MIXED_SCORE])
    assert {"bleu4", "rougeL"} <= set(default["pooled"]) and "green" not in default["pooled"]
    flare = profiles["flare26"]["report_generation"]["pooled"]
    assert flare["crimson_score"] == pytest.approx(MIXED_SCORE)
    assert (flare["crimson_valid_samples"], flare["crimson_failed_samples"]) == (3, 0)
    assert flare["crimson_missing_findings"] == 2 and flare["crimson_location_errors"] == 1
    assert flare["crimson_weighted_attribute_errors"] == 0.5
    assert flare["crimson_N_G"] == 1.5 and flare["crimson_E_penalty"] == 0.25
    assert flare["green_not_scored_no_judge"] == 1.0
    paligemma = profiles["paligemma"]["report_generation"]["pooled"]
    assert not any("crimson" in key for key in paligemma)  # its evaluator has no CRIMSON


def test_a_judge_that_writes_garbage_fails_every_pair_without_crashing(tmp_path):
    from medvlm.metrics.items import Item
    from medvlm.metrics.scoring import score_items

    texts = [make_prompt(r, p) for r, p in zip(REFERENCES, PREDICTIONS, strict=True)]
    folder = build_tiny_gemma3_judge(tmp_path / "random-crimson", texts)
    judge = CrimsonJudge(folder, max_new_tokens=6, device="cpu")
    items = [
        Item(f"u{i}", "IU_XRay", "report_generation", "Describe.", ref, pred, f"img{i}")
        for i, (ref, pred) in enumerate(zip(REFERENCES, PREDICTIONS, strict=True))
    ]
    profiles = score_items(items, ["default", "flare26"], bootstrap=10, judges=[judge])["profiles"]
    pooled = profiles["default"]["report_generation"]["pooled"]
    assert pooled["crimson"] is None and pooled["n_crimson_failed"] == 3
    assert profiles["default"]["report_generation"]["ci"]["crimson"] is None
    flare = profiles["flare26"]["report_generation"]["pooled"]
    assert flare["crimson_score"] is None  # NaN in the evaluator, null in the score file
    assert (flare["crimson_valid_samples"], flare["crimson_failed_samples"]) == (0, 3)


# --- the judge folder, checked at plan time ----------------------------------------------------


def config_with(tmp_path, crimson_judge):
    config = validate_config({"data": {"root": str(tmp_path)}})
    config["evaluate"]["crimson_judge"] = str(crimson_judge)
    return config


def test_plan_check_accepts_a_gemma3_judge(tmp_path, answering_dir):
    check_judges(config_with(tmp_path, answering_dir))


def test_plan_check_names_the_key_and_the_problem(tmp_path, answering_dir):
    llama = build_tiny_causal_lm(tmp_path / "llama")
    no_weights = tmp_path / "no-weights"
    no_weights.mkdir()
    (no_weights / "config.json").write_text((answering_dir / "config.json").read_text())
    no_template = tmp_path / "no-template"
    no_template.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        (no_template / name).write_bytes((answering_dir / name).read_bytes())
    config = json.loads((no_template / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (no_template / "tokenizer_config.json").write_text(json.dumps(config))
    not_json = tmp_path / "not-json"
    not_json.mkdir()
    (not_json / "config.json").write_text("{model")
    cases = [
        (tmp_path / "absent", "directory not found"),
        (llama, "is a 'llama' model; a crimson judge is one of gemma3, gemma3_text"),
        (no_weights, "no *.safetensors weights"),
        (no_template, "no chat template"),
        (not_json, "not valid JSON"),
    ]
    for folder, words in cases:
        with pytest.raises(ConfigError) as caught:
            check_judges(config_with(tmp_path, folder))
        message = str(caught.value)
        assert message.startswith("config key evaluate.crimson_judge: ") and words in message
        assert str(folder) in message


@pytest.mark.workflow
def test_a_dry_run_stops_at_a_judge_folder_that_is_not_a_model(tmp_path):
    config = copy.deepcopy(tiny_runs_config(tmp_path))
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "config.json").write_text('{"architectures": []}')
    config["evaluate"] = {"crimson_judge": str(folder)}
    result = run_snakemake(tmp_path, config, "-n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "config key evaluate.crimson_judge" in output and "names no model_type" in output
    assert "Traceback" not in output, output[-3000:]
