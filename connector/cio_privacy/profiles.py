"""Reads the dbt profile, so that commands use the same target as dbt.

Only `env_var()` is rendered, as dbt renders it; a profile that needs more
of dbt's Jinja than that is not one this project ships.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml

from cio_privacy.errors import UsageError

PROFILE_NAME = "customerio_privacy"
TARGET_TYPES = {"local": "duckdb", "spark": "spark", "databricks": "databricks"}


@dataclass(frozen=True)
class Target:
    name: str
    type: str
    settings: dict[str, Any]

    @property
    def schema(self) -> str:
        return str(self.settings.get("schema", "main"))


def _env_var(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise UsageError(f"environment variable {name} is not set (profiles.yml needs it)")
    return value


def _render(node: Any, environment: jinja2.Environment) -> Any:
    if isinstance(node, dict):
        return {key: _render(value, environment) for key, value in node.items()}
    if isinstance(node, list):
        return [_render(value, environment) for value in node]
    if isinstance(node, str) and "{{" in node:
        return environment.from_string(node).render()
    return node


def profiles_dir() -> Path:
    return Path(os.environ.get("DBT_PROFILES_DIR", ".")).resolve()


def _target_output(name: str | None, directory: Path | None) -> tuple[str, dict[str, Any]]:
    """The named target's name and its settings as written (not rendered)."""
    path = (directory or profiles_dir()) / "profiles.yml"
    if not path.is_file():
        raise UsageError(f"no profiles.yml in {path.parent}; run from the repository root")
    profile = yaml.safe_load(path.read_text()).get(PROFILE_NAME)
    if not profile:
        raise UsageError(f"profiles.yml has no profile named {PROFILE_NAME}")
    target_name = name or profile.get("target", "local")
    outputs = profile.get("outputs", {})
    if target_name not in outputs:
        known = ", ".join(sorted(outputs))
        raise UsageError(f"unknown target '{target_name}' (known: {known})")
    return target_name, outputs[target_name]


def peek_target(name: str | None = None, directory: Path | None = None) -> tuple[str, str]:
    """The named target's name and engine, read without rendering its settings."""
    target_name, output = _target_output(name, directory)
    return target_name, str(output["type"])


def load_target(name: str | None = None, directory: Path | None = None) -> Target:
    """The named target of profile customerio_privacy (default: the profile's default)."""
    target_name, output = _target_output(name, directory)
    environment = jinja2.Environment(autoescape=False)  # noqa: S701 - renders YAML, not HTML
    environment.globals["env_var"] = _env_var
    settings = _render(output, environment)
    return Target(name=target_name, type=str(settings["type"]), settings=settings)
