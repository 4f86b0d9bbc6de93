"""The conda environments name every package the code their rules run imports."""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "medvlm"
# The code each environment's rules never run: data/metric/plot rules never import a model
# family, its curves writer or the decoding constraints; a family's rules never score, plot or
# load the other family.
ENV_EXCLUDES = {
    "base.yaml": ("models/paligemma", "models/medgemma", "models/curves.py", "constrain"),
    "jax.yaml": ("models/medgemma", "metrics", "plots", "constrain/torch_processor.py"),
    "torch.yaml": ("models/paligemma", "metrics", "plots", "constrain/jax_hook.py"),
}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(line: str) -> str:
    return normalise(re.split(r"[\[=<>! ;]", line.strip(), maxsplit=1)[0])


def pyproject():
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def env_requirements(env_file: str) -> set[str]:
    """Packages an environment installs: its own pip lines plus medvlm's core and extras."""
    env = yaml.safe_load((REPO / "envs" / env_file).read_text())
    pip_lines = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    project = pyproject()
    names = {requirement_name(r) for r in project["dependencies"]}
    for line in pip_lines:
        editable = re.fullmatch(r"-e \.\.(?:\[(.*)\])?", line.strip())
        if editable:
            for extra in filter(None, (editable[1] or "").split(",")):
                names |= {requirement_name(r) for r in project["optional-dependencies"][extra]}
        else:
            names.add(requirement_name(line))
    return names


def code_files(env_file: str) -> list[Path]:
    excluded = [SRC / package for package in ENV_EXCLUDES[env_file]]
    return [p for p in sorted(SRC.rglob("*.py")) if not any(p.is_relative_to(e) for e in excluded)]


def imported_distributions(files: list[Path]) -> dict[str, str]:
    """Distribution → a file importing it, for every third-party import (lazy ones included)."""
    to_distribution = packages_distributions()
    found = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top == "medvlm":
                    continue
                for distribution in to_distribution.get(top, [top]):
                    found.setdefault(normalise(distribution), str(path.relative_to(REPO)))
    return found


@pytest.mark.parametrize("env_file", sorted(ENV_EXCLUDES))
def test_environment_names_what_its_code_imports(env_file):
    installed = env_requirements(env_file)
    missing = {
        dist: where
        for dist, where in imported_distributions(code_files(env_file)).items()
        if dist not in installed
    }
    assert not missing, f"envs/{env_file} lacks packages imported by: {missing}"


def test_family_environments_bring_their_frameworks():
    assert {"jax", "flax", "optax", "sentencepiece"} <= env_requirements("jax.yaml")
    assert {"torch", "transformers", "peft", "trl"} <= env_requirements("torch.yaml")
    assert "jax" not in env_requirements("torch.yaml")
    assert "jax" not in env_requirements("base.yaml")
