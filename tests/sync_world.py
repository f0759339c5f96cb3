"""A small world of pending actions for the sync tests, and what Customer.io should hold after.

The sync reads a relation; the export model that normally fills it is
tested on its own, so these tests create `customerio_actions` directly as a
table with the model's contract columns. The users follow the rules the
model follows (R16-R20): an erased user has only its suppress_person; a
delete_person comes after the user's other actions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from cio_privacy.profiles import Target

KEY = "sync-test-key-0123456789"
GENERATED_AT = dt.datetime(2026, 11, 1, 2, 0, 0)
TOPIC = "cio_subscription_preferences"
# identify payloads the API would never accept: rejected before sending, with a reason
POISON = {
    "user_zz_not_an_object": "[1, 2]",
    "user_zz_oversized": json.dumps({"note": "x" * 40_000}),
}


@dataclass
class World:
    """The pending actions and the sandbox state they should produce."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    suppressed: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)

    @property
    def action_ids(self) -> set[str]:
        return {row[0] for row in self.rows}

    @property
    def poison_ids(self) -> set[str]:
        return {row[0] for row in self.rows if row[1] in POISON}

    def by_type(self) -> Counter[str]:
        return Counter(row[2] for row in self.rows)


def action_id(user_id: str, action_type: str, payload: str) -> str:
    return hashlib.sha256(f"{user_id}|{action_type}|{payload}".encode()).hexdigest()[:32]


def make_world(users: int, *, poison: bool = True) -> World:
    world = World()

    def add(user_id: str, sequence: int, action_type: str, payload: str = "{}") -> None:
        world.rows.append(
            (
                action_id(user_id, action_type, payload),
                user_id,
                action_type,
                payload,
                sequence,
                "test",
                GENERATED_AT,
            )
        )

    for n in range(users):
        user_id = f"user_{n:05d}"
        traits = {
            "unsubscribed": n % 3 == 0,
            "email_suppressed": n % 3 == 0,
            "email_suppression_reason": "unsubscribed" if n % 3 == 0 else None,
            "consent_email_marketing": "withdrawn" if n % 3 == 0 else "granted",
        }
        kind = n % 5
        if kind == 0:
            add(user_id, 1, "identify", json.dumps(traits))
            world.people[user_id] = {k: v for k, v in traits.items() if v is not None}
        elif kind == 1:  # erasure (R17): one suppress_person, nothing else (R20)
            add(user_id, 1, "suppress_person")
            world.suppressed.add(user_id)
        elif kind == 2:  # retention hard delete after a trait update (R18, R20)
            add(user_id, 1, "identify", json.dumps(traits))
            add(user_id, 2, "delete_person")
            world.deleted.add(user_id)
        elif kind == 3:  # topics, sent as dotted traits
            payload = {
                "unsubscribed": False,
                TOPIC: {"topics": {"topic_1": True, "topic_2": n % 2 == 0}},
            }
            add(user_id, 1, "identify", json.dumps(payload))
            world.people[user_id] = {
                "unsubscribed": False,
                TOPIC: {"topics": {"topic_1": True, "topic_2": n % 2 == 0}},
            }
        else:  # a released suppression, then the traits
            add(user_id, 1, "unsuppress_person")
            add(user_id, 2, "identify", json.dumps(traits))
            world.people[user_id] = {k: v for k, v in traits.items() if v is not None}
    if poison:
        for user_id, payload in POISON.items():
            add(user_id, 1, "identify", payload)
    return world


def write_actions(path: Path, world: World, schema: str = "main") -> None:
    """The `customerio_actions` relation, as a table with the model's contract columns."""
    with duckdb.connect(str(path)) as con:
        con.execute(f"create schema if not exists {schema}")
        con.execute(
            f"""
            create or replace table {schema}.customerio_actions (
                action_id varchar, user_id varchar, action_type varchar, payload varchar,
                sequence integer, reason varchar, generated_at timestamp
            )
            """
        )
        columns = list(zip(*world.rows, strict=True)) if world.rows else [[]] * 7
        text = pa.string()
        new_rows = pa.table(
            {
                "action_id": pa.array(columns[0], text),
                "user_id": pa.array(columns[1], text),
                "action_type": pa.array(columns[2], text),
                "payload": pa.array(columns[3], text),
                "sequence": pa.array(columns[4], pa.int32()),
                "reason": pa.array(columns[5], text),
                "generated_at": pa.array(columns[6], pa.timestamp("us")),
            }
        )
        con.register("new_rows", new_rows)
        con.execute(f"insert into {schema}.customerio_actions by name select * from new_rows")


def duckdb_target(path: Path) -> Target:
    return Target(name="local", type="duckdb", settings={"path": str(path), "schema": "main"})


def ledger_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


Query = Callable[[str], list[tuple[Any, ...]]]


def duckdb_query(path: Path) -> Query:
    return lambda sql: ledger_rows(path, sql)


def delivered_counts(query: Query, acks: str = "raw.customerio_acks") -> dict[str, Counter[str]]:
    """action_id -> count of acks by status."""
    counts: dict[str, Counter[str]] = {}
    for action, status, rows in query(
        f"select action_id, status, count(*) from {acks} group by action_id, status"
    ):
        counts.setdefault(action, Counter())[status] = rows
    return counts


def assert_converged(
    ledger: Path | Query,
    world: World,
    state: dict[str, Any],
    stats: dict[str, Any],
    acks: str = "raw.customerio_acks",
) -> None:
    """Every action ended delivered or rejected once, and Customer.io holds what it should."""
    query = duckdb_query(ledger) if isinstance(ledger, Path) else ledger
    counts = delivered_counts(query, acks)
    assert set(counts) == world.action_ids, "an action has no acknowledgement"
    for action, by_status in counts.items():
        if action in world.poison_ids:
            assert by_status["rejected"] == 1, (action, by_status)
            assert by_status["delivered"] == 0, (action, by_status)
        else:
            assert by_status["delivered"] == 1, (action, by_status)
            assert by_status["rejected"] == 0, (action, by_status)
    rejected = query(f"select error from {acks} where status = 'rejected'")
    assert all(error for (error,) in rejected), "a rejection without a reason"
    assert state["people"] == world.people
    assert set(state["suppressed"]) == world.suppressed
    assert set(state["deleted"]) == world.deleted
    # an identify after a user's suppression would be ignored, and would mean reordering
    assert stats["ignored_because_suppressed"].get("identify", 0) == 0
