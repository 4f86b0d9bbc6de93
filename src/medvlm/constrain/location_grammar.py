"""PaliGemma's location-token answers (``<loc..>`` x4, a label, ``" ; "`` between objects) as
an output language, for runs that train detection targets in that syntax
(:mod:`medvlm.models.paligemma.location_tokens`).

Budget units as in :mod:`.grammar`: a location token is one unit, text one per byte. The
order of the four locations is left open: decoding sorts the corners.
"""

from __future__ import annotations

from dataclasses import dataclass

from medvlm.constrain.grammar import ID_LENGTH
from medvlm.records import TaskType
from medvlm.tasks.framed_answers import BOX_TASKS

NUM_LOC = 1024
DETECTION_LABEL = "object"  # medvlm.models.paligemma.location_tokens.DETECTION_LABEL
SEPARATOR_UNITS = 3  # " ; "


@dataclass(frozen=True)
class LocationLanguage:
    """Objects in location tokens; ``loc_offset`` is the id of ``<loc0000>``."""

    task: str
    question: str
    loc_offset: int
    corners: bool = False

    def __post_init__(self):
        if self.task not in BOX_TASKS:
            raise ValueError(f"location tokens answer detection tasks only, not {self.task!r}")

    def grammar(self, budget: int) -> str:
        if self.task == TaskType.DETECTION:
            label, units = f'" {DETECTION_LABEL}"', 1 + len(DETECTION_LABEL)
        else:
            label, units = '" " ID', 1 + ID_LENGTH
        most = (budget + SEPARATOR_UNITS) // (4 + units + SEPARATOR_UNITS)
        last = self.loc_offset + NUM_LOC - 1
        if most == 0:
            start = 'start: ""'
        elif most == 1:
            start = "start: obj?"
        else:
            start = f'start: (obj (" ; " obj){{0,{most - 1}}})?'
        lines = [
            start,
            f"obj: loc loc loc loc {label}",
            f"loc: <[{self.loc_offset}-{last}]>",
            f"ID: /[0-9A-Za-z]{{1,{ID_LENGTH}}}/",
        ]
        return "\n".join(lines)
