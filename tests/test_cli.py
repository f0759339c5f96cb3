"""The command line as a user meets it: summaries, --json, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from cio_privacy.cli import main

from tests.conftest import REPO, DbtResult


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cio_privacy.cli", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_generate_writes_the_raw_contract_and_prints_json(tmp_path: Path) -> None:
    database = tmp_path / "demo.duckdb"
    done = cli(
        "generate",
        "--users",
        "300",
        "--seed",
        "3",
        "--end",
        "2026-10-01",
        "--json",
        env={"CIO_PRIVACY_DUCKDB_PATH": str(database)},
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["users"] == 300
    assert summary["target"] == "local"
    with duckdb.connect(str(database), read_only=True) as con:
        for table in ("privacy_events", "user_profiles", "customer_events"):
            (count,) = con.execute(f"select count(*) from raw.{table}").fetchone() or (0,)
            assert count > 0
        (events,) = con.execute("select count(*) from raw.privacy_events").fetchone() or (0,)
    assert summary["privacy_events"] == events


def test_a_new_lakehouse_forgets_the_sync_ledger_of_the_old_one(tmp_path: Path) -> None:
    database = tmp_path / "demo.duckdb"
    env = {"CIO_PRIVACY_DUCKDB_PATH": str(database)}
    assert cli("generate", "--users", "50", "--json", env=env).returncode == 0
    with duckdb.connect(str(database)) as con:  # what a sync of the old world left
        con.execute("create table raw.customerio_acks (action_id varchar, status varchar)")
        con.execute("insert into raw.customerio_acks values ('a1', 'delivered'), ('a2', 'x')")
        con.execute("create table raw.customerio_sync_runs (run_id varchar)")

    done = cli("generate", "--users", "50", "--json", env=env)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["acknowledgements_dropped"] == 2
    with duckdb.connect(str(database), read_only=True) as con:
        left = con.execute(
            "select table_name from information_schema.tables where table_name like 'customerio%'"
        ).fetchall()
    assert left == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "--users", "10", "--target", "staging"], "unknown target 'staging'"),
        (["generate", "--users", "10", "--target", "databricks"], "local or spark targets only"),
        (["generate", "--users", "0"], "at least 1"),
        (["generate", "--users", "10", "--end", "yesterday"], "YYYY-MM-DD"),
        (["summary", "--manifest", "no/such/manifest.json"], "no dbt manifest"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    done = cli(*args, env={"CIO_PRIVACY_DUCKDB_PATH": str(tmp_path / "x.duckdb")})
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert message in lines[-1]
    assert not (tmp_path / "x.duckdb").exists() or args[0] != "generate"


def test_summary_counts_public_models_and_rejections(
    duckdb_build: DbtResult, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        ["summary", "--json", "--manifest", str(duckdb_build.target_path / "manifest.json")]
    )
    assert status == 0
    summary = json.loads(capsys.readouterr().out)
    rejected = summary["model_rows"]["privacy_events_rejected"]
    assert rejected > 0
    assert sum(summary["rejected_by_reason"].values()) == rejected
    assert "missing_user_id" in summary["rejected_by_reason"]
