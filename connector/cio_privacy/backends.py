"""The ledger on each engine: DuckDB, Spark (a SparkSession) and Databricks SQL.

Durability of acknowledgements (what a crash can lose):

- DuckDB commits every `append_acks` before `sync` takes the next
  response: a crash can lose at most the acknowledgements of the one
  response being written, whose actions the next run sends again.
- Spark and Databricks write a table version per append, which costs
  about as much as a request, so they buffer: the rows of up to
  `FLUSH_EVERY_RESPONSES` responses, or of `FLUSH_EVERY_SECONDS`, go in one
  append. A crash can lose the acknowledgements of the responses since the
  last append; the next run sends those actions again under the same
  messageId (= action_id), which Customer.io takes as the same message, and
  records them once then. The ledger never holds two `delivered` rows for an
  action, because an action is only ever read while it has none.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import duckdb

from cio_privacy.actions import (
    ACK_ACTION_COLUMNS,
    Action,
    ActionColumns,
    ActionSlice,
    ResultGroup,
    columns_of,
)
from cio_privacy.errors import UsageError
from cio_privacy.ledger import (
    ACKS_TABLE,
    ACTIONS_MODEL,
    DEFAULT_RAW_SCHEMA,
    READ_BATCH_ROWS,
    RUNS_TABLE,
    Ledger,
    PendingSummary,
    Relations,
    SyncRun,
    acks_json,
    action_from_row,
    create_table_sql,
    finish_run_sql,
    insert_acks_sql,
    insert_run_sql,
    pending_sql,
    pseudonym_sources_sql,
    relations_for,
    sample_sql,
    sources_from_rows,
    summary_from_rows,
    summary_sql,
    user_bounds_sql,
)
from cio_privacy.profiles import Target
from cio_privacy.warehouse import LEDGER_TABLE_COLUMNS, connect_duckdb

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

FLUSH_EVERY_RESPONSES = 20
FLUSH_EVERY_SECONDS = 1.0
# DuckDB reads the pending actions a chunk of users at a time, each chunk
# sorted on its own, under this memory limit and on one thread: a run of a
# million actions stays under 300 MB (bench/RESULTS.md, "Sync"). Sorting a
# million wide rows at once needs more memory than that, even spilling. What
# does not fit (the log not yet checkpointed) spills to DuckDB's temp files.
DUCKDB_MEMORY_LIMIT = "32MB"
DUCKDB_THREADS = 1
# The acknowledgements reach the file in row groups of 122,880 rows. DuckDB's
# default (a checkpoint per 16 MB of log, some 25,000 acknowledgements)
# compresses and writes each row group four or five times as it fills.
DUCKDB_CHECKPOINT_THRESHOLD = "64MB"
DUCKDB_USERS_PER_CHUNK = 20_000
READ_AHEAD_BATCHES = 4
_READ_DONE = object()


def _missing_model(relation: str) -> UsageError:
    return UsageError(f"no {ACTIONS_MODEL} at {relation}: run 'dbt build' for this target first")


class DuckDBLedger:
    """Reads with one cursor while another appends; every append is its own commit."""

    def __init__(self, target: Target, raw_schema: str = DEFAULT_RAW_SCHEMA) -> None:
        self.target = target
        self.relations = relations_for(target, raw_schema)
        self._con = connect_duckdb(target, must_exist=True)
        # The settings belong to the database instance, which other connections
        # of this process (dbt run in-process) share: put them back on close.
        self._restore = {
            name: self._con.execute(f"select current_setting('{name}')").fetchone()
            for name in ("memory_limit", "threads", "checkpoint_threshold")
        }
        self._con.execute(f"set memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
        self._con.execute(f"set threads = {DUCKDB_THREADS}")
        self._con.execute(f"set checkpoint_threshold = '{DUCKDB_CHECKPOINT_THRESHOLD}'")
        self._writer = self._con.cursor()

    def _exists(self, relation: str) -> bool:
        schema, table = relation.rsplit(".", 1)
        found = self._con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [schema.rsplit(".", 1)[-1], table],
        ).fetchone()
        return bool(found and found[0])

    def _require_model(self) -> bool:
        if not self._exists(self.relations.actions):
            raise _missing_model(self.relations.actions)
        return self._exists(self.relations.acks)

    def ensure_tables(self) -> None:
        self._writer.execute(f"create schema if not exists {self.relations.raw_schema}")
        for relation, table in (
            (self.relations.acks, ACKS_TABLE),
            (self.relations.runs, RUNS_TABLE),
        ):
            self._writer.execute(create_table_sql(relation, table))

    def pending_summary(self, limit: int | None) -> PendingSummary:
        acks_exist = self._require_model()
        rows = self._con.execute(summary_sql(self.relations, limit, acks_exist=acks_exist))
        return summary_from_rows(rows.fetchall())

    def sample_actions(self, per_type: int, limit: int | None) -> list[Action]:
        acks_exist = self._require_model()
        sql = sample_sql(self.relations, per_type, limit, acks_exist=acks_exist)
        return [action_from_row(row) for row in self._con.execute(sql).fetchall()]

    def pseudonym_sources(self, limit: int | None) -> dict[str, dict[str, str | None]]:
        acks_exist = self._require_model()
        sql = pseudonym_sources_sql(self.relations, limit, acks_exist=acks_exist)
        return sources_from_rows(self._con.execute(sql).fetchall())

    def pending_actions(self, limit: int | None) -> Iterator[Action]:
        for batch in self.pending_batches(limit):
            for index in range(len(batch)):
                yield batch.action(index)

    def pending_batches(self, limit: int | None) -> Iterator[ActionColumns]:
        """In chunks of users, so that DuckDB sorts a chunk at a time, not a million rows.

        A thread of its own runs the queries a few batches ahead: DuckDB's
        Arrow stream lets go of the interpreter lock while it computes, so
        reading overlaps planning, sending and acknowledging.
        """
        acks_exist = self._require_model()
        batches: queue.Queue[Any] = queue.Queue(maxsize=READ_AHEAD_BATCHES)
        stop = threading.Event()
        reader = threading.Thread(
            target=self._read_pending,
            args=(limit, acks_exist, batches, stop),
            name="cio-privacy-read",
            daemon=True,
        )
        reader.start()
        try:
            while (item := self._next_read(batches, reader)) is not _READ_DONE:
                if isinstance(item, BaseException):
                    raise item
                yield ActionColumns.of_arrow(item)
        finally:
            stop.set()
            with contextlib.suppress(queue.Empty):
                while True:  # let a reader blocked on a full queue see `stop`
                    batches.get_nowait()
            reader.join()

    @staticmethod
    def _next_read(batches: queue.Queue[Any], reader: threading.Thread) -> Any:
        while True:
            with contextlib.suppress(queue.Empty):
                return batches.get(timeout=0.5)
            if not reader.is_alive() and batches.empty():
                return RuntimeError("the thread reading the pending actions ended unexpectedly")

    def _read_pending(
        self, limit: int | None, acks_exist: bool, batches: queue.Queue[Any], stop: threading.Event
    ) -> None:
        def put(item: Any) -> bool:
            while not stop.is_set():
                with contextlib.suppress(queue.Full):
                    batches.put(item, timeout=0.1)
                    return True
            return False

        cursor = None
        try:
            cursor = self._con.cursor()
            bounds = [
                user_id
                for (user_id,) in cursor.execute(
                    user_bounds_sql(self.relations, DUCKDB_USERS_PER_CHUNK, acks_exist=acks_exist)
                ).fetchall()
            ]
            left = limit
            for index, first_user in enumerate(bounds):
                if stop.is_set():
                    return
                following = bounds[index + 1] if index + 1 < len(bounds) else None
                sql = pending_sql(
                    self.relations,
                    left,
                    acks_exist=acks_exist,
                    users_from="$users_from",
                    users_before="$users_before" if following is not None else None,
                )
                parameters = {"users_from": first_user}
                if following is not None:
                    parameters["users_before"] = following
                stream = cursor.sql(sql, params=parameters).to_arrow_reader(READ_BATCH_ROWS)
                assert stream is not None, "a select has a result"
                for batch in stream:
                    if stop.is_set() or (batch.num_rows and not put(batch)):
                        return
                    if left is not None:
                        left -= batch.num_rows
                if left is not None and left <= 0:
                    break
            put(_READ_DONE)
        except BaseException as error:  # handed to the consumer, raised there
            put(error)
        finally:
            if cursor is not None:
                cursor.close()

    def start_run(self, run: SyncRun) -> None:
        self._writer.execute(insert_run_sql(self.relations, run))

    def append_acks(self, run_id: str, groups: Sequence[ResultGroup]) -> None:
        if not any(len(group) for group in groups):
            return
        batch = _ack_table(run_id, groups)
        self._writer.from_arrow(batch).insert_into(self.relations.acks)

    def flush(self) -> None:
        """Nothing to do: every append was committed."""

    def finish_run(self, run: SyncRun) -> None:
        self._writer.execute(finish_run_sql(self.relations, run))

    def close(self) -> None:
        try:
            self._writer.close()
            # Checkpoint under the sync's own memory limit and threads, before they
            # are put back: left to the close, DuckDB would fold the last of the
            # log into the file with the default limit (most of the machine). Another
            # connection of this process in a write transaction defers it to later.
            with contextlib.suppress(duckdb.TransactionException):
                self._con.execute("checkpoint")
        finally:
            try:
                for name, value in self._restore.items():
                    if value is not None:
                        self._con.execute(f"set {name} = '{value[0]}'")
            finally:
                self._con.close()


def _ack_table(run_id: str, groups: Sequence[ResultGroup]) -> Any:
    """The acknowledgements as an Arrow table: the action columns sliced from the
    batches they were read in, the columns a group shares run-end encoded (one
    value per group; DuckDB expands them).

    A handful of Arrow calls per table, whatever its length: each call gives
    up the interpreter lock, and taking it back waits on the HTTP thread.
    """
    import pyarrow as pa

    sized = [group for group in groups if len(group)]
    run_ends = pa.array(itertools.accumulate(len(group) for group in sized), pa.int32())
    shared = {
        "run_id": [run_id] * len(sized),
        "status": [str(group.status) for group in sized],
        "http_status": [group.http_status for group in sized],
        "error": [group.error for group in sized],
        "attempts": [group.attempts for group in sized],
        "sent_at": [_naive_utc(group.sent_at) for group in sized],
        "acked_at": [_naive_utc(group.completed_at) for group in sized],
    }
    columns: dict[str, Any] = {
        name: pa.RunEndEncodedArray.from_arrays(run_ends, pa.array(values, _ACK_TYPES[name]))
        for name, values in shared.items()
    }
    parts: dict[str, list[Any]] = {name: [] for name in ACK_ACTION_COLUMNS}
    for group in sized:
        # the model's payload (directives included), so R21's diff compares like with like
        if isinstance(group.actions, ActionSlice):
            for name, sliced in group.actions.ack_columns().items():
                parts[name].extend(sliced)
        else:
            for name in ACK_ACTION_COLUMNS:
                values = [getattr(action, name) for action in group.actions]
                parts[name].append(pa.array(values, pa.string()))
    for name, chunks in parts.items():
        columns[name] = pa.chunked_array(chunks, pa.string())
    return pa.table({name: columns[name] for name in LEDGER_TABLE_COLUMNS[ACKS_TABLE]})


def _naive_utc(moment: Any) -> Any:
    if moment is not None and moment.tzinfo is not None:
        return moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


def _ack_types() -> dict[str, Any]:
    import pyarrow as pa

    kinds = {"string": pa.string(), "bigint": pa.int64(), "timestamp": pa.timestamp("us")}
    return {name: kinds[kind] for name, kind in LEDGER_TABLE_COLUMNS[ACKS_TABLE].items()}


_ACK_TYPES = _ack_types()


class _BufferedSqlLedger:
    """The Spark SQL ledger: shared by the Spark and Databricks backends.

    A subclass says how to run a statement (`_execute`), fetch rows
    (`_rows`, `_stream`) and whether a table exists (`_exists`).
    """

    target: Target
    relations: Relations
    table_format: str | None = None

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buffer: list[tuple[str, Sequence[ResultGroup]]] = []
        self._responses = 0
        self._last_flush = clock()

    # engine specifics

    def _execute(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        raise NotImplementedError

    def _rows(self, sql: str) -> list[Sequence[Any]]:
        raise NotImplementedError

    def _stream(self, sql: str) -> Iterator[Sequence[Any]]:
        raise NotImplementedError

    def _exists(self, relation: str) -> bool:
        raise NotImplementedError

    # the ledger

    def _require_model(self) -> bool:
        if not self._exists(self.relations.actions):
            raise _missing_model(self.relations.actions)
        return self._exists(self.relations.acks)

    def ensure_tables(self) -> None:
        self._execute(f"create schema if not exists {self.relations.raw_schema}")
        for relation, table in (
            (self.relations.acks, ACKS_TABLE),
            (self.relations.runs, RUNS_TABLE),
        ):
            self._execute(create_table_sql(relation, table, using=self.table_format))

    def pending_summary(self, limit: int | None) -> PendingSummary:
        acks_exist = self._require_model()
        return summary_from_rows(
            self._rows(summary_sql(self.relations, limit, acks_exist=acks_exist))
        )

    def sample_actions(self, per_type: int, limit: int | None) -> list[Action]:
        acks_exist = self._require_model()
        sql = sample_sql(self.relations, per_type, limit, acks_exist=acks_exist)
        return [action_from_row(row) for row in self._rows(sql)]

    def pseudonym_sources(self, limit: int | None) -> dict[str, dict[str, str | None]]:
        acks_exist = self._require_model()
        sql = pseudonym_sources_sql(self.relations, limit, acks_exist=acks_exist)
        return sources_from_rows(self._rows(sql))

    def pending_actions(self, limit: int | None) -> Iterator[Action]:
        acks_exist = self._require_model()
        for row in self._stream(pending_sql(self.relations, limit, acks_exist=acks_exist)):
            yield action_from_row(row)

    def pending_batches(self, limit: int | None) -> Iterator[ActionColumns]:
        return columns_of(self.pending_actions(limit))

    def start_run(self, run: SyncRun) -> None:
        self._execute(insert_run_sql(self.relations, run))

    def append_acks(self, run_id: str, groups: Sequence[ResultGroup]) -> None:
        self._buffer.append((run_id, groups))
        self._responses += 1
        due = self._clock() - self._last_flush >= FLUSH_EVERY_SECONDS
        if self._responses >= FLUSH_EVERY_RESPONSES or due:
            self.flush()

    def flush(self) -> None:
        groups_by_run: dict[str, list[ResultGroup]] = {}
        for run_id, groups in self._buffer:
            groups_by_run.setdefault(run_id, []).extend(groups)
        for run_id, groups in groups_by_run.items():
            if any(len(group) for group in groups):
                self._execute(insert_acks_sql(self.relations), {"acks": acks_json(run_id, groups)})
        self._buffer.clear()
        self._responses = 0
        self._last_flush = self._clock()

    def finish_run(self, run: SyncRun) -> None:
        self.flush()
        self._execute(finish_run_sql(self.relations, run))


class SparkLedger(_BufferedSqlLedger):
    """The ledger through a SparkSession: how the sync runs inside a Databricks job."""

    def __init__(
        self,
        target: Target,
        spark: SparkSession | None = None,
        raw_schema: str = DEFAULT_RAW_SCHEMA,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        from cio_privacy.warehouse import spark_session

        self.target = target
        self.relations = relations_for(target, raw_schema)
        self._owns_session = spark is None
        self._spark = spark if spark is not None else spark_session(target)
        # parquet on local Spark, Delta where Delta is the default (Databricks)
        self.table_format = str(self._spark.conf.get("spark.sql.sources.default", "parquet"))

    def _execute(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        self._spark.sql(sql, args=parameters).collect()

    def _rows(self, sql: str) -> list[Sequence[Any]]:
        return [tuple(row) for row in self._spark.sql(sql).collect()]

    def _stream(self, sql: str) -> Iterator[Sequence[Any]]:
        for row in self._spark.sql(sql).toLocalIterator(prefetchPartitions=True):
            yield tuple(row)

    def _exists(self, relation: str) -> bool:
        return bool(self._spark.catalog.tableExists(relation))

    def finish_run(self, run: SyncRun) -> None:
        """UPDATE where the table format has it (Delta); a parquet table is rewritten."""
        from pyspark.errors import AnalysisException, UnsupportedOperationException

        self.flush()
        try:
            self._execute(finish_run_sql(self.relations, run))
        except (AnalysisException, UnsupportedOperationException):
            table = self._spark.table(self.relations.runs)
            schema = table.schema
            rows = [row.asDict() for row in table.collect()]
            finished = run.row()
            rows = [finished if row["run_id"] == run.run_id else row for row in rows]
            frame = self._spark.createDataFrame(
                [tuple(row[name] for name in schema.names) for row in rows], schema
            )
            frame.write.insertInto(self.relations.runs, overwrite=True)

    def close(self) -> None:
        """Stops the session only if this ledger started it (not a Databricks job's)."""
        if self._owns_session:
            self._spark.stop()


class DatabricksLedger(_BufferedSqlLedger):
    """The ledger through a Databricks SQL warehouse (databricks-sql-connector)."""

    table_format = "delta"

    def __init__(
        self, target: Target, raw_schema: str = DEFAULT_RAW_SCHEMA, **options: Any
    ) -> None:
        super().__init__(**options)
        from databricks import sql as databricks_sql

        self.target = target
        self.relations = relations_for(target, raw_schema)
        settings = target.settings
        token = str(settings.get("token") or "")
        if not token:
            raise UsageError("DATABRICKS_TOKEN is not set: the databricks target needs a token")
        self._connection = databricks_sql.connect(
            server_hostname=str(settings["host"]),
            http_path=str(settings["http_path"]),
            access_token=token,
        )

    def _execute(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        with self._connection.cursor() as cursor:
            cursor.execute(sql, parameters)

    def _rows(self, sql: str) -> list[Sequence[Any]]:
        with self._connection.cursor() as cursor:
            cursor.execute(sql)
            return [tuple(row) for row in cursor.fetchall()]

    def _stream(self, sql: str) -> Iterator[Sequence[Any]]:
        with self._connection.cursor() as cursor:
            cursor.execute(sql)
            while rows := cursor.fetchmany(READ_BATCH_ROWS):
                for row in rows:
                    yield tuple(row)

    def _exists(self, relation: str) -> bool:
        catalog, schema, table = relation.split(".")
        with self._connection.cursor() as cursor:
            cursor.tables(catalog_name=catalog, schema_name=schema, table_name=table)
            return bool(cursor.fetchall())

    def close(self) -> None:
        self._connection.close()


def open_ledger(target: Target, raw_schema: str = DEFAULT_RAW_SCHEMA) -> Ledger:
    """The ledger of the target's engine."""
    if target.type == "duckdb":
        return DuckDBLedger(target, raw_schema)
    if target.type == "spark":
        return SparkLedger(target, raw_schema=raw_schema)
    if target.type == "databricks":
        return DatabricksLedger(target, raw_schema)
    raise UsageError(f"target '{target.name}' ({target.type}) has no ledger backend")
