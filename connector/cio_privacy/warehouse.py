"""Connections to the engines named in profiles.yml, and moving tables between them."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from cio_privacy.errors import UsageError
from cio_privacy.profiles import Target

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# The raw contract (contracts.md), in Spark SQL types; DuckDB gets the same
# columns from the generator.
RAW_TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "privacy_events": {
        "event_id": "string",
        "user_id": "string",
        "event_type": "string",
        "event_subtype": "string",
        "status": "string",
        "reason": "string",
        "requested_by": "string",
        "event_timestamp": "timestamp",
        "processed_at": "timestamp",
        "metadata": "map<string,string>",
    },
    "user_profiles": {
        "user_id": "string",
        "email": "string",
        "phone": "string",
        "first_name": "string",
        "last_name": "string",
        "country": "string",
        "created_at": "timestamp",
        "updated_at": "timestamp",
        "last_active_at": "timestamp",
    },
    "customer_events": {
        "event_id": "string",
        "user_id": "string",
        "event_name": "string",
        "data_category": "string",
        "occurred_at": "timestamp",
    },
}

# What the connector writes back (contracts.md), in the order of the dbt
# sources: one row per action outcome (R22) and one per sync run.
LEDGER_TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "customerio_acks": {
        "action_id": "string",
        "run_id": "string",
        "user_id": "string",
        "action_type": "string",
        "payload": "string",
        "status": "string",
        "http_status": "bigint",
        "error": "string",
        "attempts": "bigint",
        "sent_at": "timestamp",
        "acked_at": "timestamp",
    },
    "customerio_sync_runs": {
        "run_id": "string",
        "started_at": "timestamp",
        "finished_at": "timestamp",
        "target": "string",
        "region": "string",
        "dry_run": "boolean",
        "actions_read": "bigint",
        "delivered": "bigint",
        "rejected": "bigint",
        "failed": "bigint",
        "status": "string",
    },
}

TABLE_COLUMNS = {**RAW_TABLE_COLUMNS, **LEDGER_TABLE_COLUMNS}


def create_ledger_tables(con: duckdb.DuckDBPyConnection, schema: str) -> None:
    """Creates the connector's write-back tables in DuckDB when they are missing."""
    con.execute(f"create schema if not exists {schema}")
    for table, columns in LEDGER_TABLE_COLUMNS.items():
        body = ", ".join(f"{name} {data_type}" for name, data_type in columns.items())
        con.execute(f"create table if not exists {schema}.{table} ({body})")


def duckdb_path(target: Target) -> Path:
    return Path(str(target.settings.get("path", ".local/customerio_privacy.duckdb")))


def connect_duckdb(target: Target, *, must_exist: bool = False) -> duckdb.DuckDBPyConnection:
    """Opens the target's database file read-write: DuckDB refuses a second
    connection to a file with another configuration within one process (dbt
    run in-process keeps one open)."""
    path = duckdb_path(target)
    if must_exist and not path.exists():
        raise UsageError(f"no DuckDB database at {path}; run 'make demo' or 'dbt build' first")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return duckdb.connect(str(path))
    except duckdb.IOException as error:
        raise UsageError(f"cannot open {path}: {str(error).splitlines()[0]}") from None


def spark_session(target: Target) -> SparkSession:
    """A session configured as dbt-spark's `method: session` configures it."""
    from pyspark.sql import SparkSession

    builder: Any = SparkSession.builder.appName("cio-privacy").enableHiveSupport()
    for key, value in (target.settings.get("server_side_parameters") or {}).items():
        builder = builder.config(str(key), str(value))
    # dbt-spark forces this; the same SQL must see the same semantics here.
    builder = builder.config("spark.sql.ansi.enabled", "false")
    return builder.getOrCreate()  # type: ignore[no-any-return]


def forget_sync_history(
    *, schema: str, con: duckdb.DuckDBPyConnection | None = None, spark: Any = None
) -> int:
    """Drops the connector's ledger tables from a raw schema; the acknowledgements dropped.

    A newly generated lakehouse is a new world: acknowledgements of actions
    computed from the old one would hide the new world's actions from the
    sync, and describe a Customer.io workspace (the sandbox's) that is gone.
    """
    acks = 0
    for table in LEDGER_TABLE_COLUMNS:
        relation = f"{schema}.{table}"
        if con is not None:
            exists = con.execute(
                "select count(*) from information_schema.tables "
                "where table_schema = ? and table_name = ?",
                [schema, table],
            ).fetchone()
            if exists and exists[0]:
                if table == "customerio_acks":
                    counted = con.execute(f"select count(*) from {relation}").fetchone()
                    acks = int(counted[0]) if counted else 0
                con.execute(f"drop table {relation}")
        if spark is not None and spark.catalog.tableExists(relation):
            if table == "customerio_acks":
                acks = spark.table(relation).count()
            spark.sql(f"drop table {relation}")
    return acks


def copy_tables_to_spark(
    source: duckdb.DuckDBPyConnection,
    spark: SparkSession,
    *,
    source_schema: str,
    target_schema: str,
    tables: Iterable[str] = RAW_TABLE_COLUMNS,
) -> dict[str, int]:
    """Copies DuckDB tables into Spark tables of the raw contract's types, through parquet."""
    counts: dict[str, int] = {}
    spark.sql(f"create database if not exists {target_schema}")
    with tempfile.TemporaryDirectory(prefix="cio-privacy-") as scratch:
        for table in tables:
            file = Path(scratch) / f"{table}.parquet"
            source.execute(f"copy {source_schema}.{table} to '{file}' (format parquet)")
            columns = [
                f"cast({column} as {data_type}) as {column}"
                for column, data_type in TABLE_COLUMNS[table].items()
            ]
            frame = spark.read.parquet(str(file)).selectExpr(*columns)
            frame.write.mode("overwrite").format("parquet").saveAsTable(f"{target_schema}.{table}")
            counts[table] = spark.table(f"{target_schema}.{table}").count()
    return counts


class Warehouse:
    """Runs SQL on the target's engine and returns plain rows."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._duckdb: duckdb.DuckDBPyConnection | None = None
        self._spark: SparkSession | None = None
        if target.type == "duckdb":
            self._duckdb = connect_duckdb(target, must_exist=True)
        elif target.type == "spark":
            self._spark = spark_session(target)
        else:
            raise UsageError(
                f"target '{target.name}' ({target.type}) is not readable by this command yet; "
                "use local or spark"
            )

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        if self._duckdb is not None:
            return self._duckdb.execute(sql).fetchall()
        assert self._spark is not None
        return [tuple(row) for row in self._spark.sql(sql).collect()]

    def close(self) -> None:
        if self._duckdb is not None:
            self._duckdb.close()
