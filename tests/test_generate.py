"""Tests for the synthetic lakehouse generator (cio_privacy.generate)."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest
from cio_privacy.generate import (
    APPEND_STEPS,
    STEPS,
    AppendSummary,
    GenerationSummary,
    append_events,
    generate_lakehouse,
)

END = datetime.datetime(2026, 1, 15, 12, 0, 0)
USERS = 5_000

CONSENT_SUBTYPES = (
    "email_marketing",
    "sms_marketing",
    "push_notifications",
    "data_analytics",
    "third_party_sharing",
    "cookies",
    "behavioral_tracking",
)
CONSENT_STATUSES = ("granted", "withdrawn", "expired", "pending")
SUPPRESSION_SUBTYPES = ("email", "sms", "push", "in_app", "all")
SUPPRESSION_STATUSES = ("active", "removed")
SUPPRESSION_REASONS = (
    "unsubscribed",
    "bounced",
    "spam_complaint",
    "gdpr_request",
    "manual_suppression",
    "invalid_address",
    "sms_stop_keyword",
)
GDPR_SUBTYPES = ("access", "deletion", "portability", "rectification", "restriction", "objection")
GDPR_STATUSES = (
    "pending",
    "verified",
    "processing",
    "extended",
    "completed",
    "failed",
    "cancelled",
)
EVENT_TYPES = ("consent", "suppression", "gdpr_request", "legal_hold", "data_retention")


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


END_SQL = f"TIMESTAMP '{END.isoformat(sep=' ')}'"

# One predicate per rejection reason, written independently of the generator, over the
# normalised columns of view `pe` (t = type, st = subtype, s = status, all trimmed/lower).
DEFECT_PREDICATES: dict[str, str] = {
    "missing_user_id": "user_id IS NULL OR trim(user_id) = ''",
    "unknown_event_type": f"t IS NULL OR t NOT IN {_in(EVENT_TYPES)}",
    "invalid_subtype": f"""
        (t = 'consent' AND coalesce(st, '') NOT IN {_in(CONSENT_SUBTYPES)})
        OR (t = 'suppression' AND coalesce(st, '') NOT IN {_in(SUPPRESSION_SUBTYPES)})
        OR (t = 'gdpr_request' AND coalesce(st, '') NOT IN {_in(GDPR_SUBTYPES)})
        OR (t IN ('legal_hold', 'data_retention') AND coalesce(st, '') = '')""",
    "invalid_status": f"""
        (t = 'consent' AND coalesce(s, '') NOT IN {_in(CONSENT_STATUSES)})
        OR (t = 'suppression' AND coalesce(s, '') NOT IN {_in(SUPPRESSION_STATUSES)})
        OR (t = 'gdpr_request' AND coalesce(s, '') NOT IN {_in(GDPR_STATUSES)})
        OR (t = 'legal_hold' AND coalesce(s, '') NOT IN ('active', 'released'))
        OR (t = 'data_retention' AND coalesce(s, '') = '')""",
    "missing_timestamp": "event_timestamp IS NULL",
    "future_timestamp": f"event_timestamp > {END_SQL} + INTERVAL 24 HOUR",
    "missing_request_id": "t = 'gdpr_request' AND metadata['request_id'] IS NULL",
    "unknown_regulation": """
        t = 'gdpr_request' AND metadata['request_id'] IS NOT NULL
        AND metadata['regulation'] IS NOT NULL
        AND lower(metadata['regulation']) NOT IN ('gdpr', 'ccpa')""",
    # Metadata values the staging model parses, wherever they appear.
    "invalid_metadata": """
        (metadata['expires_at'] IS NOT NULL
         AND try_cast(metadata['expires_at'] AS TIMESTAMP) IS NULL)
        OR coalesce(lower(metadata['bounce_type']) NOT IN ('soft', 'hard'), false)
        OR coalesce(lower(metadata['exemption']) NOT SIMILAR TO 'art17_3_[a-e]', false)""",
}
CLASSIFY = (
    "CASE "
    + " ".join(f"WHEN {pred} THEN '{name}'" for name, pred in DEFECT_PREDICATES.items())
    + " END"
)


def _generate(users: int, seed: int = 42, schema: str = "raw") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    generate_lakehouse(con, users=users, seed=seed, end=END, schema=schema)
    return con


def _add_views(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE OR REPLACE TEMP VIEW pe AS
        SELECT *, lower(trim(event_type)) AS t, lower(trim(event_subtype)) AS st,
               lower(trim(status)) AS s
        FROM raw.privacy_events
        """
    )
    con.execute(f"CREATE OR REPLACE TEMP VIEW classified AS SELECT *, {CLASSIFY} AS defect FROM pe")
    # Good rows, one per event_id (first delivery).
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE good AS
        SELECT * FROM classified WHERE defect IS NULL
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY processed_at) = 1
        """
    )


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[duckdb.DuckDBPyConnection, GenerationSummary]]:
    con = duckdb.connect()
    summary = generate_lakehouse(con, users=USERS, seed=42, end=END)
    _add_views(con)
    yield con, summary
    con.close()


@pytest.fixture
def con(world: tuple[duckdb.DuckDBPyConnection, GenerationSummary]) -> duckdb.DuckDBPyConnection:
    return world[0]


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


def values(con: duckdb.DuckDBPyConnection, sql: str) -> set[object]:
    return {r[0] for r in con.execute(sql).fetchall()}


def checksum(con: duckdb.DuckDBPyConnection, schema: str = "raw") -> dict[str, tuple[int, int]]:
    """Order-insensitive fingerprint of every table: (row count, sum of row hashes)."""
    result = {}
    for table in ("privacy_events", "user_profiles", "customer_events"):
        cols = [r[0] for r in con.execute(f"DESCRIBE {schema}.{table}").fetchall()]
        row = con.execute(
            f"SELECT count(*), sum(hash({', '.join(cols)})) FROM {schema}.{table}"
        ).fetchone()
        assert row is not None
        result[table] = (int(row[0]), int(row[1]))
    return result


# ------------------------------------------------------------------------ API & contract


@pytest.mark.parametrize("users", [0, -3])
def test_rejects_non_positive_users(users: int) -> None:
    with pytest.raises(ValueError, match="users") as info:
        generate_lakehouse(duckdb.connect(), users=users, end=END)
    assert "\n" not in str(info.value)


def test_rejects_bad_schema_name() -> None:
    with pytest.raises(ValueError, match="schema"):
        generate_lakehouse(duckdb.connect(), users=10, end=END, schema="raw; drop table x")


def test_schema_matches_contract(con: duckdb.DuckDBPyConnection) -> None:
    expected = {
        "privacy_events": [
            ("event_id", "VARCHAR"),
            ("user_id", "VARCHAR"),
            ("event_type", "VARCHAR"),
            ("event_subtype", "VARCHAR"),
            ("status", "VARCHAR"),
            ("reason", "VARCHAR"),
            ("requested_by", "VARCHAR"),
            ("event_timestamp", "TIMESTAMP"),
            ("processed_at", "TIMESTAMP"),
            ("metadata", "MAP(VARCHAR, VARCHAR)"),
        ],
        "user_profiles": [
            ("user_id", "VARCHAR"),
            ("email", "VARCHAR"),
            ("phone", "VARCHAR"),
            ("first_name", "VARCHAR"),
            ("last_name", "VARCHAR"),
            ("country", "VARCHAR"),
            ("created_at", "TIMESTAMP"),
            ("updated_at", "TIMESTAMP"),
            ("last_active_at", "TIMESTAMP"),
        ],
        "customer_events": [
            ("event_id", "VARCHAR"),
            ("user_id", "VARCHAR"),
            ("event_name", "VARCHAR"),
            ("data_category", "VARCHAR"),
            ("occurred_at", "TIMESTAMP"),
        ],
    }
    for table, columns in expected.items():
        actual = [(r[0], r[1]) for r in con.execute(f"DESCRIBE raw.{table}").fetchall()]
        assert actual == columns, table
    tables = values(
        con, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
    )
    assert tables == set(expected)


def test_summary_matches_tables(
    world: tuple[duckdb.DuckDBPyConnection, GenerationSummary],
) -> None:
    con, summary = world
    assert summary.users == USERS
    assert summary.privacy_events == scalar(con, "SELECT count(*) FROM raw.privacy_events")
    assert summary.user_profiles == scalar(con, "SELECT count(*) FROM raw.user_profiles")
    assert summary.customer_events == scalar(con, "SELECT count(*) FROM raw.customer_events")
    dup = scalar(con, "SELECT count(*) - count(DISTINCT event_id) FROM raw.privacy_events")
    assert summary.duplicate_rows == dup
    bad = scalar(con, "SELECT count(DISTINCT event_id) FROM classified WHERE defect IS NOT NULL")
    assert summary.bad_rows == bad
    assert summary.seconds > 0
    d = summary.as_dict()
    assert d["users"] == USERS
    assert set(d) == {
        "users",
        "privacy_events",
        "user_profiles",
        "customer_events",
        "bad_rows",
        "duplicate_rows",
        "seconds",
    }


def test_progress_reports_each_step_once() -> None:
    seen: list[str] = []
    generate_lakehouse(duckdb.connect(), users=50, end=END, progress=seen.append)
    assert seen == list(STEPS)


def test_custom_schema_and_replace() -> None:
    con = duckdb.connect()
    first = generate_lakehouse(con, users=300, end=END, schema="landing")
    second = generate_lakehouse(con, users=300, end=END, schema="landing")
    assert first.privacy_events == second.privacy_events
    assert scalar(con, "SELECT count(*) FROM landing.privacy_events") == second.privacy_events
    # No helper objects are left behind.
    assert scalar(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_cio%'") == 0


def test_single_user() -> None:
    con = duckdb.connect()
    summary = generate_lakehouse(con, users=1, end=END)
    assert summary.users == 1
    assert values(con, "SELECT DISTINCT user_id FROM raw.user_profiles") <= {"usr_0000001"}


# ---------------------------------------------------------------------------- determinism


def test_deterministic_for_same_inputs_and_thread_count() -> None:
    a = _generate(2_000)
    b = duckdb.connect()
    b.execute("SET threads = 1")
    generate_lakehouse(b, users=2_000, seed=42, end=END)
    assert checksum(a) == checksum(b)


def test_different_seed_gives_different_data() -> None:
    a, b = checksum(_generate(2_000, seed=1)), checksum(_generate(2_000, seed=2))
    for table in a:
        assert a[table] != b[table], table


# --------------------------------------------------------------------------- volumes


def test_volume_at_least_ten_events_per_user(con: duckdb.DuckDBPyConnection) -> None:
    assert scalar(con, "SELECT count(*) FROM raw.privacy_events") >= 10 * USERS
    assert scalar(con, "SELECT count(*) FROM good") >= 10 * USERS


def test_user_ids_and_profiles(con: duckdb.DuckDBPyConnection) -> None:
    assert scalar(con, "SELECT bool_and(regexp_full_match(user_id, 'usr_[0-9]{7}')) FROM good")
    profiles = scalar(con, "SELECT count(*) FROM raw.user_profiles")
    assert 0.99 * USERS <= profiles <= USERS
    assert scalar(con, "SELECT count(*) - count(DISTINCT user_id) FROM raw.user_profiles") == 0
    without_events = scalar(
        con,
        "SELECT avg((user_id NOT IN (SELECT user_id FROM good))::INT) FROM raw.user_profiles",
    )
    assert 0.002 <= without_events <= 0.012
    without_profile = scalar(
        con,
        "SELECT count(DISTINCT user_id) FROM good "
        "WHERE user_id NOT IN (SELECT user_id FROM raw.user_profiles)",
    )
    assert 0 < without_profile < 0.015 * USERS


def test_profile_columns_are_plausible(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute("SELECT * FROM raw.user_profiles").fetchall()
    email = re.compile(r"^[a-z]+\.[a-z]+\.[0-9]+@[a-z.]+\.[a-z]{2,}$")
    phone = re.compile(r"^\+[1-9][0-9]{7,14}$")
    start = END.replace(year=END.year - 3)
    nulls = {"phone": 0, "last_active_at": 0}
    for _uid, mail, tel, first, last, _country, created, updated, active in rows:
        assert email.match(mail), mail
        assert first
        assert last
        if tel is None:
            nulls["phone"] += 1
        else:
            assert phone.match(tel), tel
        assert start <= created <= END
        assert created <= updated <= END
        if active is None:
            nulls["last_active_at"] += 1
        else:
            assert created <= active <= END
    assert 0 < nulls["phone"] < len(rows) * 0.3
    assert 0 < nulls["last_active_at"] < len(rows) * 0.1
    countries = dict(
        con.execute("SELECT country, count(*) FROM raw.user_profiles GROUP BY 1").fetchall()
    )
    assert set(countries) == {"US", "GB", "DE", "FR", "NL", "ES", "IT", "CA", "BR", "AU"}
    assert 0.35 < countries["US"] / len(rows) < 0.45


def test_customer_events(con: duckdb.DuckDBPyConnection) -> None:
    cats = values(con, "SELECT DISTINCT data_category FROM raw.customer_events")
    assert cats == {
        "profile",
        "events",
        "devices",
        "purchases",
        "preferences",
        "communications",
        "third_party",
    }
    per_user = scalar(con, "SELECT count(*) / 5000 FROM raw.customer_events")
    assert 3.0 <= per_user <= 5.0
    assert scalar(con, "SELECT count(*) - count(DISTINCT event_id) FROM raw.customer_events") == 0
    outside = scalar(
        con,
        """SELECT count(*) FROM raw.customer_events e JOIN raw.user_profiles p USING (user_id)
           WHERE e.occurred_at < p.created_at OR e.occurred_at > p.last_active_at""",
    )
    assert outside == 0
    inactive = scalar(
        con,
        f"""SELECT avg((last_active_at < {END_SQL} - INTERVAL 2 YEAR)::INT)
            FROM raw.user_profiles WHERE last_active_at IS NOT NULL""",
    )
    assert 0.05 < inactive < 0.25
    names = values(con, "SELECT DISTINCT event_name FROM raw.customer_events")
    assert {"order_completed", "email_opened", "page_viewed"} <= names


# ------------------------------------------------------------------------- vocabulary


def test_consent_vocabulary(con: duckdb.DuckDBPyConnection) -> None:
    pairs = set(con.execute("SELECT DISTINCT st, s FROM good WHERE t = 'consent'").fetchall())
    for subtype in CONSENT_SUBTYPES:
        assert (subtype, "granted") in pairs, subtype
        assert (subtype, "withdrawn") in pairs, subtype
    assert {s for _, s in pairs} == set(CONSENT_STATUSES)
    assert {st for st, _ in pairs} == set(CONSENT_SUBTYPES)


def test_suppression_vocabulary(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute("SELECT DISTINCT st, s, reason FROM good WHERE t = 'suppression'").fetchall()
    assert {r[0] for r in rows} == set(SUPPRESSION_SUBTYPES)
    assert {r[1] for r in rows} == set(SUPPRESSION_STATUSES)
    assert set(SUPPRESSION_REASONS) <= {r[2] for r in rows}
    requesters = values(con, "SELECT DISTINCT requested_by FROM good WHERE t = 'suppression'")
    assert requesters == {"user", "system", "esp_webhook", "support_agent"}


def test_suppression_stories(con: duckdb.DuckDBPyConnection) -> None:
    soft = con.execute(
        """SELECT user_id, count(*) n FROM good
           WHERE t = 'suppression' AND reason = 'bounced' AND metadata['bounce_type'] = 'soft'
           GROUP BY 1"""
    ).fetchall()
    assert 0.03 * USERS < len(soft) < 0.07 * USERS
    assert max(n for _, n in soft) > 7
    assert min(n for _, n in soft) == 1
    assert scalar(
        con,
        "SELECT count(*) FROM good WHERE t = 'suppression' AND reason = 'bounced' "
        "AND metadata['bounce_type'] = 'hard'",
    )
    assert scalar(
        con,
        "SELECT count(*) FROM good WHERE t = 'suppression' AND reason = 'bounced' "
        "AND s = 'active' AND metadata['bounce_type'] IS NULL",
    )
    unsub = scalar(
        con,
        "SELECT count(DISTINCT user_id) FROM good WHERE t = 'suppression' "
        "AND reason = 'unsubscribed' AND s = 'active'",
    )
    assert 0.06 * USERS < unsub < 0.10 * USERS
    sms = values(con, "SELECT DISTINCT st FROM good WHERE reason = 'sms_stop_keyword'")
    assert sms == {"sms"}


def test_gdpr_vocabulary(con: duckdb.DuckDBPyConnection) -> None:
    pairs = set(con.execute("SELECT DISTINCT st, s FROM good WHERE t = 'gdpr_request'").fetchall())
    assert {st for st, _ in pairs} == set(GDPR_SUBTYPES)
    assert {s for _, s in pairs} == set(GDPR_STATUSES)
    regs = values(con, "SELECT DISTINCT metadata['regulation'] FROM good WHERE t = 'gdpr_request'")
    assert regs == {"gdpr", "ccpa", None}
    exemptions = values(
        con,
        "SELECT DISTINCT metadata['exemption'] FROM good "
        "WHERE t = 'gdpr_request' AND metadata['exemption'] IS NOT NULL",
    )
    assert exemptions
    assert exemptions <= {f"art17_3_{c}" for c in "abcde"}
    assert values(
        con,
        "SELECT DISTINCT st FROM good WHERE t = 'gdpr_request' AND metadata['exemption'] "
        "IS NOT NULL",
    ) == {"deletion"}
    rectify_keys = values(
        con,
        "SELECT DISTINCT unnest(map_keys(metadata)) FROM good WHERE st = 'rectification'",
    )
    assert {"rectify.first_name", "rectify.email"} <= rectify_keys
    requesters = values(con, "SELECT DISTINCT requested_by FROM good WHERE t = 'gdpr_request'")
    assert requesters == {"user", "authorized_agent", "support_agent"}


def test_legal_hold_and_retention(con: duckdb.DuckDBPyConnection) -> None:
    holds = values(con, "SELECT DISTINCT s FROM good WHERE t = 'legal_hold'")
    assert holds == {"active", "released"}
    assert scalar(con, "SELECT bool_and(st <> '') FROM good WHERE t = 'legal_hold'")
    retention = con.execute(
        "SELECT count(*), bool_and(st <> '' AND s <> '') FROM good WHERE t = 'data_retention'"
    ).fetchone()
    assert retention is not None
    assert retention[0] > 0
    assert retention[1]


# ------------------------------------------------------------------------- bad rows


def test_bad_rows_share_and_every_defect_present(con: duckdb.DuckDBPyConnection) -> None:
    total = scalar(con, "SELECT count(DISTINCT event_id) FROM raw.privacy_events")
    by_defect = dict(
        con.execute(
            "SELECT defect, count(DISTINCT event_id) FROM classified "
            "WHERE defect IS NOT NULL GROUP BY 1"
        ).fetchall()
    )
    bad = sum(by_defect.values())
    assert 0.005 < bad / total < 0.02
    assert set(by_defect) == set(DEFECT_PREDICATES)
    for defect, n in by_defect.items():  # roughly even shares (1/9 = 11%)
        assert 0.05 < n / bad < 0.2, (defect, n, bad)


@pytest.mark.parametrize("defect", list(DEFECT_PREDICATES))
def test_each_defect_present_on_its_own(con: duckdb.DuckDBPyConnection, defect: str) -> None:
    """Each defect occurs, and bad rows carry exactly one defect."""
    pred = DEFECT_PREDICATES[defect]
    assert scalar(con, f"SELECT count(*) FROM pe WHERE {pred}"), defect
    others = " + ".join(f"coalesce(({p})::INT, 0)" for p in DEFECT_PREDICATES.values())
    assert scalar(con, f"SELECT max({others}) FROM pe WHERE {pred}") == 1


def test_noise_is_rare_and_normalisable(con: duckdb.DuckDBPyConnection) -> None:
    noisy = scalar(
        con,
        "SELECT avg((event_type <> t OR status <> s)::INT) FROM classified WHERE defect IS NULL",
    )
    assert 0.0005 < noisy < 0.005
    clean = "SELECT count(*) FROM classified WHERE defect IS NULL AND reason <> trim(reason)"
    assert scalar(con, clean) == 0


def test_event_ids(con: duckdb.DuckDBPyConnection) -> None:
    assert (
        scalar(
            con,
            "SELECT count(*) FROM pe WHERE NOT regexp_full_match(event_id, 'evt_[0-9a-f]{10,}')",
        )
        == 0
    )
    assert (
        scalar(con, "SELECT count(*) FROM raw.customer_events WHERE event_id NOT LIKE 'cev_%'") == 0
    )


def test_maps_have_no_null_values(con: duckdb.DuckDBPyConnection) -> None:
    assert (
        scalar(
            con,
            "SELECT count(*) FROM raw.privacy_events "
            "WHERE len(list_filter(map_values(metadata), lambda v: v IS NULL)) > 0 "
            "OR metadata IS NULL",
        )
        == 0
    )


def test_duplicates_are_redeliveries(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        """SELECT count(*) n, count(DISTINCT (user_id, event_type, event_subtype, status, reason,
                  requested_by, event_timestamp, metadata)) variants,
                  max(processed_at) - min(processed_at) delay
           FROM raw.privacy_events GROUP BY event_id HAVING count(*) > 1"""
    ).fetchall()
    total = scalar(con, "SELECT count(*) FROM raw.privacy_events")
    assert 0.002 < len(rows) / total < 0.01
    assert all(n == 2 and variants == 1 for n, variants, _ in rows)
    delays = [d for _, _, d in rows]
    assert any(d > datetime.timedelta(0) for d in delays)
    assert any(d == datetime.timedelta(0) for d in delays)


# ------------------------------------------------------------------------- stories


def test_good_timestamps_in_window(con: duckdb.DuckDBPyConnection) -> None:
    row = con.execute(
        "SELECT min(event_timestamp), max(event_timestamp), "
        "max(processed_at - event_timestamp), min(processed_at - event_timestamp) FROM good"
    ).fetchone()
    assert row is not None
    lo, hi, max_lag, min_lag = row
    assert END - datetime.timedelta(days=3 * 365 + 2) < lo
    assert hi <= END
    assert datetime.timedelta(0) < min_lag
    assert max_lag <= datetime.timedelta(hours=5)
    fractional = "SELECT count(*) FROM good WHERE epoch_us(event_timestamp) % 1000000 <> 0"
    assert scalar(con, fractional) == 0


def test_gdpr_requests_share_request_id(con: duckdb.DuckDBPyConnection) -> None:
    assert (
        scalar(
            con,
            "SELECT count(*) FROM good WHERE t = 'gdpr_request' AND metadata['request_id'] IS NULL",
        )
        == 0
    )
    rows = con.execute(
        """SELECT metadata['request_id'] rid, count(DISTINCT user_id), count(DISTINCT st),
                  count(DISTINCT coalesce(metadata['regulation'], '-')),
                  count(DISTINCT coalesce(metadata['exemption'], '-')),
                  arg_min(s, event_timestamp), count(*), count(DISTINCT event_timestamp)
           FROM good WHERE t = 'gdpr_request' GROUP BY 1"""
    ).fetchall()
    assert 0.02 * USERS < len(rows) < 0.06 * USERS
    for rid, users, subtypes, regs, exemptions, _first, n, stamps in rows:
        assert re.fullmatch(r"req_[0-9]+", rid)
        assert users == subtypes == regs == exemptions == 1, rid
        assert stamps == n, rid  # strictly increasing story
    firsts = [r[5] for r in rows]
    assert firsts.count("pending") > 0.95 * len(rows)  # a few lost their first event


def test_gdpr_lifecycles(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """CREATE OR REPLACE TEMP VIEW reqs AS
           SELECT metadata['request_id'] rid, any_value(st) st, min(event_timestamp) received,
                  arg_max(s, event_timestamp) last_status, list(s ORDER BY event_timestamp) path
           FROM good WHERE t = 'gdpr_request' GROUP BY 1"""
    )
    open_ = "last_status IN ('pending', 'verified', 'processing')"
    overdue = scalar(
        con,
        f"SELECT count(*) FROM reqs WHERE {open_} "
        f"AND received BETWEEN {END_SQL} - INTERVAL 180 DAY AND {END_SQL} - INTERVAL 60 DAY",
    )
    recent = scalar(
        con,
        f"SELECT count(*) FROM reqs WHERE {open_} AND received > {END_SQL} - INTERVAL 14 DAY",
    )
    assert overdue
    assert recent
    assert scalar(con, "SELECT count(*) FROM reqs WHERE list_contains(path, 'extended')")
    assert scalar(con, "SELECT count(*) FROM reqs WHERE st = 'deletion' AND path = ['pending']")
    assert scalar(con, "SELECT count(*) FROM reqs WHERE path[-1] = 'completed'") > 0.5 * len(
        con.execute("SELECT 1 FROM reqs").fetchall()
    )
    assert scalar(con, "SELECT count(*) FROM reqs WHERE day(received) = 31")
    assert scalar(con, "SELECT count(*) FROM reqs WHERE month(received) = 1 AND day(received) > 28")
    assert scalar(con, "SELECT count(*) FROM reqs WHERE dayofweek(received) IN (0, 6)")


def test_consent_metadata(con: duckdb.DuckDBPyConnection) -> None:
    missing = scalar(
        con,
        """SELECT count(*) FROM good WHERE t = 'consent' AND s IN ('granted', 'pending')
           AND (metadata['version'] IS NULL OR metadata['purpose'] IS NULL
                OR metadata['collection_method'] IS NULL)""",
    )
    assert missing == 0
    methods = values(
        con, "SELECT DISTINCT metadata['collection_method'] FROM good WHERE t = 'consent'"
    )
    assert {
        "signup_form",
        "preference_center",
        "checkout",
        "cookie_banner",
        "mobile_app",
        "import",
    } <= methods
    assert values(con, "SELECT DISTINCT requested_by FROM good WHERE t = 'consent'") >= {
        "user",
        "import",
    }
    ips = values(
        con, "SELECT metadata['ip_address'] FROM good USING SAMPLE 2000 ROWS (reservoir, 1)"
    )
    for ip in filter(None, ips):
        parts = [int(p) for p in ip.split(".")]
        assert len(parts) == 4
        assert all(0 <= p <= 255 for p in parts)
    expiry = "strptime(metadata['expires_at'], '%Y-%m-%dT%H:%M:%SZ')"
    cookie = con.execute(
        f"""SELECT avg((metadata['expires_at'] IS NOT NULL)::INT),
                   count(*) FILTER (WHERE {expiry} < {END_SQL}),
                   count(*) FILTER (WHERE {expiry} > {END_SQL})
            FROM good WHERE t = 'consent' AND st = 'cookies' AND s = 'granted'"""
    ).fetchone()
    assert cookie is not None
    share, past, future = cookie
    assert share > 0.9
    assert past > 0
    assert future > 0
    other = scalar(
        con,
        "SELECT avg((metadata['expires_at'] IS NOT NULL)::INT) FROM good "
        "WHERE t = 'consent' AND st <> 'cookies' AND s = 'granted'",
    )
    assert 0.05 < other < 0.3
    assert (
        scalar(
            con,
            "SELECT count(*) FROM good WHERE t = 'consent' AND s <> 'granted' "
            "AND metadata['expires_at'] IS NOT NULL",
        )
        == 0
    )
    versions = values(con, "SELECT DISTINCT metadata['version'] FROM good WHERE t = 'consent'")
    assert {"v1", "v2"} < versions


def test_consent_stories(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """CREATE OR REPLACE TEMP VIEW stories AS
           SELECT user_id, st, list(s ORDER BY event_timestamp) path
           FROM good WHERE t = 'consent' GROUP BY 1, 2"""
    )
    share = dict(con.execute(f"SELECT st, count(*) / {USERS} FROM stories GROUP BY 1").fetchall())
    assert 0.6 < share["email_marketing"] < 0.8
    assert 0.7 < share["cookies"] < 0.9
    assert 0.15 < share["sms_marketing"] < 0.35
    withdrawn = scalar(
        con, "SELECT avg(list_contains(path, 'withdrawn')::INT) FROM stories WHERE st <> 'cookies'"
    )
    assert 0.12 < withdrawn < 0.35
    regranted = scalar(
        con,
        """SELECT count(*) FROM stories
           WHERE list_position(path, 'withdrawn') < len(path)
             AND list_contains(list_slice(path, list_position(path, 'withdrawn') + 1, len(path)),
                               'granted')""",
    )
    assert regranted
    # A re-grant after a withdrawal is given under a newer policy version (the latest
    # version, a dated one, cannot be bettered).
    rank = "coalesce(list_position(['v1', 'v2'], {v}), 3)"
    rows = con.execute(
        f"""SELECT {rank.format(v="prev_version")}, {rank.format(v="version")}
            FROM (SELECT s, metadata['version'] version,
                         lag(s) OVER w prev_s, lag(metadata['version']) OVER w prev_version
                  FROM good WHERE t = 'consent'
                  WINDOW w AS (PARTITION BY user_id, st ORDER BY event_timestamp))
            WHERE s = 'granted' AND prev_s = 'withdrawn'"""
    ).fetchall()
    assert rows
    assert all(new > old or new == old == 3 for old, new in rows)
    # Double opt-in: a pending is followed by its grant within a few hours (unless that
    # grant was one of the rows replaced by a bad row).
    quick = scalar(
        con,
        """SELECT avg((nxt - event_timestamp <= INTERVAL 3 HOUR)::INT) FROM (
             SELECT *, lead(event_timestamp) OVER w nxt, lead(s) OVER w nxt_s
             FROM good WHERE t = 'consent'
             WINDOW w AS (PARTITION BY user_id, st ORDER BY event_timestamp))
           WHERE s = 'pending' AND nxt_s = 'granted'""",
    )
    assert quick > 0.97


# ------------------------------------------------------------------------------ append

APPEND_END = END + datetime.timedelta(days=1)


@pytest.fixture(scope="module")
def appended() -> Iterator[tuple[duckdb.DuckDBPyConnection, AppendSummary]]:
    """A 5,000-user world, its tables as they were (schema `before`), and one batch."""
    con = duckdb.connect()
    generate_lakehouse(con, users=USERS, seed=42, end=END)
    con.execute("CREATE SCHEMA before")
    for table in ("privacy_events", "user_profiles", "customer_events"):
        con.execute(f"CREATE TABLE before.{table} AS SELECT * FROM raw.{table}")
    summary = append_events(con, end=APPEND_END, seed=42)
    yield con, summary
    con.close()


def _added(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(
        scalar(con, f"SELECT count(*) FROM raw.{table}")
        - scalar(con, f"SELECT count(*) FROM before.{table}")
    )


def test_append_adds_about_one_percent(
    appended: tuple[duckdb.DuckDBPyConnection, AppendSummary],
) -> None:
    con, summary = appended
    before = scalar(con, "SELECT count(*) FROM before.privacy_events")
    assert _added(con, "privacy_events") == summary.privacy_events
    assert 0.006 < summary.privacy_events / before < 0.02
    assert _added(con, "customer_events") == summary.customer_events > 0
    assert _added(con, "user_profiles") == summary.user_profiles > 0
    assert summary.since < END <= summary.end == APPEND_END
    # Nothing that was there changed (append-only).
    for table in ("privacy_events", "user_profiles", "customer_events"):
        missing = scalar(
            con,
            f"SELECT count(*) FROM (SELECT * FROM before.{table} EXCEPT ALL "
            f"SELECT * FROM raw.{table})",
        )
        assert missing == 0, table


# The appended privacy rows: raw minus what was there, as a multiset.
BATCH = "(SELECT * FROM raw.privacy_events EXCEPT ALL SELECT * FROM before.privacy_events)"


def test_append_new_events_fall_in_the_batch_window(
    appended: tuple[duckdb.DuckDBPyConnection, AppendSummary],
) -> None:
    con, summary = appended
    since = f"TIMESTAMP '{summary.since}'"
    end = f"TIMESTAMP '{summary.end}'"
    new = f"{BATCH} b ANTI JOIN before.privacy_events p USING (event_id)"
    kinds = dict(
        con.execute(
            f"""SELECT CASE WHEN event_timestamp IS NULL THEN 'no time'
                            WHEN event_timestamp <= {since} THEN 'before'
                            WHEN event_timestamp <= {end} THEN 'in window'
                            WHEN event_timestamp <= {end} + INTERVAL 2 DAY THEN 'a day late'
                            ELSE 'far future' END, count(*)
                FROM {new} GROUP BY 1"""
        ).fetchall()
    )
    assert kinds.get("before", 0) == 0
    assert kinds["in window"] > 0.9 * sum(kinds.values())
    # valid rows stamped 25-47 hours after the batch (R2 rejects them until as_of moves)
    assert kinds["a day late"] >= 3
    assert summary.bad_rows > 0
    # new event ids never meet an old one (they are longer)
    assert values(
        con, f"SELECT DISTINCT length(event_id) FROM {new} WHERE event_id IS NOT NULL"
    ) == {20}


def test_append_redeliveries_come_later_and_some_are_corrected(
    appended: tuple[duckdb.DuckDBPyConnection, AppendSummary],
) -> None:
    con, summary = appended
    rows = con.execute(
        f"""SELECT b.event_id, b.processed_at, max(p.processed_at) AS before_at,
                   bool_or(lower(trim(b.status)) IS DISTINCT FROM lower(trim(p.status))) AS changed
            FROM {BATCH} b JOIN before.privacy_events p USING (event_id)
            GROUP BY b.event_id, b.processed_at"""
    ).fetchall()
    assert len(rows) == summary.redeliveries > 0
    assert all(at > before_at for _, at, before_at, _ in rows)
    corrected = [event_id for event_id, _, _, changed in rows if changed]
    assert len(corrected) == summary.corrected_redeliveries >= 3
    # a correction turns a grant into a withdrawal and moves the event 35 days back
    moved = scalar(
        con,
        f"""SELECT count(*) FROM {BATCH} b JOIN before.privacy_events p USING (event_id)
            WHERE b.status = 'withdrawn' AND p.status = 'granted'
              AND b.event_timestamp = p.event_timestamp - INTERVAL 35 DAY""",
    )
    assert moved == summary.corrected_redeliveries


def test_append_moves_open_requests_and_signs_up_new_users(
    appended: tuple[duckdb.DuckDBPyConnection, AppendSummary],
) -> None:
    con, summary = appended
    new_users = values(
        con, "SELECT user_id FROM raw.user_profiles EXCEPT SELECT user_id FROM before.user_profiles"
    )
    assert len(new_users) == summary.new_users > 0
    assert not new_users & values(con, "SELECT DISTINCT user_id FROM before.privacy_events")
    signups = scalar(
        con,
        f"SELECT count(DISTINCT user_id) FROM {BATCH} WHERE event_type = 'consent' "
        f"AND user_id IN (SELECT user_id FROM raw.user_profiles "
        f"EXCEPT SELECT user_id FROM before.user_profiles)",
    )
    assert signups == summary.new_users
    moves = con.execute(
        f"""WITH latest AS (
              SELECT metadata['request_id'] AS request_id,
                     arg_max(lower(trim(status)), event_timestamp) AS status
              FROM before.privacy_events WHERE lower(trim(event_type)) = 'gdpr_request'
              GROUP BY 1)
            SELECT l.status, b.status, count(*)
            FROM {BATCH} b JOIN latest l ON l.request_id = b.metadata['request_id']
            WHERE b.event_type = 'gdpr_request' AND b.event_id NOT IN
                  (SELECT event_id FROM before.privacy_events)
            GROUP BY ALL"""
    ).fetchall()
    allowed = {
        ("pending", "verified"),
        ("verified", "processing"),
        ("processing", "completed"),
        ("processing", "extended"),
        ("extended", "completed"),
        ("failed", "processing"),
    }
    moved = {(old, new) for old, new, _ in moves}
    assert moved, "some open requests move on"
    # the few rows planted bad on purpose may carry another status
    clean = {(old, new) for old, new, n in moves if new in {s for _, s in allowed}}
    assert clean <= allowed


def test_append_is_deterministic_and_each_batch_is_new() -> None:
    def world() -> duckdb.DuckDBPyConnection:
        con = _generate(1_000)
        append_events(con, end=APPEND_END, seed=5)
        return con

    first, second = world(), world()
    assert checksum(first) == checksum(second)
    again = append_events(first, end=APPEND_END + datetime.timedelta(days=1), seed=5)
    assert again.since > END
    ids = scalar(first, "SELECT count(*) - count(DISTINCT event_id) FROM raw.privacy_events")
    before = scalar(second, "SELECT count(*) - count(DISTINCT event_id) FROM raw.privacy_events")
    # the second batch adds redeliveries (repeated ids) but no accidental collisions
    assert ids - before <= again.redeliveries


def test_append_refuses_bad_arguments() -> None:
    con = _generate(200)
    with pytest.raises(ValueError, match="not after"):
        append_events(con, end=END - datetime.timedelta(days=1))
    with pytest.raises(ValueError, match="share"):
        append_events(con, end=APPEND_END, share=0.5)
    empty = duckdb.connect()
    generate_lakehouse(empty, users=5, end=END)
    empty.execute("DELETE FROM raw.user_profiles")
    empty.execute("DELETE FROM raw.customer_events")
    with pytest.raises(ValueError, match="empty"):
        append_events(empty, end=APPEND_END)
    seen: list[str] = []
    append_events(con, end=APPEND_END, progress=seen.append)
    assert seen == list(APPEND_STEPS)
    assert scalar(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_cio%'") == 0
