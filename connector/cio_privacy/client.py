"""Sending batch requests to Customer.io's Data Pipelines API and saying what became of each action.

- HTTP Basic with the API key as user name and an empty password; the US or
  EU host, or `CUSTOMERIO_BASE_URL`; `X-Strict-Mode: 1` on every request, so
  that a bad call is a 400 rather than a silent 200 (customerio-api.md).
- Retries (`retry.py`) on 408, 429, 5xx and connection errors, reusing the
  same body, hence the same messageIds; a 429 pauses every request, not only
  the one that got it.
- 400, 413 and 422 mean "something in this request is wrong". In strict
  mode Customer.io refuses the whole request, and how it names the bad call
  is not documented, so the request is cut in two at a user boundary and the
  halves are sent one after the other, until the bad call is alone and its
  400 is its own: every other call is delivered, the bad one is rejected
  with the API's message. One bad call among n costs about 2·log2(n) extra
  requests. Within a user, a call is never sent after an earlier call of the
  same user failed (it is held back, failed, for the next run).
- 401, 403 and 404 mean the key or the URL is wrong: no request can succeed,
  so the run stops with a `FatalApiError` (exit status 2), one line, no key.
- Other 4xx: every call of the request is rejected with the API's message.

`CustomerioClient` is the asyncio core (httpx.AsyncClient; one request at a
time per connection, up to `CIO_PRIVACY_MAX_CONCURRENT_REQUESTS` connections,
at most `CIO_PRIVACY_MAX_REQUESTS_PER_SECOND`). `Dispatcher` runs it on a
background thread for synchronous callers: `sync` reads actions, plans
requests and writes acknowledgements on its own thread while requests are in
flight, and gets each request's outcome as soon as its response is in.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from cio_privacy import __version__
from cio_privacy.actions import Action, ActionResult, ResultGroup, Status
from cio_privacy.batching import BatchRequest
from cio_privacy.errors import UsageError
from cio_privacy.redaction import mask_text, register_secrets
from cio_privacy.retry import RetryPolicy, is_retriable_status, retry_delay
from cio_privacy.settings import Settings

USER_AGENT = f"cio-privacy/{__version__}"
SPLIT_STATUSES = frozenset({400, 413, 422})  # the content is wrong: find the bad call
FATAL_STATUSES = frozenset({401, 403, 404, 405})  # the key or the URL is wrong: stop
MAX_ERROR_CHARS = 500
HELD_BACK = "not sent: an earlier action of this user failed, so this one waits for the next run"
# At most this many requests per concurrent slot are planned ahead of their
# responses: enough to keep every connection busy, few enough to bound memory.
REQUESTS_AHEAD_PER_SLOT = 2

_LOG = logging.getLogger(__name__)
T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class RetriableApiError(Exception):
    """An answer that may go away if asked again: 408, 429, 5xx, a connection error."""

    def __init__(self, message: str, *, status: int | None, retry_after: str | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class FatalApiError(UsageError):
    """An answer that no request of this run can change (wrong key, wrong URL): exit 2."""

    def __init__(self, message: str, *, status: int):
        super().__init__(message)
        self.status = status


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def api_error_message(response: httpx.Response) -> str:
    """`HTTP 400: <the API's message>`, masked and shortened."""
    detail = ""
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        detail = response.text
    else:
        if isinstance(body, dict):
            meta = body.get("meta")
            errors = meta.get("errors") if isinstance(meta, dict) else body.get("errors")
            if isinstance(errors, list) and errors:
                detail = "; ".join(str(error) for error in errors)
            elif isinstance(meta, dict) and meta.get("error"):
                detail = str(meta["error"])
            else:
                detail = str(body.get("message") or body.get("error") or "")
        else:
            detail = str(body)
    detail = " ".join(detail.split())[:MAX_ERROR_CHARS]
    reason = detail or response.reason_phrase or "no message"
    return mask_text(f"HTTP {response.status_code}: {reason}")


def _fatal_message(status: int, url: str) -> str:
    if status in (401, 403):
        return (
            f"Customer.io refused the API key (HTTP {status}): check CUSTOMERIO_API_KEY "
            "(a Data Pipelines key) and CUSTOMERIO_REGION"
        )
    if 300 <= status < 400:
        return f"Customer.io redirected {url} (HTTP {status}): check CUSTOMERIO_BASE_URL"
    return f"Customer.io answered HTTP {status} for {url}: check CUSTOMERIO_BASE_URL"


class RateLimiter:
    """At most `per_second` starts per second, evenly spaced; `hold` pauses everyone."""

    def __init__(self, per_second: float, *, clock: Callable[[], float] = time.monotonic):
        self._interval = 1.0 / per_second
        self._clock = clock
        self._next = 0.0

    async def wait(self, sleep: Sleep) -> None:
        now = self._clock()
        start = max(self._next, now)
        self._next = start + self._interval
        if start > now:
            await sleep(start - now)

    def hold(self, seconds: float) -> None:
        self._next = max(self._next, self._clock() + seconds)


@dataclass
class BatchOutcome:
    """What became of every action of one planned request, in groups sharing one outcome."""

    groups: list[ResultGroup]
    http_requests: int = 0

    @property
    def results(self) -> list[ActionResult]:
        """One result per action (convenient; `groups` is cheaper for a million)."""
        return [result for group in self.groups for result in group.results()]

    def count(self, status: Status) -> int:
        return sum(len(group) for group in self.groups if group.status is status)


@dataclass
class _Exchange:
    """The last answer to one body after its retries."""

    status: int | None
    error: str | None
    attempts: int
    sent_at: dt.datetime


@dataclass
class _Progress:
    http_requests: int = 0
    groups: list[ResultGroup] = field(default_factory=list)
    # users with an action that failed: their later actions are held back, in order
    failed_users: set[str] = field(default_factory=set)


class CustomerioClient:
    """The asyncio core: one `send` per planned request; use as `async with`."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        key = settings.require_api_key()
        register_secrets(key)
        self.batch_url = f"{settings.api_root}/batch"
        self._policy = policy or RetryPolicy(
            max_attempts=settings.cio_privacy_max_attempts,
            max_wait_seconds=settings.cio_privacy_max_retry_wait_seconds,
        )
        self._sleep = sleep
        self._limiter = RateLimiter(settings.cio_privacy_max_requests_per_second, clock=clock)
        self._slots = asyncio.Semaphore(settings.cio_privacy_max_concurrent_requests)
        token = base64.b64encode(f"{key}:".encode()).decode()
        connections = settings.cio_privacy_max_concurrent_requests
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self._http = httpx.AsyncClient(
            transport=transport,
            headers={
                "Authorization": f"Basic {token}",
                "Content-Type": "application/json",
                "X-Strict-Mode": "1",
                "User-Agent": USER_AGENT,
            },
            timeout=httpx.Timeout(
                settings.cio_privacy_request_timeout_seconds,
                connect=min(10.0, settings.cio_privacy_request_timeout_seconds),
            ),
            limits=limits,
            follow_redirects=False,
        )

    async def __aenter__(self) -> CustomerioClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, request: BatchRequest) -> BatchOutcome:
        """Delivers the request's calls; results for every action, refused ones included."""
        progress = _Progress(groups=list(request.refused))
        if request.actions:
            await self._deliver(request, progress, carried=0, first_sent=None)
        return BatchOutcome(progress.groups, progress.http_requests)

    async def _deliver(
        self,
        request: BatchRequest,
        progress: _Progress,
        *,
        carried: int,
        first_sent: dt.datetime | None,
    ) -> None:
        if progress.failed_users:
            request = self._hold_back(request, progress, carried)
            if not request.actions:
                return
        exchange = await self._post(request.body, progress)
        attempts = carried + exchange.attempts
        sent_at = first_sent or exchange.sent_at
        status = exchange.status
        if status is not None and 200 <= status < 300:
            outcome, error = Status.DELIVERED, None
        elif status in SPLIT_STATUSES and len(request.actions) > 1:
            for half in request.split():
                await self._deliver(half, progress, carried=attempts, first_sent=sent_at)
            return
        elif status is None or is_retriable_status(status):
            outcome, error = Status.FAILED, f"{exchange.error} (after {exchange.attempts} attempts)"
            progress.failed_users.update(request.user_ids)
        else:
            outcome, error = Status.REJECTED, exchange.error
        progress.groups.append(
            ResultGroup(
                actions=request.actions,
                messages=request.messages,
                status=outcome,
                http_status=status,
                error=error,
                attempts=attempts,
                sent_at=sent_at,
                completed_at=_utc_now(),
            )
        )

    @staticmethod
    def _hold_back(request: BatchRequest, progress: _Progress, carried: int) -> BatchRequest:
        """The request without the calls of users whose earlier call failed (results: failed)."""
        kept_actions: list[Action] = []
        kept = BatchRequest(kept_actions)
        held: list[int] = []
        for index, action in enumerate(request.actions):
            if action.user_id in progress.failed_users:
                held.append(index)
            else:
                kept_actions.append(action)
                kept.messages.append(request.messages[index])
        if held:
            progress.groups.append(
                ResultGroup(
                    actions=[request.actions[index] for index in held],
                    messages=[request.messages[index] for index in held],
                    status=Status.FAILED,
                    http_status=None,
                    error=HELD_BACK,
                    attempts=carried,
                    sent_at=None,
                    completed_at=_utc_now(),
                )
            )
        return kept

    async def _post(self, body: bytes, progress: _Progress) -> _Exchange:
        """One body, retried as `retry.py` decides; the last answer."""
        attempt = 0
        first_sent: dt.datetime | None = None
        while True:
            attempt += 1
            async with self._slots:
                await self._limiter.wait(self._sleep)
                first_sent = first_sent or _utc_now()
                progress.http_requests += 1
                try:
                    response = await self._attempt(body)
                except RetriableApiError as error:
                    status, message, retry_after = error.status, str(error), error.retry_after
                else:
                    return _Exchange(
                        status=response.status_code,
                        error=None if response.is_success else api_error_message(response),
                        attempts=attempt,
                        sent_at=first_sent,
                    )
            delay = retry_delay(
                self._policy, attempt=attempt, status=status, retry_after=retry_after
            )
            if delay is None:
                if status is None or is_retriable_status(status):
                    _LOG.warning("giving up after %d attempts: %s", attempt, message)
                return _Exchange(status, message, attempt, first_sent)
            _LOG.info(
                "retrying in %.2f s (attempt %d of %d): %s",
                delay,
                attempt + 1,
                self._policy.max_attempts,
                message,
            )
            if status == 429:
                self._limiter.hold(delay)
            await self._sleep(delay)

    async def _attempt(self, body: bytes) -> httpx.Response:
        """One HTTP request: the response, or RetriableApiError / FatalApiError."""
        try:
            response = await self._http.post(self.batch_url, content=body)
        except httpx.TransportError as error:
            detail = mask_text(str(error)) or "no detail"
            raise RetriableApiError(
                f"connection error ({type(error).__name__}: {detail})", status=None
            ) from None
        if response.status_code in FATAL_STATUSES or response.is_redirect:
            raise FatalApiError(
                _fatal_message(response.status_code, self.batch_url), status=response.status_code
            )
        if is_retriable_status(response.status_code):
            raise RetriableApiError(
                api_error_message(response),
                status=response.status_code,
                retry_after=response.headers.get("retry-after"),
            )
        return response


class Dispatcher:
    """`CustomerioClient` on a background event loop, for synchronous callers.

        with Dispatcher(settings) as dispatcher:
            for outcome in dispatcher.deliver(plan_requests(actions)):
                write_acks(outcome.results)     # before the next outcome is taken

    Requests are planned lazily, a few ahead of their responses, so memory
    stays flat however many actions there are. Outcomes come in the order
    responses arrive. A `FatalApiError` stops new requests, lets the ones in
    flight finish, hands over their outcomes, then is raised.

    `deliver_settled` hands over together the outcomes of every response that
    has arrived when the caller comes back for more, so that a caller can
    acknowledge them in one commit; no request is sent until it returns.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        settings.require_api_key()
        settings.require_destination()
        self._settings = settings
        self._options: dict[str, Any] = {"transport": transport, "policy": policy, "sleep": sleep}
        self._client: CustomerioClient | None = None

    def __enter__(self) -> Dispatcher:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="cio-privacy-http", daemon=True
        )
        self._thread.start()
        self._client = self._call(self._open())
        return self

    def __exit__(self, *_exc: object) -> None:
        try:
            if self._client is not None:
                self._call(self._client.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    async def _open(self) -> CustomerioClient:
        return CustomerioClient(self._settings, **self._options)

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    @property
    def batch_url(self) -> str:
        assert self._client is not None, "use Dispatcher as a context manager"
        return self._client.batch_url

    def deliver(self, requests: Iterable[BatchRequest]) -> Iterator[BatchOutcome]:
        for outcomes in self.deliver_settled(requests):
            yield from outcomes

    def deliver_settled(self, requests: Iterable[BatchRequest]) -> Iterator[list[BatchOutcome]]:
        client = self._client
        assert client is not None, "use Dispatcher as a context manager"
        ahead = self._settings.cio_privacy_max_concurrent_requests * REQUESTS_AHEAD_PER_SLOT
        in_flight: set[concurrent.futures.Future[BatchOutcome]] = set()
        fatal: FatalApiError | None = None

        def settled(wait_for_all: bool) -> Iterator[list[BatchOutcome]]:
            nonlocal in_flight, fatal
            done, in_flight = concurrent.futures.wait(
                in_flight,
                return_when=(
                    concurrent.futures.ALL_COMPLETED
                    if wait_for_all
                    else concurrent.futures.FIRST_COMPLETED
                ),
            )
            outcomes = []
            unexpected: BaseException | None = None
            for future in done:
                try:
                    outcomes.append(future.result())
                except FatalApiError as error:
                    fatal = fatal or error
                except BaseException as error:  # raised once the others are handed over
                    unexpected = unexpected or error
            if outcomes:
                yield outcomes
            if unexpected is not None:
                raise unexpected

        iterator = iter(requests)
        planning_error: Exception | None = None
        try:
            while fatal is None:
                try:
                    request = next(iterator)
                except StopIteration:
                    break
                except Exception as error:  # re-raised once the outcomes in flight are out
                    planning_error = error
                    break
                if not request.actions:
                    yield [BatchOutcome(list(request.refused))]
                    continue
                in_flight.add(asyncio.run_coroutine_threadsafe(client.send(request), self._loop))
                while len(in_flight) >= ahead and fatal is None:
                    yield from settled(wait_for_all=False)
            while in_flight:
                yield from settled(wait_for_all=True)
            if fatal is not None:
                raise fatal
            if planning_error is not None:
                raise planning_error
        finally:
            for future in in_flight:
                future.cancel()
            close = getattr(iterator, "close", None)
            if close is not None:  # a generator reading the warehouse: stop it now
                close()
