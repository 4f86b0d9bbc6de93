"""What is generated from the settings models (:mod:`medvlm.settings` and each family's
``settings.py``), so that a run's ``train:`` and ``decode:`` keys are written down once: the
schema's per-family ``train``/``decode`` definitions (``workflow/schemas/config.schema.yaml``,
below its generated-part line) and config/README.md's key tables (its ``settings-*`` blocks).
Both come from the models' field names, types, defaults and ``Field(description=...)``. Also
the list of TRL ``SFTConfig`` fields that MedGemma's ``train.sft_args`` is checked against at
plan time (``src/medvlm/models/medgemma/sft_fields.py``: reading them off TRL imports torch).
tests/test_settings_reference.py fails when a committed copy differs. To rewrite them all::

    medvlm settings-reference    # or: make settings-reference
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml

from medvlm.config import SCHEMA_PATH
from medvlm.generated import replace_block
from medvlm.io import write_text
from medvlm.models.base import FAMILY_NAMES, run_settings
from medvlm.settings import (
    MixtureSettings,
    Settings,
    SharedDecodeSettings,
    SharedTrainSettings,
    describe,
)

README_PATH = SCHEMA_PATH.parents[2] / "config" / "README.md"
SFT_FIELDS_PATH = Path(__file__).parent / "models" / "medgemma" / "sft_fields.py"
# The schema's hand-written part ends at this line; what follows it is generated.
SCHEMA_MARK = (
    "  # generated from the settings models by medvlm settings-reference: do not edit below\n"
)
FAMILY_TITLES = {"paligemma": "PaliGemma", "medgemma": "MedGemma"}
PARTS = ("train", "decode")
MIXTURE_DEF = "mixture"


def _classes() -> dict[str, dict[str, type[Settings]]]:
    """Family → part (``train``, ``decode``) → its settings class."""
    return {
        family: {part: run_settings(family).model_fields[part].annotation for part in PARTS}
        for family in FAMILY_NAMES
    }


def _description(cls: type[Settings], name: str) -> str:
    """A field's description; a family field that only changes a shared key's default has the
    shared key's."""
    for owner in cls.__mro__:
        field = getattr(owner, "model_fields", {}).get(name)
        if field is not None and field.description:
            return field.description
    raise ValueError(f"{cls.__name__}.{name} has no description")


def _tidy(node: Any, cls: type[Settings] | None = None) -> Any:
    """Pydantic's JSON schema in this schema's style: no titles, no defaults (the families fill
    them in; the schema must not fill them into the config), ``type: [x, "null"]`` for an
    optional scalar, references to this schema's ``$defs``."""
    if isinstance(node, list):
        return [_tidy(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("title", "default", "description"):
            continue
        if key == "$ref":
            out[key] = f"#/$defs/{MIXTURE_DEF}"
            assert value.endswith("/" + MixtureSettings.__name__), value
        elif key == "properties" and cls is not None:
            out[key] = {
                name: {**_tidy(schema), "description": _description(cls, name)}
                for name, schema in value.items()
            }
        else:
            out[key] = _tidy(value)
    options = out.get("anyOf")
    if options and options[1:] == [{"type": "null"}] and "$ref" in options[0]:
        # a nested model or null: its own errors, not "not valid under any of the given schemas"
        out.pop("anyOf")
        return {"type": ["object", "null"], "if": {"type": "object"}, "then": options[0], **out}
    if options and all(set(option) == {"type"} for option in options):
        out.pop("anyOf")
        out = {"type": [option["type"] for option in options], **out}
    if isinstance(out.get("type"), list) and "null" in out["type"] and "anyOf" not in out:
        out["type"] = [kind for kind in out["type"] if kind != "null"] + ["null"]
    return out


def _definition(cls: type[Settings], description: str) -> dict:
    schema = cls.model_json_schema()
    schema.pop("$defs", None)
    return {"description": description, **_tidy(schema, cls)}


def schema_definitions() -> dict[str, dict]:
    """The generated ``$defs``: each family's ``train``/``decode``, the mixture, and
    ``family_settings`` (the run's ``train``/``decode`` as its family reads them)."""
    defs: dict[str, dict] = {
        "family_settings": {
            "description": "a run's train: and decode: keys are its family's",
            "allOf": [
                {
                    "if": {"properties": {"family": {"const": family}}, "required": ["family"]},
                    "then": {
                        "properties": {part: {"$ref": f"#/$defs/{family}_{part}"} for part in PARTS}
                    },
                }
                for family in FAMILY_NAMES
            ],
        }
    }
    for family, parts in _classes().items():
        for part, cls in parts.items():
            about = f"{FAMILY_TITLES[family]}'s {part}: keys (config/README.md)"
            defs[f"{family}_{part}"] = _definition(cls, about)
    defs[MIXTURE_DEF] = _definition(MixtureSettings, "train.mixture: keys (config/README.md)")
    return defs


def schema_text(current: str) -> str:
    """``current`` (the schema file's text) with its generated part rewritten."""
    if SCHEMA_MARK not in current:
        raise ValueError(f"{SCHEMA_PATH}: no line {SCHEMA_MARK.strip()!r}")
    dumped = yaml.safe_dump(
        schema_definitions(),
        sort_keys=False,
        allow_unicode=True,
        width=10**6,
        default_flow_style=None,
    )
    indented = "".join(f"  {line}" for line in dumped.splitlines(keepends=True))
    return current.split(SCHEMA_MARK, 1)[0] + SCHEMA_MARK + indented


def _literal(value: Any) -> str:
    """A default as YAML writes it, in one line."""
    if isinstance(value, tuple):
        value = [list(item) if isinstance(item, tuple) else item for item in value]
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _default(cls: type[Settings], name: str) -> str:
    """The value a run gets without the key (for ``max_new_tokens``, the family's budgets)."""
    return f"`{_cell(_literal(getattr(cls(), name)))}`"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _kind(cls: type[Settings], name: str) -> str:
    return describe(cls.model_fields[name].annotation)


def readme_blocks() -> dict[str, str]:
    """Block name → the Markdown table config/README.md holds there."""
    classes = _classes()
    shared = {"train": SharedTrainSettings, "decode": SharedDecodeSettings}
    titles = [FAMILY_TITLES[family] for family in classes]
    blocks = {}
    for part, base in shared.items():
        rows = [
            [f"`{name}`", *(_default(classes[f][part], name) for f in classes)]
            + [_kind(base, name), _cell(_description(base, name))]
            for name in base.model_fields
        ]
        blocks[f"settings-{part}-shared"] = _table(["key", *titles, "type", "effect"], rows)
        for family, parts in classes.items():
            cls = parts[part]
            rows = [
                [f"`{name}`", _default(cls, name), _kind(cls, name), _cell(_description(cls, name))]
                for name in cls.model_fields
                if name not in base.model_fields
            ]
            blocks[f"settings-{part}-{family}"] = _table(["key", "default", "type", "effect"], rows)
    blocks["settings-mixture"] = _table(
        ["key", "default", "type", "effect"],
        [
            [
                f"`mixture.{name}`",
                _default(MixtureSettings, name),
                _kind(MixtureSettings, name),
                _cell(_description(MixtureSettings, name)),
            ]
            for name in MixtureSettings.model_fields
        ],
    )
    return blocks


def readme_text(current: str) -> str:
    """``current`` (config/README.md's text) with every settings block rewritten."""
    for name, content in readme_blocks().items():
        current = replace_block(current, name, content, str(README_PATH))
    return current


def sft_fields_source(fields: tuple[str, ...], trl_version: str) -> str:
    """The text of ``sft_fields.py`` for TRL ``trl_version``'s ``SFTConfig`` ``fields``."""
    names = "".join(f'    "{name}",\n' for name in fields)
    return (
        f'"""The init fields of TRL {trl_version}\'s ``SFTConfig``, which ``train.sft_args`` is '
        "checked\nagainst at plan time without importing TRL (and torch). Generated by\n"
        "``medvlm settings-reference``; tests/test_settings_reference.py fails when "
        'the installed\nTRL has other fields."""\n\n'
        f'TRL_VERSION = "{trl_version}"\nSFT_CONFIG_FIELDS = (\n{names})\n'
    )


def write_sft_fields(path: Path = SFT_FIELDS_PATH) -> bool:
    """Rewrite ``sft_fields.py`` from the installed TRL (imports torch); True when it changed."""
    from medvlm.models.medgemma.train import sft_config_fields

    text = sft_fields_source(sft_config_fields(), version("trl"))
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    write_text(path, text)
    return True


def write_all(schema: Path = SCHEMA_PATH, readme: Path = README_PATH) -> list[Path]:
    """Rewrite the generated parts of both files; the files that changed."""
    changed = []
    text = schema.read_text(encoding="utf-8")
    if schema_text(text) != text:
        write_text(schema, schema_text(text))
        changed.append(schema)
    text = readme.read_text(encoding="utf-8")
    if readme_text(text) != text:
        write_text(readme, readme_text(text))
        changed.append(readme)
    return changed
