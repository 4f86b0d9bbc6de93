"""Classification: one option out of the lettered options a question offers, or one label.

Structured answer: ``str``. When the question offers lettered options (:mod:`options`), the
option letter ``"A"``..``"Z"``. Otherwise the normalised label text (casefolded, whitespace
collapsed, edge punctuation stripped), mapped onto the label the question lists when exactly one
listed label (the longest) appears in the output.

Reading a letter, first rule that applies (the text after the last ``Answer:`` is tried first;
quotes, markdown emphasis and a JSON list around the answer, ``["B"]``, are ignored):

1. the whole output is one letter, maybe bracketed or followed by ``.``, ``)`` or ``:``;
2. it starts with a letter and a delimiter (``B) Malignant``, ``B. Malignant``, ``(B) ...``);
3. its text is an option's text, contains one (the longest wins) or is contained in exactly one,
   ignoring a leading article, so ``A malignant lesion`` maps to ``Malignant lesion present``;
4. ``answer is B``, ``option B``, ``(B)`` or a letter with a delimiter anywhere;
5. one uppercase letter standing alone that is an option, if only one such letter appears;
   ``A`` and ``I`` are English words and do not count here.

Target: the letter; for label answers, the listed label's own spelling (else the answer
cleaned). Well-formed: exactly one offered letter; or a single clean line naming a listed label.
"""

from __future__ import annotations

import re

from medvlm.records import TaskType
from medvlm.tasks.options import lettered_options, offered_labels
from medvlm.tasks.text import (
    after_answer_marker,
    clean_output,
    collapse_whitespace,
    contains_words,
    normalise_label,
    strip_article,
)

_WRAPPING = " \t\n*\"'`[]"  # markdown emphasis, quotes, a JSON list around one answer
_SINGLE = re.compile(r"[(\[]?([A-Za-z])[)\]]?[.):]?")
_LEADING = re.compile(r"[(\[]?([A-Za-z])(?:[)\]]|[.:](?=\s|$))")
_KEYWORD = re.compile(  # possessive whitespace: a long run of it is read once, not re-split
    r"(?i:\b(?:answer|option|choice)(?:\s++is)?(?:\s*+:\s*+|\s++))[(\[]?"
    r"(?:([A-Z])(?![\w'’])|([a-z])(?=[.):\]]|\s*+$))"
)
_DELIMITED = re.compile(r"\(([A-Z])\)|(?<![\w(])([A-Z])(?:\)|[.:](?=\s|$))")
_STANDALONE = re.compile(r"(?<![\w'’-])([B-HJ-Z])(?![\w'’-])")


def _unique_longest(candidates: dict[str, str]) -> str | None:
    """The key whose text is strictly the longest, or None when empty or tied."""
    if not candidates:
        return None
    longest = max(len(text) for text in candidates.values())
    winners = [key for key, text in candidates.items() if len(text) == longest]
    return winners[0] if len(winners) == 1 else None


def _letter_by_text(text: str, options: dict[str, str]) -> str | None:
    said = strip_article(normalise_label(text))
    if not said:
        return None
    texts = {letter: strip_article(normalise_label(t)) for letter, t in options.items()}
    texts = {letter: t for letter, t in texts.items() if t}
    exact = [letter for letter, t in texts.items() if t == said]
    if exact:
        return exact[0] if len(exact) == 1 else None
    inside = _unique_longest({k: t for k, t in texts.items() if contains_words(said, t)})
    if inside is not None:
        return inside
    around = [letter for letter, t in texts.items() if len(said) >= 3 and contains_words(t, said)]
    return around[0] if len(around) == 1 else None


def _letter(text: str, options: dict[str, str]) -> str | None:
    """The option letter ``text`` answers with (rules in the module docstring)."""
    single = _SINGLE.fullmatch(text)
    if single:
        return single.group(1).upper()
    leading = _LEADING.match(text)
    if leading and leading.group(1).upper() in options:
        return leading.group(1).upper()
    by_text = _letter_by_text(text, options)
    if by_text is not None:
        return by_text
    for pattern in (_KEYWORD, _DELIMITED):
        for match in pattern.finditer(text):
            letter = (match.group(1) or match.group(2)).upper()
            if letter in options:
                return letter
    alone = {m.group(1) for m in _STANDALONE.finditer(text)} & options.keys()
    return alone.pop() if len(alone) == 1 else None


def _label(text: str, labels: tuple[str, ...]) -> tuple[str, str] | None:
    """(normalised label, its written form) for a label answer; None when the text is empty."""
    said = normalise_label(text)
    if not said:
        return None
    listed = {normalise_label(label): label for label in labels}
    if said in listed:
        return said, listed[said]
    inside = _unique_longest({n: n for n in listed if contains_words(said, n)})
    if inside is not None:
        return inside, listed[inside]
    written = collapse_whitespace(text).strip(" .,;:!?\"'`*")
    return said, written


def _read(text: str, question: str) -> tuple[str, str] | None:
    """(structured answer, canonical text) read from an output; None if unparsable."""
    if not isinstance(text, str):
        return None
    cleaned = clean_output(text)
    options = lettered_options(question)
    for candidate in (after_answer_marker(cleaned), cleaned):
        candidate = (candidate or "").strip(_WRAPPING)
        if not candidate:
            continue
        if options:
            letter = _letter(candidate, options)
            if letter is not None:
                return letter, letter
        else:
            label = _label(candidate, offered_labels(question))
            if label is not None:
                return label
    return None


class Classification:
    name = TaskType.CLASSIFICATION

    def prompt(self, question: str) -> str:
        if lettered_options(question):
            return f"{question.strip()} Answer with the option letter."
        return f"{question.strip()} Answer with the label only."

    def target(self, answer: str, question: str) -> str:
        read = _read(answer, question)
        if read is None:
            raise ValueError(f"classification answer {answer!r} names no option or label")
        return read[1]

    def parse(self, text: str, question: str) -> str | None:
        read = _read(text, question)
        return None if read is None else read[0]

    def is_well_formed(self, text: str, question: str) -> bool:
        if not isinstance(text, str):
            return False
        options = lettered_options(question)
        if options:
            return text in options
        if not text or text != collapse_whitespace(text) or text != clean_output(text):
            return False
        labels = offered_labels(question)
        return not labels or normalise_label(text) in {normalise_label(x) for x in labels}
