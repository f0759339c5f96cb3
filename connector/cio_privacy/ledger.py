"""The sync's state in the warehouse: pending actions in, acknowledgements and run rows out.

A `Ledger` is what `sync` needs from a warehouse, and nothing more:

- `pending_batches` streams the rows of the export model `customerio_actions`
  that have no `delivered` or `rejected` acknowledgement yet, ordered by
  (user_id, sequence), in batches of columns, so that a million actions
  never sit in memory at once (`pending_actions`: the same, one by one).
  Leaving acknowledged actions out here (and not only in the model) is what
  makes a second run right after a successful one send nothing, even before
  dbt rebuilds (contracts.md).
- `append_acks` appends one `customerio_acks` row per action of a response;
  `flush` makes every appended row durable.
- `start_run` inserts the run's `customerio_sync_runs` row as `running`, with
  no `finished_at`; `finish_run` fills it in. A run that died keeps
  `running` and a null `finished_at`: visible, and told apart from a run in
  progress by its age.

Where things are (profiles.yml, as dbt names them): the model in the
target's own schema (`<schema>.customerio_actions`, `<catalog>.<schema>...`
on Databricks), the acknowledgements in the raw schema beside the raw
tables (dbt var `raw_schema`, default `raw`), as the dbt sources declare.

The SQL here is Spark SQL that DuckDB also runs; the Spark and Databricks
backends run exactly these statements, so the Databricks path is tested on
Spark. Acknowledgements travel as one JSON parameter that `from_json` and
`inline` turn into rows, which needs no per-row parameters and no quoting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from cio_privacy.actions import (
    Action,
    ActionColumns,
    ActionType,
    ResultGroup,
    Status,
    parse_timestamp,
)
from cio_privacy.profiles import Target
from cio_privacy.warehouse import LEDGER_TABLE_COLUMNS

ACTIONS_MODEL = "customerio_actions"
ACKS_TABLE = "customerio_acks"
RUNS_TABLE = "customerio_sync_runs"
DEFAULT_RAW_SCHEMA = "raw"
READ_BATCH_ROWS = 2_048
# The directive the export model puts in an identify trait for R18 pseudonymisation.
PSEUDONYMIZE_DIRECTIVE = "$pseudonymize"
# What a directive may name: R18 pseudonymises e-mail and phone, from raw.user_profiles.
PSEUDONYMIZE_SOURCES = ("email", "phone")
# Actions that remove a person from Customer.io (the --max-deletes guard counts them).
REMOVING_TYPES = frozenset({ActionType.SUPPRESS_PERSON, ActionType.DELETE_PERSON})
ACTION_COLUMNS = (
    "action_id",
    "user_id",
    "action_type",
    "payload",
    "sequence",
    "generated_at",
    "reason",
)


class RunStatus:
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # every action read was delivered
    COMPLETED_WITH_FAILURES = "completed_with_failures"  # some rejected or failed
    ABORTED = "aborted"  # stopped early (wrong key, a warehouse error); see the acks


@dataclass
class SyncRun:
    """One `customerio_sync_runs` row."""

    run_id: str
    started_at: dt.datetime
    target: str
    region: str | None
    dry_run: bool = False
    finished_at: dt.datetime | None = None
    actions_read: int = 0
    delivered: int = 0
    rejected: int = 0
    failed: int = 0
    status: str = RunStatus.RUNNING

    def count(self, group: ResultGroup) -> None:
        self.actions_read += len(group)
        if group.status is Status.DELIVERED:
            self.delivered += len(group)
        elif group.status is Status.REJECTED:
            self.rejected += len(group)
        else:
            self.failed += len(group)

    def row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in LEDGER_TABLE_COLUMNS[RUNS_TABLE]}


@dataclass
class PendingSummary:
    """What a run would read: counts per action type, and what needs a guard or a key."""

    by_type: dict[str, int] = field(default_factory=dict)
    pseudonymized: int = 0  # identify actions carrying a pseudonymisation directive

    @property
    def total(self) -> int:
        return sum(self.by_type.values())

    @property
    def removals(self) -> int:
        return sum(count for kind, count in self.by_type.items() if kind in REMOVING_TYPES)


class Ledger(Protocol):
    """What `sync` reads from and writes to a warehouse."""

    target: Target

    def ensure_tables(self) -> None: ...

    def pending_summary(self, limit: int | None) -> PendingSummary: ...

    def pending_actions(self, limit: int | None) -> Iterator[Action]: ...

    def pending_batches(self, limit: int | None) -> Iterator[ActionColumns]:
        """The same actions in batches of columns: what the sync reads."""
        ...

    def sample_actions(self, per_type: int, limit: int | None) -> list[Action]: ...

    def pseudonym_sources(self, limit: int | None) -> dict[str, dict[str, str | None]]: ...

    def start_run(self, run: SyncRun) -> None: ...

    def append_acks(self, run_id: str, groups: Sequence[ResultGroup]) -> None: ...

    def flush(self) -> None: ...

    def finish_run(self, run: SyncRun) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Relations:
    """The three tables a sync touches, as the engine spells them."""

    actions: str
    acks: str
    runs: str
    raw_schema: str


def relations_for(target: Target, raw_schema: str = DEFAULT_RAW_SCHEMA) -> Relations:
    """Where the model and the ledger tables are, from the profile (see the module doc)."""
    catalog = target.settings.get("catalog") if target.type == "databricks" else None
    prefix = f"{catalog}." if catalog else ""
    raw = f"{prefix}{raw_schema}"
    return Relations(
        actions=f"{prefix}{target.schema}.{ACTIONS_MODEL}",
        acks=f"{raw}.{ACKS_TABLE}",
        runs=f"{raw}.{RUNS_TABLE}",
        raw_schema=raw,
    )


# Spark SQL, run as is by DuckDB, Spark and Databricks.


def pending_sql(
    relations: Relations,
    limit: int | None,
    *,
    acks_exist: bool = True,
    ordered: bool = True,
    users_from: str | None = None,
    users_before: str | None = None,
) -> str:
    """The pending actions, ordered by (user_id, sequence); at most `limit`.

    Counting needs no order, unless a limit decides which actions count.
    `users_from` / `users_before` are parameter markers (not values) that
    restrict the read to a range of user ids, for readers that go in chunks.
    """
    conditions = []
    if acks_exist:
        acked_range = "".join(
            f" and acks.user_id {operator} {marker}"
            for operator, marker in ((">=", users_from), ("<", users_before))
            if marker is not None
        )
        conditions.append(
            f"""not exists (
        select 1 from {relations.acks} as acks
        where acks.action_id = actions.action_id and acks.status in ('delivered', 'rejected')
            {acked_range}
    )"""
        )
    if users_from is not None:
        conditions.append(f"actions.user_id >= {users_from}")
    if users_before is not None:
        conditions.append(f"actions.user_id < {users_before}")
    acked = ("\n    where " + "\n        and ".join(conditions)) if conditions else ""
    return f"""
    select
        actions.action_id,
        actions.user_id,
        actions.action_type,
        actions.payload,
        cast(actions.sequence as bigint) as sequence,
        -- as text: Spark would turn a timestamp into the client's local time
        cast(actions.generated_at as string) as generated_at,
        actions.reason
    from {relations.actions} as actions{acked}
    {"order by actions.user_id, actions.sequence" if ordered or limit is not None else ""}
    {f"limit {int(limit)}" if limit is not None else ""}
    """


def user_bounds_sql(relations: Relations, users_per_chunk: int, *, acks_exist: bool) -> str:
    """The first user id of every `users_per_chunk` users with pending actions, in order."""
    return f"""
    select user_id from (
        select user_id, row_number() over (order by user_id) as nth_user
        from (
            select distinct user_id
            from ({pending_sql(relations, None, acks_exist=acks_exist, ordered=False)}) as pending
        ) as users
    ) as numbered
    where nth_user % {int(users_per_chunk)} = 1
    order by user_id
    """


def summary_sql(relations: Relations, limit: int | None, *, acks_exist: bool = True) -> str:
    return f"""
    select
        action_type,
        count(*) as actions,
        sum(case when action_type = 'identify' and payload like '%"{PSEUDONYMIZE_DIRECTIVE}"%'
            then 1 else 0 end) as pseudonymized
    from ({pending_sql(relations, limit, acks_exist=acks_exist, ordered=False)}) as pending
    group by action_type
    """


def pseudonym_sources_sql(
    relations: Relations, limit: int | None, *, acks_exist: bool = True
) -> str:
    """The profile values that pending pseudonymisation directives name, per action.

    Only for the actions that carry a directive, from each user's latest
    `user_profiles` row: the model never holds them (no personal data in
    its payloads), the connector reads them at send time.
    """
    columns = ", ".join(f"profiles.{column}" for column in PSEUDONYMIZE_SOURCES)
    return f"""
    select pending.action_id, {columns}
    from ({pending_sql(relations, limit, acks_exist=acks_exist, ordered=False)}) as pending
    left join (
        select
            user_id, {", ".join(PSEUDONYMIZE_SOURCES)},
            row_number() over (
                partition by user_id order by updated_at desc nulls last
            ) as nth_version
        from {relations.raw_schema}.user_profiles
    ) as profiles
        on profiles.user_id = pending.user_id and profiles.nth_version = 1
    where pending.action_type = 'identify'
        and pending.payload like '%"{PSEUDONYMIZE_DIRECTIVE}"%'
    """


def sources_from_rows(rows: Sequence[Sequence[Any]]) -> dict[str, dict[str, str | None]]:
    return {str(row[0]): dict(zip(PSEUDONYMIZE_SOURCES, row[1:], strict=True)) for row in rows}


def sample_sql(
    relations: Relations, per_type: int, limit: int | None, *, acks_exist: bool = True
) -> str:
    return f"""
    select {", ".join(ACTION_COLUMNS)} from (
        select
            pending.*,
            row_number() over (
                partition by action_type order by user_id, sequence
            ) as nth_of_type
        from ({pending_sql(relations, limit, acks_exist=acks_exist)}) as pending
    ) as numbered
    where nth_of_type <= {int(per_type)}
    order by user_id, sequence
    """


def create_table_sql(relation: str, table: str, *, using: str | None = None) -> str:
    body = ", ".join(f"{name} {kind}" for name, kind in LEDGER_TABLE_COLUMNS[table].items())
    return f"create table if not exists {relation} ({body})" + (f" using {using}" if using else "")


_ACK_STRUCT = (
    "array<struct<action_id:string,run_id:string,user_id:string,action_type:string,"
    "payload:string,status:string,http_status:bigint,error:string,attempts:bigint,"
    "sent_at:string,acked_at:string>>"
)


def insert_acks_sql(relations: Relations, parameter: str = ":acks") -> str:
    """Appends the acknowledgements given as one JSON array parameter."""
    return f"""
    insert into {relations.acks}
    select
        action_id, run_id, user_id, action_type, payload, status, http_status, error, attempts,
        cast(sent_at as timestamp), cast(acked_at as timestamp)
    from (select inline(from_json({parameter}, '{_ACK_STRUCT}')))
    """


def insert_run_sql(relations: Relations, run: SyncRun) -> str:
    return f"insert into {relations.runs} values ({', '.join(_run_values(run))})"


def finish_run_sql(relations: Relations, run: SyncRun) -> str:
    values = _run_values(run)
    names = list(LEDGER_TABLE_COLUMNS[RUNS_TABLE])
    assignments = ", ".join(
        f"{name} = {value}" for name, value in zip(names, values, strict=True) if name != "run_id"
    )
    return f"update {relations.runs} set {assignments} where run_id = {_literal(run.run_id)}"


def _run_values(run: SyncRun) -> list[str]:
    return [_literal(value) for value in run.row().values()]


def _literal(value: Any) -> str:
    """A SQL literal for the run row's own values (ids, counts, times; no input text)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return f"timestamp '{_timestamp_text(value)}'"
    text = str(value)
    if "'" in text or "\\" in text:
        raise ValueError("run values are identifiers the connector makes, without quotes")
    return f"'{text}'"


def _timestamp_text(moment: dt.datetime | None) -> str | None:
    """UTC wall time, naive, to the microsecond (the warehouse's timestamps are UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.isoformat(sep=" ", timespec="microseconds")


def acks_json(run_id: str, groups: Sequence[ResultGroup]) -> str:
    """The acknowledgements as the JSON array `insert_acks_sql` reads."""
    rows = []
    for group in groups:
        shared = {
            "run_id": run_id,
            "status": str(group.status),
            "http_status": group.http_status,
            "error": group.error,
            "attempts": group.attempts,
            "sent_at": _timestamp_text(group.sent_at),
            "acked_at": _timestamp_text(group.completed_at),
        }
        for action in group.actions:
            rows.append(
                {
                    "action_id": action.action_id,
                    "user_id": action.user_id,
                    "action_type": action.action_type,
                    "payload": action.payload,
                    **shared,
                }
            )
    return orjson.dumps(rows).decode()


def action_from_row(row: Sequence[Any]) -> Action:
    action_id, user_id, action_type, payload, sequence, generated_at, reason = row
    return Action(
        action_id=action_id,
        user_id=user_id,
        action_type=action_type,
        payload=payload if payload is not None else "{}",
        sequence=int(sequence) if sequence is not None else 0,
        generated_at=parse_timestamp(generated_at),
        reason=reason,
    )


def summary_from_rows(rows: Sequence[Sequence[Any]]) -> PendingSummary:
    summary = PendingSummary()
    for action_type, actions, pseudonymized in rows:
        summary.by_type[str(action_type)] = int(actions)
        summary.pseudonymized += int(pseudonymized or 0)
    summary.by_type = dict(sorted(summary.by_type.items()))
    return summary
