"""When to try a request again, and how long to wait first: every constant in one place.

Retried: 408, 429, every 5xx, and connection errors (refused, reset, timed
out), which are the answers that say "not now" rather than "not this". Never
retried: any other 4xx, which would fail the same way again. The wait is
exponential with jitter, or the server's `Retry-After` when it gives
one, up to a cap.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
from collections.abc import Callable
from dataclasses import dataclass

RETRIABLE_STATUSES = frozenset({408, 429})
FIRST_BACKOFF_SECONDS = 0.5
BACKOFF_MULTIPLIER = 2.0
MAX_BACKOFF_SECONDS = 30.0
# waits are the backoff less up to this share of it, at random, so clients spread out
JITTER_FRACTION = 0.5
DEFAULT_MAX_ATTEMPTS = 6
DEFAULT_MAX_RETRY_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = DEFAULT_MAX_ATTEMPTS  # requests in all, the first one included
    max_wait_seconds: float = DEFAULT_MAX_RETRY_WAIT_SECONDS  # cap on any one wait
    first_backoff_seconds: float = FIRST_BACKOFF_SECONDS
    backoff_multiplier: float = BACKOFF_MULTIPLIER
    max_backoff_seconds: float = MAX_BACKOFF_SECONDS


def is_retriable_status(status: int) -> bool:
    return status in RETRIABLE_STATUSES or 500 <= status <= 599


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date), else None."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        seconds = (moment - (now or dt.datetime.now(dt.UTC))).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN or infinite
        return None
    return max(seconds, 0.0)


def retry_delay(
    policy: RetryPolicy,
    *,
    attempt: int,
    status: int | None,
    retry_after: str | None = None,
    random_fraction: Callable[[], float] = random.random,
) -> float | None:
    """Seconds to wait before attempt `attempt + 1`, or None to stop trying.

    `status` is the HTTP status of attempt `attempt`, or None when the
    connection failed before a response came back.
    """
    if status is not None and not is_retriable_status(status):
        return None
    if attempt >= policy.max_attempts:
        return None
    server_wait = parse_retry_after(retry_after)
    if server_wait is not None:
        return min(server_wait, policy.max_wait_seconds)
    ceiling = min(
        policy.first_backoff_seconds * policy.backoff_multiplier ** (attempt - 1),
        policy.max_backoff_seconds,
        policy.max_wait_seconds,
    )
    return ceiling * (1.0 - JITTER_FRACTION * random_fraction())
