"""Test-session settings shared by every test file."""

import os

from hypothesis import settings

# CI replays the same generated examples on every run, so a red CI always reproduces; local runs
# keep exploring new examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
