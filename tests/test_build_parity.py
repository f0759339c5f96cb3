"""The same generated lakehouse, built on DuckDB and on Spark, gives the same rows.

This is the proof that the SQL Databricks runs (Spark SQL) and the SQL a
laptop runs (DuckDB) mean the same thing. Both builds run every unit and data
test; then every model is compared row for row, ignoring order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.conftest import DbtResult
from tests.rows import duckdb_select, model_relations, rows, spark_rows


def test_duckdb_build_passes_every_test(duckdb_build: DbtResult) -> None:
    assert duckdb_build.success, duckdb_build.failures()
    assert not duckdb_build.failures()


@pytest.mark.spark
def test_spark_build_passes_every_test(spark_build: DbtResult) -> None:
    assert spark_build.success, spark_build.failures()
    assert not spark_build.failures()


@pytest.mark.spark
def test_every_model_has_identical_rows_on_duckdb_and_spark(
    duckdb_build: DbtResult, spark_build: DbtResult, duckdb_path: Path, spark: Any
) -> None:
    local_models = model_relations(duckdb_build.target_path)
    spark_models = model_relations(spark_build.target_path)
    assert local_models.keys() == spark_models.keys()
    with duckdb.connect(str(duckdb_path)) as con:
        for model, relation in sorted(local_models.items()):
            local_columns = [c[0] for c in con.execute(f"describe {relation}").fetchall()]
            spark_frame = spark.table(spark_models[model].replace("`", ""))
            assert spark_frame.columns == local_columns, model
            local_rows = rows(con.execute(duckdb_select(relation)).fetchall())
            on_spark = rows(spark_rows(spark_frame))
            assert sum(local_rows.values()) > 0, f"{model} is empty: the comparison proves nothing"
            only_local = local_rows - on_spark
            only_spark = on_spark - local_rows
            assert not only_local + only_spark, (
                f"{model}: {sum(only_local.values())} rows only on DuckDB "
                f"(e.g. {next(iter(only_local), None)}), {sum(only_spark.values())} only on "
                f"Spark (e.g. {next(iter(only_spark), None)})"
            )


def test_quarantine_accounts_for_every_raw_row(duckdb_build: DbtResult, duckdb_path: Path) -> None:
    """R1 + R2 on realistic data: every bad kind the generator plants is caught."""
    with duckdb.connect(str(duckdb_path)) as con:
        raw = con.execute("select count(*) from raw.privacy_events").fetchone()
        dispositions = dict(
            con.execute(
                "select disposition, count(*) from main_staging.stg_privacy_events group by 1"
            ).fetchall()
        )
        reasons = {
            reason
            for (reason,) in con.execute(
                "select distinct rejection_reason from main.privacy_events_rejected"
            ).fetchall()
        }
    assert raw is not None
    assert sum(dispositions.values()) == raw[0]
    assert dispositions["duplicate"] > 0
    assert 0.005 < dispositions["rejected"] / raw[0] < 0.02
    assert reasons >= {
        "missing_user_id",
        "unknown_event_type",
        "invalid_subtype",
        "invalid_status",
        "missing_timestamp",
        "future_timestamp",
        "missing_request_id",
        "unknown_regulation",
        "invalid_metadata",
    }
