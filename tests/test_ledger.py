"""The ledger's Spark SQL on Spark (a SparkSession, as in a Databricks job) and on Databricks.

The Spark and Databricks backends run the same statements (ledger.py), so
the Spark tests here prove the Databricks SQL too; the Databricks tests run
only when DATABRICKS_HOST is set (a real workspace), and are skipped
otherwise.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cio_privacy import backends
from cio_privacy.backends import DatabricksLedger, SparkLedger
from cio_privacy.ledger import RunStatus, SyncRun
from cio_privacy.profiles import Target
from cio_privacy.sandbox import RunningSandbox, running_sandbox
from cio_privacy.sync import SyncOptions, run_sync

from tests.sync_world import KEY, World, assert_converged, delivered_counts, make_world
from tests.test_sync import SMALL_REQUESTS, settings_for

ACTIONS_COLUMNS = (
    "action_id string, user_id string, action_type string, payload string, sequence int, "
    "reason string, generated_at timestamp"
)


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(api_key=KEY, seed=5) as running:
        yield running


@pytest.fixture
def spark_world(spark: Any) -> Iterator[tuple[Target, str, World]]:
    """`customerio_actions` in a schema of its own, and a raw schema of its own."""
    suffix = uuid.uuid4().hex[:8]
    schema, raw = f"sync_models_{suffix}", f"sync_raw_{suffix}"
    world = make_world(60)
    spark.sql(f"create database {schema}")
    spark.createDataFrame(world.rows, ACTIONS_COLUMNS).write.saveAsTable(
        f"{schema}.customerio_actions"
    )
    yield Target(name="spark", type="spark", settings={"schema": schema}), raw, world
    for database in (schema, raw):
        spark.sql(f"drop database if exists {database} cascade")


def spark_query(spark: Any) -> Any:
    return lambda sql: [tuple(row) for row in spark.sql(sql).collect()]


def sync(spark: Any, target: Target, raw: str, sandbox: RunningSandbox) -> Any:
    ledger = SparkLedger(target, spark=spark, raw_schema=raw)
    return run_sync(ledger, settings_for(sandbox), SyncOptions(max_request_bytes=SMALL_REQUESTS))


@pytest.mark.spark
def test_a_spark_sync_records_every_outcome_and_completes_its_run(
    spark: Any, spark_world: tuple[Target, str, World], sandbox: RunningSandbox
) -> None:
    target, raw, world = spark_world

    summary = sync(spark, target, raw, sandbox)

    assert summary.delivered == len(world.rows) - 2
    assert summary.rejected == 2
    assert_converged(
        spark_query(spark), world, sandbox.state(), sandbox.stats(), f"{raw}.customerio_acks"
    )
    runs = spark_query(spark)(
        f"select run_id, status, finished_at is not null, delivered from {raw}.customerio_sync_runs"
    )
    assert runs == [(summary.run_id, RunStatus.COMPLETED_WITH_FAILURES, True, len(world.rows) - 2)]
    again = sync(spark, target, raw, sandbox)
    assert again.actions_read == 0
    assert again.http_requests == 0
    assert len(spark_query(spark)(f"select * from {raw}.customerio_sync_runs")) == 2


class _Crash(Exception):
    """Stands for the process dying before the buffered acknowledgements were written."""


class _DyingSparkLedger(SparkLedger):
    def finish_run(self, run: SyncRun) -> None:
        raise _Crash


@pytest.mark.spark
def test_acks_lost_in_a_crash_are_resent_once_and_recorded_once(
    spark: Any,
    spark_world: tuple[Target, str, World],
    sandbox: RunningSandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target, raw, world = spark_world
    monkeypatch.setattr(backends, "FLUSH_EVERY_RESPONSES", 10**9)
    monkeypatch.setattr(backends, "FLUSH_EVERY_SECONDS", 10.0**9)
    dying = _DyingSparkLedger(target, spark=spark, raw_schema=raw)
    with pytest.raises(_Crash):
        run_sync(dying, settings_for(sandbox), SyncOptions(max_request_bytes=SMALL_REQUESTS))
    assert delivered_counts(spark_query(spark), f"{raw}.customerio_acks") == {}
    sent_once = sandbox.state()["messages_received"]

    monkeypatch.undo()
    sync(spark, target, raw, sandbox)

    # Customer.io saw every message twice (same messageId); the ledger holds each once
    assert sandbox.state()["duplicate_message_ids"] == sent_once
    assert_converged(
        spark_query(spark), world, sandbox.state(), sandbox.stats(), f"{raw}.customerio_acks"
    )
    runs = spark_query(spark)(f"select status, finished_at from {raw}.customerio_sync_runs")
    assert sorted(runs, key=str) == sorted(
        [(RunStatus.RUNNING, None), (RunStatus.COMPLETED_WITH_FAILURES, runs[0][1] or runs[1][1])],
        key=str,
    )


@pytest.mark.skipif(not os.environ.get("DATABRICKS_HOST"), reason="needs a Databricks workspace")
def test_a_databricks_sync_round_trip(sandbox: RunningSandbox) -> None:
    """Against a real SQL warehouse: DATABRICKS_HOST, _HTTP_PATH, _TOKEN, CIO_PRIVACY_CATALOG."""
    from cio_privacy.profiles import load_target

    from tests.conftest import REPO

    target = load_target("databricks", REPO)
    suffix = uuid.uuid4().hex[:8]
    schema, raw = f"cio_privacy_sync_test_{suffix}", f"cio_privacy_sync_raw_{suffix}"
    catalog = target.settings["catalog"]
    target = Target(target.name, target.type, {**target.settings, "schema": schema})
    world = make_world(20)
    ledger = DatabricksLedger(target, raw_schema=raw)
    try:
        ledger._execute(f"create schema {catalog}.{schema}")
        ledger._execute(f"create table {catalog}.{schema}.customerio_actions ({ACTIONS_COLUMNS})")
        values = ", ".join(
            "(" + ", ".join(f"'{value}'" if value is not None else "null" for value in row) + ")"
            for row in world.rows
            if "x" * 100 not in row[3]
        )
        ledger._execute(f"insert into {catalog}.{schema}.customerio_actions values {values}")
        summary = run_sync(ledger, settings_for(sandbox), SyncOptions())
        assert summary.failed == 0
        again = run_sync(ledger, settings_for(sandbox), SyncOptions())
        assert again.actions_read == 0
    finally:
        for database in (schema, raw):
            ledger._execute(f"drop schema if exists {catalog}.{database} cascade")
        ledger.close()
