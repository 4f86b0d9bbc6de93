"""Question text per task, in the shapes the real FLARE files use."""

from __future__ import annotations

from medvlm.data.synthetic.specs import (
    Classification,
    Counting,
    Detection,
    InstanceDetection,
    MultiLabel,
    Regression,
    Report,
    TaskParams,
)


def letter(index: int) -> str:
    return chr(ord("A") + index)


def question_text(params: TaskParams) -> str:
    if isinstance(params, Classification):
        return _classification(params)
    if isinstance(params, MultiLabel):
        return f"{params.prompt} {params.separator.join(params.labels)}"
    if isinstance(params, Detection):
        return (
            f"Define the position of the {params.target} in this image using its bounding box "
            "coordinates."
        )
    if isinstance(params, InstanceDetection | Counting | Regression | Report):
        return params.prompt
    raise TypeError(f"no question template for {type(params).__name__}")


def _classification(params: Classification) -> str:
    labels = params.labels
    if params.style == "colon":  # "Question: ... Options: A: x B: y"
        options = " ".join(f"{letter(i)}: {label}" for i, label in enumerate(labels))
        return f"Question: {params.prompt} Options: {options}"
    if params.style == "dot":  # "... A. x, B. y"
        options = ", ".join(f"{letter(i)}. {label}" for i, label in enumerate(labels))
        return f"{params.prompt} {options}"
    if params.style == "text":  # answered with the label itself (CMMD)
        return f"{params.prompt} Answer with one of: {', '.join(labels)}."
    raise ValueError(f"unknown classification style {params.style!r}")
