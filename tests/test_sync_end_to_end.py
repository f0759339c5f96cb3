"""dbt build -> sync -> dbt build -> sync sends nothing, on DuckDB, with the real export model.

The acknowledgements the sync writes come back into the models as the
`customerio_acks` source (R21): once delivered, an action is no longer
pending, so the rebuilt `customerio_actions` is empty of them and the next
sync sends nothing.

The world ends today and both builds run at the current time (as_of empty):
acknowledgements count from when they were written (acked_at <= as_of), so a
fixed past as_of would rightly ignore the ones this test writes.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from cio_privacy.backends import DuckDBLedger
from cio_privacy.generate import generate_lakehouse
from cio_privacy.sandbox import running_sandbox
from cio_privacy.sync import SyncOptions, run_sync

from tests.conftest import REPO, SEED, run_dbt
from tests.sync_world import KEY, duckdb_target
from tests.test_sync import settings_for

MODEL = REPO / "models" / "exports" / "customerio_actions.sql"
USERS = 300


@pytest.mark.skipif(
    not MODEL.exists(), reason="the export model customerio_actions is not built yet"
)
def test_build_sync_build_sync_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "lakehouse.duckdb"
    monkeypatch.setenv("CIO_PRIVACY_DUCKDB_PATH", str(path))
    with duckdb.connect(str(path)) as con:
        today = dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time())
        generate_lakehouse(con, users=USERS, seed=SEED, end=today)

    def build(name: str) -> None:
        result = run_dbt(["build"], target="local", target_path=tmp_path / name)
        assert result.success, result.failures()

    def pending() -> int:
        with duckdb.connect(str(path)) as con:
            rows = con.execute("select count(*) from main.customerio_actions").fetchone()
        assert rows is not None
        return int(rows[0])

    build("first")
    actions = pending()
    assert actions > 0
    with running_sandbox(api_key=KEY) as sandbox:
        settings = settings_for(sandbox)
        options = SyncOptions(max_deletes=actions)

        def sync() -> int:
            ledger = DuckDBLedger(duckdb_target(path))
            try:
                return run_sync(ledger, settings, options).delivered
            finally:
                ledger.close()

        assert sync() == actions
        received = sandbox.state()["messages_received"]
        build("second")
        assert pending() == 0, "delivered actions are pending again after a rebuild"
        assert sync() == 0
        assert sandbox.state()["messages_received"] == received
