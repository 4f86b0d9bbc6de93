"""Report generation: free-text findings (IU X-Ray).

Structured answer: ``str``, the output cleaned by :func:`text.clean_output` (chat markers, code
fences and a leading ``Answer:`` removed) with whitespace collapsed to single spaces; None
when nothing is left. A report written as a JSON list of sentences (a non-string FLARE answer
in its JSON text) is those sentences joined by spaces.

Target: the reference cleaned the same way. Well-formed: non-empty text that cleaning leaves
unchanged.
"""

from __future__ import annotations

from medvlm.records import TaskType
from medvlm.tasks.text import clean_output, collapse_whitespace, load_json


def _cleaned(text: str) -> str:
    # Collapsing can expose a new leading "Answer:" (after a newline), so clean until stable.
    while (cleaned := collapse_whitespace(clean_output(text))) != text:
        text = cleaned
    sentences = load_json(cleaned) if cleaned.startswith("[") else None
    if isinstance(sentences, list) and sentences and all(isinstance(s, str) for s in sentences):
        return _cleaned(" ".join(sentences))
    return cleaned


class ReportGeneration:
    name = TaskType.REPORT_GENERATION

    def prompt(self, question: str) -> str:
        return question.strip()

    def target(self, answer: str, question: str) -> str:
        cleaned = _cleaned(answer) if isinstance(answer, str) else ""
        if not cleaned:
            raise ValueError(f"report answer {answer!r} is empty")
        return cleaned

    def parse(self, text: str, question: str) -> str | None:
        return (_cleaned(text) or None) if isinstance(text, str) else None

    def is_well_formed(self, text: str, question: str) -> bool:
        return isinstance(text, str) and bool(text) and _cleaned(text) == text
