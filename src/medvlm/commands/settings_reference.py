"""Rewrite what is generated from the settings models: the schema's ``train``/``decode``
definitions, config/README.md's key tables and the list of TRL ``SFTConfig`` fields that
``train.sft_args`` may name (:mod:`medvlm.settings_reference`; tests fail when a committed copy
is stale).

Example (after changing a settings class):

    medvlm settings-reference
"""

from __future__ import annotations

import argparse

from medvlm.settings_reference import SFT_FIELDS_PATH, write_all, write_sft_fields

NAME = "settings-reference"
HELP = "rewrite the schema's train/decode definitions and config/README.md's key tables"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options: every generated copy is rewritten."""


def run(args: argparse.Namespace) -> int:
    changed = write_all()
    if write_sft_fields():
        changed.append(SFT_FIELDS_PATH)
    print("updated: " + ", ".join(map(str, changed)) if changed else "unchanged")
    return 0
