"""GREEN (Ostmeier et al., Findings of EMNLP 2024): a fine-tuned judge LM counts report errors.

The judge reads a reference and a candidate report and writes clinically significant and
insignificant error counts in six categories, (a)-(f), and the number of matched findings. The
score of a pair is matched / (matched + significant errors), 0 when nothing matched; the
metric is the mean over pairs.

The judges were fine-tuned on one prompt and one chat layout, so both are reproduced exactly as
the ``Stanford-AIMI/GREEN`` code (``green_score``) feeds them:

- ``make_prompt``: its prompt, each report first cut to 300 whitespace-separated words;
- ``GREEN_CHAT_TEMPLATE``: the chat template GREEN sets on every judge tokenizer, applied to a
  human turn with the prompt and an empty gpt turn, with the generation prompt; a checkpoint's
  own chat template is deliberately not used;
- the tokenizer loaded with ``add_eos_token=True``: under the transformers 4.40 that GREEN pins
  this appends EOS to the input for Llama and Gemma tokenizers (every judge but the Phi-2 ones);
- left padding with the EOS token, greedy decoding;
- ``parse_judge_output``: the same section and count rules as GREEN's ``parse_error_counts``.

Loading, batching and decoding are :class:`medvlm.metrics.judge.LocalJudge`'s. Importing this
module does not import torch or transformers; ``GreenJudge`` does, when built.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from medvlm.metrics.judge import LocalJudge

MAX_REPORT_WORDS = 300

SIGNIFICANT = "Clinically Significant Errors"
INSIGNIFICANT = "Clinically Insignificant Errors"
MATCHED = "Matched Findings"

ERROR_CATEGORIES = (
    "(a) False report of a finding in the candidate",
    "(b) Missing a finding present in the reference",
    "(c) Misidentification of a finding's anatomic location/position",
    "(d) Misassessment of the severity of a finding",
    "(e) Mentioning a comparison that isn't in the reference",
    "(f) Omitting a comparison detailing a change from a prior study",
)

# GREEN's prompt, line by line: every line after the first carries four spaces of indentation
# in the original (a flattened indented literal); empty lines carry none.
_PROMPT_LINES = (
    "Objective: Evaluate the accuracy of a candidate radiology report in comparison to a "
    "reference radiology report composed by expert radiologists.",
    "",
    "Process Overview: You will be presented with:",
    "",
    "1. The criteria for making a judgment.",
    "2. The reference radiology report.",
    "3. The candidate radiology report.",
    "4. The desired format for your assessment.",
    "",
    "1. Criteria for Judgment:",
    "",
    "For each candidate report, determine:",
    "",
    "The count of clinically significant errors.",
    "The count of clinically insignificant errors.",
    "",
    "Errors can fall into one of these categories:",
    "",
    "a) False report of a finding in the candidate.",
    "b) Missing a finding present in the reference.",
    "c) Misidentification of a finding's anatomic location/position.",
    "d) Misassessment of the severity of a finding.",
    "e) Mentioning a comparison that isn't in the reference.",
    "f) Omitting a comparison detailing a change from a prior study.",
    "Note: Concentrate on the clinical findings rather than the report's writing style. "
    "Evaluate only the findings that appear in both reports.",
    "",
    "2. Reference Report:",
    "{reference}",
    "",
    "3. Candidate Report:",
    "{candidate}",
    "",
    "4. Reporting Your Assessment:",
    "",
    "Follow this specific format for your output, even if no errors are found:",
    "```",
    "[Explanation]:",
    "<Explanation>",
    "",
    "[Clinically Significant Errors]:",
    "(a) <Error Type>: <The number of errors>. <Error 1>; <Error 2>; ...; <Error n>",
    "....",
    "(f) <Error Type>: <The number of errors>. <Error 1>; <Error 2>; ...; <Error n>",
    "",
    "[Clinically Insignificant Errors]:",
    "(a) <Error Type>: <The number of errors>. <Error 1>; <Error 2>; ...; <Error n>",
    "....",
    "(f) <Error Type>: <The number of errors>. <Error 1>; <Error 2>; ...; <Error n>",
    "",
    "[Matched Findings]:",
    "<The number of matched findings>. <Finding 1>; <Finding 2>; ...; <Finding n>",
    "```",
    "",
)
_PROMPT = "\n".join(
    [_PROMPT_LINES[0]] + [f"    {line}" if line else "" for line in _PROMPT_LINES[1:]]
)

GREEN_CHAT_TEMPLATE = (
    "{% for message in messages %}\n"
    "{% if message['from'] == 'human' %}\n"
    "{{ '<|user|>\n' + message['value'] + eos_token }}\n"
    "{% elif message['from'] == 'system' %}\n"
    "{{ '<|system|>\n' + message['value'] + eos_token }}\n"
    "{% elif message['from'] == 'gpt' %}\n"
    "{{ '<|assistant|>\n'  + message['value'] + eos_token }}\n"
    "{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n"
    "{{ '<|assistant|>' }}\n"
    "{% endif %}\n"
    "{% endfor %}"
)

# Tokenizer classes whose transformers-4.40 fast versions honoured GREEN's add_eos_token=True.
_EOS_APPENDING_TOKENIZERS = frozenset(
    {"LlamaTokenizer", "LlamaTokenizerFast", "GemmaTokenizer", "GemmaTokenizerFast"}
)


def truncate_words(text: str, max_words: int = MAX_REPORT_WORDS) -> str:
    """The first ``max_words`` whitespace-separated words, joined by single spaces."""
    return " ".join(text.split()[:max_words])


def make_prompt(reference: str, candidate: str, max_words: int = MAX_REPORT_WORDS) -> str:
    """GREEN's judge prompt for one pair, each report cut to its first ``max_words`` words."""
    return _PROMPT.format(
        reference=truncate_words(reference, max_words),
        candidate=truncate_words(candidate, max_words),
    )


@dataclass(frozen=True)
class JudgeResult:
    """The counts read from one judge output; absent sections count as zero, as in GREEN."""

    matched: int
    significant: tuple[int, ...]  # per category (a)-(f)
    insignificant: tuple[int, ...]  # per category (a)-(f)
    missing_sections: tuple[str, ...] = ()  # section names the output lacks

    @property
    def significant_total(self) -> int:
        return sum(self.significant)


def clean_judge_output(text: str) -> str:
    """GREEN's ``clean_responses``: keep the assessment after ``[Explanation]:``.

    When the output still holds the prompt's literal placeholder, GREEN keeps the text after the
    first ``[Explanation]:``; otherwise after the last one.
    """
    if "[Explanation]:" in text:
        if "<|assistant|>" in text:
            text = text.split("<|assistant|>")[-1]
        if "[Explanation]:\n    <Explanation>\n" in text:
            text = text.split("[Explanation]:")[1]
        else:
            text = text.split("[Explanation]:")[-1]
    if "<|assistant|>" in text:
        text = text.split("<|assistant|>")[-1]
    return text.replace("</s>", "").replace("<unk>", "")


def _section(text: str, name: str) -> str | None:
    """The body of ``[name]:`` up to the next blank line or the end; None when absent."""
    found = re.search(rf"\[{re.escape(name)}\]:\s*(.*?)(?:\n\s*\n|\Z)", text, re.DOTALL)
    return None if found is None else found.group(1)


def _category_counts(body: str | None) -> tuple[int, ...]:
    """Counts (a)-(f) from lines like ``(b) Missing ...: 2. ...``; ``(1)``-``(6)`` also work.

    As in GREEN: a body starting with "No" means none; a count is the first integer after ": "
    that a period follows; of several lines for one category, the last in sorted order wins.
    """
    counts = [0] * len(ERROR_CATEGORIES)
    if body is None or body.startswith("No"):
        return tuple(counts)
    labels = "abcdef"
    lines = sorted(re.findall(r"\([a-f]\) .*", body))
    if not lines:
        labels = "123456"
        lines = sorted(re.findall(r"\([1-6]\) .*", body))
    for position, label in enumerate(labels):
        for line in lines:
            if line.startswith(f"({label}) "):
                numbers = re.findall(r"(?<=: )\b\d+\b(?=\.)", line)
                if numbers:
                    counts[position] = int(numbers[0])
    return tuple(counts)


def _matched_count(body: str | None) -> int:
    """The integer (followed by a period) that opens the matched-findings body, else 0."""
    if body is None or body.startswith("No"):
        return 0
    found = re.match(r"(\d+)\b(?=\.)", body)
    return int(found.group(1)) if found else 0


def parse_judge_output(text: str) -> JudgeResult:
    """Read matched findings and per-category error counts from a raw judge output."""
    cleaned = clean_judge_output(text)
    bodies = {name: _section(cleaned, name) for name in (SIGNIFICANT, INSIGNIFICANT, MATCHED)}
    return JudgeResult(
        matched=_matched_count(bodies[MATCHED]),
        significant=_category_counts(bodies[SIGNIFICANT]),
        insignificant=_category_counts(bodies[INSIGNIFICANT]),
        missing_sections=tuple(name for name, body in bodies.items() if body is None),
    )


def green_score(result: JudgeResult) -> float:
    """matched / (matched + significant errors); 0 when nothing matched, even with no errors."""
    if result.matched == 0:
        return 0.0
    return result.matched / (result.matched + result.significant_total)


def score_judge_outputs(outputs: Sequence[str]) -> dict:
    """Mean GREEN over raw judge outputs, the per-pair scores, and how many lacked a section
    the score needs (matched findings or significant errors): those are judge format failures."""
    if not outputs:
        raise ValueError("GREEN needs at least one judge output, got none")
    results = [parse_judge_output(text) for text in outputs]
    per_pair = [green_score(result) for result in results]
    malformed = sum(
        1 for r in results if MATCHED in r.missing_sections or SIGNIFICANT in r.missing_sections
    )
    return {"green": sum(per_pair) / len(per_pair), "per_pair": per_pair, "malformed": malformed}


class GreenJudge(LocalJudge):
    """A GREEN judge from a local Hugging Face checkpoint directory (safetensors weights).

    ``max_length`` caps the prompt in tokens (GREEN truncates at 2048); ``max_new_tokens``
    caps the judge's answer and defaults to ``max_length``, as in ``green_score``'s inferer.
    Weights load in float16 on a GPU (as GREEN) and float32 on the CPU; padding and the end of
    an answer are GREEN's EOS token.
    """

    metric = "green"

    def __init__(
        self,
        checkpoint_dir: str | Path,
        batch_size: int = 8,
        max_length: int = 2048,
        max_new_tokens: int | None = None,
        device: str | None = None,
    ):
        if max_length < 2:
            raise ValueError(f"GREEN judge needs max_length >= 2, got {max_length}")
        limit = max_length if max_new_tokens is None else max_new_tokens
        super().__init__(checkpoint_dir, batch_size, limit, device)
        self.max_length = max_length
        self.tokenizer.pad_token = self.tokenizer.eos_token
        self.appends_eos = type(self.tokenizer).__name__ in _EOS_APPENDING_TOKENIZERS

    def make_prompt(self, reference: str, candidate: str) -> str:
        return make_prompt(reference, candidate)

    def score_outputs(self, outputs: Sequence[str]) -> dict:
        return score_judge_outputs(outputs)

    def generation_settings(self) -> dict:
        return {"eos_token_id": self.tokenizer.eos_token_id}

    def chat_text(self, prompt: str) -> str:
        """The prompt in GREEN's chat layout: a human turn, an empty gpt turn, then the cue."""
        messages = [{"from": "human", "value": prompt}, {"from": "gpt", "value": ""}]
        return self.tokenizer.apply_chat_template(
            messages,
            chat_template=GREEN_CHAT_TEMPLATE,
            tokenize=False,
            add_generation_prompt=True,
        )

    def encode(self, prompts: Sequence[str]) -> dict:
        """Left-padded ``input_ids`` and ``attention_mask`` tensors for a batch of prompts."""
        eos = [self.tokenizer.eos_token_id] if self.appends_eos else []
        return self.pad(
            self.tokenizer(
                self.chat_text(prompt), truncation=True, max_length=self.max_length - len(eos)
            )["input_ids"]
            + eos
            for prompt in prompts
        )
