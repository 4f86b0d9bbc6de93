"""Cleaning raw model output and normalising label text, shared by every task's parser.

Model families hand over decoded text that may still carry chat artefacts: Gemma turn markers
(``<start_of_turn>model``, ``<end_of_turn>``, ``<eos>``), a role line (``assistant``), markdown
code fences, and a leading ``Answer:``. :func:`clean_output` removes them; it is idempotent.
"""

from __future__ import annotations

import json
import re
from collections import deque
from typing import Any

# The most characters of one answer (a model output or a reference) that any parser reads: 16
# times the longest real FLARE answer (a report or a chromosome instance list, a few thousand
# characters), and far beyond any decoding limit. The scorer cuts longer answers to it and
# counts them in the score file (``cut_answers``); every parser is linear below and above it.
MAX_ANSWER_CHARS = 65_536

_MODEL_TURN = re.compile(r"<start_of_turn>\s*model\b", re.IGNORECASE)
_SPECIAL_TOKEN = re.compile(
    r"<(?:eos|bos|pad|unk|s|/s|end_of_turn|start_of_turn|end_of_text|\|[a-z_]+\|)>", re.IGNORECASE
)
_ROLE_LINE = re.compile(r"\s*+(?:assistant|model)[ \t]*+(?::[ \t]*+)?\n", re.IGNORECASE)
_CODE_FENCE = re.compile(r"```[a-zA-Z]*")
_ANSWER_LABEL = re.compile(r"\s*(?:final\s+)?answer\s*[:：]\s*", re.IGNORECASE)
_SPACE = re.compile(r"\s*")
_ANSWER_MARKER = re.compile(r"\banswer\s*(?:is\s*)?[:：]", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_EDGE_PUNCTUATION = " .,;:!?\"'`*"


def cut_answer(text: str) -> tuple[str, bool]:
    """``text`` cut to :data:`MAX_ANSWER_CHARS`, and whether it was cut."""
    return text[:MAX_ANSWER_CHARS], len(text) > MAX_ANSWER_CHARS


def clean_output(text: str) -> str:
    """The answer part of a model output: chat artefacts and a leading ``Answer:`` removed."""
    turns = _MODEL_TURN.split(text)
    text = _SPECIAL_TOKEN.sub(" ", turns[-1])
    text = _CODE_FENCE.sub(" ", text)
    return _strip_labels(text)


def _strip_labels(text: str) -> str:
    """``text`` stripped, without the role lines and ``Answer:`` labels that lead it, removed
    again and again until none is left. Works on positions, never on copies, so a text made of
    thousands of labels takes linear time; the first round sees the text's trailing whitespace
    (a role line ends with a newline), later rounds see the text stripped."""
    start, limit, end = 0, len(text), len(text.rstrip())
    while True:
        role = _ROLE_LINE.match(text, start, limit)
        position = role.end() if role else start
        while label := _ANSWER_LABEL.match(text, position, limit):  # one at a time: a regex
            position = label.end()  # repeat would keep a backtracking state for each label
        position = _SPACE.match(text, position, limit).end()
        if position >= end:
            return ""
        if position == start and limit == end:
            return text[start:end]
        start, limit = position, end


def after_answer_marker(text: str) -> str | None:
    """The text after the last ``Answer:`` (or ``answer is:``) inside ``text``, if there is one."""
    last = deque(_ANSWER_MARKER.finditer(text), maxlen=1)  # not a list of every marker
    return text[last[0].end() :].strip() if last else None


def collapse_whitespace(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def normalise_label(text: str) -> str:
    """Label text as compared: casefolded, whitespace collapsed, edge punctuation stripped."""
    return collapse_whitespace(text).casefold().strip(_EDGE_PUNCTUATION)


def contains_words(haystack: str, needle: str) -> bool:
    """Whether ``needle`` occurs in ``haystack`` as whole words (not inside a longer word)."""
    if not needle or len(needle) > len(haystack):  # and no pattern is built from a long output
        return False
    return re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", haystack) is not None


def strip_article(text: str) -> str:
    """``text`` without a leading English article (``a``, ``an``, ``the``)."""
    return re.sub(r"^(?:a|an|the)\s+", "", text, flags=re.IGNORECASE)


def load_json(text: str) -> Any:
    """``json.loads`` of a strict answer, or None for text that is not exactly one JSON value."""
    if text != text.strip():
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None
