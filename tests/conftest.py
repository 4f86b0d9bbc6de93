"""Test-session settings shared by every test file."""

import os

from hypothesis import settings

from medvlm import numerics

# The pinned CPU numerics of the demo and `make test` (medvlm.numerics), before any test imports
# JAX or torch, so that a plain `pytest` computes with the same kernels.
numerics.apply()

# CI replays the same generated examples on every run, so a red CI always reproduces; local runs
# keep exploring new examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
