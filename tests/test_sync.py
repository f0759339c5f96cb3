"""`cio-privacy sync` on DuckDB against the sandbox: outcomes, faults, guards, dry run, pseudonyms.

Each test writes a small `customerio_actions` table (tests/sync_world.py)
into a DuckDB file of its own and syncs it to a sandbox on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from cio_privacy import backends
from cio_privacy.backends import DuckDBLedger
from cio_privacy.client import FatalApiError
from cio_privacy.ledger import RunStatus
from cio_privacy.sandbox import FAULT_KINDS, RunningSandbox, running_sandbox
from cio_privacy.settings import Settings
from cio_privacy.sync import SyncOptions, SyncSummary, run_sync

from tests.conftest import REPO
from tests.sync_world import (
    KEY,
    World,
    assert_converged,
    delivered_counts,
    duckdb_query,
    duckdb_target,
    ledger_rows,
    make_world,
    write_actions,
)

SMALL_REQUESTS = 3_000  # bytes: a few users per request, so faults hit many requests
MAX_RUNS = 6


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(api_key=KEY, seed=3) as running:
        yield running


def settings_for(sandbox: RunningSandbox, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "customerio_api_key": KEY,
        "customerio_base_url": sandbox.url,
        "cio_privacy_max_requests_per_second": 1000,
        "cio_privacy_max_attempts": 4,
        "cio_privacy_max_retry_wait_seconds": 0.01,  # Retry-After and backoff, capped for tests
        "cio_privacy_request_timeout_seconds": 5,
    }
    return Settings(**{**values, **overrides})


def sync_once(path: Path, settings: Settings, **options: Any) -> SyncSummary:
    ledger = DuckDBLedger(duckdb_target(path))
    try:
        return run_sync(ledger, settings, SyncOptions(max_request_bytes=SMALL_REQUESTS, **options))
    finally:
        ledger.close()


def sync_until_done(path: Path, settings: Settings) -> list[SyncSummary]:
    runs = []
    while len(runs) < MAX_RUNS:
        runs.append(sync_once(path, settings))
        if runs[-1].failed == 0:
            break
    return runs


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, World]:
    path = tmp_path / "lakehouse.duckdb"
    world = make_world(120)
    write_actions(path, world)
    return path, world


def test_a_clean_run_delivers_everything_and_records_it(
    world: tuple[Path, World], sandbox: RunningSandbox
) -> None:
    path, actions = world

    summary = sync_once(path, settings_for(sandbox))

    assert summary.exit_status == 1  # the two poison actions are rejected
    assert summary.delivered == len(actions.rows) - 2
    assert summary.rejected == 2
    assert summary.failed == 0
    assert_converged(path, actions, sandbox.state(), sandbox.stats())
    runs = ledger_rows(
        path,
        "select run_id, status, finished_at is not null, actions_read, delivered, rejected, "
        "failed, dry_run from raw.customerio_sync_runs",
    )
    assert runs == [
        (
            summary.run_id,
            RunStatus.COMPLETED_WITH_FAILURES,
            True,
            len(actions.rows),
            len(actions.rows) - 2,
            2,
            0,
            False,
        )
    ]
    # the acknowledged payload is the model's, so R21's diff compares like with like
    payloads = dict(ledger_rows(path, "select action_id, payload from raw.customerio_acks"))
    assert payloads == {row[0]: row[3] for row in actions.rows}


def test_a_second_run_right_after_sends_nothing(
    world: tuple[Path, World], sandbox: RunningSandbox
) -> None:
    path, _ = world
    sync_once(path, settings_for(sandbox))
    received = sandbox.state()["messages_received"]

    again = sync_once(path, settings_for(sandbox))

    assert again.actions_read == 0
    assert again.http_requests == 0
    assert again.exit_status == 0
    assert sandbox.state()["messages_received"] == received


@pytest.mark.parametrize("fault", [kind for kind in FAULT_KINDS if kind != "ok"])
def test_every_fault_kind_ends_with_every_action_delivered_once(
    world: tuple[Path, World], sandbox: RunningSandbox, fault: str
) -> None:
    path, actions = world
    sandbox.set_faults(script=[fault] * 6)

    runs = sync_until_done(path, settings_for(sandbox))

    assert runs[-1].failed == 0
    assert_converged(path, actions, sandbox.state(), sandbox.stats())
    assert sandbox.stats()["faults_injected"][fault] == 6


def test_mixed_faults_converge(world: tuple[Path, World], sandbox: RunningSandbox) -> None:
    path, actions = world
    sandbox.set_faults(fail_rate=0.2, throttle_rate=0.2, drop_rate=0.15, latency_ms=2)

    runs = sync_until_done(path, settings_for(sandbox))

    assert runs[-1].failed == 0, [run.as_dict() for run in runs]
    assert_converged(path, actions, sandbox.state(), sandbox.stats())


def test_failed_after_retries_stays_pending_until_a_later_run(
    world: tuple[Path, World], sandbox: RunningSandbox
) -> None:
    path, actions = world
    sandbox.set_faults(fail_rate=1.0)

    down = sync_once(path, settings_for(sandbox, cio_privacy_max_attempts=2))

    assert down.exit_status == 1
    assert down.delivered == 0
    assert down.failed == len(actions.rows) - 2
    assert all("after 2 attempts" in error for error in down.errors if "HTTP 5" in error)
    sandbox.set_faults(fail_rate=0.0)
    up = sync_once(path, settings_for(sandbox))
    assert up.actions_read == len(actions.rows) - 2  # the rejected ones are not read again
    assert_converged(path, actions, sandbox.state(), sandbox.stats())
    failed = ledger_rows(path, "select count(*) from raw.customerio_acks where status = 'failed'")
    assert failed == [(len(actions.rows) - 2,)]


def test_limit_sends_the_first_actions_in_user_order(
    world: tuple[Path, World], sandbox: RunningSandbox
) -> None:
    path, actions = world

    first = sync_once(path, settings_for(sandbox), limit=10)

    assert first.actions_read == 10
    ordered = sorted(actions.rows, key=lambda row: (row[1], row[4]))
    assert set(delivered_counts(duckdb_query(path))) == {row[0] for row in ordered[:10]}
    sync_until_done(path, settings_for(sandbox))
    assert_converged(path, actions, sandbox.state(), sandbox.stats())


@pytest.fixture
def small_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB reads in chunks of 7 users and batches of 5 rows: many of each."""
    monkeypatch.setattr(backends, "DUCKDB_USERS_PER_CHUNK", 7)
    monkeypatch.setattr(backends, "READ_BATCH_ROWS", 5)


@pytest.mark.usefixtures("small_reads")
def test_the_reader_thread_keeps_user_order_across_chunks_and_stops_when_left(
    world: tuple[Path, World],
) -> None:
    path, actions = world
    ledger = DuckDBLedger(duckdb_target(path))
    try:
        read = [(a.action_id, a.user_id, a.sequence) for a in ledger.pending_actions(None)]
        ordered = sorted(actions.rows, key=lambda row: (row[1], row[4]))
        assert read == [(row[0], row[1], row[4]) for row in ordered]

        batches = ledger.pending_batches(None)
        assert len(next(batches)) == 5
        batches.close()  # a run that stops early (a fatal answer, --limit)
        assert not [t for t in threading.enumerate() if t.name == "cio-privacy-read"]
    finally:
        ledger.close()


def test_a_failing_read_is_raised_where_the_actions_are_taken(
    world: tuple[Path, World], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = world
    with duckdb.connect(str(path)) as con:
        con.execute("alter table main.customerio_actions rename to actions_table")
        con.execute(
            "create view main.customerio_actions as select * replace ("
            "case when user_id >= 'user_00060' then error('the model broke') else payload end"
            " as payload) from main.actions_table"
        )
    monkeypatch.setattr(backends, "DUCKDB_USERS_PER_CHUNK", 7)
    ledger = DuckDBLedger(duckdb_target(path))
    try:
        with pytest.raises(duckdb.Error, match="the model broke"):
            list(ledger.pending_batches(None))
        assert not [t for t in threading.enumerate() if t.name == "cio-privacy-read"]
    finally:
        ledger.close()


@pytest.mark.usefixtures("small_reads")
def test_a_run_stopped_by_a_fatal_answer_stops_reading(
    world: tuple[Path, World], sandbox: RunningSandbox
) -> None:
    path, _ = world
    ledger = DuckDBLedger(duckdb_target(path))
    try:
        with pytest.raises(FatalApiError, match="refused the API key"):
            run_sync(ledger, settings_for(sandbox, customerio_api_key="wrong-key"), SyncOptions())
        assert not [t for t in threading.enumerate() if t.name == "cio-privacy-read"]
    finally:
        ledger.close()


class _NoCursor:
    """A connection whose cursors cannot be opened (the reader thread's first step)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def cursor(self) -> Any:
        raise duckdb.ConnectionException("no cursor today")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connection, name)


def test_a_reader_that_cannot_start_is_an_error_not_a_hang(world: tuple[Path, World]) -> None:
    path, _ = world
    ledger = DuckDBLedger(duckdb_target(path))
    connection = ledger._con
    ledger._con = _NoCursor(connection)  # type: ignore[assignment]
    raised: list[BaseException] = []

    def read() -> None:
        try:
            list(ledger.pending_batches(None))
        except duckdb.Error as error:
            raised.append(error)

    try:
        reading = threading.Thread(target=read, daemon=True)
        reading.start()
        reading.join(timeout=30)
        assert not reading.is_alive(), "the read hung"
        assert [str(error) for error in raised] == ["no cursor today"]
    finally:
        ledger._con = connection
        ledger.close()


# the command line


def cli(path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "CIO_PRIVACY_DUCKDB_PATH": str(path),
        "CUSTOMERIO_API_KEY": KEY,
        "CIO_PRIVACY_MAX_RETRY_WAIT_SECONDS": "0.01",
        "DBT_PROFILES_DIR": str(REPO),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "cio_privacy.cli", "sync", *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_command_prints_one_json_summary_and_exits_1_on_rejections(
    world: tuple[Path, World], sandbox: RunningSandbox
) -> None:
    path, actions = world

    done = cli(path, "--json", CUSTOMERIO_BASE_URL=sandbox.url)

    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout)
    assert summary["delivered"] == len(actions.rows) - 2
    assert summary["rejected"] == 2
    assert summary["status"] == RunStatus.COMPLETED_WITH_FAILURES
    again = cli(path, "--json", CUSTOMERIO_BASE_URL=sandbox.url)
    assert again.returncode == 0
    assert json.loads(again.stdout)["actions_read"] == 0


def test_a_wrong_key_exits_2_with_one_line_and_no_key(
    world: tuple[Path, World], sandbox: RunningSandbox
) -> None:
    path, _ = world
    wrong = "wrong-key-abcdef123456"

    done = cli(path, CUSTOMERIO_BASE_URL=sandbox.url, CUSTOMERIO_API_KEY=wrong)

    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "refused the API key" in lines[0]
    assert wrong not in done.stderr + done.stdout
    assert sandbox.state()["messages_received"] == 0
    assert ledger_rows(path, "select status from raw.customerio_sync_runs") == [
        (RunStatus.ABORTED,)
    ]
    assert ledger_rows(
        path, "select count(*) from raw.customerio_acks where status = 'delivered'"
    ) == [(0,)]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CUSTOMERIO_API_KEY": ""}, "CUSTOMERIO_API_KEY is not set"),
        ({"CUSTOMERIO_BASE_URL": ""}, "CUSTOMERIO_REGION is not set"),
    ],
)
def test_missing_configuration_exits_2_before_anything_is_written(
    world: tuple[Path, World], sandbox: RunningSandbox, env: dict[str, str], message: str
) -> None:
    path, _ = world

    done = cli(path, **{"CUSTOMERIO_BASE_URL": sandbox.url, **env})

    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute("select table_name from information_schema.tables").fetchall()
    assert ("customerio_acks",) not in tables


def test_too_many_deletions_refuse_to_start_with_exit_3(
    world: tuple[Path, World], sandbox: RunningSandbox
) -> None:
    path, actions = world
    removals = actions.by_type()["suppress_person"] + actions.by_type()["delete_person"]

    refused = cli(path, "--max-deletes", str(removals - 1), CUSTOMERIO_BASE_URL=sandbox.url)

    assert refused.returncode == 3
    assert f"{removals:,} suppress/delete actions are pending" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert sandbox.state()["messages_received"] == 0
    allowed = cli(path, "--max-deletes", str(removals), CUSTOMERIO_BASE_URL=sandbox.url)
    assert allowed.returncode == 1  # ran; the poison actions are rejected


def test_the_default_guard_is_a_safe_number(tmp_path: Path, sandbox: RunningSandbox) -> None:
    path = tmp_path / "many.duckdb"
    world = make_world(2_600, poison=False)  # 1,040 suppress/delete actions
    write_actions(path, world)

    done = cli(path, CUSTOMERIO_BASE_URL=sandbox.url)

    assert done.returncode == 3
    assert "more than --max-deletes 1,000" in done.stderr


def test_a_dry_run_prints_the_plan_masked_and_writes_nothing(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    path = tmp_path / "dry.duckdb"
    world = make_world(10, poison=False)
    contact = ("user_99999", 1, "identify")
    payload = json.dumps({"email": "jane.doe@example.com", "phone": "+44 20 7946 0958"})
    world.rows.append(("a-contact", *contact[:1], "identify", payload, 1, "test", None))
    write_actions(path, world)

    done = cli(path, "--dry-run", "--json", CUSTOMERIO_BASE_URL=sandbox.url, CUSTOMERIO_API_KEY="")

    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["dry_run"] is True
    assert plan["pending_by_type"] == dict(sorted(world.by_type().items()))
    assert {sample["action_type"] for sample in plan["samples"]} == set(world.by_type())
    assert "jane.doe@example.com" not in done.stdout
    assert "7946" not in done.stdout
    text = cli(path, "--dry-run", CUSTOMERIO_BASE_URL=sandbox.url)
    assert text.returncode == 0
    assert "nothing sent, nothing written" in text.stdout
    assert "jane.doe" not in text.stdout
    assert sandbox.state()["messages_received"] == 0
    with duckdb.connect(str(path), read_only=True) as con:
        tables = {
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables"
            ).fetchall()
        }
    assert tables == {"customerio_actions"}


def test_an_unbuilt_model_is_one_line_and_exit_2(tmp_path: Path, sandbox: RunningSandbox) -> None:
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()

    done = cli(path, CUSTOMERIO_BASE_URL=sandbox.url)

    assert done.returncode == 2
    assert "no customerio_actions at main.customerio_actions" in done.stderr


# R18 pseudonymisation


def pseudonymized_world(path: Path) -> str:
    """One R18 pseudonymisation: the model names the profile columns, it holds no values."""
    world = make_world(0, poison=False)
    payload = json.dumps(
        {"email": {"$pseudonymize": "email"}, "phone": {"$pseudonymize": "phone"}, "plan": "x"}
    )
    world.rows.append(("a-pseudo", "user_00001", "identify", payload, 1, "retention", None))
    write_actions(path, world)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema raw")
        con.execute(
            "create table raw.user_profiles as select * from (values "
            "('user_00001', 'old@example.com', '+15550100', timestamp '2025-01-01'), "
            "('user_00001', 'jane.doe@example.com', null, timestamp '2026-01-01'), "
            "('user_00002', 'other@example.com', null, timestamp '2026-01-01')"
            ") as profiles(user_id, email, phone, updated_at)"
        )
    return payload


def test_pseudonyms_are_keyed_hmacs_computed_at_send_time(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    path = tmp_path / "pseudo.duckdb"
    payload = pseudonymized_world(path)
    secret = "hmac-secret-key-0123456789"

    summary = sync_once(path, settings_for(sandbox, privacy_hmac_key=secret))

    assert summary.delivered == 1
    expected = hmac.new(secret.encode(), b"jane.doe@example.com", hashlib.sha256).hexdigest()
    # the latest profile's e-mail, keyed; its phone is null now, so the trait is removed
    assert sandbox.state()["people"]["user_00001"] == {"email": expected, "plan": "x"}
    assert ledger_rows(path, "select payload from raw.customerio_acks") == [(payload,)]


def test_a_pending_pseudonym_without_a_key_exits_2(tmp_path: Path, sandbox: RunningSandbox) -> None:
    path = tmp_path / "pseudo.duckdb"
    pseudonymized_world(path)

    done = cli(path, CUSTOMERIO_BASE_URL=sandbox.url, PRIVACY_HMAC_KEY="")

    assert done.returncode == 2
    assert "PRIVACY_HMAC_KEY is not set" in done.stderr
    assert sandbox.state()["messages_received"] == 0
