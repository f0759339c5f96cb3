"""R14: an invalid retention policy fails the build with a message naming the row.

The project is copied to a temporary directory, its retention_policies seed
replaced by one with broken rows, and `dbt seed` then `dbt run` are run there
on DuckDB (only the seed and the model that checks it: no lakehouse needed).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import REPO, DbtResult, copy_dbt_project

HEADER = "policy_id,data_category,retention_days,deletion_strategy,exceptions,legal_basis,is_active"
VALID_ROW = "events_delete_after_36_months,events,1095,hard_delete,legal_hold,Art. 6(1)(f),true"


def _copy_project(destination: Path, policies_csv: str) -> Path:
    project = copy_dbt_project(destination / "project")
    (project / "seeds" / "retention_policies.csv").write_text(policies_csv)
    return project


def _run_dbt(project: Path, args: list[str]) -> tuple[DbtResult, str]:
    """dbt in this process against the copied project; returns the result and its messages."""
    from dbt.cli.main import dbtRunner

    target_path = project / "target"
    cwd = Path.cwd()
    os.chdir(project)
    try:
        outcome = dbtRunner().invoke(
            [
                *args,
                "--target",
                "local",
                "--profiles-dir",
                str(project),
                "--project-dir",
                str(project),
                "--target-path",
                str(target_path),
                "--log-path",
                str(project / "logs"),
                "--no-partial-parse",
            ]
        )
    finally:
        os.chdir(cwd)
    results = list(outcome.result or []) if outcome.result is not None else []
    messages = "\n".join(str(result.message or "") for result in results)
    if outcome.exception is not None:
        messages += "\n" + str(outcome.exception)
    return DbtResult(success=outcome.success, results=results, target_path=target_path), messages


@pytest.fixture
def broken_policies_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[DbtResult, DbtResult, str]:
    rows = [
        VALID_ROW,
        "zero_days,devices,0,hard_delete,,Art. 5(1)(e),true",
        "wordy_days,devices,thirty,hard_delete,,Art. 5(1)(e),true",
        ",purchases,365,archive,,Art. 5(1)(e),true",
        "bad_vocabulary,emails,365,shred,legal_hold|vip,Art. 5(1)(e),yes",
        "no_basis,profile,730,anonymize,open_dsr,,true",
        VALID_ROW,
    ]
    project = _copy_project(tmp_path, "\n".join([HEADER, *rows]) + "\n")
    monkeypatch.setenv("CIO_PRIVACY_DUCKDB_PATH", str(tmp_path / "policies.duckdb"))
    seeded, _ = _run_dbt(project, ["seed", "--select", "retention_policies"])
    built, messages = _run_dbt(project, ["run", "--select", "int_retention_policies"])
    return seeded, built, messages


def test_r14_invalid_policy_rows_fail_the_build_naming_each_row(
    broken_policies_build: tuple[DbtResult, DbtResult, str],
) -> None:
    seeded, built, messages = broken_policies_build
    # Every column loads as text, so a bad value reaches the check instead of breaking the load.
    assert seeded.success, seeded.failures()
    assert not built.success
    for expected in (
        "Invalid rows in seed retention_policies (R14)",
        "policy 'zero_days': retention_days '0' is not a whole number of days > 0",
        "policy 'wordy_days': retention_days 'thirty' is not a whole number of days > 0",
        "the row without a policy_id (data_category purchases, retention_days 365)",
        "policy 'bad_vocabulary': unknown data_category 'emails'",
        "policy 'bad_vocabulary': unknown deletion_strategy 'shred'",
        "policy 'bad_vocabulary': unknown exception 'vip'",
        "policy 'bad_vocabulary': is_active 'yes' is not true or false",
        "policy 'no_basis': legal_basis is empty",
        "policy 'events_delete_after_36_months': policy_id appears more than once",
    ):
        assert expected in messages, f"{expected!r} not in:\n{messages}"
    assert messages.count("events_delete_after_36_months") == 1, "valid values are not reported"


def test_r14_shipped_policies_are_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = (REPO / "seeds" / "retention_policies.csv").read_text()
    project = _copy_project(tmp_path, shipped)
    monkeypatch.setenv("CIO_PRIVACY_DUCKDB_PATH", str(tmp_path / "policies.duckdb"))
    seeded, _ = _run_dbt(project, ["seed", "--select", "retention_policies"])
    built, messages = _run_dbt(project, ["run", "--select", "int_retention_policies"])
    assert seeded.success, seeded.failures()
    assert built.success, messages
