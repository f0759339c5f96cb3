"""The connector's write-back tables as dbt sources: present or not yet created.

`customerio_acks` and `customerio_sync_runs` appear with the connector's
first sync. Before that the staging models build from a typed empty stand-in
(macro `source_or_empty`): "an empty acks table means nothing was ever
delivered" (contracts.md). Each test builds the two staging models on a fresh
DuckDB file of its own.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from tests.conftest import DbtResult, run_dbt

STAGING = ["--select", "+stg_customerio_acks", "+stg_customerio_sync_runs"]
AS_OF = ["--vars", '{as_of: "2026-11-01 00:00:00"}']


def _build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lakehouse: Path) -> DbtResult:
    monkeypatch.setenv("CIO_PRIVACY_DUCKDB_PATH", str(lakehouse))
    return run_dbt(["build", *STAGING, *AS_OF], target="local", target_path=tmp_path / "target")


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    return {name: kind for name, kind, *_ in con.execute(f"describe {relation}").fetchall()}


def test_without_the_tables_the_build_passes_with_typed_empty_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lakehouse = tmp_path / "new.duckdb"

    build = _build(tmp_path, monkeypatch, lakehouse)

    assert build.success, build.failures()
    with duckdb.connect(str(lakehouse)) as con:
        acks = _columns(con, "main_staging.stg_customerio_acks")
        runs = _columns(con, "main_staging.stg_customerio_sync_runs")
        ack_rows = con.execute("select count(*) from main_staging.stg_customerio_acks").fetchone()
        run_rows = con.execute(
            "select count(*) from main_staging.stg_customerio_sync_runs"
        ).fetchone()
    assert ack_rows == (0,)
    assert run_rows == (0,)
    assert acks == {
        "action_id": "VARCHAR",
        "run_id": "VARCHAR",
        "user_id": "VARCHAR",
        "action_type": "VARCHAR",
        "payload": "VARCHAR",
        "status": "VARCHAR",
        "error": "VARCHAR",
        "http_status": "BIGINT",
        "attempts": "BIGINT",
        "sent_at": "TIMESTAMP",
        "acked_at": "TIMESTAMP",
    }
    assert runs["is_dry_run"] == "BOOLEAN"
    assert runs["actions_delivered"] == "BIGINT"
    assert runs["started_at"] == "TIMESTAMP"


def test_rows_the_connector_wrote_come_through_typed_and_cleaned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lakehouse = tmp_path / "synced.duckdb"
    sent = dt.datetime(2026, 10, 30, 12, 0, 0)
    with duckdb.connect(str(lakehouse)) as con:
        con.execute("create schema raw")
        # the connector's own column types, http_status and attempts as 32-bit integers
        con.execute(
            """
            create table raw.customerio_acks (
                action_id varchar, run_id varchar, user_id varchar, action_type varchar,
                payload varchar, status varchar, http_status integer, error varchar,
                attempts integer, sent_at timestamp, acked_at timestamp
            )
            """
        )
        con.executemany(
            "insert into raw.customerio_acks values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                ("a1", "run1", "u1", "identify", '{"email_suppressed": true}', "delivered",
                 200, None, 1, sent, sent + dt.timedelta(seconds=1)),
                ("a2", "run1", "u2", "suppress_person", "{}", " Rejected ", 400,
                 "event name not allowed", 1, sent, sent + dt.timedelta(seconds=2)),
                ("a3", "run1", "u3", "identify", "{}", "failed", 503, "retries used up", 5,
                 sent, sent + dt.timedelta(minutes=3)),
            ],
        )  # fmt: skip
        con.execute(
            """
            create table raw.customerio_sync_runs as
            select 'run1' as run_id, timestamp '2026-10-30 12:00:00' as started_at,
                   timestamp '2026-10-30 12:05:00' as finished_at, 'local' as target,
                   'eu' as region, false as dry_run, 3 as actions_read, 1 as delivered,
                   1 as rejected, 1 as failed, 'partial' as status
            """
        )

    build = _build(tmp_path, monkeypatch, lakehouse)

    assert build.success, build.failures()
    with duckdb.connect(str(lakehouse)) as con:
        acks = con.execute(
            "select action_id, status, http_status, attempts, acked_at"
            " from main_staging.stg_customerio_acks order by action_id"
        ).fetchall()
        runs = con.execute(
            "select run_id, is_dry_run, actions_read, actions_delivered"
            " from main_staging.stg_customerio_sync_runs"
        ).fetchall()
    assert acks == [
        ("a1", "delivered", 200, 1, sent + dt.timedelta(seconds=1)),
        ("a2", "rejected", 400, 1, sent + dt.timedelta(seconds=2)),
        ("a3", "failed", 503, 5, sent + dt.timedelta(minutes=3)),
    ]
    assert runs == [("run1", False, 3, 1)]
