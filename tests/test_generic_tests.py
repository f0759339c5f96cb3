"""The project's generic data tests find what they are meant to find.

The build runs them on every key; here the SQL they compiled to runs against
the built model (it finds nothing) and against a small table with the
faults planted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from tests.conftest import DbtResult


def _found_in_planted(
    build: DbtResult, database: Path, test_prefix: str, model_name: str, planted: str
) -> list[tuple[Any, ...]]:
    """What the test compiled for `model_name` returns on the built model
    (asserted empty) and on the rows of `planted` (returned)."""
    node = next(r.node for r in build.results if r.node.name.startswith(test_prefix))
    model = next(r.node for r in build.results if r.node.name == model_name)
    relation = f'"{model.database}"."{model.schema}"."{model.alias}"'
    compiled = str(node.compiled_code)
    assert relation in compiled
    with duckdb.connect(str(database)) as con:
        assert con.execute(compiled).fetchall() == [], "the built model has a sound key"
        con.execute(f"create temp table planted as {planted}")
        return con.execute(compiled.replace(relation, "planted")).fetchall()


def test_primary_key_reports_duplicated_and_null_keys(
    duckdb_build: DbtResult, duckdb_path: Path
) -> None:
    found = _found_in_planted(
        duckdb_build,
        duckdb_path,
        "primary_key_dsr_requests_request_id",
        "dsr_requests",
        "select * from (values ('req_1'), ('req_2'), ('req_2'), (null), ('req_3')) "
        "as keys(request_id)",
    )
    assert sorted(found, key=str) == [("req_2", 2), (None, 1)]


def test_unique_combination_of_columns_reports_every_shared_combination(
    duckdb_build: DbtResult, duckdb_path: Path
) -> None:
    found = _found_in_planted(
        duckdb_build,
        duckdb_path,
        "unique_combination_of_columns_consent_state_user_id",
        "consent_state",
        "select * from (values ('u1', 'sms'), ('u1', 'email'), ('u1', 'email'), "
        "('u2', 'email'), (null, 'sms'), (null, 'sms'), ('u3', null)) "
        "as keys(user_id, consent_type)",
    )
    assert sorted(found, key=str) == [("u1", "email", 2), (None, "sms", 2)]
