"""Per-user incremental models (DuckDB) in the cases a user scope could miss.

Each case builds a small lakehouse, changes it the way a user or a source
would, runs dbt incrementally, and compares every per-user model with a full
refresh of a copy of the same database at the same as_of.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest
from cio_privacy.generate import generate_lakehouse
from cio_privacy.warehouse import create_ledger_tables

from tests.conftest import (
    AS_OF,
    REPO,
    SEED,
    WORLD_END,
    copy_dbt_project,
    environment,
    run_dbt,
)
from tests.rows import difference, rows

USERS = 300
AS_OF_NEXT = "2026-11-02 00:00:00"
PER_USER_MODELS = {
    "int_consent_events": "main_intermediate",
    "int_suppression_signals": "main_intermediate",
    "int_suppression_transitions": "main_intermediate",
    "suppression_state": "main",
    "int_opt_outs": "main_intermediate",
    "int_pending_actions": "main_intermediate",
    "int_user_data_activity": "main_intermediate",
    "retention_candidates": "main",
}


class Lakehouse:
    """A DuckDB lakehouse of its own and the dbt runs made on it."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.path = tmp / "lakehouse.duckdb"
        self.runs = 0
        # the dbt project that runs: the repository's, or a copy a test changed
        self.project = REPO

    def dbt(self, *args: str, as_of: str, path: Path | None = None) -> None:
        self.runs += 1
        with environment(CIO_PRIVACY_DUCKDB_PATH=str(path or self.path)):
            result = run_dbt(
                [*args, "--vars", json.dumps({"as_of": as_of})],
                target="local",
                target_path=self.tmp / f"run-{self.runs}",
                project=self.project,
            )
        assert result.success, result.failures()

    def execute(self, sql: str, *parameters: Any) -> None:
        with duckdb.connect(str(self.path)) as con:
            con.execute(sql, list(parameters))

    def query(self, sql: str, *parameters: Any) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.path)) as con:
            return con.execute(sql, list(parameters)).fetchall()

    def rows(self, path: Path | None = None) -> dict[str, Counter[tuple[Any, ...]]]:
        with duckdb.connect(str(path or self.path)) as con:
            return {
                model: rows(con.execute(f"select * from {schema}.{model}").fetchall())
                for model, schema in PER_USER_MODELS.items()
            }

    def differences_from_a_full_refresh(self, as_of: str) -> list[str]:
        # dbt runs in this process and may keep the database open: checkpoint
        # so that the file holds everything before it is copied
        self.execute("checkpoint")
        copy = self.tmp / "full_refresh.duckdb"
        shutil.copyfile(self.path, copy)
        self.dbt("run", "--full-refresh", as_of=as_of, path=copy)
        incremental, full = self.rows(), self.rows(copy)
        return [
            problem
            for model in PER_USER_MODELS
            if (
                problem := difference(
                    model, incremental[model], full[model], ("incremental", "full refresh")
                )
            )
        ]


@pytest.fixture
def lakehouse(tmp_path: Path) -> Lakehouse:
    built = Lakehouse(tmp_path)
    with duckdb.connect(str(built.path)) as con:
        generate_lakehouse(con, users=USERS, seed=SEED, end=WORLD_END)
    built.dbt("seed", as_of=AS_OF)
    return built


# a raw privacy row; metadata as a MAP literal (a Python dict would bind as a struct)
INSERT = (
    "insert into raw.privacy_events values (?, ?, ?, ?, ?, ?, ?, ?, ?, "
    "map(?::varchar[], ?::varchar[]))"
)


def _request_event(event_id: str, user_id: str, status: str, at: dt.datetime) -> tuple[Any, ...]:
    return (
        event_id,
        user_id,
        "gdpr_request",
        "deletion",
        status,
        None,
        "user",
        at,
        at,
        ["request_id", "regulation"],
        ["req_owner_test", "gdpr"],
    )


def _consent(
    event_id: str | None,
    user_id: str,
    consent_type: str,
    status: str,
    at: dt.datetime,
    processed_at: dt.datetime | None = None,
) -> tuple[Any, ...]:
    """A consent delivery with its proof (metadata version v9)."""
    return (
        event_id,
        user_id,
        "consent",
        consent_type,
        status,
        "user_request",
        "user",
        at,
        processed_at or at,
        ["version"],
        ["v9"],
    )


def test_r9_a_request_event_carrying_another_user_id_still_erases_the_owner(
    lakehouse: Lakehouse,
) -> None:
    """R9: a request belongs to the user of its earliest event. A later event of
    the request with another user_id changes the owner's erasure (R6, R17),
    although the owner has no new event of their own."""
    received = dt.datetime(2026, 10, 20, 9, 0)
    lakehouse.execute(INSERT, *_request_event("evt_owner_1", "usr_0000001", "pending", received))
    lakehouse.dbt("run", as_of=AS_OF)

    verified = dt.datetime(2026, 11, 1, 12, 0)
    lakehouse.execute(INSERT, *_request_event("evt_owner_2", "usr_0000002", "verified", verified))
    lakehouse.dbt("run", as_of=AS_OF_NEXT)

    assert lakehouse.differences_from_a_full_refresh(AS_OF_NEXT) == []
    with duckdb.connect(str(lakehouse.path)) as con:
        erased = con.execute(
            "select count(*) from main.suppression_state "
            "where user_id = 'usr_0000001' and suppression_kind = 'erasure'"
        ).fetchone()
    assert erased == (4,), "the owner is erased on every channel"


def test_a_model_run_before_what_it_reads_catches_up_later(lakehouse: Lakehouse) -> None:
    """A partial selection: new events are staged, a per-user model is built from
    a table that was not rebuilt yet (the signals from int_consent_events), then
    everything runs. It must end up as a full refresh gives it, not keep the
    stale rows."""
    lakehouse.dbt("run", as_of=AS_OF)
    withdrawn = dt.datetime(2026, 11, 1, 8, 0)
    lakehouse.execute(
        INSERT,
        "evt_partial_1",
        "usr_0000003",
        "consent",
        "email_marketing",
        "withdrawn",
        "user_request",
        "user",
        withdrawn,
        withdrawn,
        [],
        [],
    )
    lakehouse.dbt("run", "--select", "stg_privacy_events", as_of=AS_OF_NEXT)
    lakehouse.dbt("run", "--select", "int_suppression_signals", as_of=AS_OF_NEXT)
    lakehouse.dbt("run", as_of=AS_OF_NEXT)

    assert lakehouse.differences_from_a_full_refresh(AS_OF_NEXT) == []


def test_a_seed_loaded_with_new_rows_recomputes_every_user(lakehouse: Lakehouse) -> None:
    """The watermark's fingerprint holds the seeds' contents, not their files: a
    seed changed in the warehouse recomputes every user on the next run."""
    lakehouse.dbt("run", as_of=AS_OF)
    lakehouse.execute(
        "update main.consent_purposes set default_expiry_days = 30 "
        "where consent_type = 'email_marketing'"
    )
    lakehouse.dbt("run", as_of=AS_OF)

    assert lakehouse.differences_from_a_full_refresh(AS_OF) == []


def test_r3_a_deploy_that_changes_a_macro_recomputes_the_models_that_call_it(
    lakehouse: Lakehouse,
) -> None:
    """R3: the watermark's fingerprint holds the code of the project's macros.
    A deploy that changes the order R3 gives events of equal time
    (macros/event_order.sql, through int_consent_events' window) recomputes
    every user on the next run, with no new event: what it stores then is
    what a full refresh of the new code stores."""
    lakehouse.dbt("run", as_of=AS_OF)
    before = lakehouse.rows()["int_consent_events"]

    project = copy_dbt_project(lakehouse.tmp / "deployed")
    order = project / "macros" / "event_order.sql"
    earliest = "{{ prefix }}event_timestamp asc nulls first,"
    assert earliest in order.read_text()
    reordered = "{{ prefix }}event_id desc nulls last,\n    " + earliest
    order.write_text(order.read_text().replace(earliest, reordered))
    lakehouse.project = project
    lakehouse.dbt("run", as_of=AS_OF)

    assert lakehouse.rows()["int_consent_events"] != before
    assert lakehouse.differences_from_a_full_refresh(AS_OF) == []


def test_keys_padded_with_any_character_trim_strips_are_staged(lakehouse: Lakehouse) -> None:
    """R1, R2: staging cleans event_ids with trimmed(), which strips U+3000
    and no-break spaces as well as spaces. An incremental run must find
    raw rows padded that way (a key, and a key that is nothing else) as a full
    refresh does: found in review, where they were never staged."""
    lakehouse.dbt("run", as_of=AS_OF)
    granted = dt.datetime(2026, 11, 1, 9, 0)
    for event_id in ("\u3000evt_padded_1\u00a0", "\u3000"):
        lakehouse.execute(
            INSERT, *_consent(event_id, "usr_0000003", "sms_marketing", "granted", granted)
        )
    lakehouse.dbt("run", as_of=AS_OF_NEXT)

    with duckdb.connect(str(lakehouse.path)) as con:
        raw, staged = con.execute(
            "select (select count(*) from raw.privacy_events), "
            "(select count(*) from main_staging.stg_privacy_events)"
        ).fetchone()
        padded = con.execute(
            "select disposition from main_staging.stg_privacy_events "
            "where event_id = 'evt_padded_1'"
        ).fetchall()
    assert staged == raw, "every raw row is staged once"
    assert padded == [("accepted",)]
    assert lakehouse.differences_from_a_full_refresh(AS_OF_NEXT) == []


def test_a_change_that_moves_no_channel_reaches_only_the_models_it_changes(
    lakehouse: Lakehouse,
) -> None:
    """A run writes only rows that differ, and the change log names only the
    users whose rows changed, so the models further down recompute them and
    no one else. A grant of data_analytics (no channel) changes the user's
    consent events and their identify (consent traits), not their
    suppression signals or state (a withdrawal when it was granted)."""
    lakehouse.dbt("run", as_of=AS_OF)
    user = "usr_0000004"
    current = lakehouse.query(
        "select status from main.consent_state "
        "where user_id = ? and consent_type = 'data_analytics'",
        user,
    )
    status = "withdrawn" if current == [("granted",)] else "granted"
    at = dt.datetime(2026, 11, 1, 9, 0)
    lakehouse.execute(INSERT, *_consent("evt_no_channel_1", user, "data_analytics", status, at))
    lakehouse.dbt("run", as_of=AS_OF_NEXT)

    changed = {
        model
        for (model,) in lakehouse.query(
            "select model_name from main.incremental_user_changes where user_id = ? "
            "and changed_at = (select max(changed_at) from main.incremental_user_changes)",
            user,
        )
    }
    assert changed == {"int_consent_events", "int_pending_actions"}
    assert lakehouse.differences_from_a_full_refresh(AS_OF_NEXT) == []


def test_r1_a_deleted_winning_delivery_of_another_type_leaves_no_stale_rows(
    lakehouse: Lakehouse,
) -> None:
    """R1: an event_id delivered as a suppression and redelivered later as a
    consent is a consent event. When the raw consent delivery is deleted,
    the suppression wins again: the consent models must drop it although no
    consent row was staged since (staging logs the users of rows that
    vanish; found in review)."""
    user = "usr_0000007"
    at = dt.datetime(2026, 10, 20, 9, 0)
    lakehouse.execute(
        INSERT,
        "evt_retyped_1",
        user,
        "suppression",
        "email",
        "active",
        "unsubscribed",
        "user",
        at,
        at,
        [],
        [],
    )
    lakehouse.execute(
        INSERT,
        *_consent(
            "evt_retyped_1", user, "email_marketing", "granted", at, at + dt.timedelta(days=1)
        ),
    )
    lakehouse.dbt("run", as_of=AS_OF)
    assert lakehouse.query(
        "select count(*) from main_intermediate.int_consent_events where event_id = 'evt_retyped_1'"
    ) == [(1,)]

    lakehouse.execute(
        "delete from raw.privacy_events where event_id = 'evt_retyped_1' and event_type = 'consent'"
    )
    lakehouse.dbt("run", as_of=AS_OF_NEXT)

    assert lakehouse.differences_from_a_full_refresh(AS_OF_NEXT) == []


def test_r1_r15_rows_deleted_from_raw_leave_staging_and_every_model(
    lakehouse: Lakehouse,
) -> None:
    """R1, R2, R15: staging holds what raw holds. When raw rows go (a source
    correction, an erasure applied to raw), the next run drops their staged
    rows although nothing of theirs is written again: every delivery of an
    event, a row without an event_id (R2 quarantined it), every version of a
    profile (its email and phone with them), and every customer event of a
    day. The per-user models follow, as a full refresh would."""
    user = "usr_0000009"
    at = dt.datetime(2026, 10, 20, 9, 0)
    lakehouse.execute(INSERT, *_consent("evt_deleted_1", user, "email_marketing", "granted", at))
    lakehouse.execute(INSERT, *_consent(None, user, "sms_marketing", "granted", at))
    lakehouse.dbt("run", as_of=AS_OF)
    (profile_user,), *_ = lakehouse.query(
        "select user_id from main_staging.stg_user_profiles order by user_id desc"
    )
    (day,), *_ = lakehouse.query(
        "select cast(occurred_at as date) from main_staging.stg_customer_events "
        "group by 1 order by count(*) desc, 1"
    )

    def staged() -> list[Any]:
        return [
            lakehouse.query(
                "select event_id, disposition, rejection_reason from "
                "main_staging.stg_privacy_events where user_id = ? and event_timestamp = ? "
                "order by event_id nulls first",
                user,
                at,
            ),
            lakehouse.query(
                "select count(*) from main_staging.stg_user_profiles where user_id = ?",
                profile_user,
            ),
            lakehouse.query(
                "select count(*) from main_staging.stg_customer_events "
                "where cast(occurred_at as date) = ?",
                day,
            ),
        ]

    before = staged()
    assert before[0] == [
        (None, "rejected", "missing_event_id"),
        ("evt_deleted_1", "accepted", None),
    ]
    assert before[1] == [(1,)]
    assert before[2][0][0] > 1

    lakehouse.execute(
        "delete from raw.privacy_events where user_id = ? and event_timestamp = ?", user, at
    )
    lakehouse.execute("delete from raw.user_profiles where trim(user_id) = ?", profile_user)
    lakehouse.execute("delete from raw.customer_events where cast(occurred_at as date) = ?", day)
    lakehouse.dbt("run", as_of=AS_OF_NEXT)
    assert staged() == [[], [(0,)], [(0,)]]
    assert lakehouse.differences_from_a_full_refresh(AS_OF_NEXT) == []


def test_r7_a_user_known_only_by_a_profile_comes_and_goes_with_it(lakehouse: Lakehouse) -> None:
    """R7: suppression_state has a row per channel for every known user, a
    user with a profile and no privacy event included. Such a user appears
    with their first profile and leaves with their last (deleted from raw),
    as a full refresh would have it: the run follows the profiles staging
    changed, not only the privacy events."""
    user = "usr_profile_only"
    lakehouse.dbt("run", as_of=AS_OF)
    lakehouse.execute(
        "insert into raw.user_profiles select ?, 'only@example.com', null, 'Only', 'Profile', "
        "'DE', created_at, updated_at, last_active_at from raw.user_profiles "
        "order by user_id limit 1",
        user,
    )

    def channels() -> list[tuple[Any, ...]]:
        return lakehouse.query(
            "select channel, is_suppressed from main.suppression_state where user_id = ? "
            "order by channel",
            user,
        )

    lakehouse.dbt("run", as_of=AS_OF_NEXT)
    assert channels() == [
        ("email", False),
        ("in_app", False),
        ("push", False),
        ("sms", False),
    ]

    lakehouse.execute("delete from raw.user_profiles where user_id = ?", user)
    lakehouse.dbt("run", as_of=AS_OF_NEXT)
    assert channels() == []
    assert lakehouse.differences_from_a_full_refresh(AS_OF_NEXT) == []


def test_r15_retention_follows_deleted_events_profiles_and_legal_holds(
    lakehouse: Lakehouse,
) -> None:
    """R14, R15: int_user_data_activity and retention_candidates recompute the
    users whose staged customer events or profile changed, including a raw
    event deleted from a day that still has others (the staging run writes
    the users of the rows it replaces to the change log), and the users whose
    legal holds changed (a digest)."""
    lakehouse.dbt("run", as_of=AS_OF)
    # the latest event of a user's category, on a day with other events
    (deleted_user, deleted_event), *_ = lakehouse.query(
        "select user_id, event_id from raw.customer_events as e "
        "where occurred_at = (select max(occurred_at) from raw.customer_events "
        "  where user_id = e.user_id and data_category = e.data_category) "
        "and (select count(*) from raw.customer_events "
        "  where cast(occurred_at as date) = cast(e.occurred_at as date)) > 1 "
        "order by user_id, event_id"
    )
    lakehouse.execute("delete from raw.customer_events where event_id = ?", deleted_event)
    active = dt.datetime(2026, 11, 1, 6, 0)
    profile_user = "usr_0000005"
    lakehouse.execute(
        "insert into raw.user_profiles select user_id, email, phone, first_name, last_name, "
        "country, created_at, ?, ? from raw.user_profiles where user_id = ?",
        active,
        active,
        profile_user,
    )
    held_user = "usr_0000006"
    lakehouse.execute(
        INSERT,
        "evt_hold_1",
        held_user,
        "legal_hold",
        "litigation",
        "active",
        None,
        "legal",
        active,
        active,
        [],
        [],
    )
    lakehouse.dbt("run", as_of=AS_OF_NEXT)

    assert lakehouse.differences_from_a_full_refresh(AS_OF_NEXT) == []
    logged = {
        model
        for (model,) in lakehouse.query(
            "select model_name from main.incremental_user_changes where user_id = ?",
            deleted_user,
        )
    }
    assert "stg_customer_events" in logged, "the user of the deleted event is in the change log"


def _pending(lakehouse: Lakehouse, user_ids: list[str]) -> set[tuple[str, str]]:
    return set(
        lakehouse.query(
            "select user_id, action_type from main.customerio_actions where user_id in "
            "(select unnest(?::varchar[]))",
            user_ids,
        )
    )


def test_r21_r22_acknowledgements_written_between_runs_and_forgotten_ones(
    lakehouse: Lakehouse,
) -> None:
    """R8, R21, R22: int_pending_actions and int_opt_outs see a sync's
    acknowledgements although no privacy event of those users is new: one
    acked after the last as_of, one rejected, and one acked before the last
    as_of but written after that run (a sync that overlapped it).
    Acknowledgements forgotten later make the action pending again."""
    lakehouse.dbt("run", as_of=AS_OF)
    chosen = lakehouse.query(
        # users with an opt-out not yet delivered: the identify carries it (R8)
        "select action_id, user_id, action_type, payload from main.customerio_actions "
        "where action_type = 'identify' and user_id in ("
        "  select user_id from main_intermediate.int_opt_outs"
        "  where not is_delivered and not is_erasure and opted_out_at < cast(? as timestamp)"
        ") order by user_id limit 3",
        AS_OF,
    )
    with duckdb.connect(str(lakehouse.path)) as con:
        create_ledger_tables(con, "raw")
    assert len(chosen) == 3
    last_as_of = dt.datetime.fromisoformat(AS_OF)
    acked = [
        ("delivered", 200, last_as_of + dt.timedelta(hours=1)),
        ("rejected", 400, last_as_of + dt.timedelta(hours=2)),
        ("delivered", 200, last_as_of - dt.timedelta(hours=1)),
    ]
    for (action_id, user_id, action_type, payload), (status, http, at) in zip(
        chosen, acked, strict=True
    ):
        lakehouse.execute(
            "insert into raw.customerio_acks values (?, 'run_1', ?, ?, ?, ?, ?, null, 1, ?, ?)",
            action_id,
            user_id,
            action_type,
            payload,
            status,
            http,
            at,
            at,
        )
    users = [row[1] for row in chosen]
    lakehouse.dbt("run", as_of=AS_OF_NEXT)

    assert lakehouse.differences_from_a_full_refresh(AS_OF_NEXT) == []
    assert _pending(lakehouse, users) == set(), "delivered and rejected actions are not pending"
    delivered = lakehouse.query(
        "select distinct user_id from main_intermediate.int_opt_outs "
        "where is_delivered and user_id in (?, ?)",
        users[0],
        users[2],
    )
    assert sorted(delivered) == [(users[0],), (users[2],)], "R8: the opt-outs were delivered"

    lakehouse.execute("delete from raw.customerio_acks where user_id = ?", users[2])
    lakehouse.dbt("run", as_of=AS_OF_NEXT)

    assert lakehouse.differences_from_a_full_refresh(AS_OF_NEXT) == []
    assert _pending(lakehouse, users) == {(users[2], "identify")}


def test_r18_a_profile_policy_falling_due_as_of_moves_on(lakehouse: Lakehouse) -> None:
    """R15, R18: a profile's retention falls due only because as_of passed its
    expiry; no event of that user is new. Its retention identify (or deletion)
    is pending after the next incremental run, as after a full refresh."""
    lakehouse.dbt("run", as_of=AS_OF)
    found = lakehouse.query(
        "select user_id, retention_expires_at from main.retention_candidates "
        "where data_category = 'profile' and not is_due and exclusion_reason is null "
        "and retention_expires_at > cast(? as timestamp) "
        "order by retention_expires_at, user_id limit 1",
        AS_OF,
    )
    assert found, "no profile falls due after the first as_of"
    ((user_id, expires_at),) = found
    later = (expires_at + dt.timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S")
    lakehouse.dbt("run", as_of=later)

    assert lakehouse.differences_from_a_full_refresh(later) == []
    reasons = lakehouse.query(
        "select reason from main.customerio_actions where user_id = ?", user_id
    )
    assert {reason for (reason,) in reasons} & {
        "retention_anonymize",
        "retention_hard_delete",
        "retention_pseudonymize",
    }


def test_r8_a_replay_after_a_partial_selection_judges_the_two_days_again(
    lakehouse: Lakehouse,
) -> None:
    """A model built alone at a later as_of (its upstream tables still at the
    earlier one) and then replayed at an as_of in between: its own as_of is
    what its rows were judged at, so the replay recomputes every user. Here
    an unsubscribe's two days (R8) run out between the two; found in review,
    where the opt-out kept the later as_of's outcome."""
    lakehouse.dbt("run", as_of=AS_OF)
    ((user_id,),) = lakehouse.query(
        "select min(user_id) from main.suppression_state "
        "where channel = 'email' and not is_suppressed"
    )
    unsubscribed = dt.datetime.fromisoformat(AS_OF) - dt.timedelta(days=1)
    lakehouse.execute(
        INSERT,
        "evt_replay_1",
        user_id,
        "suppression",
        "email",
        "active",
        "unsubscribed",
        "user",
        unsubscribed,
        unsubscribed,
        [],
        [],
    )
    lakehouse.dbt("run", as_of=AS_OF)
    two_days_later = dt.datetime.fromisoformat(AS_OF) + dt.timedelta(days=1, hours=1)
    lakehouse.dbt("run", "--select", "int_opt_outs", as_of=str(two_days_later))
    in_between = "2026-11-01 12:00:00"
    lakehouse.dbt("run", as_of=in_between)

    assert lakehouse.differences_from_a_full_refresh(in_between) == []
    known = lakehouse.query(
        "select is_2_day_outcome_known from main_intermediate.int_opt_outs "
        "where source_event_id = 'evt_replay_1'"
    )
    assert known == [(False,)]


def test_r1_r5_a_delivery_moving_an_event_to_another_consent_type_recomputes_both(
    lakehouse: Lakehouse,
) -> None:
    """R1, R5: int_consent_events recomputes (user, consent type) pairs, not
    whole users. A later delivery of an event_id under another consent type
    wins (R1), so the story of both types changes: the old one loses the
    event and the new one gains it. When that delivery is deleted from raw,
    the first one wins again and the new type loses the event, although no
    row of that type is staged (staging logs the user of the vanished row)."""
    user = "usr_0000009"
    at = dt.datetime(2026, 10, 20, 9, 0)
    lakehouse.execute(INSERT, *_consent("evt_moved_type_1", user, "email_marketing", "granted", at))
    lakehouse.dbt("run", as_of=AS_OF)

    moved = _consent(
        "evt_moved_type_1", user, "sms_marketing", "granted", at, at + dt.timedelta(days=12)
    )
    lakehouse.execute(INSERT, *moved)

    def consent_type_after_a_run() -> list[tuple[Any, ...]]:
        lakehouse.dbt("run", as_of=AS_OF_NEXT)
        assert lakehouse.differences_from_a_full_refresh(AS_OF_NEXT) == []
        return lakehouse.query(
            "select consent_type from main_intermediate.int_consent_events "
            "where event_id = 'evt_moved_type_1'"
        )

    assert consent_type_after_a_run() == [("sms_marketing",)]
    lakehouse.execute(
        "delete from raw.privacy_events "
        "where event_id = 'evt_moved_type_1' and event_subtype = 'sms_marketing'"
    )
    assert consent_type_after_a_run() == [("email_marketing",)]


def test_r2_rows_stamped_ahead_are_judged_again_as_as_of_moves_either_way(
    lakehouse: Lakehouse,
) -> None:
    """R2: a row stamped more than the tolerance after as_of is rejected as
    future_timestamp. Staging judges again only the rows between the last
    run's limit and this run's, so a row a few days ahead is accepted once
    as_of reaches it and rejected again in a replay of the earlier as_of,
    while a row years ahead stays rejected throughout; each time, staging
    and every per-user model hold what a full refresh holds."""
    lakehouse.dbt("run", as_of=AS_OF)
    soon, far = dt.datetime(2026, 11, 3, 12, 0), dt.datetime(2031, 1, 1)
    for event_id, at in (("evt_ahead_soon", soon), ("evt_ahead_far", far)):
        delivery = _consent(
            event_id, "usr_0000011", "sms_marketing", "granted", at, dt.datetime(2026, 11, 1, 9, 0)
        )
        lakehouse.execute(INSERT, *delivery)

    def verdicts() -> list[tuple[Any, ...]]:
        return lakehouse.query(
            "select event_id, disposition, rejection_reason from main_staging.stg_privacy_events "
            "where event_id like 'evt_ahead_%' order by event_id"
        )

    rejected = [
        ("evt_ahead_far", "rejected", "future_timestamp"),
        ("evt_ahead_soon", "rejected", "future_timestamp"),
    ]
    accepted = [rejected[0], ("evt_ahead_soon", "accepted", None)]
    for as_of, expected in (
        (AS_OF_NEXT, rejected),
        ("2026-11-05 00:00:00", accepted),
        (AS_OF_NEXT, rejected),
    ):
        lakehouse.dbt("run", as_of=as_of)
        assert verdicts() == expected, as_of
        assert lakehouse.differences_from_a_full_refresh(as_of) == [], as_of
