"""CRIMSON (Baharoon et al. 2026, arXiv 2603.06183): a fine-tuned MedGemma judge lists the abnormal
findings of a reference and a candidate report, matches them and names the errors; the score
weighs every finding and error by its clinical significance.

Facts from the authors' code, read and restated (``rajpurkarlab/CRIMSON`` at 07e3331:
``CRIMSON/prompt_parts.py``, ``generate_score.py``, ``utils.py``), for their judge
``rajpurkarlab/medgemma-4b-it-crimson``:

- ``make_prompt``: the prompt that judge was fine-tuned on and is scored with: the authors'
  sections joined by blank lines, without the guideline sections (their scorer leaves them out
  for this judge) and without patient context (FLARE questions carry no age or indication). The
  reports go in as they are. The JSON template keeps its doubled braces: the authors never
  format those sections, so the judge saw ``{{`` and ``}}``.
- ``CrimsonJudge.chat_text``: a system turn (``SYSTEM_PROMPT``) and a user turn with the prompt,
  through the checkpoint's own chat template with the generation cue (Gemma 3's template puts
  the system text at the head of the user turn).
- ``read_evaluation``: the answer is one JSON object (``OUTPUT_KEYS``); duplicate keys keep their
  first value, and the authors' repairs are tried in their order: curly quotes escaped, a
  ``["":[`` hybrid made an array, a key's missing opening quote restored; then a plain parse;
  bare strings inside objects dropped; invalid backslash escapes doubled; quotes inside strings
  escaped one at a time (50 tries), on the text with and without doubled escapes.
- ``crimson_result``: the score (below) rounded to 4 decimals, and the counts the authors report.
- An answer that no repair makes JSON, or whose JSON lacks what the score needs, is a failed
  pair: left out of the mean and counted (``failed``), as the authors' scorer and the FLARE 2026
  evaluator do; never an exception out of scoring.

The score of one pair. Findings weigh 1 (urgent), 0.5 (actionable, not urgent), 0.25 (not
actionable) or 0 (benign/expected); attribute errors 0.5 (significant) or 0 (negligible); an
unknown or absent level weighs 0.25. ``N_G`` is the total weight of the reference findings
(without any listed: matched pairs + weight of missing findings). ``E_false`` is the weight of
the false findings, ``E_miss`` of the missing ones (ids the lists do not define weigh 0).
``correct`` adds, for each matched reference finding once, its weight ``w``, or ``w * w / (w +
a)`` when its attribute errors weigh ``a`` in total. ``S = (correct - E_false) / N_G``; with
``N_G = 0``, ``S`` is 1 without false or missing findings, else negative. CRIMSON is ``S`` when
``S >= 0``; otherwise ``-d / (1 + d)`` with ``d = E_false - correct`` when ``d > 0``, else 0. So
it lies in (-1, 1]: 1 a perfect report, 0 no better than a normal template, negative more weighted
errors than correct findings. Missing findings lower the score only through ``N_G``.

Deliberately different: the authors' scorer decodes with a checkpoint's own
``generation_config.json`` when it has one (which may ask for sampling); here decoding is always
greedy, at most ``MAX_NEW_TOKENS`` new tokens (their cap without one), so a score is reproducible.
Weights load in bfloat16 on a GPU, as theirs.

Importing this module does not import torch or transformers; ``CrimsonJudge`` does, when built.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from medvlm.metrics.judge import LocalJudge

MODEL_TYPES = frozenset({"gemma3", "gemma3_text"})  # MedGemma 4B: image-text, or its text part
MAX_NEW_TOKENS = 8192
SYSTEM_PROMPT = (
    "You are an expert radiology evaluator that assesses the accuracy of radiology reports."
)
OUTPUT_KEYS = ("reference_findings", "predicted_findings", "matched_findings", "errors")

_OBJECTIVE = (
    "Objective:",
    "",
    "Evaluate the accuracy of predicted chest X-ray (CXR) findings compared to reference (ground "
    "truth) findings.",
    "Only evaluate positive findings, not normal findings. Focus on clinical accuracy.",
)
_TASK = (
    "Task:",
    "Perform this evaluation in TWO STEPS:",
    "",
    "STEP 1: Extract All Positive Findings",
    "For BOTH reference and predicted reports, identify each ABNORMAL/POSITIVE finding exactly as "
    "written, including all descriptors, locations, severity terms, and measurements. List each "
    "finding as it appears in the original text.",
    "If a single sentence contains multiple distinct findings, split them into separate entries "
    '(e.g., "bilateral pleural effusions and bibasilar atelectasis" should be two findings: '
    '"bilateral pleural effusions" and "bibasilar atelectasis").',
    'When splitting, carry over shared qualifiers (certainty terms like "suggestive of", '
    '"consistent with", "suspicious for", as well as shared descriptors like location or '
    "severity) to EACH resulting finding so no context is lost.",
    "For each finding (both reference and predicted), assign a clinical_significance level.",
    'Assign each reference finding a sequential ID starting with "R" (R1, R2, R3, ...) and each '
    'predicted finding a sequential ID starting with "P" (P1, P2, P3, ...).',
    "",
    "IMPORTANT: Include all abnormal findings in the reference_findings and predicted_findings "
    "lists (not just clinically significant ones). Do not include normal findings.",
    "",
    "STEP 2: Compare and Classify Errors",
    "Using the assigned IDs, match findings between reference and predicted, then identify errors "
    "in these 3 categories.",
)
_SIGNIFICANCE_LEVELS = (
    "Clinical significance levels (used for findings):",
    '    - "urgent": Requires immediate action / life-threatening',
    '    - "actionable_not_urgent": Would change treatment plan but not immediately critical',
    '    - "not_actionable_not_urgent": Minor discrepancy with minimal clinical impact (but still '
    "worth noting)",
    '    - "benign_expected": Benign/expected finding with no clinical relevance (age-related '
    "changes)",
)
_SIGNIFICANCE_USE = (
    "Apply these significance levels as follows:",
    "- reference_findings and predicted_findings: classify each FINDING's clinical significance",
    "- missing_findings (b) and false_findings (a): Do NOT include clinical_significance.",
    "  Their weights are derived automatically from reference_findings and predicted_findings "
    "respectively.",
)
_ATTRIBUTE_SEVERITY = (
    "Attribute error severity (used ONLY for attribute_errors):",
    '    - "significant": The attribute difference affects treatment or could lead to '
    "mismanagement",
    '    - "negligible": The attribute difference is clinically insignificant and would not '
    "affect treatment",
)
_ERROR_CATEGORIES = (
    "Error categories:",
    "    a) False findings: Positive findings in predicted that are NOT present in reference",
    "    b) Missing findings: Positive findings in reference but MISSING from predicted",
    "    c) Attribute errors: Matched finding has incorrect or incomplete attributes including:",
    "        - Location/laterality: Errors in anatomical location or side specification (left vs "
    "right lung, different lobes). ",
    "        - Severity/extent: Errors in the degree or size characterization of the finding "
    "(small vs large, mild vs severe, minimal vs moderate)",
    "        - Morphological descriptors: Errors in the shape, appearance, or characteristics of "
    "the finding (well-defined vs irregular margins, solid vs ground-glass density)",
    "        - Measurements: Errors in quantitative size specifications (3 cm vs 1.5 cm for "
    "lesions, nodule diameter discrepancies)",
    "        - Certainty: Errors in the confidence level of the finding (definite finding vs "
    '"possible" or "suspicious for")',
    "        - Unspecific: Predicted finding is too vague or non-specific compared to the "
    'reference (reference says "pneumothorax" but predicted says "lucency")',
    "        - Overinterpretation: Predicted finding makes an unsupported diagnostic leap beyond "
    'the imaging finding (reference says "opacity" but predicted says "mass")',
    "        - Temporal/comparison: Errors in temporal descriptors or comparison with prior "
    'studies (missing "new", "worsening", "resolved", "stable", "unchanged")',
)
_MATCHING = (
    "Matching criteria:",
    '- A finding matches if the core finding is present in both (e.g., "pleural effusion", '
    '"pneumothorax")',
    "- A finding still matches even if location differs (location mismatch is an attribute error, "
    "not a match failure)",
    "- One reference finding CAN match multiple predicted findings (one-to-many). For example, if "
    'R1 is "bilateral pleural effusions" and the predicted report splits it into P1 "left pleural '
    'effusion" and P2 "right pleural effusion", then both {{R1, P1}} and {{R1, P2}} are valid '
    "matches.",
    "- For matched findings, check all attributes (location, severity, descriptors, measurements, "
    "certainty, unspecific, overinterpretation, temporal)",
    "- If any attributes differ, add separate entries to attribute_errors for each distinct "
    "issue, referencing both the reference ID (ref_id) and predicted ID (pred_id)",
    "- Any reference finding whose ID does not appear in matched_findings MUST be in "
    "missing_findings",
    "- Any predicted finding whose ID does not appear in matched_findings MUST be in "
    "false_findings",
)
_ATTRIBUTE_ERRORS = (
    'For attribute_errors, also specify which error types apply from: ["location", "severity", '
    '"descriptor", "measurement", "certainty", "unspecific", "overinterpretation", "temporal"]',
    "For each attribute_error, provide the ref_id and pred_id of the matched pair, and a brief "
    '"explanation" describing what the discrepancy is.',
    "",
    "IMPORTANT: A matched finding pair can appear in attribute_errors MULTIPLE TIMES if it has "
    "multiple distinct issues.",
    "Each attribute error should be a separate entry with its own severity classification and "
    "explanation.",
    "For example, if a finding has both a location error and a severity error, create two "
    "separate entries with the same ref_id and pred_id.",
)
_OUTPUT_FORMAT = (
    "Output Format:",
    "Return ONLY valid JSON (no markdown, no explanation) in this exact format:",
    "{{",
    '    "reference_findings": [',
    '        {{"id": "R1", "finding": "<finding text>", "clinical_significance": '
    '"urgent|actionable_not_urgent|not_actionable_not_urgent|benign_expected"}},',
    "        ...",
    "    ],",
    '    "predicted_findings": [',
    '        {{"id": "P1", "finding": "<finding text>", "clinical_significance": '
    '"urgent|actionable_not_urgent|not_actionable_not_urgent|benign_expected"}},',
    "        ...",
    "    ],",
    '    "matched_findings": [',
    '        {{"ref_id": "R1", "pred_id": "P1"}},',
    '        {{"ref_id": "R1", "pred_id": "P2"}},',
    "        ...",
    "    ],",
    '    "errors": {{',
    '        "false_findings": [',
    '            "P3",',
    "            ...",
    "        ],",
    '        "missing_findings": [',
    '            "R2",',
    "            ...",
    "        ],",
    '        "attribute_errors": [',
    '            {{"ref_id": "R1", "pred_id": "P1", "severity": "significant|negligible", '
    '"error_types": '
    '["location|severity|descriptor|measurement|certainty|unspecific|'
    'overinterpretation|temporal"], '
    '"explanation": "<brief description of the discrepancy>"}},',
    "            ...",
    "        ]",
    "    }}",
    "}}",
)
_NOTES = (
    "IMPORTANT NOTES:",
    "- If a category has no items, use an empty array [].",
    "- A single reference finding ID (R1, R2, ...) may appear in multiple matched_findings pairs "
    "(one-to-many matching). Any reference ID that does not appear in ANY matched pair MUST be in "
    "missing_findings.",
    "- Every predicted finding ID (P1, P2, ...) must appear in EXACTLY ONE place: either in "
    "matched_findings or in false_findings.",
    "- A missing finding CANNOT also appear in attribute_errors. If a reference finding is "
    "completely absent from the predicted findings, its ID goes ONLY in missing_findings.",
    '- If a finding is classified as unspecific (in attribute_errors with "unspecific" error '
    "type), it is NOT a missing finding. Unspecific findings are PRESENT in the predicted report "
    "but too vague - they should appear in predicted_findings list and NOT in missing_findings.",
)

# The prompt's sections in order; the reports come between the objective and the task.
_SECTIONS_AFTER_REPORTS = (
    _TASK,
    _SIGNIFICANCE_LEVELS,
    _SIGNIFICANCE_USE,
    _ATTRIBUTE_SEVERITY,
    _ERROR_CATEGORIES,
    _MATCHING,
    _ATTRIBUTE_ERRORS,
    _OUTPUT_FORMAT,
    _NOTES,
)

SIGNIFICANCE_WEIGHTS = {
    "urgent": 1.0,
    "actionable_not_urgent": 0.5,
    "not_actionable_not_urgent": 0.25,
    "benign_expected": 0.0,
}
ATTRIBUTE_WEIGHTS = {"significant": 0.5, "negligible": 0.0}
UNKNOWN_LEVEL_WEIGHT = 0.25
ATTRIBUTE_ERROR_TYPES = (
    "location",
    "severity",
    "descriptor",
    "measurement",
    "certainty",
    "unspecific",
    "overinterpretation",
    "temporal",
)
QUOTE_REPAIR_TRIES = 50


def make_prompt(reference: str, candidate: str) -> str:
    """CRIMSON's judge prompt for one pair (see the module docstring)."""
    sections = (
        _OBJECTIVE,
        ("Reference Findings (Ground Truth):", reference),
        ("Predicted Findings (Candidate):", candidate),
        *_SECTIONS_AFTER_REPORTS,
    )
    return "\n\n".join("\n".join(lines) for lines in sections)


class CrimsonOutputError(ValueError):
    """A judge answer CRIMSON cannot score: not JSON, or JSON without what the score needs."""


# --- reading the judge's JSON, with the authors' repairs --------------------------------------

_ARRAY_OBJECT_HYBRID = re.compile(r'\[""\s*:\s*\[')
_KEY_MISSING_OPENING_QUOTE = re.compile(r'([\]}"0-9]\s*,\s*|{\s*)([a-zA-Z_][a-zA-Z0-9_]*")')
_BARE_STRING_AFTER_COMMA = re.compile(r',\s*"[^"]*"\s*(?=\s*[,}])(?!\s*:)')
_BARE_STRING_FIRST_IN_OBJECT = re.compile(r'(?<=\{)\s*"[^"]*"\s*,\s*(?=")')
_INVALID_ESCAPE = re.compile(r'\\(?!["\\/bfnrtu])')
_CURLY_QUOTES = str.maketrans({"\u201c": '\\"', "\u201d": '\\"', "\u2018": "\\'", "\u2019": "\\'"})


def _first_value_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for key, item in pairs:
        value.setdefault(key, item)
    return value


def _loads(text: str) -> Any:
    return json.loads(text, object_pairs_hook=_first_value_wins)


def _delimits(text: str, index: int) -> bool:
    """Whether the quote at ``index`` opens or closes a JSON key or string (it is not prose)."""
    before = text[index - 1] if index > 0 else ""
    after = text[index + 1] if index + 1 < len(text) else ""
    if before in {":", "[", "{"} or after in {":", "]", "}"}:
        return True
    if before == ",":
        two_back = text[index - 2] if index >= 2 else ""
        return two_back in {'"', "]", "}"} or two_back.isdigit()
    if after == ",":
        two_on = text[index + 2] if index + 2 < len(text) else ""
        return two_on in {'"', "[", "{"} or two_on.isdigit()
    return False


def _escape_stray_quotes(text: str) -> Any:
    """Parse, escaping the unescaped prose quote nearest before each parse error (up to 5
    characters back); raises ``json.JSONDecodeError`` when none is there or tries run out."""
    for _ in range(QUOTE_REPAIR_TRIES):
        try:
            return _loads(text)
        except json.JSONDecodeError as error:
            for index in range(error.pos, max(0, error.pos - 5) - 1, -1):
                if (
                    index < len(text)
                    and text[index] == '"'
                    and (index == 0 or text[index - 1] != "\\")
                    and not _delimits(text, index)
                ):
                    text = f'{text[:index]}\\"{text[index + 1 :]}'
                    break
            else:
                raise
    raise json.JSONDecodeError("quote repairs ran out", text, 0)


def read_evaluation(text: str) -> dict[str, Any]:
    """The judge's JSON object, repaired as the authors repair it; ``CrimsonOutputError`` when
    no repair makes it a JSON object."""
    text = text.translate(_CURLY_QUOTES)
    text = _ARRAY_OBJECT_HYBRID.sub("[", text)
    text = _KEY_MISSING_OPENING_QUOTE.sub(r'\1"\2', text)
    without_bare_strings = _BARE_STRING_FIRST_IN_OBJECT.sub(
        "", _BARE_STRING_AFTER_COMMA.sub("", text)
    )
    escapes_doubled = _INVALID_ESCAPE.sub(r"\\\\", text)
    attempts = [
        *((_loads, candidate) for candidate in (text, without_bare_strings, escapes_doubled)),
        *((_escape_stray_quotes, candidate) for candidate in (text, escapes_doubled)),
    ]
    for parse, candidate in attempts:
        try:
            value = parse(candidate)
        except (ValueError, RecursionError):
            continue
        if not isinstance(value, dict):
            raise CrimsonOutputError(f"the answer is JSON but not an object: {_brief(text)}")
        return value
    raise CrimsonOutputError(f"the answer is not JSON, even repaired: {_brief(text)}")


def _brief(text: str, limit: int = 200) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


# --- the score -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrimsonResult:
    """One pair's CRIMSON score and the counts the authors report with it (their names)."""

    score: float  # rounded to 4 decimals, as reported
    error_counts: dict[str, int]  # false/missing findings, attribute errors, and per error type
    weighted_error_counts: dict[str, float]  # false/missing findings, attribute errors
    metrics: dict[str, float]  # N_G, E_penalty, correct, errors_more_than_correct, S


def _weight(entry: Mapping, weights: Mapping[str, float], key: str) -> float:
    return weights.get(entry.get(key, ""), UNKNOWN_LEVEL_WEIGHT)


def crimson_result(evaluation: Mapping[str, Any]) -> CrimsonResult:
    """The CRIMSON score of one parsed judge answer; ``CrimsonOutputError`` when its parts are
    not what the score reads (an entry without an id, a list that is not one, ...)."""
    try:
        return _crimson_result(evaluation)
    except (KeyError, TypeError, AttributeError) as error:
        raise CrimsonOutputError(
            f"the answer's JSON is not a CRIMSON evaluation ({type(error).__name__}: {error})"
        ) from None


def _crimson_result(evaluation: Mapping[str, Any]) -> CrimsonResult:
    errors = evaluation.get("errors", {})
    matched = evaluation.get("matched_findings", [])
    references = evaluation.get("reference_findings", [])
    predictions = evaluation.get("predicted_findings", [])
    false_ids = errors.get("false_findings", [])
    missing_ids = errors.get("missing_findings", [])
    attribute_errors = errors.get("attribute_errors", [])

    significance = "clinical_significance"
    reference_weight = {f["id"]: _weight(f, SIGNIFICANCE_WEIGHTS, significance) for f in references}
    predicted_weight = {
        f["id"]: _weight(f, SIGNIFICANCE_WEIGHTS, significance) for f in predictions
    }
    false_weight = sum(predicted_weight.get(i, 0.0) for i in false_ids)
    missing_weight = sum(reference_weight.get(i, 0.0) for i in missing_ids)
    per_type = {
        f"{kind}_errors": sum(1 for e in attribute_errors if kind in e.get("error_types", []))
        for kind in ATTRIBUTE_ERROR_TYPES
    }
    flaws: dict[Any, list[Mapping]] = {}
    for error in attribute_errors:
        flaws.setdefault(error["ref_id"], []).append(error)

    reference_total = sum(_weight(f, SIGNIFICANCE_WEIGHTS, significance) for f in references)
    if reference_total == 0 and not references:
        reference_total = len(matched) + missing_weight
    correct = 0.0
    counted = set()
    for pair in matched:
        ref_id = pair["ref_id"]
        if ref_id in counted:
            continue
        counted.add(ref_id)
        weight = reference_weight.get(ref_id, 0.0)
        if ref_id not in flaws:
            correct += weight
            continue
        flaw_weight = sum(_weight(e, ATTRIBUTE_WEIGHTS, "severity") for e in flaws[ref_id])
        correct += weight * weight / (weight + flaw_weight) if weight + flaw_weight > 0 else 0.0

    excess = false_weight - correct
    if reference_total == 0:
        s = (
            1.0
            if false_weight == 0 and missing_weight == 0
            else -(false_weight + missing_weight + 1)
        )
    else:
        s = (correct - false_weight) / reference_total
    if s >= 0:
        value = s
    else:
        value = -excess / (1 + excess) if excess > 0 else 0.0
    return CrimsonResult(
        score=round(value, 4),
        error_counts={
            "false_findings": len(false_ids),
            "missing_findings": len(missing_ids),
            "attribute_errors": len(attribute_errors),
            **per_type,
        },
        weighted_error_counts={
            "false_findings": false_weight,
            "missing_findings": missing_weight,
            "attribute_errors": sum(
                _weight(e, ATTRIBUTE_WEIGHTS, "severity") for e in attribute_errors
            ),
        },
        metrics={
            "N_G": reference_total,
            "E_penalty": false_weight,
            "correct": correct,
            "errors_more_than_correct": excess,
            "S": s,
        },
    )


def score_judge_outputs(outputs: Sequence[str]) -> dict[str, Any]:
    """Mean CRIMSON over the answers that could be scored, and what went with it.

    ``crimson``: the mean (None when no answer could be scored); ``per_pair``: each pair's score,
    None for a failed pair; ``valid``/``failed``: how many; ``means``: the mean of every count of
    :class:`CrimsonResult` over the scored pairs, by its group; ``problems``: pair index → why
    its answer failed.
    """
    if not outputs:
        raise ValueError("CRIMSON needs at least one judge output, got none")
    results: list[CrimsonResult | None] = []
    problems: dict[int, str] = {}
    for index, text in enumerate(outputs):
        try:
            results.append(crimson_result(read_evaluation(text)))
        except CrimsonOutputError as error:
            results.append(None)
            problems[index] = str(error)
    scored = [result for result in results if result is not None]
    means = {
        group: {
            name: sum(getattr(r, group)[name] for r in scored) / len(scored)
            for name in getattr(scored[0], group)
        }
        for group in ("error_counts", "weighted_error_counts", "metrics")
        if scored
    }
    return {
        "crimson": sum(r.score for r in scored) / len(scored) if scored else None,
        "per_pair": [None if result is None else result.score for result in results],
        "valid": len(scored),
        "failed": len(results) - len(scored),
        "means": means,
        "problems": problems,
    }


class CrimsonJudge(LocalJudge):
    """A CRIMSON judge (``rajpurkarlab/medgemma-4b-it-crimson`` or a folder like it) from a
    local checkpoint directory: a Gemma 3 model with safetensors weights and a chat template.
    ``max_new_tokens`` caps each answer (the authors' 8192 by default)."""

    metric = "crimson"
    model_types = MODEL_TYPES
    needs_chat_template = True
    gpu_dtype = "bfloat16"

    def __init__(
        self,
        checkpoint_dir,
        batch_size: int = 8,
        max_new_tokens: int = MAX_NEW_TOKENS,
        device: str | None = None,
    ):
        super().__init__(checkpoint_dir, batch_size, max_new_tokens, device)

    def make_prompt(self, reference: str, candidate: str) -> str:
        return make_prompt(reference, candidate)

    def score_outputs(self, outputs: Sequence[str]) -> dict[str, Any]:
        return score_judge_outputs(outputs)

    def chat_text(self, prompt: str) -> str:
        """The system and user turns in the checkpoint's chat template, then the cue."""
        messages = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": prompt},
        ]
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )

    def encode(self, prompts: Sequence[str]) -> Mapping[str, Any]:
        """Left-padded tensors of the chat texts; the template writes its own BOS."""
        return self.pad(
            self.tokenizer(self.chat_text(prompt), add_special_tokens=False)["input_ids"]
            for prompt in prompts
        )
