"""What a question offers the model to choose from: lettered options, label lists, a separator.

Lettered options come as ``Options: A: x B: y``, ``A) x B) y``, ``(A) x (B) y`` or
``A. x, B. y``, with letters well past E. The markers of one list share a style and run A, B, C...
in order, which tells them from a capital letter that happens to precede a colon or a full stop.

Label lists (multi-label questions, label-answer classification) follow a cue such as
``Select all that apply from the following, separate multiple selections with a semicolon:``.
Labels are separated by commas, but a FLARE label may itself contain commas, so labels known to
contain a separator are matched first, longest first; everything else is split on ``;`` when
the list has one, else on ``,``.
"""

from __future__ import annotations

import functools
import re

# FLARE labels that contain a list separator: splitting a label list must keep them whole.
LABELS_WITH_SEPARATORS = (
    "Endodontic Treatment, Restorative Treatment, and Complications",  # periapical
)
DEFAULT_SEPARATOR = "; "

_MARKER = re.compile(
    r"(?<![\w(])(?P<open>\()?(?P<letter>[A-Z])(?:(?P<delim>[):])|(?P<dot>\.)(?=\s|$))"
)
_LIST_CUE = re.compile(
    r"\b(?:following|options|choices|labels|categories|classes|findings|apply|select all|one of)\b"
    r"[^:\n]{0,100}:",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s*")
_CONJUNCTION = re.compile(r"^(?:and|or)\s+", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+(?=[A-Z])")
_SEPARATOR_REQUEST = re.compile(
    r"separat\w*[^.:\n]{0,60}?(semicolon|comma|['\"“]\s*[;,]\s*['\"”])", re.IGNORECASE
)


def lettered_options(question: str) -> dict[str, str]:
    """``{letter: option text}`` for the lettered options the question offers; ``{}`` if none."""
    return dict(_lettered_options(question))


def offered_labels(question: str) -> tuple[str, ...]:
    """The labels a question lists after a cue like ``from the following:``; ``()`` if none.

    Needs at least two labels; lettered options are not label lists (see :func:`lettered_options`).
    """
    return _offered_labels(question)


def requested_separator(question: str) -> str:
    """The separator a multi-label question asks for (``"; "`` or ``", "``); ``"; "`` by default.

    The default is the semicolon because labels may contain commas, and every public evaluator
    splits on ``;`` first.
    """
    found = _SEPARATOR_REQUEST.search(question)
    if found is None:
        return DEFAULT_SEPARATOR
    word = found.group(1).lower()
    return ", " if "comma" in word or "," in word else "; "


def _first_sentence(text: str) -> str:
    """``text`` up to the end of its first sentence: an instruction may follow a list."""
    return _SENTENCE_END.split(text, maxsplit=1)[0]


@functools.lru_cache(maxsize=4096)
def _lettered_options(question: str) -> tuple[tuple[str, str], ...]:
    markers = [
        (m.group("letter"), (m.group("open") or "") + (m.group("delim") or "."), m)
        for m in _MARKER.finditer(question)
    ]
    # A chain from a marker takes the first later marker of its style with the next letter, and
    # so on. Following it from the right (nearest marker per style and letter) makes every
    # chain's length known in one pass; the longest chain from an "A" wins, the last on a tie.
    follower: list[int | None] = [None] * len(markers)
    length = [1] * len(markers)
    nearest: dict[tuple[str, str], int] = {}
    for index in reversed(range(len(markers))):
        letter, style, _ = markers[index]
        after = nearest.get((style, chr(ord(letter) + 1)))
        if after is not None:
            follower[index], length[index] = after, 1 + length[after]
        nearest[(style, letter)] = index
    starts = [i for i, (letter, _, _) in enumerate(markers) if letter == "A" and length[i] >= 2]
    best: list[re.Match] = []
    index = max(starts, key=lambda i: (length[i], i), default=None)
    while index is not None:
        best.append(markers[index][2])
        index = follower[index]
    options = []
    for i, match in enumerate(best):
        if i + 1 < len(best):
            text = question[match.end() : best[i + 1].start()]
        else:
            text = _first_sentence(question[match.end() :].split("\n", 1)[0])
        options.append((match.group("letter"), text.strip().rstrip(",;.").strip()))
    return tuple(options)


@functools.lru_cache(maxsize=4096)
def _offered_labels(question: str) -> tuple[str, ...]:
    cues = list(_LIST_CUE.finditer(question))
    if not cues:
        return ()
    lines = [line for line in question[cues[-1].end() :].split("\n") if line.strip()]
    if not lines:
        return ()
    if len(lines) > 1 and not re.search(r"[,;]", lines[0]):
        labels = [_BULLET.sub("", line).strip().rstrip(".") for line in lines]
    else:
        labels = split_label_list(_first_sentence(lines[0]))
    labels = [label for label in labels if label]
    return tuple(labels) if len(labels) >= 2 else ()


def split_label_list(text: str) -> list[str]:
    """Split ``"x, y, and z"`` (or ``"x; y"``) into labels, keeping known comma labels whole."""
    separator = ";" if ";" in text else ","
    rest = text.strip().rstrip(".?!").strip()
    labels = []
    while rest:
        known = next(
            (
                label
                for label in LABELS_WITH_SEPARATORS
                if rest[: len(label)].casefold() == label.casefold()
                and not rest[len(label) : len(label) + 1].isalnum()
            ),
            None,
        )
        if known is not None:
            piece, rest = rest[: len(known)], rest[len(known) :]
        else:
            piece, _, rest = rest.partition(separator)
        rest = rest.lstrip(" ,;")
        piece = _CONJUNCTION.sub("", piece.strip()).strip()
        if piece:
            labels.append(piece)
    return labels
