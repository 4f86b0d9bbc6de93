"""A synthetic data set in the real FLARE 2025 Task 5 layout: the demo's data, every test's fixture.

All 19 data sets, every task type in its real answer format and ``TaskType`` spelling, PNG and
JPEG images in gray, RGB, RGBA and 16-bit, and (at ``fault_rate`` > 0) the faults real trees
have, each listed in ``<root>/synthetic_manifest.json``. The answers are determined by the
pixels, so a tiny model can learn them. ``medvlm synthetic --help`` writes one.
"""

from medvlm.data.synthetic.config import SyntheticConfig
from medvlm.data.synthetic.faults import FAULT_KINDS
from medvlm.data.synthetic.specs import DATASETS, DATASETS_BY_NAME, DatasetSpec
from medvlm.data.synthetic.tree import MANIFEST, write_synthetic_tree

__all__ = [
    "DATASETS",
    "DATASETS_BY_NAME",
    "FAULT_KINDS",
    "MANIFEST",
    "DatasetSpec",
    "SyntheticConfig",
    "write_synthetic_tree",
]
