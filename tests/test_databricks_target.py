"""The `databricks` target, as far as it can be checked without a workspace.

Nothing here leaves the machine: dbt parses, or runs an operation that
renders SQL without a query, so no connection is opened; where the profile
needs workspace settings they name 127.0.0.1.

- Without the workspace settings, dbt and the connector stop at once and
  name the missing variable (with an empty token, the Databricks SDK tried
  other ways to sign in and dbt hung for minutes).
- Staging keeps nothing that left raw: the per-user models and
  stg_user_profiles are tables on Databricks, rebuilt from raw on every run
  (a merge would keep a profile deleted from raw, PII and all), and the
  event staging models replace the time slices they rebuilt, after
  deleting those raw holds no row of any more (the Delta statements are
  rendered and parsed as Databricks SQL).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

WORKSPACE_SETTINGS = ("DATABRICKS_HOST", "DATABRICKS_HTTP_PATH", "DATABRICKS_TOKEN")
OFFLINE_WORKSPACE = {
    "DATABRICKS_HOST": "127.0.0.1",
    "DATABRICKS_HTTP_PATH": "/sql/1.0/warehouses/offline",
    "DATABRICKS_TOKEN": "not-a-token",
}


def _environment(**values: str) -> dict[str, str]:
    base = {key: value for key, value in os.environ.items() if key not in WORKSPACE_SETTINGS}
    dbt = {"DBT_PROFILES_DIR": str(REPO), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    return {**base, **dbt, **values}


def _dbt(*args: str, project: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """dbt with the databricks target on `project`, in a process of its own
    that sees exactly `env` (the workspace settings or their absence)."""
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            *args,
            "--target",
            "databricks",
            "--project-dir",
            str(project),
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _dbt_parse(target_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return _dbt(
        "parse",
        "--target-path",
        str(target_path),
        "--log-path",
        str(target_path / "logs"),
        "--no-partial-parse",
        project=REPO,
        env=env,
    )


def test_dbt_stops_at_once_and_names_the_missing_workspace_setting(tmp_path: Path) -> None:
    done = _dbt_parse(tmp_path, _environment())

    assert done.returncode != 0
    assert "Env var required but not provided: 'DATABRICKS_" in done.stdout + done.stderr


def test_the_connector_names_the_missing_workspace_setting(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cio_privacy.cli", "sync", "--target", "databricks"],
        cwd=REPO,
        env=_environment(CIO_PRIVACY_DUCKDB_PATH=str(tmp_path / "unused.duckdb")),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 2
    last = [line for line in done.stderr.splitlines() if line.strip()][-1]
    assert "environment variable DATABRICKS_HOST is not set" in last


@pytest.fixture(scope="module")
def databricks_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    target_path = tmp_path_factory.mktemp("dbt-parse-databricks")
    done = _dbt_parse(target_path, _environment(**OFFLINE_WORKSPACE))
    assert done.returncode == 0, done.stdout[-2000:]
    manifest = json.loads((target_path / "manifest.json").read_text())
    return {
        node["name"]: node["config"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    }


def test_stg_user_profiles_is_a_table_and_nothing_merges_on_databricks(
    databricks_models: dict[str, Any],
) -> None:
    """A table is rebuilt from raw on every run; a merge keeps what raw lost."""
    assert databricks_models["stg_user_profiles"]["materialized"] == "table"
    merged = [
        name
        for name, config in databricks_models.items()
        if config.get("incremental_strategy") == "merge"
    ]
    assert merged == []


def test_event_staging_uses_replace_time_slices_by_its_event_time_on_databricks(
    databricks_models: dict[str, Any],
) -> None:
    """The slices a run deletes and replaces are those it counts per day of
    the model's own time column (its rendered statements: tests below)."""
    assert databricks_models["stg_privacy_events"]["time_slice_column"] == "event_timestamp"
    assert databricks_models["stg_customer_events"]["time_slice_column"] == "occurred_at"
    incremental = {
        name: config["incremental_strategy"]
        for name, config in databricks_models.items()
        if config["materialized"] == "incremental"
    }
    assert incremental == {
        "stg_privacy_events": "replace_time_slices",
        "stg_customer_events": "replace_time_slices",
    }


RENDER_MACRO = """
{% macro render_slice_statements() %}
    {%- set target_relation = api.Relation.create(
        database='main', schema='customerio_privacy', identifier='stg_privacy_events'
    ) -%}
    {%- set temp_relation = api.Relation.create(identifier='stg_privacy_events__dbt_tmp') -%}
    {%- set slices = ['2025-01-02', none] -%}
    {%- set statements = {
        'empty': empty_time_slices_sql(
            target_relation, slices, 'event_month', 'event_timestamp'
        ),
        'replace': replace_time_slices_sql(
            target_relation, temp_relation, 'event_timestamp', slices
        ),
    } -%}
    {{ log('RENDERED ' ~ tojson(statements), info=true) }}
{% endmacro %}
"""


@pytest.fixture(scope="module")
def databricks_statements(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The Delta statements of the slice strategies, rendered for the
    databricks target from this project's macros by a project of them alone
    (`run-operation` opens no connection when the macro runs no query)."""
    project = tmp_path_factory.mktemp("render-databricks")
    (project / "dbt_project.yml").write_text(
        "name: customerio_privacy\nversion: '1.0'\nconfig-version: 2\n"
        "profile: customerio_privacy\nmacro-paths: [macros]\n"
    )
    shutil.copytree(REPO / "macros", project / "macros")
    (project / "macros" / "render_slice_statements.sql").write_text(RENDER_MACRO)
    done = _dbt(
        "run-operation",
        "render_slice_statements",
        "--profiles-dir",
        str(REPO),
        project=project,
        env=_environment(**OFFLINE_WORKSPACE),
    )
    assert done.returncode == 0, done.stdout[-2000:]
    rendered = next(line for line in done.stdout.splitlines() if "RENDERED " in line)
    statements: dict[str, str] = json.loads(rendered.split("RENDERED ", 1)[1])
    return statements


# A day of event_timestamp in one of the two slices; rows without a time
# are the slice 0001-01-01.
SLICE_PREDICATE = (
    "(coalesce(cast(event_timestamp as date), cast('0001-01-01' as date)) in "
    "(cast('0001-01-01' as date), cast('2025-01-02' as date)))"
)


def _parses_as_databricks_sql(statement: str) -> None:
    import sqlfluff

    sqlfluff.parse(statement + "\n", dialect="databricks")  # raises on unparsable SQL


def test_a_slice_deleted_whole_from_raw_is_deleted_on_databricks(
    databricks_statements: dict[str, str],
) -> None:
    """A retention job that purges whole days from raw: their staged rows have
    no new row to replace them, so the run deletes them first."""
    statement = " ".join(databricks_statements["empty"].split())
    assert statement.startswith(
        "delete from `main`.`customerio_privacy`.`stg_privacy_events` where"
    )
    assert SLICE_PREDICATE in statement, "day slices of the time column, as the run counts them"
    _parses_as_databricks_sql(statement)


def test_rebuilt_slices_are_replaced_atomically_on_databricks(
    databricks_statements: dict[str, str],
) -> None:
    statement = " ".join(databricks_statements["replace"].split())
    assert statement.startswith(
        "insert into `main`.`customerio_privacy`.`stg_privacy_events` replace where"
    )
    assert statement.endswith("table `stg_privacy_events__dbt_tmp`")
    assert SLICE_PREDICATE in statement
    _parses_as_databricks_sql(statement)
