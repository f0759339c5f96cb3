"""A connector ledger written by hand, so the models that read it have rows to prove.

Until `cio-privacy sync` writes `customerio_acks` and `customerio_sync_runs`,
the parity build needs acknowledgements to exercise R8's opt-out lag, the
audit log and the delivery metrics on both engines. The rows follow the
connector's contract: one run, and one outcome per action for a sample of
the generated unsubscribes, delivered 1 to 72 hours after the signal (so
some fall outside the 2-day limit), with a few rejected and failed.
"""

from __future__ import annotations

import duckdb
from cio_privacy.warehouse import create_ledger_tables

RUN_ID = "run-sample-0001"


def write_sample_ledger(con: duckdb.DuckDBPyConnection, *, schema: str = "raw") -> int:
    """Appends the sample run and its acks; returns the number of acks."""
    create_ledger_tables(con, schema)
    con.execute(
        f"""
        insert into {schema}.customerio_acks
        with sampled as (
            select
                trim(event_id) as event_id,
                trim(user_id) as user_id,
                event_timestamp,
                row_number() over (order by event_id) as n
            from {schema}.privacy_events
            where
                event_type = 'suppression'
                and event_subtype = 'email'
                and status = 'active'
                and reason = 'unsubscribed'
                and trim(user_id) <> ''
                and event_timestamp < timestamp '2026-10-20'
        )
        select
            'act-' || event_id,
            '{RUN_ID}',
            user_id,
            case when n % 7 = 0 then 'suppress_person' else 'identify' end,
            case when n % 7 = 0 then '{{}}' else '{{"email_suppressed":true}}' end,
            case n % 20 when 3 then 'rejected' when 5 then 'failed' else 'delivered' end,
            case n % 20 when 3 then 400 when 5 then 503 else 200 end,
            case n % 20
                when 3 then 'strict mode: unknown trait'
                when 5 then 'HTTP 503 after 5 attempts'
            end,
            case n % 20 when 5 then 5 else 1 end,
            event_timestamp + interval 1 hour,
            event_timestamp + (1 + n % 72) * interval 1 hour
        from sampled
        where n <= 300
        """
    )
    acks = con.execute(
        f"select count(*) from {schema}.customerio_acks where run_id = '{RUN_ID}'"
    ).fetchone()
    count = int(acks[0]) if acks else 0
    con.execute(
        f"""
        insert into {schema}.customerio_sync_runs
        select
            '{RUN_ID}', timestamp '2026-10-31 02:00:00', timestamp '2026-10-31 02:05:00',
            'local', 'us', false, {count},
            count(*) filter (where status = 'delivered'),
            count(*) filter (where status = 'rejected'),
            count(*) filter (where status = 'failed'),
            'completed_with_failures'
        from {schema}.customerio_acks where run_id = '{RUN_ID}'
        """
    )
    return count
