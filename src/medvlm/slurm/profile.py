"""Where in a Snakemake profile a job's resource is set: the line a user edits.

A profile is a YAML file of command-line options. A rule's resource comes from
``set-resources: <rule>: <key>``, else from ``default-resources: <key>``; its CPU count from
``set-threads: <rule>``. Both mapping (``key: value``) and list (``- key=value``) forms are read.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class ProfileLines:
    """Line numbers (1-based) of the settings in one profile file."""

    path: Path | None
    lines: dict[tuple[str, ...], int]
    commented: dict[str, int]  # top-level keys present only as a comment (``# key: value``)

    @classmethod
    def read(cls, path: Path | None) -> ProfileLines:
        if path is None or not path.is_file():
            return cls(None, {}, {})
        text = path.read_text(encoding="utf-8")
        # compose() builds nodes with positions and constructs no Python objects from tags.
        root = yaml.compose(text)
        commented = {
            match[1]: number
            for number, line in enumerate(text.splitlines(), start=1)
            if (match := re.match(r"#\s*([a-z][\w-]*):", line))
        }
        return cls(path, _key_lines(root, ()) if root is not None else {}, commented)

    def display_path(self) -> str:
        if self.path is None:
            return "your profile"
        try:
            return str(self.path.resolve().relative_to(Path.cwd()))
        except ValueError:
            return str(self.path)

    def where(self, keys: Sequence[str]) -> str:
        """ "<file> line N (a: b: c)" for the first of these key paths the profile sets."""
        for path in keys:
            parts = tuple(path.split(": "))
            if parts in self.lines:
                return f"{self.display_path()} line {self.lines[parts]} ({path})"
            if path in self.commented:
                return f"{self.display_path()} line {self.commented[path]} (uncomment {path})"
        return f"{self.display_path()}: add {keys[0]}"


def _key_lines(node: yaml.Node, prefix: tuple[str, ...]) -> dict[tuple[str, ...], int]:
    lines = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = (*prefix, str(key.value))
            lines[path] = key.start_mark.line + 1
            lines.update(_key_lines(value, path))
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            if isinstance(item, yaml.ScalarNode) and "=" in str(item.value):
                name = str(item.value).split("=", 1)[0].strip()
                if ":" in name:  # set-resources list form: rule:key=value
                    lines[(*prefix, *name.split(":", 1))] = item.start_mark.line + 1
                else:
                    lines[(*prefix, name)] = item.start_mark.line + 1
    return lines


def resolve_profile(name: str) -> Path | None:
    """A profile's YAML file, found as Snakemake finds it: a file, a folder or a profile name."""
    from snakemake.cli import get_profile_dir

    found = get_profile_dir(name)
    return found[1] if found else None


def profile_from_argv(argv: Sequence[str] | None = None) -> Path | None:
    """The profile file of this Snakemake run: the last ``--profile`` on its command line,
    else ``$SNAKEMAKE_PROFILE``."""
    argv = list(sys.argv if argv is None else argv)
    name = None
    for i, arg in enumerate(argv):
        if arg == "--profile" and i + 1 < len(argv):
            name = argv[i + 1]
        elif arg.startswith("--profile="):
            name = arg.split("=", 1)[1]
    name = name or os.environ.get("SNAKEMAKE_PROFILE")
    return resolve_profile(name) if name and name != "none" else None
