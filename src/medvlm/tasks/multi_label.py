"""Multi-label classification: every label that applies, out of the labels the question lists.

Structured answer: ``frozenset[str]`` of normalised labels (casefolded, whitespace collapsed).

Reading: when the question lists its labels (:func:`options.offered_labels`), the output is
scanned left to right and listed labels are matched first, longest first, so a label that
contains commas stays whole and a missing or different separator does not matter. Text that is
no listed label is cut at the next separator and kept as an unlisted label, so a wrong label
counts against the model instead of vanishing. Without a label list the output is split on
``;`` (also newlines and ``|``) when it has one, else on ``,``. Brackets, quotes and a joining
``and`` around labels are ignored. An output with no label at all is unparsable (None).

Target: the listed labels in the question's order and spelling, then any unlisted ones as read,
joined by the separator the question asks for (:func:`options.requested_separator`); ``"; "``
whenever a label contains a comma. Well-formed: labels joined by exactly that separator, each
listed (when the question lists labels), none repeated, nothing else.
"""

from __future__ import annotations

import re

from medvlm.records import TaskType
from medvlm.tasks.options import offered_labels, requested_separator
from medvlm.tasks.text import clean_output, collapse_whitespace, normalise_label

_FILLER = " ,;|[]\"'`*"
_STRONG = re.compile(r"[;|\n]")
_JOINING_WORD = re.compile(r"\s*(?:and|or|&)(?!\w)", re.IGNORECASE)
_LEADING_WORD = re.compile(r"^(?:and|or)\s+", re.IGNORECASE)
_FILLER_RUN = re.compile(f"[{re.escape(_FILLER)}]*")
_CUTS = {True: re.compile(r"[;|]"), False: re.compile(",")}


def _read_listed(text: str, listed: list[str]) -> list[str]:
    """Normalised labels in ``text``, matching the normalised ``listed`` labels first.

    Reads left to right by position (no copy of the rest per label), so it is linear in the text.
    """
    cuts = _CUTS[_STRONG.search(text) is not None]
    rest = collapse_whitespace(text.replace("\n", ";")).casefold()
    found = []
    position = 0
    while (position := _FILLER_RUN.match(rest, position).end()) < len(rest):
        label = next(
            (
                n
                for n in listed
                if rest.startswith(n, position)
                and not rest[position + len(n) : position + len(n) + 1].isalnum()
            ),
            None,
        )
        if label is not None:
            found.append(label)
            position += len(label)
            joining = _JOINING_WORD.match(rest, position)
            position = joining.end() if joining else position
            continue
        cut = cuts.search(rest, position)
        cut = cut.start() if cut else len(rest)
        found.append(normalise_label(_LEADING_WORD.sub("", rest[position:cut].strip(_FILLER))))
        position = cut
    return [label for label in found if label]


def _read_unlisted(text: str) -> list[str]:
    """Labels in ``text`` as written, split on ``;`` (or newline, ``|``) if present, else ``,``."""
    parts = _STRONG.split(text) if _STRONG.search(text) else text.split(",")
    pieces = [_LEADING_WORD.sub("", collapse_whitespace(p).strip(_FILLER + ".")) for p in parts]
    return [piece for piece in pieces if normalise_label(piece)]


def _read(text: str, question: str) -> list[str]:
    """The labels of an output, without repeats: listed ones in the question's spelling."""
    if not isinstance(text, str):
        return []
    cleaned = clean_output(text)
    labels = offered_labels(question)
    if labels:
        spelling = {normalise_label(label): label for label in labels}
        listed = sorted((n for n in spelling if n), key=len, reverse=True)
        read = [spelling.get(label, label) for label in _read_listed(cleaned, listed)]
    else:
        read = _read_unlisted(cleaned)
    unique: dict[str, str] = {}
    for label in read:
        unique.setdefault(normalise_label(label), label)
    return list(unique.values())


def answer_separator(question: str, labels: list[str] | tuple[str, ...]) -> str:
    """The separator of a multi-label answer: the question's, unless a label contains a comma."""
    separator = requested_separator(question)
    return "; " if any("," in label for label in labels) else separator


class MultiLabel:
    name = TaskType.MULTI_LABEL

    def prompt(self, question: str) -> str:
        separator = answer_separator(question, offered_labels(question)).strip()
        hint = f"Answer with every label that applies, separated by '{separator}'."
        return f"{question.strip()} {hint}"

    def target(self, answer: str, question: str) -> str:
        read = _read(answer, question)
        if not read:
            raise ValueError(f"multi-label answer {answer!r} names no label")
        order = {label: i for i, label in enumerate(offered_labels(question))}
        read.sort(key=lambda label: order.get(label, len(order)))
        return answer_separator(question, read).join(read)

    def parse(self, text: str, question: str) -> frozenset[str] | None:
        read = _read(text, question)
        return frozenset(normalise_label(label) for label in read) if read else None

    def is_well_formed(self, text: str, question: str) -> bool:
        if not isinstance(text, str) or not text:
            return False
        labels = offered_labels(question)
        pieces = text.split(answer_separator(question, labels))
        if any(not p or p != collapse_whitespace(p) or p != p.strip(_FILLER) for p in pieces):
            return False
        normalised = [normalise_label(p) for p in pieces]
        if len(set(normalised)) != len(pieces):
            return False
        if labels and not set(normalised) <= {normalise_label(label) for label in labels}:
            return False
        return self.parse(text, question) == frozenset(normalised)
