"""GREEN: the judge prompt, the output parser and score, and the judge plumbing end to end."""

import hashlib
import subprocess
import sys

import pytest

from medvlm.metrics.green import (
    INSIGNIFICANT,
    MATCHED,
    SIGNIFICANT,
    GreenJudge,
    JudgeResult,
    green_score,
    make_prompt,
    parse_judge_output,
    score_judge_outputs,
)
from tests.support.tiny_lm import build_tiny_causal_lm

# --- canned judge outputs, written like GREEN-RadLlama2-7b answers ------------------------------

FULL = """[Explanation]:
The candidate misses the right pleural effusion and puts the opacity in the wrong lobe.

[Clinically Significant Errors]:
(a) False report of a finding in the candidate: 0.
(b) Missing a finding present in the reference: 1. Right pleural effusion
(c) Misidentification of a finding's anatomic location/position: 1. Opacity in the left lower lobe
(d) Misassessment of the severity of a finding: 0.
(e) Mentioning a comparison that isn't in the reference: 0.
(f) Omitting a comparison detailing a change from a prior study: 0.

[Clinically Insignificant Errors]:
(a) False report of a finding in the candidate: 1. Mild degenerative changes of the spine
(b) Missing a finding present in the reference: 0.
(c) Misidentification of a finding's anatomic location/position: 0.
(d) Misassessment of the severity of a finding: 0.
(e) Mentioning a comparison that isn't in the reference: 0.
(f) Omitting a comparison detailing a change from a prior study: 0.

[Matched Findings]:
2. Cardiomegaly; No pneumothorax
"""
# matched 2, significant (b) 1 + (c) 1 = 2 -> 2 / (2 + 2) = 0.5; the insignificant error is ignored

NO_ERRORS = """[Explanation]:
Both reports describe a normal chest.

[Clinically Significant Errors]:
No clinically significant errors.

[Clinically Insignificant Errors]:
No clinically insignificant errors.

[Matched Findings]:
3. Normal heart size; Clear lungs; No pleural effusion
"""
# matched 3, no errors -> 3 / 3 = 1.0

NUMBERED_CUT_OFF = """[Explanation]:
The candidate calls the effusion large where the reference calls it small.

[Clinically Significant Errors]:
(1) False report of a finding in the candidate: 0.
(2) Missing a finding present in the reference: 0.
(3) Misidentification of a finding's anatomic location/position: 0.
(4) Misassessment of the severity of a finding: 1. Large instead of small effusion
(5) Mentioning a comparison that isn't in the reference: 0.
(6) Omitting a comparison detailing a change from a prior study: 0.

[Clinically Insignificant Errors]:
No errors.
"""
# numbered categories are read as (a)-(f): (d) = 1; no [Matched Findings] -> matched 0 -> score 0

MESSY = """[Explanation]:
The candidate adds a pneumothorax and a rib fracture, puts the nodule on the wrong side and
leaves out the atelectasis.

[Clinically Significant Errors]:
(c) Misidentification of a finding's anatomic location/position: 1. Nodule in the left apex
(a) False report of a finding in the candidate: 2. Pneumothorax; Rib fracture
(b) Missing a finding present in the reference: 1 Bibasilar atelectasis
[Matched Findings]:
1. Pulmonary nodule
"""
# out of order is fine: (a) 2, (c) 1; "(b) ...: 1 Bibasilar" has no period after the count, which
# GREEN reads as 0. No blank line before [Matched Findings]: it is still found -> matched 1.
# score = 1 / (1 + 2 + 1) = 0.25; no [Clinically Insignificant Errors] section.


def test_full_output_counts():
    result = parse_judge_output(FULL)
    assert result == JudgeResult(
        matched=2,
        significant=(0, 1, 1, 0, 0, 0),
        insignificant=(1, 0, 0, 0, 0, 0),
        missing_sections=(),
    )
    assert green_score(result) == 0.5


def test_no_errors_output_scores_one():
    result = parse_judge_output(NO_ERRORS)
    assert result.matched == 3
    assert result.significant == result.insignificant == (0,) * 6
    assert green_score(result) == 1.0


def test_numbered_categories_and_missing_matched_section():
    result = parse_judge_output(NUMBERED_CUT_OFF)
    assert result.significant == (0, 0, 0, 1, 0, 0)
    assert result.matched == 0
    assert result.missing_sections == (MATCHED,)
    assert green_score(result) == 0.0


def test_out_of_order_lines_and_count_without_period():
    result = parse_judge_output(MESSY)
    assert result.significant == (2, 0, 1, 0, 0, 0)
    assert result.matched == 1
    assert result.missing_sections == (INSIGNIFICANT,)
    assert green_score(result) == 0.25


def test_zero_matched_scores_zero_even_without_errors():
    text = "[Clinically Significant Errors]:\nNo errors.\n\n[Matched Findings]:\n0. None\n"
    result = parse_judge_output(text)
    assert (result.matched, result.significant_total) == (0, 0)
    assert green_score(result) == 0.0


def test_echoed_chat_is_cut_to_the_last_assistant_turn():
    # Sections before the last "<|assistant|>" (here a fake 5 matched) are not the answer.
    text = "[Matched Findings]:\n5. x\n\n<|assistant|>\n" + NO_ERRORS
    assert parse_judge_output(text).matched == 3


def test_unrelated_text_has_every_section_missing():
    result = parse_judge_output("I cannot assess these reports.")
    assert result.missing_sections == (SIGNIFICANT, INSIGNIFICANT, MATCHED)
    assert green_score(result) == 0.0


def test_mean_over_pairs():
    # per pair 0.5, 1.0, 0.0, 0.25 -> mean 1.75 / 4 = 0.4375; NUMBERED_CUT_OFF lacks a section
    scores = score_judge_outputs([FULL, NO_ERRORS, NUMBERED_CUT_OFF, MESSY])
    assert scores == {"green": 0.4375, "per_pair": [0.5, 1.0, 0.0, 0.25], "malformed": 1}


def test_no_outputs_is_an_error():
    with pytest.raises(ValueError, match="at least one"):
        score_judge_outputs([])


# --- the prompt ---------------------------------------------------------------------------------


def test_prompt_is_greens_exact_text():
    # sha256 of Stanford-AIMI/GREEN green_score/utils.py make_prompt("REFERENCE", "CANDIDATE"),
    # computed from the original function's output: the judge was fine-tuned on this text.
    digest = hashlib.sha256(make_prompt("REFERENCE", "CANDIDATE").encode()).hexdigest()
    assert digest == "40d9781f758d4c2350a4fbb424f9df6519022e4e1ac8ee3f780c20e280604374"


def test_prompt_places_reports_and_normalises_whitespace():
    prompt = make_prompt("Lungs  clear.\nNo {effusion}.", "Heart\tnormal.")
    assert "2. Reference Report:\n    Lungs clear. No {effusion}.\n\n" in prompt
    assert "3. Candidate Report:\n    Heart normal.\n\n" in prompt


def test_reports_are_cut_to_300_words():
    long_report = " ".join(f"w{i}" for i in range(400))
    prompt = make_prompt(long_report, long_report)
    assert prompt.count(" w299\n") == 2
    assert "w300" not in prompt


# --- the judge, end to end on a tiny random LM --------------------------------------------------

REFERENCES = [
    "The lungs are clear. No pleural effusion.",
    "Mild cardiomegaly with a small right pleural effusion and bibasilar atelectasis. " * 3,
    "No pneumothorax.",
]
PREDICTIONS = ["The lungs are clear.", "Mild cardiomegaly.", "Small right pleural effusion."]


@pytest.fixture(scope="module")
def judge_dir(tmp_path_factory):
    texts = [make_prompt(r, p) for r, p in zip(REFERENCES, PREDICTIONS, strict=True)]
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny_judge") / "tiny-judge", texts)


@pytest.fixture(scope="module")
def judge(judge_dir):
    return GreenJudge(judge_dir, batch_size=3, max_new_tokens=12, device="cpu")


def test_chat_layout_is_greens_not_the_checkpoints(judge):
    # GREEN's template: a human turn, an empty gpt turn, then the generation cue; transformers
    # renders it with trim_blocks, so only the newlines after {{ ... }} remain.
    assert judge.chat_text("P") == "<|user|>\nP</s>\n<|assistant|>\n</s>\n<|assistant|>\n"


def test_encode_pads_on_the_left(judge):
    prompts = ["short", make_prompt(REFERENCES[1], PREDICTIONS[1])]
    batch = judge.encode(prompts)
    alone = judge.tokenizer(judge.chat_text("short"))["input_ids"]
    width = batch["input_ids"].shape[1]
    assert width > len(alone)
    assert batch["attention_mask"][0].tolist() == [0] * (width - len(alone)) + [1] * len(alone)
    assert batch["input_ids"][0, width - len(alone) :].tolist() == alone
    assert batch["attention_mask"][1].tolist() == [1] * width


def test_encode_truncates_and_appends_eos_for_llama_style_tokenizers(judge_dir):
    judge = GreenJudge(judge_dir, max_length=40, max_new_tokens=1, device="cpu")
    judge.appends_eos = True  # what a LlamaTokenizer checkpoint gets
    ids = judge.encode([make_prompt(REFERENCES[0], PREDICTIONS[0])])["input_ids"][0].tolist()
    assert len(ids) == 40
    assert ids[-1] == judge.tokenizer.eos_token_id


def test_score_plumbing(judge):
    scores = judge.score(REFERENCES, PREDICTIONS)
    assert scores["judge"] == "tiny-judge"
    assert len(scores["per_pair"]) == len(scores["responses"]) == 3
    assert all(0.0 <= s <= 1.0 for s in scores["per_pair"])
    assert scores["green"] == pytest.approx(sum(scores["per_pair"]) / 3)
    assert any(scores["responses"])  # the random model did write something
    assert not any("Evaluate the accuracy" in r for r in scores["responses"])  # no prompt echo


def test_greedy_is_deterministic_and_batch_independent(judge, judge_dir):
    first = judge.judge(REFERENCES, PREDICTIONS)
    assert judge.judge(REFERENCES, PREDICTIONS) == first
    one_by_one = GreenJudge(judge_dir, batch_size=1, max_new_tokens=12, device="cpu")
    assert one_by_one.judge(REFERENCES, PREDICTIONS) == first
    assert (
        one_by_one.score(REFERENCES, PREDICTIONS)["per_pair"]
        == judge.score(REFERENCES, PREDICTIONS)["per_pair"]
    )


def test_mismatched_pairs_are_refused(judge):
    with pytest.raises(ValueError, match="3 references and 2 predictions"):
        judge.score(REFERENCES, PREDICTIONS[:2])


def test_checkpoint_problems_name_the_directory(tmp_path, judge_dir):
    with pytest.raises(FileNotFoundError, match="not found"):
        GreenJudge(tmp_path / "absent")
    (tmp_path / "config.json").write_text((judge_dir / "config.json").read_text())
    with pytest.raises(FileNotFoundError, match=r"no \*\.safetensors"):
        GreenJudge(tmp_path)


def test_importing_green_does_not_import_torch():
    code = "import sys, medvlm.metrics.green; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_default_profile_scores_reports_with_the_judge(judge):
    """The scorer's GREEN path: the judge's per-pair scores become the default profile's
    ``green`` (their mean) next to BLEU-4 and ROUGE-L, and the GREEN interval contains it."""
    from medvlm.metrics.items import Item
    from medvlm.metrics.scoring import score_items

    items = [
        Item(f"u{i}", "IU_XRay", "report_generation", "Describe.", ref, pred, f"img{i}")
        for i, (ref, pred) in enumerate(zip(REFERENCES, PREDICTIONS, strict=True))
    ]
    expected = judge.score(REFERENCES, PREDICTIONS)["per_pair"]
    profiles = ["default", "paligemma", "flare26", "qwen25vl"]
    scored = score_items(items, profiles, bootstrap=20, seed=0, judges=[judge])["profiles"]
    report = scored["default"]["report_generation"]
    assert report["pooled"]["green"] == pytest.approx(sum(expected) / len(expected))
    assert {"bleu4", "rougeL"} <= set(report["pooled"])
    low, high = report["ci"]["green"]
    assert low <= report["pooled"]["green"] <= high
    # the evaluators that report GREEN get the same judge (the texts are one line each, so
    # inference.py's clean-up leaves them as they are); qwen25vl's keyword score is not GREEN
    for name in ("paligemma", "flare26"):
        assert scored[name]["report_generation"]["pooled"]["green_score"] == pytest.approx(
            sum(expected) / len(expected)
        )
    assert "green_score" not in scored["qwen25vl"]["report_generation"]["pooled"]
