"""Shared fixtures: a dbt runner in this process, and one Spark session per test run.

A Spark session costs ~10 s to start and the embedded metastore allows one
per process, so every Spark test shares the session this file creates.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from cio_privacy.generate import generate_lakehouse
from cio_privacy.warehouse import TABLE_COLUMNS, copy_tables_to_spark

from tests.ledger import write_sample_ledger

# PySpark turns timestamps into Python datetimes in the process's local zone;
# the project's times are UTC, so the tests run in UTC.
os.environ["TZ"] = "UTC"
time.tzset()
os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"

REPO = Path(__file__).resolve().parent.parent
# The generated world's "now" and the models' as_of, fixed so results are reproducible.
WORLD_END = dt.datetime(2026, 11, 1)
AS_OF = "2026-11-01 00:00:00"
DBT_VARS = ["--vars", json.dumps({"as_of": AS_OF})]
# Small enough for CI, large enough that every kind of row appears.
USERS = 2_000
SEED = 7


@dataclass
class DbtResult:
    success: bool
    results: list[Any]
    target_path: Path

    def failures(self) -> list[str]:
        return [
            f"{result.node.name}: {result.status} {result.message or ''}".strip()
            for result in self.results
            if str(result.status) not in ("success", "pass", "skipped")
        ]


# What dbt reads: the project and profile files and the folders dbt_project.yml names.
DBT_FILES = ("dbt_project.yml", "profiles.yml", "packages.yml", "dependencies.yml")
DBT_FOLDERS = ("models", "macros", "seeds", "data-tests", "analyses", "snapshots")


def copy_dbt_project(destination: Path) -> Path:
    """A copy of the dbt project (not the connector, tests or caches) for a
    test to change; run it with run_dbt(project=...)."""
    destination.mkdir(parents=True)
    for name in DBT_FILES:
        if (REPO / name).exists():
            shutil.copy2(REPO / name, destination / name)
    for name in DBT_FOLDERS:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, destination / name)
    return destination


def run_dbt(args: list[str], *, target: str, target_path: Path, project: Path = REPO) -> DbtResult:
    """dbt in this process (so Spark's session is shared), from the project's root
    (the repository's, or a copy a test changed)."""
    from dbt.cli.main import dbtRunner

    cwd = Path.cwd()
    os.chdir(project)
    try:
        outcome = dbtRunner().invoke(
            [
                *args,
                "--target",
                target,
                "--profiles-dir",
                str(project),
                "--project-dir",
                str(project),
                "--target-path",
                str(target_path),
                "--log-path",
                str(target_path / "logs"),
                "--no-partial-parse",
            ]
        )
    finally:
        os.chdir(cwd)
    results = list(outcome.result or []) if outcome.result is not None else []
    if outcome.exception is not None:
        raise outcome.exception
    return DbtResult(success=outcome.success, results=results, target_path=target_path)


@pytest.fixture(scope="session")
def duckdb_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("duckdb") / "lakehouse.duckdb"
    previous = os.environ.get("CIO_PRIVACY_DUCKDB_PATH")
    os.environ["CIO_PRIVACY_DUCKDB_PATH"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("CIO_PRIVACY_DUCKDB_PATH", None)
    else:
        os.environ["CIO_PRIVACY_DUCKDB_PATH"] = previous


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from cio_privacy.profiles import load_target
    from cio_privacy.warehouse import spark_session

    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    os.environ["CIO_PRIVACY_SPARK_WAREHOUSE"] = str(warehouse)
    session = spark_session(load_target("spark", REPO))
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def duckdb_build(duckdb_path: Path, tmp_path_factory: pytest.TempPathFactory) -> DbtResult:
    with duckdb.connect(str(duckdb_path)) as con:
        generate_lakehouse(con, users=USERS, seed=SEED, end=WORLD_END)
        write_sample_ledger(con)
    return run_dbt(
        ["build", *DBT_VARS], target="local", target_path=tmp_path_factory.mktemp("dbt-local")
    )


@pytest.fixture(scope="session")
def spark_build(
    duckdb_build: DbtResult, duckdb_path: Path, spark: Any, tmp_path_factory: pytest.TempPathFactory
) -> DbtResult:
    with duckdb.connect(str(duckdb_path)) as con:
        copy_tables_to_spark(
            con, spark, source_schema="raw", target_schema="raw", tables=TABLE_COLUMNS
        )
    return run_dbt(
        ["build", *DBT_VARS], target="spark", target_path=tmp_path_factory.mktemp("dbt-spark")
    )


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Environment variables set for the block and restored after it."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
