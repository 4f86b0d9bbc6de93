"""Every run of a config checked while the workflow builds its DAG, before any job starts.

:func:`checked_runs` expands ``runs:`` and ``sweeps:`` and checks each run as its family will
read it: against the schema's run definition (the values a sweep point sets never went through
the config-wide check), through the family's own settings classes
(:func:`medvlm.models.base.run_settings`, the one source of truth for the ``train:`` and
``decode:`` keys, which reports what those hold: the schema's generated definitions of them
give no message of their own here), its checkpoint: a local path must exist and its files
serve the run (the family's ``check_checkpoint``), a run on the demo model must fit
``demo_models.<family>`` (checked by the family's demo settings too), and the groups its
``train.mixture`` weights and its ``train.experts`` name against the data the config can
hold. An error names the config key the bad value comes from (``runs.pg.train.learning_rat``,
``sweeps.study.points[2].image_size``), the problem and what is allowed. Nothing here imports
JAX or torch.
"""

from __future__ import annotations

from pathlib import Path

from medvlm.config import ConfigError, dotted_key, load_schema, run_schema, schema_errors
from medvlm.data.mixture import check_planned_weights
from medvlm.metrics.crimson import CrimsonJudge
from medvlm.metrics.green import GreenJudge
from medvlm.models.base import run_settings
from medvlm.models.experts import check_planned_experts
from medvlm.runs import DEMO_CHECKPOINT, expand_runs_with_origins, family_run
from medvlm.settings import SettingError, from_mapping

# Stands for the demo model's folder, which only the workflow knows: never opened here.
_DEMO_DIR = "<demo model>"


def _check_run(run: dict, schema: dict, demos: dict, data: dict) -> None:
    """Raise :class:`SettingError` keyed relative to the run for its first bad value."""
    errors = schema_errors(run, schema)
    if errors:
        raise SettingError(dotted_key(errors[0].absolute_path), errors[0].message)
    family = run["family"]
    settings = run_settings(family).from_run(family_run(run, _DEMO_DIR), where="")
    if settings.train.mixture is not None:
        check_planned_weights(settings.train.mixture, data)
    check_planned_experts(settings.train, data)
    checkpoint = run["checkpoint"]
    if checkpoint == DEMO_CHECKPOINT:
        settings.check_demo(demos[family])
    elif not Path(checkpoint).exists():
        raise SettingError(
            "checkpoint",
            f"{checkpoint} does not exist; give a local checkpoint "
            f"({settings.CHECKPOINT_HINT}) or {DEMO_CHECKPOINT!r}",
        )
    else:
        settings.check_checkpoint()


def checked_runs(config: dict) -> dict[str, dict]:
    """Every named run of a schema-validated ``config``, each checked (defaults filled in);
    :class:`medvlm.config.ConfigError` naming the config key of the first bad value."""
    try:
        planned = expand_runs_with_origins(config["runs"], config["sweeps"])
    except ValueError as error:
        raise ConfigError(str(error)) from None
    try:
        demos = {
            family: from_mapping(run_settings(family).DEMO, cfg, f"demo_models.{family}")
            for family, cfg in config["demo_models"].items()
        }
    except SettingError as error:
        raise ConfigError(f"config key {error}") from None
    schema = run_schema(load_schema())
    for run, origin in planned.values():
        try:
            _check_run(run, schema, demos, config["data"])
        except SettingError as error:
            made = f" (in run {origin.sweep_run})" if origin.sweep_run else ""
            key = origin.key(error.key)
            raise ConfigError(f"config key {key}{made}: {error.problem}") from None
    return {name: run for name, (run, _) in planned.items()}


# The judge folders of ``evaluate``, each checked as its judge will load it.
JUDGES = {"green_judge": GreenJudge, "crimson_judge": CrimsonJudge}


def check_judges(config: dict) -> None:
    """Raise :class:`medvlm.config.ConfigError` naming ``evaluate.<key>`` when a judge folder of
    a schema-validated ``config`` is not a model that judge can load (config.json of the right
    kind, safetensors weights, a tokenizer; CRIMSON's also a chat template)."""
    for key, judge in JUDGES.items():
        directory = config["evaluate"][key]
        if directory is None:
            continue
        try:
            judge.check(directory)
        except (OSError, ValueError) as error:
            raise ConfigError(f"config key evaluate.{key}: {error}") from None
