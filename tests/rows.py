"""Rows of dbt models, compared across engines and builds regardless of order.

Shared by the parity test (DuckDB vs Spark) and the incremental test
(incremental run vs full refresh).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any


def model_relations(target_path: Path) -> dict[str, str]:
    """Every model of a build's manifest: name -> relation as the engine spells it."""
    manifest = json.loads((target_path / "manifest.json").read_text())
    return {
        node["name"]: node["relation_name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    }


# When a row was written, not what it says: differs between any two builds.
RUN_STAMPS = ("staged_at",)


def duckdb_select(relation: str) -> str:
    """Every column of a DuckDB relation but the run stamps."""
    kept = " and ".join(f"c != '{column}'" for column in RUN_STAMPS)
    return f"select columns(lambda c: {kept}) from {relation}"


def spark_rows(frame: Any) -> list[tuple[Any, ...]]:
    """Every row of a Spark DataFrame, without the run stamps."""
    return [tuple(row) for row in frame.drop(*RUN_STAMPS).collect()]


def normalise(value: Any) -> Any:
    """One representation per value, whichever engine returned it."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat(timespec="microseconds")
    if isinstance(value, dict):
        return tuple(sorted((str(k), normalise(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(normalise(item) for item in value)
    if isinstance(value, float | Decimal):
        return round(float(value), 9)
    return value


def rows(values: list[tuple[Any, ...]]) -> Counter[tuple[Any, ...]]:
    """A multiset of normalised rows."""
    return Counter(tuple(normalise(value) for value in row) for row in values)


def difference(
    model: str,
    left: Counter[tuple[Any, ...]],
    right: Counter[tuple[Any, ...]],
    names: tuple[str, str] = ("left", "right"),
) -> str | None:
    """None when both hold the same rows, else one line that says how they differ."""
    only_left = left - right
    only_right = right - left
    if not only_left and not only_right:
        return None
    return (
        f"{model}: {sum(only_left.values())} rows only {names[0]} "
        f"(e.g. {next(iter(only_left), None)}), {sum(only_right.values())} only "
        f"{names[1]} (e.g. {next(iter(only_right), None)})"
    )
