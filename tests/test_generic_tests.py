"""The project's generic data tests find what they are meant to find.

The build runs them on every primary key; here the SQL they compiled to runs
against a small table with the faults planted.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from tests.conftest import DbtResult


def test_primary_key_reports_duplicated_and_null_keys(
    duckdb_build: DbtResult, duckdb_path: Path
) -> None:
    node = next(
        result.node
        for result in duckdb_build.results
        if result.node.name.startswith("primary_key_dsr_requests_request_id")
    )
    model = next(
        result.node for result in duckdb_build.results if result.node.name == "dsr_requests"
    )
    relation = f'"{model.database}"."{model.schema}"."{model.alias}"'
    compiled = str(node.compiled_code)
    assert relation in compiled
    with duckdb.connect(str(duckdb_path)) as con:
        assert con.execute(compiled).fetchall() == [], "the built model has a sound key"
        con.execute(
            "create temp table planted as select * from (values "
            "('req_1'), ('req_2'), ('req_2'), (null), ('req_3')) as keys(request_id)"
        )
        found = con.execute(compiled.replace(relation, "planted")).fetchall()
    assert sorted(found, key=str) == [("req_2", 2), (None, 1)]


def test_unique_combination_of_columns_reports_every_shared_combination(
    duckdb_build: DbtResult, duckdb_path: Path
) -> None:
    node = next(
        result.node
        for result in duckdb_build.results
        if result.node.name.startswith("unique_combination_of_columns_consent_state_user_id")
    )
    model = next(
        result.node for result in duckdb_build.results if result.node.name == "consent_state"
    )
    relation = f'"{model.database}"."{model.schema}"."{model.alias}"'
    compiled = str(node.compiled_code)
    assert relation in compiled
    with duckdb.connect(str(duckdb_path)) as con:
        assert con.execute(compiled).fetchall() == [], "the built model has a sound key"
        con.execute(
            "create temp table planted as select * from (values "
            "('u1', 'sms'), ('u1', 'email'), ('u1', 'email'), ('u2', 'email'), "
            "(null, 'sms'), (null, 'sms'), ('u3', null)) as keys(user_id, consent_type)"
        )
        found = con.execute(compiled.replace(relation, "planted")).fetchall()
    assert sorted(found, key=str) == [("u1", "email", 2), (None, "sms", 2)]
