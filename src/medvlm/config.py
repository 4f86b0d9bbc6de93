"""Load and validate a workflow config against ``workflow/schemas/config.schema.yaml``.

The schema is the one source of truth for the config's keys and defaults: validation fills in
every ``default:`` and reports a wrong value by its dotted key (``split.val_fraction: ...``). A
run's ``train:`` and ``decode:`` keys are its family's settings models' (:mod:`medvlm.settings`);
the schema's definitions of them are generated from those (:mod:`medvlm.settings_reference`).
"""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml

from medvlm.names import check_name

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A config value that the schema rejects; the message names the key."""


def _with_defaults(validator_class):
    """A validator that fills ``default:`` values into objects before checking them."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    default = subschema["default"]
                    instance[name] = default.copy() if hasattr(default, "copy") else default
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def dotted_key(path) -> str:
    """A key path as it is written in errors: ``sweeps.study.points[2].image_size``."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)[1:]


def _in_run_settings(error: jsonschema.ValidationError) -> bool:
    """Whether ``error`` is about what a run's ``train:`` or ``decode:`` mapping holds (in a
    whole config, or in one run): the family's settings model, which the schema's definitions
    are generated from, reports that with the exact key, what is allowed and a did-you-mean
    (:mod:`medvlm.run_checks`). That the mapping is a mapping stays the schema's check."""
    path = list(error.absolute_path)
    if path[:1] == ["runs"]:
        path = path[2:]
    elif path[:1] == ["sweeps"] and path[2:3] == ["base"]:
        path = path[3:]
    if not path or path[0] not in ("train", "decode"):
        return False
    return len(path) > 1 or error.validator != "type"


def schema_errors(instance, schema: dict) -> list[jsonschema.ValidationError]:
    """Every way ``instance`` breaks ``schema``, after filling in its defaults, by key path;
    what a run's ``train:``/``decode:`` holds is left to its family's settings model."""
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    errors = [e for e in validator.iter_errors(instance) if not _in_run_settings(e)]
    return sorted(errors, key=lambda e: dotted_key(e.absolute_path))


def run_schema(schema: dict | None = None) -> dict:
    """The schema of one run (``$defs/run``), to check a run a sweep made."""
    schema = schema or load_schema()
    return {"$ref": "#/$defs/run", "$defs": schema["$defs"]}


def validate_config(config: dict, schema_path: str | Path = SCHEMA_PATH) -> dict:
    """Fill defaults into ``config`` in place and check it; raise :class:`ConfigError` naming
    the first offending key. Names that become paths (external predictions, data sets) are
    checked by :func:`medvlm.names.check_name`; runs in depth by
    :func:`medvlm.run_checks.checked_runs`.
    Returns the same dict for convenience."""
    errors = schema_errors(config, load_schema(schema_path))
    if errors:
        error = errors[0]
        key = dotted_key(error.absolute_path) or "<top level>"
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise ConfigError(f"config key {key}: {error.message}{more}")
    try:
        for name in config["external"]:
            check_name(name, "config key external")
        for name in config["data"]["datasets"]:
            check_name(name, "config key data.datasets")
    except ValueError as error:
        raise ConfigError(str(error)) from None
    return config


def load_config(path: str | Path) -> dict:
    """Read a YAML config file (plain YAML only: no tags that build Python objects) and
    validate it; anything unreadable is a :class:`ConfigError` naming the file."""
    try:
        with open(path, encoding="utf-8") as handle:
            config = yaml.safe_load(handle)
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: not a readable YAML file ({error})") from None
    config = {} if config is None else config
    if not isinstance(config, dict):
        kind = type(config).__name__
        raise ConfigError(f"{path}: expected a mapping of config keys, found {kind}")
    try:
        return validate_config(config)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
