"""Synthetic Customer.io privacy lakehouse, generated inside DuckDB.

``generate_lakehouse`` writes three raw tables that look like a Customer.io
export landed in a warehouse:

* ``<schema>.privacy_events``: consent, suppression, GDPR/CCPA request,
  legal-hold and data-retention events, with about 1% deliberately bad rows
  (one defect each), about 0.5% redelivered duplicates and a little
  whitespace/case noise;
* ``<schema>.user_profiles``: one row per known user;
* ``<schema>.customer_events``: behavioural events by data category.

Everything is set-based SQL: no per-row Python. Randomness never comes from
``random()`` (whose values depend on thread scheduling) but from ``hash`` of
(row identity, salt, seed), so the table contents are a pure function of
``(users, seed, end)`` whatever the number of threads. Row order is not
guaranteed; compare contents, not order.
"""

from __future__ import annotations

import calendar
import datetime
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import duckdb

__all__ = [
    "APPEND_STEPS",
    "STEPS",
    "AppendSummary",
    "GenerationSummary",
    "append_events",
    "generate_lakehouse",
    "load_tables_from_spark",
]

# Names passed to ``progress`` (once each, in this order, after the step finished).
STEPS: tuple[str, ...] = (
    "users",
    "consent",
    "suppression",
    "gdpr_requests",
    "legal_hold_and_retention",
    "duplicates",
    "user_profiles",
    "customer_events",
)

DAY = 86_400
BAD_RATE = 0.01  # share of privacy rows replaced by a row with exactly one defect
DUP_RATE = 0.005  # share of privacy rows delivered twice
NOISE_RATE = 0.002  # share of good rows with whitespace/case noise on type or status

# Local event numbering: key = user index * 4096 + offset, unique per event.
_KEY_STRIDE = 4096
_OFF_CONSENT = 0  # + consent type * 32 + step (< 32)
_OFF_SUPPRESSION = 256  # + story kind * 16 + step (< 16)
_OFF_GDPR = 512  # + request * 16 + step
_OFF_LEGAL = 640  # + hold * 16 + step
_OFF_RETENTION = 704  # + step

# Odd multipliers for the event-id permutation (see _World.setup).
_ID_MULT = 0x5BD1E9
_ID_MULT_CEV = 0x4F1BBD
_ID_MIX = 0x3C6EF3
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

COUNTRIES: tuple[tuple[str, float], ...] = (
    ("US", 40),
    ("GB", 12),
    ("DE", 10),
    ("FR", 8),
    ("ES", 6),
    ("IT", 6),
    ("CA", 6),
    ("NL", 5),
    ("BR", 4),
    ("AU", 3),
)
# country -> (E.164 prefix, number of random digits after it)
_PHONE: dict[str, tuple[str, int]] = {
    "US": ("+1555", 7),
    "CA": ("+1555", 7),
    "GB": ("+447700900", 3),
    "DE": ("+49155", 8),
    "FR": ("+33639", 6),
    "ES": ("+34612", 6),
    "IT": ("+39312", 7),
    "NL": ("+31612", 6),
    "BR": ("+55119", 8),
    "AU": ("+61491570", 3),
}


def _names(words: str, *extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    """(display name, lower-case ASCII form used in e-mail addresses) pairs."""
    return (*((w, w.lower()) for w in words.split()), *extra)


FIRST_NAMES = _names(
    "Olivia Liam Emma Noah Amelia Oliver Sophia Elijah Mia Lucas Charlotte Mateo "
    "Isabella Leon Ava Hugo Lea Finn Camille Louis Chloe Jan Sofia Luca Giulia "
    "Marco Laura Pablo Lucia Daan Sanne Thiago Ana Gabriel Julia Jack Ruby Ethan "
    "Grace Aiden Priya Arjun Mei Kenji Fatima Omar",
    ("Zoë", "zoe"),
    ("José", "jose"),
    ("Anaïs", "anais"),
    ("Jürgen", "jurgen"),
)
LAST_NAMES = _names(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Martinez Wilson Taylor "
    "Anderson Thomas Moore Jackson Martin Lee Walker Hall Allen Young King Wright "
    "Scott Green Baker Adams Nelson Hill Campbell Schmidt Schneider Fischer Weber "
    "Dubois Durand Lefebvre Rossi Russo Ferrari Bianchi Jansen Visser Silva Santos "
    "Oliveira Fernandez Lopez Sanchez Patel Nguyen Kim Chen Singh",
    ("O'Brien", "obrien"),
    ("Müller", "muller"),
    ("García-López", "garcialopez"),
)
EMAIL_DOMAINS: tuple[tuple[str, float], ...] = (
    ("gmail.com", 40),
    ("outlook.com", 15),
    ("yahoo.com", 12),
    ("icloud.com", 12),
    ("hotmail.co.uk", 6),
    ("gmx.de", 6),
    ("proton.me", 4),
    ("example.org", 5),
)

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
LEGAL_HOLD_STATUSES = ("active", "released")
EVENT_TYPES = ("consent", "suppression", "gdpr_request", "legal_hold", "data_retention")
REGULATIONS = ("gdpr", "ccpa")
EXEMPTIONS = ("art17_3_a", "art17_3_b", "art17_3_c", "art17_3_d", "art17_3_e")
# Rejection reasons in the staging model's precedence order; bad rows use kind = index + 1.
DEFECTS = (
    "missing_user_id",
    "unknown_event_type",
    "invalid_subtype",
    "invalid_status",
    "missing_timestamp",
    "future_timestamp",
    "missing_request_id",
    "unknown_regulation",
    "invalid_metadata",
)
DATA_CATEGORIES: dict[str, tuple[float, tuple[str, ...]]] = {
    "events": (30, ("page_viewed", "session_started", "button_clicked", "search_performed")),
    "communications": (
        25,
        ("email_delivered", "email_opened", "email_clicked", "sms_delivered", "push_opened"),
    ),
    "purchases": (12, ("checkout_started", "order_completed", "cart_abandoned", "refund_issued")),
    "profile": (10, ("identify", "profile_updated", "attribute_changed")),
    "devices": (10, ("device_registered", "device_updated", "push_token_refreshed")),
    "preferences": (8, ("preferences_updated", "subscription_center_viewed")),
    "third_party": (5, ("ad_audience_synced", "crm_synced", "partner_data_shared")),
}

_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "AcmeShop/5.12.0 (iPhone; iOS 17.4; Scale/3.00)",
)

# Consent types: subtype -> (family, participation probability, purpose,
# collection methods (repeats act as weights), P(expires_at on a grant), validity days).
_CONSENT_TYPES: dict[str, tuple[str, float, str, tuple[str, ...], float, int]] = {
    "email_marketing": (
        "optin",
        0.70,
        "Marketing emails about products and offers",
        ("signup_form",) * 5 + ("checkout",) * 2 + ("preference_center",) * 2 + ("mobile_app",),
        0.10,
        730,
    ),
    "sms_marketing": (
        "optin",
        0.25,
        "Promotional text messages",
        ("checkout",) * 4 + ("signup_form",) * 3 + ("mobile_app",) * 2 + ("preference_center",),
        0.10,
        365,
    ),
    "push_notifications": (
        "generic",
        0.35,
        "Push notifications about orders and offers",
        ("mobile_app",),
        0.10,
        365,
    ),
    "data_analytics": (
        "generic",
        0.45,
        "Product analytics to improve the service",
        ("signup_form",) * 2 + ("preference_center",) * 2 + ("mobile_app",),
        0.10,
        730,
    ),
    "third_party_sharing": (
        "generic",
        0.20,
        "Sharing data with advertising partners",
        ("preference_center",) * 2 + ("signup_form",) + ("checkout",),
        0.10,
        365,
    ),
    "cookies": (
        "cookies",
        0.80,
        "Non-essential cookies on the website",
        ("cookie_banner",) * 9 + ("preference_center",),
        0.97,
        365,
    ),
    "behavioral_tracking": (
        "generic",
        0.30,
        "Personalised recommendations from browsing behaviour",
        ("preference_center",) * 2 + ("signup_form",) + ("mobile_app",),
        0.10,
        365,
    ),
}

# Consent stories as status sequences: P pending, G granted, W withdrawn, E expired.
# A P is always followed by its G (double opt-in, minutes later); a G followed by E
# carries expires_at equal to the E's timestamp. Repeated G = re-consent (new device,
# new policy version); G after W = re-grant.
_CONSENT_PATTERNS: dict[str, tuple[tuple[str, float], ...]] = {
    "cookies": (
        ("G", 4),
        ("GG", 5),
        ("GE", 4),
        ("GEG", 12),
        ("GGG", 6),
        ("GEGE", 8),
        ("GGEG", 8),
        ("GEGG", 8),
        ("GEGEG", 13),
        ("GGGGG", 6),
        ("GEGEGG", 8),
        ("GGEGEG", 7),
        ("GEGEGEG", 5),
        ("GW", 3),
        ("GEGW", 4),
        ("GGWG", 2),
        ("GWGEG", 2),
    ),
    "optin": (
        ("G", 6),
        ("GG", 8),
        ("GGG", 9),
        ("GGGG", 8),
        ("GGGGG", 7),
        ("GGGGGG", 3),
        ("PG", 6),
        ("PGG", 7),
        ("PGGG", 7),
        ("PGGGG", 5),
        ("P", 2),
        ("GW", 5),
        ("GGW", 4),
        ("PGW", 3),
        ("GGGW", 2),
        ("GWG", 3),
        ("GGWG", 2),
        ("PGWG", 1),
        ("GWGG", 1.5),
        ("GWGW", 0.5),
        ("GE", 3),
        ("GEG", 3),
        ("GGE", 2),
        ("GGEG", 2),
    ),
    "generic": (
        ("G", 7),
        ("GG", 9),
        ("GGG", 10),
        ("GGGG", 9),
        ("GGGGG", 7),
        ("GGGGGG", 5),
        ("GW", 5),
        ("GGW", 4),
        ("GGGW", 3),
        ("GWG", 3),
        ("GGWG", 2),
        ("GWGG", 1.5),
        ("GWGW", 0.5),
        ("GE", 3),
        ("GEG", 3),
        ("GGE", 2),
        ("GGEG", 2),
    ),
}
_CONSENT_LETTERS = {"P": "pending", "G": "granted", "W": "withdrawn", "E": "expired"}

# GDPR request lifecycles. Letters: P pending, V verified, R processing, X extended,
# C completed, F failed, K cancelled. Class decides when the request was received:
# normal (older than 90 days, finished or abandoned), overdue (received 60-180 days
# before end and still open) or recent (received in the last 14 days, still open).
_GDPR_LETTERS = {
    "P": "pending",
    "V": "verified",
    "R": "processing",
    "X": "extended",
    "C": "completed",
    "F": "failed",
    "K": "cancelled",
}
_GDPR_PATTERNS: tuple[tuple[str, str, float, float], ...] = (
    # (pattern, class, weight for most types, weight for deletion)
    ("PVRC", "normal", 58, 52),
    ("PVRXC", "normal", 8, 8),
    ("PK", "normal", 4, 4),
    ("PVK", "normal", 3, 3),
    ("PVRF", "normal", 3, 3),
    ("PVRFRC", "normal", 4, 4),
    ("P", "normal", 0, 8),  # deletion never verified
    ("PVR", "overdue", 5, 5),
    ("P", "overdue", 3, 3),
    ("PV", "overdue", 2, 2),
    ("P", "recent", 4, 4),
    ("PV", "recent", 3, 3),
    ("PVR", "recent", 3, 3),
)
# Seconds between the previous step and this one, by (class, status).
_GDPR_GAPS: dict[tuple[str, str], tuple[int, int]] = {
    ("normal", "verified"): (600, 3 * DAY),
    ("normal", "processing"): (600, 4 * DAY),
    ("normal", "extended"): (15 * DAY, 25 * DAY),
    ("normal", "completed"): (3600, 20 * DAY),
    ("normal", "failed"): (3600, 10 * DAY),
    ("normal", "cancelled"): (600, 10 * DAY),
    ("overdue", "verified"): (600, 3 * DAY),
    ("overdue", "processing"): (600, 4 * DAY),
    ("recent", "verified"): (600, 12 * 3600),
    ("recent", "processing"): (600, 12 * 3600),
}
_GDPR_TYPES: tuple[tuple[str, float], ...] = (
    ("access", 40),
    ("deletion", 30),
    ("rectification", 10),
    ("portability", 8),
    ("objection", 7),
    ("restriction", 5),
)

_SUPPRESSION_KINDS: tuple[tuple[str, float], ...] = (
    # (kind, share of users)
    ("unsubscribe", 0.08),
    ("soft_bounce", 0.05),
    ("hard_bounce", 0.015),
    ("spam_complaint", 0.005),
    ("invalid_address", 0.005),
    ("sms_stop", 0.03),
    ("manual", 0.008),
    ("carrier_block", 0.0005),
)

_PRIVACY_COLUMNS = (
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
)
_PROFILE_COLUMNS = (
    ("user_id", "VARCHAR"),
    ("email", "VARCHAR"),
    ("phone", "VARCHAR"),
    ("first_name", "VARCHAR"),
    ("last_name", "VARCHAR"),
    ("country", "VARCHAR"),
    ("created_at", "TIMESTAMP"),
    ("updated_at", "TIMESTAMP"),
    ("last_active_at", "TIMESTAMP"),
)
_CUSTOMER_EVENT_COLUMNS = (
    ("event_id", "VARCHAR"),
    ("user_id", "VARCHAR"),
    ("event_name", "VARCHAR"),
    ("data_category", "VARCHAR"),
    ("occurred_at", "TIMESTAMP"),
)
TABLE_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "privacy_events": _PRIVACY_COLUMNS,
    "user_profiles": _PROFILE_COLUMNS,
    "customer_events": _CUSTOMER_EVENT_COLUMNS,
}


@dataclass(frozen=True)
class GenerationSummary:
    """Row counts of one generated lakehouse and how long it took."""

    users: int
    privacy_events: int
    user_profiles: int
    customer_events: int
    bad_rows: int
    duplicate_rows: int
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return dict(asdict(self))


# --------------------------------------------------------------------------- SQL helpers


def _q(text: str) -> str:
    """SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def _pick(values: Sequence[str], r: str) -> str:
    """Uniform choice from ``values`` driven by ``r`` in [0, 1)."""
    if len(values) == 1:
        return _q(values[0])
    return f"{_list(values)}[1 + floor(({r}) * {len(values)})::INTEGER]"


def _wpick(choices: Sequence[tuple[str, float]], r: str) -> str:
    """Weighted choice from ``(value, weight)`` pairs driven by ``r`` in [0, 1)."""
    total = sum(w for _, w in choices)
    parts, acc = [], 0.0
    for value, weight in choices[:-1]:
        if weight <= 0:
            continue
        acc += weight
        parts.append(f"WHEN ({r}) < {acc / total!r} THEN {_q(value)}")
    return f"CASE {' '.join(parts)} ELSE {_q(choices[-1][0])} END"


def _wpick_int(weights: Sequence[float], r: str) -> str:
    """Weighted index 0..len-1 (zero weights never chosen; the last must be positive)."""
    total = sum(weights)
    parts, acc = [], 0.0
    for i, weight in enumerate(weights[:-1]):
        if weight <= 0:
            continue
        acc += weight
        parts.append(f"WHEN ({r}) < {acc / total!r} THEN {i}")
    return f"CASE {' '.join(parts)} ELSE {len(weights) - 1} END"


def _map(entries: Sequence[tuple[str, str]]) -> str:
    """MAP(VARCHAR, VARCHAR) of the entries whose value expression is not NULL."""
    items = ", ".join(f"{{'k': {_q(k)}, 'v': ({v})::VARCHAR}}" for k, v in entries)
    return f"map_from_entries(list_filter([{items}], lambda e: e.v IS NOT NULL))"


def _struct_map(entries: Sequence[tuple[str, str]]) -> str:
    """MAP(VARCHAR, VARCHAR) with exactly these keys; every value must be non-NULL.

    Casting a struct is several times faster than MAP()/map_from_entries, which matters
    for the ten million consent rows.
    """
    if not entries:
        return "MAP {}::MAP(VARCHAR, VARCHAR)"
    fields = ", ".join(f"{_q(k)}: ({v})::VARCHAR" for k, v in entries)
    return f"{{{fields}}}::MAP(VARCHAR, VARCHAR)"


def _ts(seconds: str) -> str:
    return f"make_timestamp(({seconds})::BIGINT * 1000000)"


def _iso(seconds: str) -> str:
    return f"strftime({_ts(seconds)}, '%Y-%m-%dT%H:%M:%SZ')"


def _values(rows: Sequence[Sequence[object]]) -> str:
    def lit(v: object) -> str:
        if isinstance(v, str):
            return _q(v)
        if isinstance(v, bool):
            return "TRUE" if v else "FALSE"
        if isinstance(v, tuple):
            return _list([str(x) for x in v])
        return repr(v)

    return ", ".join("(" + ", ".join(lit(v) for v in row) + ")" for row in rows)


def _create_table(con: duckdb.DuckDBPyConnection, name: str, table: str) -> None:
    cols = ", ".join(f"{c} {t}" for c, t in TABLE_COLUMNS[table])
    con.execute(f"CREATE OR REPLACE TABLE {name} ({cols})")


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row is not None else 0


# ---------------------------------------------------------------------------- the world


class _World:
    """Builds the SQL for one (users, seed, end) world."""

    def __init__(self, users: int, seed: int, end: datetime.datetime, schema: str) -> None:
        self.users = users
        self.seed = seed
        self.schema = f'"{schema}"'  # validated identifier, quoted in case it is a keyword
        self.end = calendar.timegm(end.timetuple())
        try:
            start_dt = end.replace(year=end.year - 3)
        except ValueError:  # 29 February
            start_dt = end.replace(year=end.year - 3, day=28)
        self.start = calendar.timegm(start_dt.timetuple())
        self.width = max(7, len(str(users)))
        # Event ids: a permutation of [0, 2**bits) applied to the unique event key.
        need = ((users + 1) * _KEY_STRIDE).bit_length()
        self.id_bits = max(40, -(-need // 4) * 4)
        self.id_mask = (seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % (1 << self.id_bits)
        # Consent policy versions: v1, v2 (from about 13 months in), then a dated one.
        self.v2_from = self.start + 400 * DAY
        self.v3_from = self.end - 300 * DAY
        self.v3_label = datetime.datetime.fromtimestamp(self.v3_from, datetime.UTC).strftime(
            "%Y-%m"
        )
        self.pe = f"{self.schema}.privacy_events"

    # -- primitives -------------------------------------------------------------------

    def setup(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute(
            "CREATE OR REPLACE TEMP MACRO _cio_rnd(k, salt) AS "
            f"((hash(k, salt, {self.seed}::BIGINT) >> 11)::DOUBLE / 9007199254740992.0)"
        )
        con.execute(
            "CREATE OR REPLACE TEMP MACRO _cio_slot(st, span, j, n, k) AS "
            "st + floor(span * (j + 0.15 + 0.7 * _cio_rnd(k + j, 'slot')) / n)::BIGINT"
        )
        con.execute(
            "CREATE OR REPLACE TEMP MACRO _cio_ip(h) AS "
            "((h % 223) + 1)::VARCHAR || '.' || ((h >> 8) % 256)::VARCHAR || '.' "
            "|| ((h >> 16) % 256)::VARCHAR || '.' || (((h >> 24) % 254) + 1)::VARCHAR"
        )
        # A permutation of [0, 2**bits): multiply by an odd number, xor-shift, multiply,
        # xor a seed mask (each step is invertible), so distinct keys give distinct,
        # random-looking ids. Multipliers stay below 2**(63 - bits): BIGINT never overflows.
        bits = self.id_bits
        modulus, limit = 1 << bits, 1 << (63 - bits)
        mix = (_ID_MIX % limit) | 1
        con.execute(
            "CREATE OR REPLACE TEMP MACRO _cio_mulmod(x, m) AS "
            f"(x::BIGINT * (m % {limit} | 1)) % {modulus}"
        )
        con.execute(
            "CREATE OR REPLACE TEMP MACRO _cio_hexid(prefix, k, mult) AS "
            f"prefix || lower(lpad(to_hex(xor(_cio_mulmod(xor(_cio_mulmod(k, mult), "
            f"_cio_mulmod(k, mult) >> {bits // 2}), {mix}), {self.id_mask})), {bits // 4}, '0'))"
        )

    def cleanup(self, con: duckdb.DuckDBPyConnection) -> None:
        for table in ("_cio_gen_users", "_cio_gen_consent_types", "_cio_gen_consent_steps"):
            con.execute(f"DROP TABLE IF EXISTS temp.main.{table}")
        con.execute("DROP TABLE IF EXISTS temp.main._cio_gen_gdpr_steps")
        for macro in ("_cio_slot", "_cio_ip", "_cio_hexid", "_cio_mulmod", "_cio_rnd"):
            con.execute(f"DROP MACRO IF EXISTS temp.main.{macro}")

    # -- users ------------------------------------------------------------------------

    def users_sql(self) -> str:
        e, s = self.end, self.start
        two_years_ago = e - 731 * DAY
        return f"""
CREATE OR REPLACE TEMP TABLE _cio_gen_users AS
WITH b AS (
  SELECT i AS uidx,
         _cio_rnd(i, 'member') AS r_member,
         _cio_rnd(i, 'inactive') < 0.12 AS inactive,
         _cio_rnd(i, 'created') AS r_created,
         _cio_rnd(i, 'last_active') AS r_active,
         _cio_rnd(i, 'country') AS r_country
  FROM range(1, {self.users + 1}) t(i)
), c AS (
  SELECT *,
         CASE WHEN inactive THEN {s} + floor(r_created * {300 * DAY})::BIGINT
              ELSE {s} + floor(sqrt(r_created) * {e - 3 * DAY - s})::BIGINT END AS created_sec
  FROM b
)
SELECT uidx,
       'usr_' || lpad(uidx::VARCHAR, {self.width}, '0') AS user_id,
       r_member >= 0.005 AS has_profile,
       r_member < 0.005 OR r_member >= 0.010 AS has_privacy,
       inactive,
       {_wpick(COUNTRIES, "r_country")} AS country,
       created_sec,
       CASE
         WHEN inactive THEN created_sec + {7 * DAY}
              + floor(r_active * (least(created_sec + {200 * DAY}, {two_years_ago})
                                  - created_sec - {7 * DAY}))::BIGINT
         WHEN r_active < 0.025 THEN NULL
         ELSE created_sec + floor(({e} - 60 - created_sec)
                                  * (0.25 + 0.75 * sqrt((r_active - 0.025) / 0.975)))::BIGINT
       END AS last_active_sec
FROM c
"""

    # -- privacy event finalisation ---------------------------------------------------

    def finalize_sql(
        self, component: str, *, into: str | None = None, event_id: str | None = None
    ) -> str:
        """INSERT the component rows, replacing ~1% by rows with exactly one defect.

        ``component`` yields: user_id, ekey (unique BIGINT), event_type, event_subtype,
        status, reason, requested_by, ts (epoch seconds), lag (seconds), metadata.
        Rows go into ``into`` (default: the privacy_events table); ``event_id`` is the
        SQL that names a row from its ekey (default: the world's id permutation).
        """
        e = self.end
        bad_types = ("consnet", "marketing", "gdpr", "supression", "privacy_request", "opt_out")
        gdpr_sub = _pick(GDPR_SUBTYPES, "ra")
        gdpr_stat = _pick(GDPR_STATUSES, "rb")
        bad_regulation = _pick(("lgpd", "pipeda", "appi", "popia"), "rb")
        bad_expiry = _pick(("next-year", "2025-13-45", "soon", "31/02/2026", "never"), "rb")
        bad_bounce = _pick(("medium", "partial", "unknown_type"), "rb")
        not_gdpr = "event_type <> 'gdpr_request'"
        half = NOISE_RATE / 2  # rn < half: noisy type; half <= rn < NOISE_RATE: noisy status
        type_noise = (
            f"CASE floor(rn / {half} * 4)::INTEGER WHEN 0 THEN ' ' || event_type "
            "WHEN 1 THEN upper(event_type) WHEN 2 THEN event_type || ' ' "
            "ELSE upper(left(event_type, 1)) || substr(event_type, 2) END"
        )
        status_noise = (
            f"CASE floor((rn - {half}) / {half} * 3)::INTEGER WHEN 0 THEN upper(status) "
            "WHEN 1 THEN ' ' || status ELSE status || '  ' END"
        )
        event_id = event_id or f"_cio_hexid('evt_', ekey, {_ID_MULT})"
        return f"""
INSERT INTO {into or self.pe}
WITH c AS ({component}),
k AS (
  SELECT c.*, {event_id} AS event_id FROM c
), f AS (
  SELECT k.*,
         {self.bad_predicate} AS is_bad,
         1 + floor(_cio_rnd(ekey, 'kind') * 9)::INTEGER AS kind,
         _cio_rnd(ekey, 'alt') AS ra,
         _cio_rnd(ekey, 'alt2') AS rb,
         _cio_rnd(ekey, 'noise') AS rn
  FROM k
)
SELECT
  event_id,
  CASE WHEN is_bad AND kind = 1 THEN [NULL, '', '   '][1 + floor(ra * 3)::INTEGER]
       ELSE user_id END AS user_id,
  CASE
    WHEN NOT is_bad THEN CASE WHEN rn < {half} THEN {type_noise} ELSE event_type END
    WHEN kind = 2 THEN {_pick(bad_types, "ra")}
    WHEN kind = 4 AND event_type = 'data_retention' THEN 'legal_hold'
    WHEN kind IN (7, 8) THEN 'gdpr_request'
    WHEN kind = 9 AND event_type <> 'consent' THEN 'suppression'
    ELSE event_type
  END AS event_type,
  CASE
    WHEN NOT is_bad THEN event_subtype
    WHEN kind = 3 THEN CASE event_type
      WHEN 'consent' THEN {_pick(("newsletter", "sms_marketting", "partner_offers"), "ra")}
      WHEN 'suppression' THEN {_pick(("fax", "postal_mail", "whatsapp"), "ra")}
      WHEN 'gdpr_request' THEN {_pick(("erasure_all", "export", "delete"), "ra")}
      ELSE CASE WHEN ra < 0.5 THEN NULL ELSE '' END END
    WHEN kind IN (7, 8) AND {not_gdpr} THEN {gdpr_sub}
    WHEN kind = 9 AND event_type <> 'consent' THEN 'email'
    ELSE event_subtype
  END AS event_subtype,
  CASE
    WHEN NOT is_bad THEN
      CASE WHEN rn >= {half} AND rn < {NOISE_RATE} THEN {status_noise} ELSE status END
    WHEN kind = 4 THEN CASE event_type
      WHEN 'consent' THEN {_pick(("revoked", "opted_in", "denied"), "ra")}
      WHEN 'suppression' THEN {_pick(("paused", "inactive", "granted"), "ra")}
      WHEN 'gdpr_request' THEN {_pick(("done", "closed", "in_review", "rejected"), "ra")}
      WHEN 'legal_hold' THEN {_pick(("expired", "lifted"), "ra")}
      ELSE 'pending' END
    WHEN kind IN (7, 8) AND {not_gdpr} THEN {gdpr_stat}
    WHEN kind = 9 THEN CASE WHEN event_type = 'consent' THEN 'granted' ELSE 'active' END
    ELSE status
  END AS status,
  CASE
    WHEN is_bad AND kind = 9 AND event_type <> 'consent' THEN 'bounced'
    WHEN is_bad AND kind IN (7, 8) AND {not_gdpr} THEN NULL
    ELSE reason
  END AS reason,
  CASE
    WHEN is_bad AND kind = 9 AND event_type <> 'consent' THEN 'esp_webhook'
    WHEN is_bad AND kind IN (7, 8) AND {not_gdpr} THEN 'user'
    ELSE requested_by
  END AS requested_by,
  CASE
    WHEN is_bad AND kind = 5 THEN NULL
    WHEN is_bad AND kind = 6 THEN {_ts(f"{e + 3 * DAY} + floor(ra * {397 * DAY})")}
    ELSE {_ts("ts")}
  END AS event_timestamp,
  CASE
    WHEN is_bad AND kind = 6 THEN {_ts(f"{e + 3 * DAY} + floor(ra * {397 * DAY}) + lag")}
    ELSE {_ts("ts + lag")}
  END AS processed_at,
  CASE
    WHEN NOT is_bad OR kind NOT IN (7, 8, 9) THEN metadata
    WHEN kind = 7 AND event_type = 'gdpr_request' THEN
      map_from_entries(list_filter(map_entries(metadata), lambda e: e.key <> 'request_id'))
    WHEN kind = 7 THEN CASE WHEN ra < 0.7 THEN MAP {{'regulation': 'gdpr'}}
                            ELSE MAP {{}}::MAP(VARCHAR, VARCHAR) END
    WHEN kind = 8 AND event_type = 'gdpr_request' THEN
      map_concat(metadata, MAP {{'regulation': {bad_regulation}}})
    WHEN kind = 8 THEN MAP {{
      'request_id': 'req_' || lpad((hash(event_id, {self.seed}) % 1000000000000)::VARCHAR,
                                   12, '0'),
      'regulation': {bad_regulation}}}
    WHEN event_type = 'consent' THEN map_concat(metadata, MAP {{'expires_at': {bad_expiry}}})
    ELSE MAP {{'bounce_type': {bad_bounce}}}
  END AS metadata
FROM f
"""

    # -- consent ----------------------------------------------------------------------

    def consent_tables(self, con: duckdb.DuckDBPyConnection) -> None:
        type_rows = [
            (ci, sub, fam, prob, purpose, methods, exp_p, exp_days)
            for ci, (sub, (fam, prob, purpose, methods, exp_p, exp_days)) in enumerate(
                _CONSENT_TYPES.items()
            )
        ]
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _cio_gen_consent_types (ci INTEGER, subtype VARCHAR, "
            "family VARCHAR, prob DOUBLE, purpose VARCHAR, methods VARCHAR[], exp_p DOUBLE, "
            f"exp_days INTEGER); INSERT INTO _cio_gen_consent_types VALUES {_values(type_rows)}"
        )
        step_rows = []
        for fam, patterns in _CONSENT_PATTERNS.items():
            for pid, (pattern, _) in enumerate(patterns):
                statuses = [_CONSENT_LETTERS[ch] for ch in pattern]
                for j, st in enumerate(statuses):
                    prev = statuses[j - 1] if j > 0 else ""
                    nxt = statuses[j + 1] if j + 1 < len(statuses) else ""
                    step_rows.append((fam, pid, j, len(statuses), st, prev, nxt))
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _cio_gen_consent_steps (family VARCHAR, pid INTEGER, "
            "j INTEGER, n INTEGER, status VARCHAR, prev_status VARCHAR, next_status VARCHAR); "
            f"INSERT INTO _cio_gen_consent_steps VALUES {_values(step_rows)}"
        )

    def consent_sql(self) -> str:
        pid_case = (
            "CASE family "
            + " ".join(
                f"WHEN {_q(fam)} THEN {_wpick_int([w for _, w in pats], 'r_pat')}"
                for fam, pats in _CONSENT_PATTERNS.items()
            )
            + " END"
        )
        slot = "_cio_slot(st, span, {j}, n, skey)"

        # Policy version in force at a time (0, 1, 2); a re-grant after a withdrawal is
        # given under a newer version than the one withdrawn.
        def vidx(t: str) -> str:
            return f"(({t}) >= {self.v2_from})::INTEGER + (({t}) >= {self.v3_from})::INTEGER"

        prev_slot = slot.format(j="j - 1")
        version = (
            f"{_list(['v1', 'v2', self.v3_label])}[1 + CASE "
            f"WHEN status = 'granted' AND prev_status = 'withdrawn' "
            f"THEN least(2, greatest({vidx('ts')}, {vidx(prev_slot)} + 1)) "
            f"ELSE {vidx('ts')} END]"
        )
        has_expiry = (
            "status = 'granted' AND (next_status = 'expired' OR _cio_rnd(ekey, 'expires') < exp_p)"
        )
        expires = (
            f"CASE WHEN next_status = 'expired' THEN {_iso(slot.format(j='j + 1'))} "
            f"ELSE {_iso('ts + exp_days * 86400')} END"
        )
        method = (
            "CASE WHEN is_import THEN 'import' "
            "WHEN status = 'withdrawn' AND family <> 'cookies' THEN "
            f"{_pick(('preference_center', 'preference_center', 'mobile_app'), 'r_ev')} "
            "ELSE methods[1 + floor(r_ev * len(methods))::INTEGER] END"
        )
        # One branch per key set, so that no map holds a NULL value.
        base = [("version", "version"), ("purpose", "purpose")]
        collected = [*base, ("collection_method", method)]
        interactive = [
            *collected,
            ("ip_address", "_cio_ip(hash(ekey, 'ip'))"),
            ("user_agent", _pick(_USER_AGENTS, "r_ua")),
        ]
        expiring = [("expires_at", expires)]
        metadata = f"""CASE
    WHEN status = 'expired' THEN {_struct_map(base)}
    WHEN is_import AND NOT has_expiry THEN {_struct_map(collected)}
    WHEN is_import THEN {_struct_map(collected + expiring)}
    WHEN NOT has_expiry THEN {_struct_map(interactive)}
    ELSE {_struct_map(interactive + expiring)} END"""
        component = f"""
WITH s AS (
  SELECT u.user_id, u.created_sec, t.*,
         u.uidx * {_KEY_STRIDE} + {_OFF_CONSENT} + t.ci * 32 AS skey,
         CASE WHEN u.inactive THEN u.last_active_sec ELSE {self.end - 60} END AS win_end
  FROM _cio_gen_users u CROSS JOIN _cio_gen_consent_types t
  WHERE u.has_privacy
    AND _cio_rnd(u.uidx * {_KEY_STRIDE} + {_OFF_CONSENT} + t.ci * 32, 'consent') < t.prob
), s2 AS (
  SELECT *,
         _cio_rnd(skey, 'pattern') AS r_pat,
         family <> 'cookies' AND _cio_rnd(skey, 'import') < 0.05 AS is_import,
         created_sec + floor(pow(_cio_rnd(skey, 'start'), 3) * 0.5
                             * (win_end - {DAY} - created_sec))::BIGINT AS st
  FROM s
), s3 AS (
  SELECT *, {pid_case} AS pid, win_end - st AS span FROM s2
), ev AS (
  SELECT s3.*, p.j, p.n, p.status, p.prev_status, p.next_status, s3.skey + p.j AS ekey,
         _cio_rnd(s3.skey + p.j, 'ev') AS r_ev,
         _cio_rnd(s3.skey + p.j, 'ua') AS r_ua
  FROM s3 JOIN _cio_gen_consent_steps p ON p.family = s3.family AND p.pid = s3.pid
), ev2 AS (
  SELECT *,
         CASE WHEN status = 'granted' AND prev_status = 'pending'
              THEN {slot.format(j="j - 1")} + 30
                   + floor(r_ev * least(7200, span / (2 * n)))::BIGINT
              ELSE {slot.format(j="j")} END AS ts
  FROM ev
), ev3 AS (
  SELECT *, {version} AS version, {has_expiry} AS has_expiry FROM ev2
)
SELECT
  user_id,
  ekey,
  'consent' AS event_type,
  subtype AS event_subtype,
  status,
  CASE status
    WHEN 'withdrawn' THEN CASE WHEN r_ev < 0.6 THEN 'user_request'
                               WHEN r_ev < 0.8 THEN 'unsubscribe_link' END
    WHEN 'expired' THEN 'consent_expired' END AS reason,
  CASE WHEN status = 'expired' THEN 'system' WHEN is_import THEN 'import' ELSE 'user' END
    AS requested_by,
  ts,
  1 + floor(pow(_cio_rnd(ekey, 'lag'), 4) * 14400)::BIGINT AS lag,
  {metadata} AS metadata
FROM ev3
"""
        return component

    # -- suppression ------------------------------------------------------------------

    def suppression_sql(self) -> str:
        e = self.end
        kind_rows = [(i, k, p) for i, (k, p) in enumerate(_SUPPRESSION_KINDS)]
        n_expr = (
            "CASE kind "
            "WHEN 'soft_bounce' THEN least(12, 1 + floor(12 * pow(r_n, 1.8))::INTEGER) "
            "WHEN 'unsubscribe' THEN 1 + (r_n < 0.25)::INTEGER "
            "WHEN 'hard_bounce' THEN 1 + (r_n < 0.10)::INTEGER "
            "WHEN 'sms_stop' THEN 1 + (r_n < 0.20)::INTEGER "
            "WHEN 'manual' THEN 1 + (r_n < 0.30)::INTEGER "
            "ELSE 1 END"
        )
        manual_sub = _wpick(
            (("push", 30), ("in_app", 25), ("all", 25), ("email", 10), ("sms", 10)), "r_sub"
        )
        subtype = (
            "CASE kind WHEN 'sms_stop' THEN 'sms' WHEN 'carrier_block' THEN 'sms' "
            f"WHEN 'manual' THEN {manual_sub} ELSE 'email' END"
        )
        reason = (
            "CASE kind WHEN 'unsubscribe' THEN 'unsubscribed' WHEN 'soft_bounce' THEN 'bounced' "
            "WHEN 'hard_bounce' THEN 'bounced' WHEN 'spam_complaint' THEN 'spam_complaint' "
            "WHEN 'invalid_address' THEN 'invalid_address' WHEN 'sms_stop' THEN 'sms_stop_keyword' "
            "WHEN 'carrier_block' THEN 'carrier_block' "
            "ELSE CASE WHEN r_sub2 < 0.4 THEN 'gdpr_request' ELSE 'manual_suppression' END END"
        )
        requested_by = (
            "CASE WHEN removed THEN CASE WHEN kind IN ('unsubscribe', 'sms_stop') THEN 'user' "
            "ELSE 'support_agent' END "
            "WHEN kind IN ('soft_bounce', 'hard_bounce', 'spam_complaint') THEN 'esp_webhook' "
            "WHEN kind IN ('unsubscribe', 'sms_stop') THEN 'user' "
            "WHEN kind = 'manual' AND reason = 'manual_suppression' THEN 'support_agent' "
            "ELSE 'system' END"
        )
        act = "NOT removed"
        unsub_source = _pick(
            (
                "unsubscribe_link",
                "unsubscribe_link",
                "preference_center",
                "list_unsubscribe_header",
            ),
            "r_ev",
        )
        soft_code = _pick(("421", "450", "451", "452"), "r_ev")
        hard_code = _pick(("550", "550", "551", "553"), "r_ua")
        provider = _pick(("gmail", "yahoo", "outlook", "aol"), "r_ev")
        validation = _pick(("syntax", "mx_lookup", "mailbox_missing"), "r_ev")
        keyword = _pick(("STOP", "STOP", "STOP", "UNSUBSCRIBE", "CANCEL", "QUIT"), "r_ev")
        carrier = _pick(("verizon", "att", "t-mobile", "vodafone"), "r_ev")
        metadata = _map(
            [
                (
                    "source",
                    "CASE WHEN kind = 'unsubscribe' AND removed THEN 'resubscribe' "
                    f"WHEN kind = 'unsubscribe' THEN {unsub_source} "
                    "WHEN kind = 'hard_bounce' AND removed THEN 'address_corrected' "
                    "WHEN kind = 'spam_complaint' THEN 'feedback_loop' "
                    "WHEN kind = 'manual' AND reason = 'gdpr_request' THEN 'privacy_request' END",
                ),
                (
                    "bounce_type",
                    "CASE WHEN kind = 'soft_bounce' THEN 'soft' "
                    f"WHEN kind = 'hard_bounce' AND {act} AND r_ev >= 0.15 THEN 'hard' END",
                ),
                (
                    "smtp_code",
                    f"CASE WHEN kind = 'soft_bounce' THEN {soft_code} "
                    f"WHEN kind = 'hard_bounce' AND {act} THEN {hard_code} END",
                ),
                ("mailbox_provider", f"CASE WHEN kind = 'spam_complaint' THEN {provider} END"),
                ("validation", f"CASE WHEN kind = 'invalid_address' THEN {validation} END"),
                (
                    "keyword",
                    "CASE WHEN kind = 'sms_stop' AND removed THEN 'START' "
                    f"WHEN kind = 'sms_stop' THEN {keyword} END",
                ),
                (
                    "ticket_id",
                    "CASE WHEN kind = 'manual' AND reason = 'manual_suppression' THEN "
                    "'tkt_' || (100000 + hash(skey, 'ticket') % 900000)::VARCHAR END",
                ),
                ("carrier", f"CASE WHEN kind = 'carrier_block' THEN {carrier} END"),
            ]
        )
        component = f"""
WITH kinds(ki, kind, prob) AS (VALUES {_values(kind_rows)}),
s AS (
  SELECT u.user_id, u.created_sec, k.kind,
         u.uidx * {_KEY_STRIDE} + {_OFF_SUPPRESSION} + k.ki * 16 AS skey
  FROM _cio_gen_users u CROSS JOIN kinds k
  WHERE u.has_privacy
    AND _cio_rnd(u.uidx * {_KEY_STRIDE} + {_OFF_SUPPRESSION} + k.ki * 16, 'suppression') < k.prob
), s2 AS (
  SELECT *,
         _cio_rnd(skey, 'n') AS r_n,
         _cio_rnd(skey, 'sub') AS r_sub,
         _cio_rnd(skey, 'sub2') AS r_sub2,
         created_sec + floor(_cio_rnd(skey, 'start') * ({e} - {2 * DAY} - created_sec))::BIGINT
           AS st
  FROM s
), s3 AS (
  SELECT *, {n_expr} AS n,
         CASE WHEN kind = 'soft_bounce' THEN least({e - 60}, st + {180 * DAY}) ELSE {e - 60} END
           - st AS span
  FROM s2
), ev AS (
  SELECT *, unnest(range(n)) AS j FROM s3
), ev2 AS (
  SELECT *, skey + j AS ekey, n = 2 AND j = 1 AND kind <> 'soft_bounce' AS removed,
         {subtype} AS event_subtype, {reason} AS reason
  FROM ev
)
SELECT
  user_id,
  ekey,
  'suppression' AS event_type,
  event_subtype,
  CASE WHEN removed THEN 'removed' ELSE 'active' END AS status,
  reason,
  {requested_by} AS requested_by,
  _cio_slot(st, span, j, n, skey) AS ts,
  1 + floor(pow(_cio_rnd(ekey, 'lag'), 4) * 7200)::BIGINT AS lag,
  _cio_rnd(ekey, 'ev') AS r_ev,
  _cio_rnd(ekey, 'ua') AS r_ua,
  {metadata} AS metadata
FROM ev2
"""
        return _strip_extra(component)

    # -- gdpr requests ----------------------------------------------------------------

    def gdpr_tables(self, con: duckdb.DuckDBPyConnection) -> None:
        rows = []
        for pid, (pattern, cls, _, _) in enumerate(_GDPR_PATTERNS):
            for j, ch in enumerate(pattern):
                status = _GDPR_LETTERS[ch]
                prev = _GDPR_LETTERS[pattern[j - 1]] if j else ""
                if j == 0:
                    lo, hi = 0, 0
                elif status == "completed" and prev == "extended":
                    lo, hi = 10 * DAY, 45 * DAY
                elif status == "processing" and prev == "failed":
                    lo, hi = 3600, 3 * DAY
                else:
                    lo, hi = _GDPR_GAPS[(cls, status)]
                rows.append((pid, cls, j, len(pattern), status, lo, hi))
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _cio_gen_gdpr_steps (pid INTEGER, cls VARCHAR, "
            "j INTEGER, n INTEGER, status VARCHAR, gap_lo BIGINT, gap_hi BIGINT); "
            f"INSERT INTO _cio_gen_gdpr_steps VALUES {_values(rows)}"
        )

    def gdpr_sql(self) -> str:
        e = self.end
        classes = [cls for _, cls, _, _ in _GDPR_PATTERNS]
        pid_default = _wpick_int([w for _, _, w, _ in _GDPR_PATTERNS], "r_pat")
        pid_deletion = _wpick_int([w for _, _, _, w in _GDPR_PATTERNS], "r_pat")
        recent = [(i, w) for i, (_, cls, w, _) in enumerate(_GDPR_PATTERNS) if cls == "recent"]
        pid_recent = _wpick_int([w for _, w in recent], "r_pat2")
        recent_map = "[" + ", ".join(str(i) for i, _ in recent) + "]"
        cls_of = "[" + ", ".join(_q(c) for c in classes) + "]"
        lo_normal, hi_normal = "lo", e - 90 * DAY
        lo_over, hi_over = f"greatest(lo, {e - 180 * DAY})", e - 60 * DAY
        lo_recent, hi_recent = f"greatest(lo, {e - 14 * DAY})", e - 2 * DAY
        regulation = (
            "CASE WHEN r_reg < 0.05 THEN NULL "
            "WHEN country = 'US' AND r_reg < 0.85 THEN 'ccpa' ELSE 'gdpr' END"
        )
        rectify_name = _pick([n for n, _ in FIRST_NAMES], "r_rect")
        rectify_last = _pick([n for n, _ in LAST_NAMES], "r_rect")
        metadata = _map(
            [
                ("request_id", "request_id"),
                ("regulation", "regulation"),
                ("channel", "channel"),
                ("exemption", "exemption"),
                (
                    "rectify.first_name",
                    f"CASE WHEN subtype = 'rectification' AND r_rect < 0.5 THEN {rectify_name} END",
                ),
                (
                    "rectify.last_name",
                    "CASE WHEN subtype = 'rectification' AND r_rect >= 0.5 AND r_rect < 0.7 "
                    f"THEN {rectify_last} END",
                ),
                (
                    "rectify.email",
                    "CASE WHEN subtype = 'rectification' AND (r_rect >= 0.7 OR r_rect < 0.2) "
                    "THEN 'updated.' || (hash(rkey, 'email') % 1000000)::VARCHAR "
                    "|| '@example.com' END",
                ),
                (
                    "rectify.phone",
                    "CASE WHEN subtype = 'rectification' AND r_rect >= 0.9 "
                    "THEN '+1555' || lpad((hash(rkey, 'phone') % 10000000)::VARCHAR, 7, '0') END",
                ),
            ]
        )
        channel = _pick(
            ("web_form", "web_form", "email", "support_ticket", "in_app"),
            "_cio_rnd(rkey, 'channel')",
        )
        plant = f"""
CASE
  WHEN cls <> 'normal' THEN r0
  WHEN r_edge < 0.04 AND last_day_sec BETWEEN lo AND {hi_normal} THEN last_day_sec
  WHEN r_edge >= 0.04 AND r_edge < 0.06 AND jan_sec BETWEEN lo AND {hi_normal} THEN jan_sec
  WHEN r_edge >= 0.06 AND r_edge < 0.09 AND weekend_sec BETWEEN lo AND {hi_normal}
    THEN weekend_sec
  ELSE r0 END"""
        component = f"""
WITH reqs AS (
  SELECT u.user_id, u.uidx, u.country, q.r AS ridx,
         greatest(u.created_sec + {DAY}, {self.start}) AS lo,
         u.uidx * {_KEY_STRIDE} + {_OFF_GDPR} + q.r * 16 AS rkey
  FROM _cio_gen_users u CROSS JOIN (VALUES (0), (1)) q(r)
  WHERE u.has_privacy AND _cio_rnd(u.uidx, 'gdpr') < 0.03
    AND (q.r = 0 OR _cio_rnd(u.uidx, 'gdpr_second') < 0.2)
), r1 AS (
  SELECT *,
         {_wpick(_GDPR_TYPES, "_cio_rnd(rkey, 'type')")} AS subtype,
         _cio_rnd(rkey, 'pattern') AS r_pat,
         _cio_rnd(rkey, 'pattern2') AS r_pat2,
         _cio_rnd(rkey, 'received') AS r_recv,
         _cio_rnd(rkey, 'edge') AS r_edge,
         _cio_rnd(rkey, 'regulation') AS r_reg,
         _cio_rnd(rkey, 'rectify') AS r_rect,
         _cio_rnd(rkey, 'who') AS r_who
  FROM reqs
), r2 AS (
  SELECT *,
         CASE WHEN subtype = 'deletion' THEN {pid_deletion} ELSE {pid_default} END AS pid0
  FROM r1
), r3 AS (
  SELECT *,
         CASE
           WHEN {cls_of}[pid0 + 1] = 'normal' AND lo <= {hi_normal} THEN pid0
           WHEN {cls_of}[pid0 + 1] = 'overdue' AND {lo_over} <= {hi_over} THEN pid0
           WHEN {cls_of}[pid0 + 1] = 'recent' THEN pid0
           ELSE {recent_map}[1 + {pid_recent}]
         END AS pid
  FROM r2
), r4 AS (
  SELECT *, {cls_of}[pid + 1] AS cls,
         CASE cls
           WHEN 'normal' THEN {lo_normal} + floor(r_recv * ({hi_normal} - {lo_normal}))
           WHEN 'overdue' THEN {lo_over} + floor(r_recv * ({hi_over} - {lo_over}))
           ELSE {lo_recent} + floor(r_recv * ({hi_recent} - {lo_recent}))
         END::BIGINT AS r0
  FROM r3
), r5 AS (
  SELECT *,
         epoch(last_day(make_timestamp(r0 * 1000000)))::BIGINT + r0 % {DAY} AS last_day_sec,
         epoch(make_date(year(make_timestamp(r0 * 1000000))::INTEGER, 1,
                         29 + floor(r_edge * 1000)::INTEGER % 3))::BIGINT + r0 % {DAY}
           AS jan_sec,
         epoch(date_trunc('week', make_timestamp(r0 * 1000000)))::BIGINT
           + (5 + floor(r_edge * 1000)::INTEGER % 2) * {DAY} + r0 % {DAY} AS weekend_sec
  FROM r4
), r6 AS (
  SELECT *, {plant} AS received,
         'req_' || lpad(((uidx * 4 + ridx)::HUGEINT * 4093082899 % 10000000000)::VARCHAR,
                        10, '0') AS request_id,
         {regulation} AS regulation,
         CASE WHEN subtype = 'deletion' AND _cio_rnd(rkey, 'exempt') < 0.10
              THEN {_pick(EXEMPTIONS, "_cio_rnd(rkey, 'exemption')")} END AS exemption,
         {channel} AS channel,
         {_wpick((("user", 75), ("authorized_agent", 10), ("support_agent", 15)), "r_who")}
           AS requested_by
  FROM r5
), ev AS (
  SELECT r6.*, p.j, p.status, rkey + p.j AS ekey,
         p.gap_lo + floor(_cio_rnd(rkey + p.j, 'gap') * (p.gap_hi - p.gap_lo))::BIGINT AS gap
  FROM r6 JOIN _cio_gen_gdpr_steps p ON p.pid = r6.pid
)
SELECT
  user_id,
  ekey,
  'gdpr_request' AS event_type,
  subtype AS event_subtype,
  status,
  CASE status WHEN 'failed' THEN 'export_timeout' WHEN 'cancelled' THEN 'withdrawn_by_requester'
              WHEN 'extended' THEN 'complex_request' END AS reason,
  requested_by,
  received + sum(gap) OVER (PARTITION BY rkey ORDER BY j) AS ts,
  1 + floor(pow(_cio_rnd(ekey, 'lag'), 3) * 3600)::BIGINT AS lag,
  {metadata} AS metadata
FROM ev
"""
        return component

    # -- legal holds and data retention -----------------------------------------------

    def legal_retention_sql(self) -> str:
        e = self.end
        hold_meta = _map(
            [
                ("case_id", "'case_' || (10000 + hash(skey, 'case') % 90000)::VARCHAR"),
                ("matter", "subtype || ' matter ' || (1 + hash(skey, 'm') % 400)::VARCHAR"),
            ]
        )
        retention_meta = _map(
            [
                (
                    "policy",
                    _pick(("inactive_24_months", "events_36_months", "devices_12_months"), "r_s"),
                ),
                ("rows_affected", "(hash(ekey, 'rows') % 5000)::VARCHAR"),
            ]
        )
        hold_subtype = _wpick(
            (("litigation", 50), ("regulatory_investigation", 30), ("tax_audit", 20)),
            "_cio_rnd(skey, 'sub')",
        )
        return f"""
WITH holds AS (
  SELECT u.user_id, u.created_sec, h.h,
         u.uidx * {_KEY_STRIDE} + {_OFF_LEGAL} + h.h * 16 AS skey
  FROM _cio_gen_users u CROSS JOIN (VALUES (0), (1)) h(h)
  WHERE u.has_privacy AND _cio_rnd(u.uidx, 'legal_hold') < 0.002
    AND (h.h = 0 OR _cio_rnd(u.uidx, 'legal_hold_2') < 0.15)
), h2 AS (
  SELECT *,
         {hold_subtype} AS subtype,
         1 + (_cio_rnd(skey, 'released') < 0.4)::INTEGER AS n,
         created_sec + floor(_cio_rnd(skey, 'start') * ({e} - {2 * DAY} - created_sec))::BIGINT
           AS st
  FROM holds
), h3 AS (SELECT *, {e - 60} - st AS span, unnest(range(n)) AS j FROM h2),
ret AS (
  SELECT u.user_id, u.created_sec,
         u.uidx * {_KEY_STRIDE} + {_OFF_RETENTION} AS skey,
         _cio_rnd(u.uidx, 'retention_n') AS r_n
  FROM _cio_gen_users u
  WHERE u.has_privacy AND _cio_rnd(u.uidx, 'retention') < 0.01
), ret2 AS (
  SELECT *, CASE WHEN r_n < 0.5 THEN 1 WHEN r_n < 0.85 THEN 2 ELSE 3 END AS n,
         created_sec + floor(_cio_rnd(skey, 'start') * ({e} - {2 * DAY} - created_sec))::BIGINT
           AS st
  FROM ret
), ret3 AS (SELECT *, {e - 60} - st AS span, unnest(range(n)) AS j FROM ret2)
SELECT user_id, skey + j AS ekey, 'legal_hold' AS event_type, subtype AS event_subtype,
       CASE WHEN j = 1 THEN 'released' ELSE 'active' END AS status,
       CASE WHEN j = 1 THEN 'matter_closed' END AS reason,
       CASE WHEN _cio_rnd(skey, 'who') < 0.7 THEN 'legal_team' ELSE 'support_agent' END
         AS requested_by,
       _cio_slot(st, span, j, n, skey) AS ts,
       1 + floor(_cio_rnd(skey + j, 'lag') * 600)::BIGINT AS lag,
       {hold_meta} AS metadata
FROM h3
UNION ALL
SELECT user_id, ekey, 'data_retention', event_subtype, status, NULL, 'system', ts, lag, metadata
FROM (
  SELECT *, skey + j AS ekey, _cio_rnd(skey + j, 'sub') AS r_s,
         {_pick(("profile_purge", "events_archive", "devices_purge", "anonymization"), "r_s")}
           AS event_subtype,
         CASE WHEN j + 1 < n AND _cio_rnd(skey + j, 'scheduled') < 0.5 THEN 'scheduled'
              ELSE 'executed' END AS status,
         _cio_slot(st, span, j, n, skey) AS ts,
         1 + floor(_cio_rnd(skey + j, 'lag') * 60)::BIGINT AS lag,
         {retention_meta} AS metadata
  FROM ret3
)
"""

    # -- duplicates, bad-row count ----------------------------------------------------

    bad_predicate = f"_cio_rnd(ekey, 'bad') < {BAD_RATE}"

    def bad_count_sql(self, component: str) -> str:
        """Rows of ``component`` that finalize_sql replaces by a bad row (a cheap query:
        the optimiser drops every column but the key)."""
        return f"SELECT count(*) FROM ({component}) WHERE {self.bad_predicate}"

    def duplicates_sql(self) -> str:
        cols = ", ".join(c for c, _ in _PRIVACY_COLUMNS if c not in ("processed_at", "metadata"))
        return f"""
INSERT INTO {self.pe}
SELECT {cols},
       processed_at + CASE WHEN _cio_rnd(event_id, 'dup_same') < 0.1 THEN INTERVAL 0 SECOND
                           ELSE to_seconds(1 + floor(pow(_cio_rnd(event_id, 'dup_lag'), 2)
                                                     * {DAY})::BIGINT) END,
       metadata
FROM {self.pe}
WHERE _cio_rnd(event_id, 'dup') < {DUP_RATE}
"""

    # -- profiles and customer events -------------------------------------------------

    def profiles_sql(self) -> str:
        e = self.end
        phone_prefix = (
            "CASE country "
            + " ".join(f"WHEN {_q(c)} THEN {_q(p)}" for c, (p, _) in _PHONE.items())
            + " END"
        )
        phone_digits = (
            "CASE country "
            + " ".join(f"WHEN {_q(c)} THEN {d}" for c, (_, d) in _PHONE.items())
            + " END"
        )
        first_display = _list([d for d, _ in FIRST_NAMES])
        first_slug = _list([s for _, s in FIRST_NAMES])
        last_display = _list([d for d, _ in LAST_NAMES])
        last_slug = _list([s for _, s in LAST_NAMES])
        return f"""
INSERT INTO {self.schema}.user_profiles
WITH p AS (
  SELECT *,
         1 + floor(_cio_rnd(uidx, 'first') * {len(FIRST_NAMES)})::INTEGER AS fi,
         1 + floor(_cio_rnd(uidx, 'last') * {len(LAST_NAMES)})::INTEGER AS li,
         _cio_rnd(uidx, 'phone') AS r_phone,
         _cio_rnd(uidx, 'updated') AS r_upd,
         hash(uidx, 'phone_digits', {self.seed}) AS h_phone
  FROM _cio_gen_users WHERE has_profile
)
SELECT
  user_id,
  {first_slug}[fi] || '.' || {last_slug}[li] || '.' || uidx::VARCHAR || '@'
    || {_wpick(EMAIL_DOMAINS, "_cio_rnd(uidx, 'domain')")} AS email,
  CASE WHEN r_phone < 0.15 THEN NULL
       ELSE {phone_prefix}
            || lpad((h_phone % pow(10, {phone_digits})::UBIGINT)::VARCHAR, {phone_digits}, '0')
  END AS phone,
  {first_display}[fi] AS first_name,
  {last_display}[li] AS last_name,
  country,
  {_ts("created_sec")} AS created_at,
  {_ts(f"created_sec + floor(r_upd * ({e} - created_sec))")} AS updated_at,
  {_ts("last_active_sec")} AS last_active_at
FROM p
"""

    def customer_events_sql(self) -> str:
        cats = list(DATA_CATEGORIES.items())
        category = _wpick([(c, w) for c, (w, _) in cats], "r_cat")
        event_name = (
            "CASE category "
            + " ".join(f"WHEN {_q(c)} THEN {_pick(names, 'r_name')}" for c, (_, names) in cats)
            + " END"
        )
        # Spread between sign-up and last activity; the last event is the last activity.
        occurred_at = _ts(
            "CASE WHEN j = n - 1 THEN last_active_sec ELSE created_sec + floor("
            "(last_active_sec - created_sec) * (j + _cio_rnd(ckey, 't')) / n) END"
        )
        return f"""
INSERT INTO {self.schema}.customer_events
WITH u AS (
  SELECT user_id, uidx, created_sec, last_active_sec,
         floor(_cio_rnd(uidx, 'n_events') * 9)::INTEGER AS n
  FROM _cio_gen_users WHERE last_active_sec IS NOT NULL
), ev AS (
  SELECT *, unnest(range(n)) AS j FROM u WHERE n > 0
), ev2 AS (
  SELECT *, uidx * 64 + j AS ckey FROM ev
), ev3 AS (
  SELECT *, _cio_rnd(ckey, 'cat') AS r_cat, _cio_rnd(ckey, 'name') AS r_name,
         {category} AS category
  FROM ev2
)
SELECT
  _cio_hexid('cev_', ckey, {_ID_MULT_CEV}) AS event_id,
  user_id,
  {event_name} AS event_name,
  category AS data_category,
  {occurred_at} AS occurred_at
FROM ev3
"""


def _strip_extra(component: str) -> str:
    """Keep only the finalize columns of a component (drops helper columns like r_ev)."""
    cols = (
        "user_id, ekey, event_type, event_subtype, status, reason, requested_by, ts, lag, metadata"
    )
    return f"SELECT {cols} FROM ({component})"


# ------------------------------------------------------------------------------ public


def generate_lakehouse(
    con: duckdb.DuckDBPyConnection,
    *,
    users: int,
    seed: int = 42,
    end: datetime.datetime,
    schema: str = "raw",
    progress: Callable[[str], None] | None = None,
) -> GenerationSummary:
    """Create or replace ``<schema>.privacy_events``, ``user_profiles`` and ``customer_events``.

    ``end`` is the naive-UTC "now" of the generated world: every good event lies in
    the three years before it. The result depends only on ``(users, seed, end)``.
    ``progress`` receives each name in ``STEPS`` once, as that step finishes.
    """
    if isinstance(users, bool) or not isinstance(users, int) or users < 1:
        raise ValueError(f"users must be a positive integer, got {users!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not -(2**63) <= seed < 2**63:
        raise ValueError(f"seed must be a 64-bit integer, got {seed!r}")
    if not isinstance(end, datetime.datetime):
        raise ValueError(f"end must be a datetime, got {end!r}")
    if end.tzinfo is not None:
        end = end.astimezone(datetime.UTC).replace(tzinfo=None)
    if not _IDENT.match(schema):
        raise ValueError(f"schema must be a plain SQL identifier, got {schema!r}")

    began = time.perf_counter()
    world = _World(users, seed, end.replace(microsecond=0), schema)

    def done(step: str) -> None:
        if progress is not None:
            progress(step)

    world.setup(con)
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {world.schema}")
        for table in TABLE_COLUMNS:
            _create_table(con, f"{world.schema}.{table}", table)
        con.execute(world.users_sql())
        done("users")

        world.consent_tables(con)
        world.gdpr_tables(con)
        bad_rows = 0
        for step, component in (
            ("consent", world.consent_sql()),
            ("suppression", world.suppression_sql()),
            ("gdpr_requests", world.gdpr_sql()),
            ("legal_hold_and_retention", world.legal_retention_sql()),
        ):
            con.execute(world.finalize_sql(component))
            bad_rows += _count(con, world.bad_count_sql(component))
            done(step)

        duplicate_rows = _count(con, world.duplicates_sql())
        done("duplicates")
        con.execute(world.profiles_sql())
        done("user_profiles")
        con.execute(world.customer_events_sql())
        done("customer_events")

        counts = {
            table: _count(con, f"SELECT count(*) FROM {world.schema}.{table}")
            for table in TABLE_COLUMNS
        }
    finally:
        world.cleanup(con)

    return GenerationSummary(
        users=users,
        privacy_events=counts["privacy_events"],
        user_profiles=counts["user_profiles"],
        customer_events=counts["customer_events"],
        bad_rows=bad_rows,
        duplicate_rows=duplicate_rows,
        seconds=round(time.perf_counter() - began, 3),
    )


# ------------------------------------------------------------------------------ append

# Names passed to ``progress`` by append_events (once each, in this order).
APPEND_STEPS: tuple[str, ...] = (
    "context",
    "privacy_events",
    "redeliveries",
    "customer_events",
    "user_profiles",
)

# Per existing user and batch at share 1%: probabilities of each kind of new activity.
_APPEND_RATES = {
    "consent": 0.055,  # a grant or withdrawal of one consent type
    "suppression": 0.012,  # unsubscribe, resubscribe, bounce, complaint, SMS STOP, ...
    "soft_bounce": 0.10,  # of users with soft bounces before: 1-3 more
    "request_move": 0.35,  # of open requests: the next status
    "new_request": 0.0008,
    "legal_hold": 0.0002,
    "clock_skew": 0.0005,  # valid rows stamped 25-47 h after end (at least 3): R2 future_timestamp
    # until as_of moves a day on
    "new_user": 0.003,
    "active": 0.02,  # users with new customer events (and a new profile version)
    "recent_redelivery": 0.03,  # of raw rows from the last 7 days before the batch
}
_APPEND_SUPPRESSIONS: tuple[tuple[str, float], ...] = (
    ("unsubscribe", 50),
    ("resubscribe", 10),
    ("hard_bounce", 8),
    ("spam_complaint", 4),
    ("sms_stop", 15),
    ("invalid_address", 3),
    ("manual", 10),
)
# Next status of an open request: (latest status, next status, weight).
_APPEND_REQUEST_MOVES: tuple[tuple[str, str, float], ...] = (
    ("pending", "verified", 1),
    ("verified", "processing", 1),
    ("processing", "completed", 0.85),
    ("processing", "extended", 0.15),
    ("extended", "completed", 1),
    ("failed", "processing", 1),
)


@dataclass(frozen=True)
class AppendSummary:
    """What one append_events call added."""

    since: datetime.datetime
    end: datetime.datetime
    privacy_events: int
    new_users: int
    redeliveries: int
    corrected_redeliveries: int
    bad_rows: int
    customer_events: int
    user_profiles: int
    seconds: float

    def as_dict(self) -> dict[str, object]:
        values = dict(asdict(self))
        values["since"] = self.since.isoformat(sep=" ")
        values["end"] = self.end.isoformat(sep=" ")
        return values


def _latest_time(con: duckdb.DuckDBPyConnection, schema: str) -> datetime.datetime | None:
    """The lakehouse's "now": its latest profile change or customer event. Privacy
    rows are not asked: bad ones are stamped up to a year after it on purpose."""
    row = con.execute(
        f"""
SELECT greatest(
  (SELECT max(greatest(coalesce(updated_at, created_at), coalesce(last_active_at, created_at)))
   FROM {schema}.user_profiles),
  (SELECT max(occurred_at) FROM {schema}.customer_events))
"""
    ).fetchone()
    return None if row is None or row[0] is None else row[0].replace(microsecond=0)


def append_events(
    con: duckdb.DuckDBPyConnection,
    *,
    end: datetime.datetime,
    seed: int = 42,
    share: float = 0.01,
    schema: str = "raw",
    progress: Callable[[str], None] | None = None,
) -> AppendSummary:
    """Append a batch of new rows to a generated lakehouse, as the next sync would.

    A ``share`` of the existing privacy rows is added anew, stamped between the
    lakehouse's latest time and ``end`` (naive UTC): consent grants and withdrawals
    of existing users, sign-ups of new users (profiles and consents), unsubscribes,
    resubscribes, hard and soft bounces (some users cross the soft-bounce threshold),
    complaints, SMS STOP, the next status of open data subject requests and new
    requests, legal holds; ~1% of them bad in one way each (as the full generator
    plants them) and a few valid rows stamped a day or two after ``end`` (rejected
    as future until as_of moves). Existing rows are redelivered with a later
    processed_at: about 3% of the last week's rows, and a few old ones, half of
    them corrected (a consent grant turned into a withdrawal, stamped 35 days
    earlier). Customer events of active users and new profile versions come with
    them.

    The result depends only on the existing tables, ``end``, ``seed`` and ``share``;
    appending twice gives two different batches because the second starts later.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not -(2**63) <= seed < 2**63:
        raise ValueError(f"seed must be a 64-bit integer, got {seed!r}")
    if not isinstance(share, int | float) or isinstance(share, bool) or not 0 < share <= 0.2:
        raise ValueError(f"share must be a number in (0, 0.2], got {share!r}")
    if not isinstance(end, datetime.datetime):
        raise ValueError(f"end must be a datetime, got {end!r}")
    if end.tzinfo is not None:
        end = end.astimezone(datetime.UTC).replace(tzinfo=None)
    if not _IDENT.match(schema):
        raise ValueError(f"schema must be a plain SQL identifier, got {schema!r}")

    began = time.perf_counter()

    def done(step: str) -> None:
        if progress is not None:
            progress(step)

    quoted = f'"{schema}"'
    since = _latest_time(con, quoted)
    if since is None:
        raise ValueError(f"{schema}.user_profiles is empty: generate a lakehouse before appending")
    end = end.replace(microsecond=0)
    if end <= since:
        raise ValueError(
            f"end {end.isoformat(sep=' ')} is not after the lakehouse's latest time "
            f"{since.isoformat(sep=' ')}"
        )
    batch = _AppendBatch(con, quoted, seed, since, end, share)
    try:
        batch.context()
        done("context")
        bad_rows = batch.privacy_events()
        done("privacy_events")
        redeliveries, corrected = batch.redeliveries()
        done("redeliveries")
        batch.customer_events()
        done("customer_events")
        batch.user_profiles()
        done("user_profiles")
        counts = batch.publish()
    finally:
        batch.cleanup()
    return AppendSummary(
        since=since,
        end=end,
        privacy_events=counts["privacy_events"],
        new_users=batch.new_users,
        redeliveries=redeliveries,
        corrected_redeliveries=corrected,
        bad_rows=bad_rows,
        customer_events=counts["customer_events"],
        user_profiles=counts["user_profiles"],
        seconds=round(time.perf_counter() - began, 3),
    )


class _AppendBatch:
    """The SQL of one append: new rows are staged in temp tables, then published."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        schema: str,
        seed: int,
        since: datetime.datetime,
        end: datetime.datetime,
        share: float,
    ) -> None:
        self.con = con
        self.schema = schema
        self.since = calendar.timegm(since.timetuple())
        self.end = calendar.timegm(end.timetuple())
        self.scale = share / 0.01
        # Every batch draws from its own stream: the seed mixed with the batch start.
        self.seed = (seed * 1_000_003 + self.since) % (2**63)
        self.new_users = 0
        self.known_users = 0
        self.world: _World | None = None

    def rate(self, name: str) -> float:
        return min(1.0, _APPEND_RATES[name] * self.scale)

    def scalar(self, sql: str) -> int:
        return _count(self.con, sql)

    # -- the existing world -----------------------------------------------------------

    def context(self) -> None:
        con, pe = self.con, f"{self.schema}.privacy_events"
        # Latest version of each profile; uidx from the id ('usr_0000042' -> 42).
        con.execute(
            f"""
CREATE OR REPLACE TEMP TABLE _cio_app_users AS
SELECT user_id, try_cast(substr(user_id, 5) AS BIGINT) AS uidx, email, phone, first_name,
       last_name, country, created_at, updated_at, last_active_at
FROM {self.schema}.user_profiles
WHERE user_id LIKE 'usr_%' AND try_cast(substr(user_id, 5) AS BIGINT) IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY updated_at DESC NULLS LAST,
                                                          email NULLS LAST) = 1
"""
        )
        known = self.known_users = self.scalar("SELECT count(*) FROM _cio_app_users")
        if known == 0:
            raise ValueError("no generated users (usr_...) to append to")
        max_uidx = self.scalar(
            f"""
SELECT greatest((SELECT max(uidx) FROM _cio_app_users),
                (SELECT max(try_cast(substr(trim(user_id), 5) AS BIGINT)) FROM {pe}
                 WHERE trim(user_id) LIKE 'usr_%'))"""
        )
        width = self.scalar("SELECT max(length(user_id)) - 4 FROM _cio_app_users")
        self.new_users = max(1, round(known * self.rate("new_user")))
        world = _World(max_uidx + self.new_users, self.seed, _utc(self.end), "main")
        world.setup(con)
        self.world = world
        con.execute(
            f"""
CREATE OR REPLACE TEMP TABLE _cio_app_new_users AS
SELECT {max_uidx} + i AS uidx,
       'usr_' || lpad(({max_uidx} + i)::VARCHAR, {width}, '0') AS user_id,
       {_wpick(COUNTRIES, "_cio_rnd(i, 'app_country')")} AS country,
       {self.since} + floor(_cio_rnd(i, 'app_signup') * ({self.end} - 3600 - {self.since}))
         ::BIGINT AS signup_sec
FROM range(1, {self.new_users + 1}) t(i)
"""
        )
        # Open data subject requests, as the raw rows tell (before cleaning: trimmed,
        # lower-cased, only rows that carry a request_id and a time).
        con.execute(
            f"""
CREATE OR REPLACE TEMP TABLE _cio_app_open_requests AS
WITH rows AS (
  SELECT trim(user_id) AS user_id, lower(trim(event_subtype)) AS subtype,
         lower(trim(status)) AS status, trim(metadata['request_id']) AS request_id,
         lower(trim(metadata['regulation'])) AS regulation,
         lower(trim(metadata['exemption'])) AS exemption, event_timestamp
  FROM {pe}
  WHERE lower(trim(event_type)) = 'gdpr_request' AND event_timestamp <= {_ts(str(self.since))}
    AND trim(metadata['request_id']) <> '' AND trim(user_id) LIKE 'usr_%'
), latest AS (
  SELECT request_id,
         arg_max(status, event_timestamp) AS status,
         arg_min(user_id, event_timestamp) AS user_id,
         arg_min(subtype, event_timestamp) AS subtype,
         arg_min(regulation, event_timestamp) AS regulation,
         max(exemption) AS exemption
  FROM rows GROUP BY request_id
)
SELECT * FROM latest
WHERE status IN ('pending', 'verified', 'processing', 'extended', 'failed')
  AND subtype IN {_in(GDPR_SUBTYPES)}
"""
        )
        con.execute(
            f"""
CREATE OR REPLACE TEMP TABLE _cio_app_soft_bouncers AS
SELECT DISTINCT trim(user_id) AS user_id
FROM {pe}
WHERE lower(trim(reason)) = 'bounced' AND lower(metadata['bounce_type']) = 'soft'
  AND trim(user_id) LIKE 'usr_%'
"""
        )

    # -- new privacy rows -------------------------------------------------------------

    def _consents(self) -> str:
        """Grants and withdrawals of existing users, and the sign-up consents of new ones."""
        w = self.world
        assert w is not None
        types = list(_CONSENT_TYPES.items())
        subtype = _wpick([(sub, p) for sub, (_, p, *_rest) in types], "_cio_rnd(k, 'app_type')")
        purpose = (
            "CASE subtype "
            + " ".join(f"WHEN {_q(sub)} THEN {_q(spec[2])}" for sub, spec in types)
            + " END"
        )
        method = (
            "CASE WHEN status = 'withdrawn' THEN "
            f"{_pick(('preference_center', 'preference_center', 'mobile_app'), 'r_ev')} "
            "WHEN subtype = 'cookies' THEN 'cookie_banner' "
            "WHEN subtype = 'push_notifications' THEN 'mobile_app' "
            f"ELSE {_pick(('signup_form', 'checkout', 'preference_center', 'mobile_app'), 'r_ev')}"
            " END"
        )
        interactive = [
            ("version", _q(w.v3_label)),
            ("purpose", "purpose"),
            ("collection_method", method),
            ("ip_address", "_cio_ip(hash(k, 'app_ip'))"),
            ("user_agent", _pick(_USER_AGENTS, "_cio_rnd(k, 'app_ua')")),
        ]
        metadata = f"""CASE
    WHEN status = 'withdrawn' THEN {_struct_map(interactive[:3])}
    WHEN subtype = 'cookies' OR _cio_rnd(k, 'app_expires') < 0.1
      THEN {_struct_map([*interactive, ("expires_at", _iso("ts + 365 * 86400"))])}
    ELSE {_struct_map(interactive)} END"""
        span = f"({self.end} - 60 - {self.since})"
        return f"""
WITH changes AS (
  SELECT user_id, uidx * 64 AS k,
         CASE WHEN _cio_rnd(uidx, 'app_grant') < 0.6 THEN 'granted' ELSE 'withdrawn' END
           AS status,
         {self.since} + floor(_cio_rnd(uidx, 'app_consent_ts') * {span})::BIGINT AS ts
  FROM _cio_app_users WHERE _cio_rnd(uidx, 'app_consent') < {self.rate("consent")}
), signups AS (
  SELECT n.user_id, n.uidx * 64 + j AS k, 'granted' AS status,
         n.signup_sec + 30 + j * 45 AS ts
  FROM _cio_app_new_users n CROSS JOIN range(3) r(j)
  WHERE j = 0 OR _cio_rnd(n.uidx * 64 + j, 'app_signup_more') < 0.7
), all_rows AS (
  SELECT *, {subtype} AS subtype, _cio_rnd(k, 'app_ev') AS r_ev FROM changes
  UNION ALL
  SELECT *,
         CASE k % 64 WHEN 0 THEN 'email_marketing' WHEN 1 THEN 'cookies'
                     ELSE 'data_analytics' END AS subtype,
         _cio_rnd(k, 'app_ev') AS r_ev
  FROM signups
), described AS (SELECT *, {purpose} AS purpose FROM all_rows)
SELECT user_id, k AS ekey, 'consent' AS event_type, subtype AS event_subtype, status,
       CASE WHEN status = 'withdrawn' THEN 'user_request' END AS reason,
       'user' AS requested_by, ts,
       1 + floor(pow(_cio_rnd(k, 'app_lag'), 4) * 3600)::BIGINT AS lag,
       {metadata} AS metadata
FROM described
"""

    def _suppressions(self) -> str:
        """Unsubscribes and the rest for existing users; more soft bounces for bouncers."""
        kind = _wpick(_APPEND_SUPPRESSIONS, "_cio_rnd(uidx, 'app_supp_kind')")
        manual = _pick(("push", "in_app", "all"), "_cio_rnd(uidx, 'app_supp_sub')")
        span = f"({self.end} - 60 - {self.since})"
        metadata = _map(
            [
                (
                    "bounce_type",
                    "CASE WHEN kind = 'hard_bounce' THEN 'hard' "
                    "WHEN kind = 'soft_bounce' THEN 'soft' END",
                ),
                (
                    "source",
                    "CASE WHEN kind = 'unsubscribe' THEN 'unsubscribe_link' "
                    "WHEN kind = 'resubscribe' THEN 'resubscribe' "
                    "WHEN kind = 'spam_complaint' THEN 'feedback_loop' END",
                ),
                ("keyword", "CASE WHEN kind = 'sms_stop' THEN 'STOP' END"),
            ]
        )
        return f"""
WITH picked AS (
  SELECT user_id, uidx * 64 + 8 AS k, {kind} AS kind, {manual} AS manual_channel,
         {self.since} + floor(_cio_rnd(uidx, 'app_supp_ts') * {span})::BIGINT AS ts
  FROM _cio_app_users WHERE _cio_rnd(uidx, 'app_supp') < {self.rate("suppression")}
  UNION ALL
  SELECT b.user_id, u.uidx * 64 + 16 + j AS k, 'soft_bounce' AS kind, NULL AS manual_channel,
         {self.since} + floor(_cio_rnd(u.uidx * 64 + 16 + j, 'app_soft_ts') * {span})::BIGINT
  FROM _cio_app_soft_bouncers b JOIN _cio_app_users u USING (user_id)
  CROSS JOIN range(3) r(j)
  WHERE _cio_rnd(u.uidx, 'app_soft') < {self.rate("soft_bounce")}
    AND (j = 0 OR _cio_rnd(u.uidx * 64 + 16 + j, 'app_soft_more') < 0.5)
)
SELECT user_id, k AS ekey, 'suppression' AS event_type,
       CASE kind WHEN 'sms_stop' THEN 'sms' WHEN 'manual' THEN manual_channel ELSE 'email' END
         AS event_subtype,
       CASE kind WHEN 'resubscribe' THEN 'removed' ELSE 'active' END AS status,
       CASE kind WHEN 'unsubscribe' THEN 'unsubscribed' WHEN 'resubscribe' THEN 'unsubscribed'
                 WHEN 'hard_bounce' THEN 'bounced' WHEN 'soft_bounce' THEN 'bounced'
                 WHEN 'spam_complaint' THEN 'spam_complaint'
                 WHEN 'invalid_address' THEN 'invalid_address'
                 WHEN 'sms_stop' THEN 'sms_stop_keyword' ELSE 'manual_suppression' END AS reason,
       CASE WHEN kind IN ('hard_bounce', 'soft_bounce', 'spam_complaint') THEN 'esp_webhook'
            WHEN kind = 'manual' THEN 'support_agent' ELSE 'user' END AS requested_by,
       ts, 1 + floor(pow(_cio_rnd(k, 'app_lag'), 4) * 7200)::BIGINT AS lag,
       {metadata} AS metadata
FROM picked
"""

    def _requests(self) -> str:
        """The next status of open requests, new requests, and legal holds."""
        move_rows = ", ".join(f"({_q(a)}, {_q(b)}, {w})" for a, b, w in _APPEND_REQUEST_MOVES)
        span = f"({self.end} - 60 - {self.since})"
        new_type = _wpick(_GDPR_TYPES, "_cio_rnd(uidx, 'app_req_type')")
        skewed = max(3, round(self.known_users * self.rate("clock_skew")))
        request_meta = _map(
            [
                ("request_id", "request_id"),
                ("regulation", "regulation"),
                ("channel", "'web_form'"),
                ("exemption", "exemption"),
            ]
        )
        return f"""
WITH moves(status, next_status, weight) AS (VALUES {move_rows}),
ranked_moves AS (
  SELECT *, sum(weight) OVER (PARTITION BY status ORDER BY next_status) AS upto,
         sum(weight) OVER (PARTITION BY status) AS total
  FROM moves
), moving AS (
  SELECT r.*, (1::BIGINT << 40) + (hash(r.request_id, 'app_move') % (1::BIGINT << 39))::BIGINT
           AS h,
         _cio_rnd(r.request_id, 'app_next') AS r_next
  FROM _cio_app_open_requests r
  WHERE _cio_rnd(r.request_id, 'app_move') < {self.rate("request_move")}
), next_rows AS (
  SELECT m.user_id, m.h AS k, m.subtype, m.request_id, m.regulation,
         m.exemption, arg_min(n.next_status, n.upto) AS status
  FROM moving m JOIN ranked_moves n ON n.status = m.status AND m.r_next * n.total < n.upto
  GROUP BY ALL
), new_requests AS (
  SELECT user_id, uidx * 64 + 32 AS k, {new_type} AS subtype,
         'req_' || lpad(to_hex(hash(uidx, {self.seed}, 'app_req') % 1099511627776), 10, '0')
           AS request_id,
         CASE WHEN country = 'US' AND _cio_rnd(uidx, 'app_reg') < 0.85 THEN 'ccpa'
              ELSE 'gdpr' END AS regulation,
         NULL::VARCHAR AS exemption, 'pending' AS status
  FROM _cio_app_users WHERE _cio_rnd(uidx, 'app_req') < {self.rate("new_request")}
), requests AS (
  SELECT * FROM next_rows UNION ALL SELECT * FROM new_requests
)
SELECT user_id, k AS ekey, 'gdpr_request' AS event_type, subtype AS event_subtype, status,
       CASE status WHEN 'extended' THEN 'complex_request' END AS reason,
       'user' AS requested_by,
       {self.since} + floor(_cio_rnd(k, 'app_req_ts') * {span})::BIGINT AS ts,
       1 + floor(_cio_rnd(k, 'app_lag') * 3600)::BIGINT AS lag,
       {request_meta} AS metadata
FROM requests
UNION ALL
SELECT user_id, uidx * 64 + 40 AS ekey, 'legal_hold', 'litigation', 'active', NULL,
       'legal_team', {self.since} + floor(_cio_rnd(uidx, 'app_hold_ts') * {span})::BIGINT,
       1 + floor(_cio_rnd(uidx, 'app_lag') * 600)::BIGINT,
       MAP {{'case_id': 'case_' || (10000 + hash(uidx, 'app_case') % 90000)::VARCHAR}}
FROM _cio_app_users WHERE _cio_rnd(uidx, 'app_hold') < {self.rate("legal_hold")}
UNION ALL
SELECT user_id, uidx * 64 + 48 AS ekey, 'suppression', 'email', 'active', 'unsubscribed',
       'user', {self.end} + 25 * 3600 + floor(_cio_rnd(uidx, 'app_skew') * 22 * 3600)::BIGINT,
       1 + floor(_cio_rnd(uidx, 'app_lag') * 60)::BIGINT,
       MAP {{'source': 'unsubscribe_link'}}
FROM (SELECT * FROM _cio_app_users ORDER BY hash(uidx, {self.seed}, 'app_skew_pick') LIMIT {skewed})
"""

    def privacy_events(self) -> int:
        """Stage the new privacy rows (through the full generator's defect planting)."""
        w = self.world
        assert w is not None
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE _cio_app_privacy_events AS "
            f"SELECT * FROM {self.schema}.privacy_events LIMIT 0"
        )
        parts = [self._consents(), self._suppressions(), self._requests()]
        # One key per row, unique in this batch and apart from every other batch:
        # (batch start in seconds) * 2**24 + row number. Ids are 16 hex digits, so
        # they never meet the generator's shorter ids.
        component = f"""
WITH u AS ({" UNION ALL ".join(f"SELECT * FROM ({p})" for p in parts)})
SELECT user_id, {self.since}::BIGINT * 16777216
         + row_number() OVER (ORDER BY event_type, ekey, user_id, event_subtype, status, ts)
         AS ekey,
       event_type, event_subtype, status, reason, requested_by, ts, lag, metadata
FROM u
"""
        event_id = f"'evt_' || lpad(to_hex(hash(ekey, {self.seed}, 'app_id')), 16, '0')"
        self.con.execute(
            w.finalize_sql(component, into="_cio_app_privacy_events", event_id=event_id)
        )
        if self.scalar("SELECT count(*) FROM _cio_app_privacy_events") >= 16777216:
            raise ValueError("batch too large: lower share")
        return self.scalar(w.bad_count_sql(component))

    def redeliveries(self) -> tuple[int, int]:
        """Existing rows delivered again, later: recent ones, and a few old ones
        (some corrected: a consent's status flipped, as a fixed redelivery would)."""
        pe = f"{self.schema}.privacy_events"
        since_ts = _ts(str(self.since))
        old = max(3, round(self.known_users * 1e-5 * self.scale))
        later = (
            f"greatest(processed_at, {since_ts}) + to_seconds(1 + floor("
            f"_cio_rnd(event_id, 'app_redeliver_lag') * 3600)::BIGINT)"
        )
        self.con.execute(
            f"""
INSERT INTO _cio_app_privacy_events
SELECT event_id, user_id, event_type, event_subtype, status, reason, requested_by,
       event_timestamp, {later}, metadata
FROM {pe}
WHERE event_id IS NOT NULL
  AND event_timestamp BETWEEN {since_ts} - INTERVAL 7 DAY AND {since_ts}
  AND _cio_rnd(event_id, 'app_redeliver') < {self.rate("recent_redelivery")}
"""
        )
        # Old redeliveries: a few rows of any kind as they were, and as many consent
        # grants corrected into withdrawals stamped 35 days earlier (a fixed clock:
        # the delivery moves to another day and month; the latest delivery wins, R1).
        self.con.execute(
            f"""
CREATE OR REPLACE TEMP TABLE _cio_app_old AS
SELECT *, false AS corrected FROM (
  SELECT * FROM {pe}
  WHERE event_id IS NOT NULL AND event_timestamp < {since_ts} - INTERVAL 30 DAY
  ORDER BY hash(event_id, {self.seed}, 'app_old'), event_id, processed_at
  LIMIT {old})
UNION ALL
SELECT *, true FROM (
  SELECT * FROM {pe}
  WHERE event_id IS NOT NULL AND event_timestamp < {since_ts} - INTERVAL 30 DAY
    AND event_type = 'consent' AND status = 'granted'
  ORDER BY hash(event_id, {self.seed}, 'app_correct'), event_id, processed_at
  LIMIT {old})
"""
        )
        self.con.execute(
            f"""
INSERT INTO _cio_app_privacy_events
SELECT event_id, user_id, event_type, event_subtype,
       CASE WHEN corrected THEN 'withdrawn' ELSE status END, reason, requested_by,
       CASE WHEN corrected THEN event_timestamp - INTERVAL 35 DAY ELSE event_timestamp END,
       {later},
       CASE WHEN corrected THEN map_from_entries(list_filter(map_entries(metadata),
              lambda e: e.key NOT IN ('expires_at', 'ip_address', 'user_agent')))
            ELSE metadata END
FROM _cio_app_old
"""
        )
        corrected = self.scalar("SELECT count(*) FROM _cio_app_old WHERE corrected")
        redelivered = self.scalar(
            f"SELECT count(*) FROM _cio_app_privacy_events a SEMI JOIN {pe} p USING (event_id)"
        )
        return redelivered, corrected

    # -- customer events and profiles -------------------------------------------------

    def customer_events(self) -> None:
        cats = list(DATA_CATEGORIES.items())
        category = _wpick([(c, wt) for c, (wt, _) in cats], "_cio_rnd(ckey, 'app_cat')")
        event_name = (
            "CASE category "
            + " ".join(
                f"WHEN {_q(c)} THEN {_pick(names, '_cio_rnd(ckey, ' + _q('app_name') + ')')}"
                for c, (_, names) in cats
            )
            + " END"
        )
        self.con.execute(
            f"""
CREATE OR REPLACE TEMP TABLE _cio_app_customer_events AS
WITH active AS (
  SELECT user_id, uidx, {self.since} AS lo FROM _cio_app_users
  WHERE last_active_at IS NOT NULL AND _cio_rnd(uidx, 'app_active') < {self.rate("active")}
  UNION ALL
  SELECT user_id, uidx, signup_sec AS lo FROM _cio_app_new_users
), ev AS (
  SELECT *, uidx * 64 + j AS ckey
  FROM active CROSS JOIN range(3) r(j)
  WHERE j = 0 OR _cio_rnd(uidx * 64 + j, 'app_more') < 0.5
), ev2 AS (SELECT *, {category} AS category FROM ev)
SELECT 'cev_' || lpad(to_hex(hash(ckey, {self.seed}, 'app_cev')), 16, '0') AS event_id,
       user_id, {event_name} AS event_name, category AS data_category,
       {_ts(f"lo + floor(_cio_rnd(ckey, 'app_t') * ({self.end} - 60 - lo))")} AS occurred_at
FROM ev2
"""
        )

    def user_profiles(self) -> None:
        """A new version for each user seen again (last activity moved) and each new user."""
        first = _list([d for d, _ in FIRST_NAMES])
        first_slug = _list([s for _, s in FIRST_NAMES])
        last = _list([d for d, _ in LAST_NAMES])
        last_slug = _list([s for _, s in LAST_NAMES])
        self.con.execute(
            f"""
CREATE OR REPLACE TEMP TABLE _cio_app_user_profiles AS
WITH seen AS (
  SELECT user_id, max(occurred_at) AS last_active_at
  FROM _cio_app_customer_events GROUP BY user_id
), fi AS (
  SELECT n.*, 1 + floor(_cio_rnd(uidx, 'app_first') * {len(FIRST_NAMES)})::INTEGER AS f,
         1 + floor(_cio_rnd(uidx, 'app_last') * {len(LAST_NAMES)})::INTEGER AS l
  FROM _cio_app_new_users n
)
SELECT u.user_id, u.email, u.phone, u.first_name, u.last_name, u.country, u.created_at,
       s.last_active_at AS updated_at, s.last_active_at
FROM _cio_app_users u JOIN seen s USING (user_id)
UNION ALL
SELECT fi.user_id,
       {first_slug}[f] || '.' || {last_slug}[l] || '.' || uidx::VARCHAR || '@example.org',
       NULL, {first}[f], {last}[l], country, {_ts("signup_sec")},
       coalesce(s.last_active_at, {_ts("signup_sec")}), s.last_active_at
FROM fi LEFT JOIN seen s USING (user_id)
"""
        )

    # -- publish ----------------------------------------------------------------------

    def publish(self) -> dict[str, int]:
        counts = {}
        for table in TABLE_COLUMNS:
            self.con.execute(f"INSERT INTO {self.schema}.{table} SELECT * FROM _cio_app_{table}")
            counts[table] = self.scalar(f"SELECT count(*) FROM _cio_app_{table}")
        return counts

    def cleanup(self) -> None:
        for table in (
            "_cio_app_users",
            "_cio_app_new_users",
            "_cio_app_open_requests",
            "_cio_app_soft_bouncers",
            "_cio_app_old",
            *(f"_cio_app_{table}" for table in TABLE_COLUMNS),
        ):
            self.con.execute(f"DROP TABLE IF EXISTS temp.main.{table}")
        if self.world is not None:
            self.world.cleanup(self.con)


def _in(values: Sequence[str]) -> str:
    return "(" + ", ".join(_q(v) for v in values) + ")"


def _utc(seconds: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).replace(tzinfo=None)


def load_tables_from_spark(
    spark: Any, con: duckdb.DuckDBPyConnection, *, schema: str, scratch: str
) -> None:
    """Copy the raw tables of a Spark schema into the same schema of ``con`` (through
    parquet files under ``scratch``), so that append_events can read and extend them."""
    if not _IDENT.match(schema):
        raise ValueError(f"schema must be a plain SQL identifier, got {schema!r}")
    con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    for table in TABLE_COLUMNS:
        path = f"{scratch}/{table}"
        spark.table(f"{schema}.{table}").write.mode("overwrite").parquet(path)
        _create_table(con, f'"{schema}".{table}', table)
        con.execute(
            f"INSERT INTO \"{schema}\".{table} SELECT * FROM read_parquet('{path}/*.parquet')"
        )
