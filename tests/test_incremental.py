"""An incremental run after new events gives exactly the rows a full refresh gives.

On each engine, in schemas of its own (the parity build of conftest.py is left
alone: raw tables in `raw_incremental`; on Spark the models in `incremental*`,
on DuckDB in a database file of its own):

1. a 2,000-user lakehouse ending at the world's end; the seeds, the
   incremental models and what they read are built at as_of = that end;
2. the first month of privacy and customer events is purged from raw, as a
   retention job would (every slice of that month loses all its rows), and a
   batch of new events is appended (`append_events`: consents, unsubscribes,
   bounces, request status moves, sign-ups, bad rows, rows stamped a day after
   the batch, redeliveries of old event_ids, some of them corrected); the
   incremental models run again at as_of = the batch's end, where the rows
   stamped a day later are still rejected as future (R2);
3. one corrected redelivery of the batch (stamped 35 days before its event,
   so in another month) is deleted from raw again, a correction retracted:
   the event's other delivery, in its own month, wins again; then as_of
   moves on two days, which accepts the late rows: `dbt build` of every
   model (incremental ones incrementally) with every unit and data test;
   every model's rows are kept;
4. `dbt run --full-refresh` at the same as_of: every model holds exactly the
   rows of step 3.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest
from cio_privacy.generate import AppendSummary, append_events, generate_lakehouse

from tests.conftest import AS_OF, SEED, USERS, WORLD_END, DbtResult, environment, run_dbt
from tests.rows import difference, duckdb_select, model_relations, rows, spark_rows

RAW_SCHEMA = "raw_incremental"
SPARK_SCHEMA = "incremental"
BATCH_END = WORLD_END + dt.timedelta(days=1)
AS_OF_BATCH = "2026-11-02 00:00:00"
AS_OF_LATER = "2026-11-04 00:00:00"
# The batch's late rows are stamped 25-47 hours after its end: rejected as future
# at AS_OF_BATCH (limit: + 24 h = 11-03 00:00), accepted at AS_OF_LATER. That is
# after all of them, because assert_every_raw_event_accounted_for counts the
# accepted rows in int_privacy_events, which holds only rows that already happened.
LATE_WINDOW = ("2026-11-03 00:00:00", "2026-11-04 00:00:00")
INCREMENTAL_MODELS = "+config.materialized:incremental"

Query = Callable[[str], list[tuple[Any, ...]]]


def _vars(as_of: str) -> list[str]:
    return ["--vars", json.dumps({"as_of": as_of, "raw_schema": RAW_SCHEMA})]


@dataclass(frozen=True)
class Purge:
    """Raw rows of the first month (before `before`) deleted ahead of the
    batch, so that none of its redeliveries is of a purged event."""

    before: dt.datetime
    privacy_events: int
    customer_events: int


def _purge_first_month(con: duckdb.DuckDBPyConnection) -> Purge:
    """Deletes the raw privacy and customer events of the first month, whole."""
    row = con.execute(
        f"select date_trunc('month', min(occurred_at)) + interval 1 month "
        f"from {RAW_SCHEMA}.customer_events"
    ).fetchone()
    assert row is not None
    before: dt.datetime = row[0]
    counts = []
    for table, column in (
        ("privacy_events", "event_timestamp"),
        ("customer_events", "occurred_at"),
    ):
        deleted = con.execute(
            f"delete from {RAW_SCHEMA}.{table} where {column} < ?", [before]
        ).fetchone()
        counts.append(int(deleted[0]) if deleted else 0)
    return Purge(before=before, privacy_events=counts[0], customer_events=counts[1])


def _retract_a_correction(con: duckdb.DuckDBPyConnection) -> str:
    """Deletes the winning delivery of one event delivered in two months (a
    corrected redelivery of the batch) and returns its event_id."""
    row = con.execute(
        f"""
        select event_id
        from {RAW_SCHEMA}.privacy_events
        where event_id is not null
        group by event_id
        having count(distinct date_trunc('month', event_timestamp)) > 1
        order by event_id
        limit 1
        """
    ).fetchone()
    assert row is not None, "the batch should redeliver an event into another month"
    event_id: str = row[0]
    con.execute(
        f"""
        delete from {RAW_SCHEMA}.privacy_events
        where event_id = ? and processed_at = (
            select max(processed_at) from {RAW_SCHEMA}.privacy_events where event_id = ?
        )
        """,
        [event_id, event_id],
    )
    return event_id


@dataclass
class Replay:
    """What the four steps left behind on one engine."""

    batch: AppendSummary
    purged: Purge
    retracted: str
    batch_run: DbtResult
    incremental_build: DbtResult
    full_refresh_run: DbtResult
    incremental_rows: dict[str, Counter[tuple[Any, ...]]]
    full_refresh_rows: dict[str, Counter[tuple[Any, ...]]]
    late_rows_at_batch: list[tuple[Any, ...]]
    late_rows_later: list[tuple[Any, ...]]
    corrected_winners: list[tuple[Any, ...]]
    purged_rows_left: list[tuple[Any, ...]]
    retracted_rows: list[tuple[Any, ...]]
    failures: list[str] = field(default_factory=list)


def _replay(
    target: str,
    tmp: Path,
    with_raw: Callable[[Callable[[duckdb.DuckDBPyConnection], Any]], Any],
    query: Query,
    read_model: Callable[[str], list[tuple[Any, ...]]],
) -> Replay:
    """The four steps; ``with_raw`` runs a function on a DuckDB connection holding
    the raw tables and publishes them to the engine afterwards."""
    failures: list[str] = []

    def dbt(args: list[str], name: str) -> DbtResult:
        result = run_dbt(args, target=target, target_path=tmp / name)
        failures.extend(f"{name}: {failure}" for failure in result.failures())
        return result

    with_raw(
        lambda con: generate_lakehouse(
            con, users=USERS, seed=SEED, end=WORLD_END, schema=RAW_SCHEMA
        )
    )
    dbt(["seed", *_vars(AS_OF)], "0-seed")
    dbt(["run", "--select", INCREMENTAL_MODELS, *_vars(AS_OF)], "1-first")

    purged, batch = with_raw(
        lambda con: (
            _purge_first_month(con),
            append_events(con, end=BATCH_END, seed=SEED, schema=RAW_SCHEMA),
        )
    )
    batch_run = dbt(["run", "--select", INCREMENTAL_MODELS, *_vars(AS_OF_BATCH)], "2-batch")
    staged = model_relations(batch_run.target_path)["stg_privacy_events"]
    late = (
        f"select event_id, disposition, rejection_reason from {staged} "
        f"where event_timestamp > cast('{LATE_WINDOW[0]}' as timestamp) "
        f"and event_timestamp < cast('{LATE_WINDOW[1]}' as timestamp)"
    )
    late_rows_at_batch = query(late)
    customer_staged = model_relations(batch_run.target_path)["stg_customer_events"]
    purged_rows_left = query(
        f"select 'stg_privacy_events', count(*) from {staged} "
        f"where event_timestamp < cast('{purged.before}' as timestamp) "
        f"union all select 'stg_customer_events', count(*) from {customer_staged} "
        f"where occurred_at < cast('{purged.before}' as timestamp)"
    )

    retracted = with_raw(_retract_a_correction)
    build = dbt(["build", *_vars(AS_OF_LATER)], "3-incremental")
    models = model_relations(build.target_path)
    incremental_rows = {model: rows(read_model(relation)) for model, relation in models.items()}
    late_rows_later = query(late)
    corrected = (
        f"select event_id, status, disposition from {staged} where event_id in ("
        f"  select event_id from {staged} group by event_id"
        "   having count(distinct status) > 1"
        ") and disposition = 'accepted'"
    )
    corrected_winners = query(corrected)
    retracted_rows = query(
        f"select status, disposition from {staged} where event_id = '{retracted}'"
    )

    full_refresh_run = dbt(["run", "--full-refresh", *_vars(AS_OF_LATER)], "4-full-refresh")
    full_refresh_rows = {model: rows(read_model(relation)) for model, relation in models.items()}
    return Replay(
        batch=batch,
        purged=purged,
        retracted=retracted,
        batch_run=batch_run,
        incremental_build=build,
        full_refresh_run=full_refresh_run,
        incremental_rows=incremental_rows,
        full_refresh_rows=full_refresh_rows,
        late_rows_at_batch=late_rows_at_batch,
        late_rows_later=late_rows_later,
        corrected_winners=corrected_winners,
        purged_rows_left=purged_rows_left,
        retracted_rows=retracted_rows,
        failures=failures,
    )


@pytest.fixture(scope="module")
def duckdb_replay(tmp_path_factory: pytest.TempPathFactory) -> Replay:
    tmp = tmp_path_factory.mktemp("incremental-duckdb")
    path = tmp / "lakehouse.duckdb"

    def with_raw(step: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        with duckdb.connect(str(path)) as con:
            return step(con)

    def query(sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(path)) as con:
            return con.execute(sql).fetchall()

    with environment(CIO_PRIVACY_DUCKDB_PATH=str(path)):
        return _replay(
            "local", tmp, with_raw, query, lambda relation: query(duckdb_select(relation))
        )


@pytest.fixture(scope="module")
def spark_replay(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Replay:
    from cio_privacy.warehouse import copy_tables_to_spark

    tmp = tmp_path_factory.mktemp("incremental-spark")
    # The raw tables are made in DuckDB and copied whole after each step.
    con = duckdb.connect()

    def with_raw(step: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        result = step(con)
        copy_tables_to_spark(con, spark, source_schema=RAW_SCHEMA, target_schema=RAW_SCHEMA)
        return result

    def query(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in spark.sql(sql).collect()]

    def read_model(relation: str) -> list[tuple[Any, ...]]:
        return spark_rows(spark.table(relation.replace("`", "")))

    try:
        with environment(CIO_PRIVACY_SPARK_SCHEMA=SPARK_SCHEMA):
            return _replay("spark", tmp, with_raw, query, read_model)
    finally:
        con.close()


def _replay_of(request: pytest.FixtureRequest, engine: str) -> Replay:
    replay: Replay = request.getfixturevalue(f"{engine}_replay")
    return replay


ENGINES = [
    pytest.param("duckdb", id="duckdb"),
    pytest.param("spark", id="spark", marks=pytest.mark.spark),
]


@pytest.mark.parametrize("engine", ENGINES)
def test_incremental_build_passes_every_test(request: pytest.FixtureRequest, engine: str) -> None:
    replay = _replay_of(request, engine)
    assert not replay.failures
    assert replay.incremental_build.success


def _staged_sql(run: DbtResult) -> str:
    node = next(result.node for result in run.results if result.node.name == "stg_privacy_events")
    assert node.config.materialized == "incremental"
    return str(node.compiled_code)


@pytest.mark.parametrize("engine", ENGINES)
def test_incremental_run_recomputed_only_what_changed(
    request: pytest.FixtureRequest, engine: str
) -> None:
    """The equivalence below proves something only if the runs were incremental."""
    replay = _replay_of(request, engine)
    full_sql = _staged_sql(replay.full_refresh_run)
    assert _staged_sql(replay.incremental_build) != full_sql, "ran as a full refresh"
    # after the batch: the time slices with new rows, written into the SQL
    batch_sql = _staged_sql(replay.batch_run)
    assert "as date)) in (cast('" in batch_sql, "the batch was not read as changed slices"
    assert replay.batch.privacy_events > 100
    assert replay.batch.redeliveries > 0
    assert replay.batch.corrected_redeliveries > 0


def test_per_user_models_recomputed_only_the_users_in_scope(duckdb_replay: Replay) -> None:
    """On DuckDB the per-user models (strategy replace_users) read only the users
    in their scope after the batch and after as_of moved on: a run that fell
    back to every user would have proved nothing above."""
    for run in (duckdb_replay.batch_run, duckdb_replay.incremental_build):
        per_user = [
            result.node
            for result in run.results
            if getattr(result.node, "config", None) is not None
            and result.node.config.get("incremental_strategy") == "replace_users"
        ]
        assert {node.name for node in per_user} >= {
            "int_consent_events",
            "int_suppression_signals",
            "int_suppression_transitions",
            "suppression_state",
        }
        for node in per_user:
            assert f"{node.name}__user_scope" in str(node.compiled_code), node.name


@pytest.mark.parametrize("engine", ENGINES)
def test_incremental_run_gives_the_rows_of_a_full_refresh(
    request: pytest.FixtureRequest, engine: str
) -> None:
    replay = _replay_of(request, engine)
    assert replay.incremental_rows.keys() == replay.full_refresh_rows.keys()
    assert "stg_privacy_events" in replay.incremental_rows
    problems = [
        problem
        for model in sorted(replay.incremental_rows)
        if (
            problem := difference(
                model,
                replay.incremental_rows[model],
                replay.full_refresh_rows[model],
                ("after the incremental run", "after the full refresh"),
            )
        )
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("engine", ENGINES)
def test_r2_a_later_as_of_accepts_a_row_rejected_as_future(
    request: pytest.FixtureRequest, engine: str
) -> None:
    replay = _replay_of(request, engine)
    future = {
        event_id
        for event_id, _, reason in replay.late_rows_at_batch
        if reason == "future_timestamp"
    }
    assert future, "the batch should hold rows stamped after it"
    later = {event_id: disposition for event_id, disposition, _ in replay.late_rows_later}
    assert {later[event_id] for event_id in future} == {"accepted"}


@pytest.mark.parametrize("engine", ENGINES)
def test_r1_a_corrected_redelivery_of_an_old_event_wins(
    request: pytest.FixtureRequest, engine: str
) -> None:
    replay = _replay_of(request, engine)
    winners = replay.corrected_winners
    # one correction was retracted before the build (test below)
    assert len(winners) >= replay.batch.corrected_redeliveries - 1
    assert {status for _, status, _ in winners} == {"withdrawn"}


@pytest.mark.parametrize("engine", ENGINES)
def test_r1_r15_a_month_purged_from_raw_leaves_staging_on_the_next_run(
    request: pytest.FixtureRequest, engine: str
) -> None:
    """A retention job deletes the first month from raw: on Spark and
    Databricks no new row falls in its slices, so the run empties them."""
    replay = _replay_of(request, engine)
    assert replay.purged.privacy_events > 0
    assert replay.purged.customer_events > 0
    assert sorted(replay.purged_rows_left) == [
        ("stg_customer_events", 0),
        ("stg_privacy_events", 0),
    ]


@pytest.mark.parametrize("engine", ENGINES)
def test_r1_a_retracted_correction_gives_the_win_back_to_the_other_delivery(
    request: pytest.FixtureRequest, engine: str
) -> None:
    """The deleted winner sat in another month than its sibling. DuckDB
    recomputes the event by key; Spark must rebuild the sibling's month too
    (the slices close over the keys of stored rows)."""
    replay = _replay_of(request, engine)
    rows = replay.retracted_rows
    assert [status for status, disposition in rows if disposition == "accepted"] == ["granted"]
