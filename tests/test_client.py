"""The Customer.io client: authentication, retries, per-action outcomes, limits, no secrets leaked.

Unit tests answer with httpx.MockTransport; integration tests talk to the
sandbox on 127.0.0.1. Nothing here touches the network.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from cio_privacy.actions import Action, Status
from cio_privacy.batching import BatchRequest, plan_requests
from cio_privacy.client import (
    BatchOutcome,
    CustomerioClient,
    Dispatcher,
    FatalApiError,
    RateLimiter,
    api_error_message,
)
from cio_privacy.errors import UsageError
from cio_privacy.retry import RetryPolicy, parse_retry_after, retry_delay
from cio_privacy.sandbox import RunningSandbox, running_sandbox
from cio_privacy.settings import Settings

from tests.customerio_reference import batch_errors

KEY = "live-key-0123456789"
WHEN = dt.datetime(2026, 11, 1)
Handler = Callable[[httpx.Request], httpx.Response]


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "customerio_api_key": KEY,
        "customerio_region": "eu",
        "cio_privacy_max_requests_per_second": 1000,
        "cio_privacy_max_attempts": 4,
    }
    return Settings(**{**values, **overrides})


def actions(users: int, per_user: int = 1) -> list[Action]:
    kinds = ["identify", "suppress_person", "unsuppress_person", "delete_person"]
    return [
        Action(
            action_id=f"a-{user:04d}-{step}",
            user_id=f"user_{user:04d}",
            action_type=kinds[step],
            payload=json.dumps({"email_suppressed": bool(user % 2)}) if step == 0 else "{}",
            sequence=step + 1,
            generated_at=WHEN,
        )
        for user in range(users)
        for step in range(per_user)
    ]


class Recorder:
    """Records the sleeps the client asks for and moves a clock instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.now = 1000.0

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now

    @property
    def backoffs(self) -> list[float]:
        return [wait for wait in self.waits if wait > 0.01]  # not the rate limiter's spacing


def send(
    handler: Handler,
    request: BatchRequest,
    recorder: Recorder | None = None,
    **overrides: Any,
) -> BatchOutcome:
    recorder = recorder or Recorder()

    async def run() -> BatchOutcome:
        async with CustomerioClient(
            settings(**overrides),
            transport=httpx.MockTransport(handler),
            sleep=recorder,
            clock=recorder.clock,
        ) as client:
            return await client.send(request)

    return asyncio.run(run())


def one_request(users: int = 3, per_user: int = 1) -> BatchRequest:
    [request] = plan_requests(actions(users, per_user))
    return request


def answers(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A handler giving these answers in turn (the last one again and again)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = responses[min(len(seen) - 1, len(responses) - 1)]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, seen


OK = httpx.Response(200, json={})


# what every request looks like


def test_requests_use_basic_auth_strict_mode_and_the_region_host() -> None:
    handler, seen = answers(OK)
    outcome = send(handler, one_request())
    assert outcome.count(Status.DELIVERED) == 3
    [request] = seen
    assert str(request.url) == "https://cdp-eu.customer.io/v1/batch"
    assert (
        request.headers["authorization"] == "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
    )
    assert request.headers["x-strict-mode"] == "1"
    assert request.headers["content-type"] == "application/json"
    assert batch_errors(request.content) == []


def test_every_request_the_client_sends_validates_against_customerio_schemas() -> None:
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return OK

    nested = '{"cio_subscription_preferences": {"topics": {"topic_4": true}}, "first_name": "Zoë"}'
    items = [
        *actions(50, per_user=4),
        Action("n-1", 'usér ✓ "x"', "identify", nested, 1, WHEN),
        Action("n-2", 'usér ✓ "x"', "suppress_person", "{}", 2, None),
    ]
    with Dispatcher(settings(), transport=httpx.MockTransport(handler)) as dispatcher:
        outcomes = list(dispatcher.deliver(plan_requests(items, max_request_bytes=4_000)))
    assert sum(outcome.count(Status.DELIVERED) for outcome in outcomes) == len(items)
    assert len(bodies) > 5
    for body in bodies:
        assert batch_errors(body) == []


@pytest.mark.parametrize(
    ("overrides", "url"),
    [
        ({"customerio_region": "us"}, "https://cdp.customer.io/v1/batch"),
        ({"customerio_region": "EU"}, "https://cdp-eu.customer.io/v1/batch"),
        (
            {"customerio_region": None, "customerio_base_url": "http://127.0.0.1:8765/"},
            "http://127.0.0.1:8765/v1/batch",
        ),
        (
            {"customerio_region": "us", "customerio_base_url": "https://proxy.example.com"},
            "https://proxy.example.com/v1/batch",
        ),
    ],
)
def test_hosts(overrides: dict[str, Any], url: str) -> None:
    handler, seen = answers(OK)
    send(handler, one_request(1), **overrides)
    assert str(seen[0].url) == url


# retries


def test_429_with_retry_after_waits_what_the_server_says() -> None:
    recorder = Recorder()
    handler, seen = answers(httpx.Response(429, headers={"Retry-After": "7"}), OK)
    outcome = send(handler, one_request(), recorder)
    assert outcome.count(Status.DELIVERED) == 3
    assert len(seen) == 2
    assert recorder.backoffs == [7.0]
    assert seen[0].content == seen[1].content  # same messageIds on the retry
    assert {group.attempts for group in outcome.groups} == {2}


def test_retry_after_is_capped() -> None:
    recorder = Recorder()
    handler, _ = answers(httpx.Response(429, headers={"Retry-After": "3600"}), OK)
    send(handler, one_request(), recorder, cio_privacy_max_retry_wait_seconds=5)
    assert recorder.backoffs == [5.0]


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(429),
        httpx.Response(408),
        httpx.Response(500),
        httpx.Response(502),
        httpx.Response(503),
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("server disconnected without sending a response"),
    ],
    ids=lambda failure: getattr(failure, "status_code", type(failure).__name__),
)
def test_transient_failures_are_retried_with_growing_jittered_backoff(
    failure: httpx.Response | Exception,
) -> None:
    recorder = Recorder()
    handler, seen = answers(failure, failure, failure, OK)
    outcome = send(handler, one_request(), recorder, cio_privacy_max_attempts=4)
    assert outcome.count(Status.DELIVERED) == 3
    assert len(seen) == 4
    first, second, third = recorder.backoffs
    assert 0.25 <= first <= 0.5
    assert 0.5 <= second <= 1.0
    assert 1.0 <= third <= 2.0


def test_retries_used_up_fail_every_action_of_the_request() -> None:
    handler, seen = answers(httpx.Response(503, json={"meta": {"errors": ["busy"]}}))
    outcome = send(handler, one_request(), cio_privacy_max_attempts=3)
    assert len(seen) == 3
    [group] = outcome.groups
    assert group.status is Status.FAILED
    assert len(group) == 3
    assert group.http_status == 503
    assert group.attempts == 3
    assert group.error == "HTTP 503: busy (after 3 attempts)"


@pytest.mark.parametrize("status", [409, 410, 415])
def test_other_4xx_are_rejected_without_retry(status: int) -> None:
    handler, seen = answers(httpx.Response(status, json={"message": "nope"}))
    outcome = send(handler, one_request())
    assert len(seen) == 1
    [group] = outcome.groups
    assert group.status is Status.REJECTED
    assert group.error == f"HTTP {status}: nope"


def test_a_400_is_not_retried_and_the_bad_call_is_found_by_halving() -> None:
    request = one_request(users=8)
    bad_user = "user_0005"

    def handler(http_request: httpx.Request) -> httpx.Response:
        calls = orjson.loads(http_request.content)["batch"]
        if any(call["userId"] == bad_user for call in calls):
            return httpx.Response(400, json={"meta": {"errors": ["batch[0]: traits are bad"]}})
        return OK

    seen: list[list[str]] = []

    def recording(http_request: httpx.Request) -> httpx.Response:
        seen.append([call["userId"] for call in orjson.loads(http_request.content)["batch"]])
        return handler(http_request)

    outcome = send(recording, request)
    results = {result.action.user_id: result for result in outcome.results}
    assert results[bad_user].status is Status.REJECTED
    assert results[bad_user].error == "HTTP 400: batch[0]: traits are bad"
    assert results[bad_user].http_status == 400
    assert [user for user, result in results.items() if result.status is Status.DELIVERED] == [
        f"user_{n:04d}" for n in range(8) if n != 5
    ]
    assert len(seen) <= 1 + 2 * 3  # about 2·log2(n) requests more
    assert seen[0] == [f"user_{n:04d}" for n in range(8)]
    # each halving sends the earlier half first: users are delivered in order
    delivered_order = [user for batch in seen[1:] for user in batch if bad_user not in batch]
    assert delivered_order == sorted(delivered_order)


def test_halving_never_sends_a_users_later_call_after_an_earlier_one_failed() -> None:
    request = one_request(users=1, per_user=3)  # identify, suppress, unsuppress
    bodies: list[list[str]] = []

    def handler(http_request: httpx.Request) -> httpx.Response:
        calls = orjson.loads(http_request.content)["batch"]
        bodies.append([call["type"] for call in calls])
        if len(calls) > 1:
            return httpx.Response(400, json={"meta": {"errors": ["bad"]}})
        return httpx.Response(503)  # the first call alone cannot get through

    outcome = send(handler, request, cio_privacy_max_attempts=2)
    statuses = [result.status for result in outcome.results]
    assert statuses == [Status.FAILED, Status.FAILED, Status.FAILED]
    assert bodies == [["identify", "track", "track"], ["identify"], ["identify"]]
    assert "earlier action of this user failed" in (outcome.results[2].error or "")


# fatal answers


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_stops_the_run_with_one_clear_line_without_the_key(status: int) -> None:
    handler, seen = answers(httpx.Response(status, text=f"bad key {KEY}"))
    with pytest.raises(FatalApiError) as raised:
        send(handler, one_request())
    assert len(seen) == 1
    message = str(raised.value)
    assert KEY not in message
    assert "\n" not in message
    assert "CUSTOMERIO_API_KEY" in message
    assert isinstance(raised.value, UsageError)
    assert raised.value.exit_status == 2


@pytest.mark.parametrize(
    "response",
    [httpx.Response(404), httpx.Response(301, headers={"Location": "https://elsewhere.example"})],
)
def test_a_wrong_url_is_fatal_and_names_the_setting(response: httpx.Response) -> None:
    handler, seen = answers(response)
    with pytest.raises(FatalApiError, match="CUSTOMERIO_BASE_URL"):
        send(handler, one_request())
    assert len(seen) == 1


def test_error_messages_never_carry_the_key_emails_or_phones() -> None:
    response = httpx.Response(
        400,
        json={"meta": {"errors": [f"jane.doe@example.com +14155550123 {KEY} were bad"]}},
    )
    from cio_privacy.redaction import register_secrets

    register_secrets(KEY)
    message = api_error_message(response)
    assert "jane.doe" not in message
    assert "4155550123" not in message
    assert KEY not in message
    assert message == "HTTP 400: <email> <phone> <secret> were bad"


# the retry decision itself


@pytest.mark.parametrize(
    ("status", "retried"),
    [(None, True), (408, True), (429, True), (500, True), (599, True)]
    + [(code, False) for code in (400, 401, 403, 404, 409, 413, 422)],
)
def test_one_function_decides_whether_to_retry(status: int | None, retried: bool) -> None:
    delay = retry_delay(RetryPolicy(), attempt=1, status=status)
    assert (delay is not None) is retried


def test_retry_decision_respects_attempts_and_server_waits() -> None:
    policy = RetryPolicy(max_attempts=3, max_wait_seconds=10)
    assert retry_delay(policy, attempt=3, status=503) is None
    assert retry_delay(policy, attempt=1, status=429, retry_after="4") == 4.0
    assert retry_delay(policy, attempt=1, status=503, retry_after="120") == 10.0
    assert retry_delay(policy, attempt=2, status=500, random_fraction=lambda: 0.0) == 1.0
    assert retry_delay(policy, attempt=2, status=500, random_fraction=lambda: 1.0) == 0.5


def test_retry_after_parsing() -> None:
    now = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("Sun, 01 Nov 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Sun, 01 Nov 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after("nan") is None


# rate and concurrency


def test_the_rate_limiter_spaces_requests_and_a_429_pauses_everyone() -> None:
    now = [100.0]
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    limiter = RateLimiter(10, clock=lambda: now[0])

    async def run() -> None:
        for _ in range(4):
            await limiter.wait(fake_sleep)
        limiter.hold(5)
        await limiter.wait(fake_sleep)

    asyncio.run(run())
    assert waits == pytest.approx([0.1, 0.2, 0.3, 5.0])


def test_never_more_requests_in_flight_than_configured() -> None:
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return OK

    config = settings(cio_privacy_max_concurrent_requests=3)
    requests = list(plan_requests(actions(400), max_request_bytes=2_000))
    assert len(requests) > 20
    with Dispatcher(config, transport=httpx.MockTransport(handler)) as dispatcher:
        outcomes = list(dispatcher.deliver(requests))
    assert sum(outcome.count(Status.DELIVERED) for outcome in outcomes) == 400
    assert peak == 3


def test_the_dispatcher_plans_only_a_few_requests_ahead() -> None:
    planned = 0

    def planner() -> Iterator[BatchRequest]:
        nonlocal planned
        for request in plan_requests(actions(2_000), max_request_bytes=2_000):
            planned += 1
            yield request

    config = settings(cio_privacy_max_concurrent_requests=2)
    handler, _ = answers(OK)
    with Dispatcher(config, transport=httpx.MockTransport(handler)) as dispatcher:
        stream = dispatcher.deliver(planner())
        next(stream)
        assert planned <= 2 * 2 + 1
        rest = list(stream)
    assert planned > 50
    assert 1 + len(rest) == planned


# against the sandbox


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(api_key=KEY, seed=3) as running:
        yield running


def sandbox_settings(sandbox: RunningSandbox, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "customerio_region": None,
        "customerio_base_url": sandbox.url,
        "cio_privacy_max_retry_wait_seconds": 0.05,
        "cio_privacy_max_attempts": 8,
    }
    return settings(**{**values, **overrides})


def deliver_all(config: Settings, items: list[Action]) -> list[BatchOutcome]:
    with Dispatcher(config) as dispatcher:
        return list(dispatcher.deliver(plan_requests(items, max_request_bytes=3_000)))


def statuses(outcomes: list[BatchOutcome]) -> dict[str, Status]:
    return {result.action.action_id: result.status for o in outcomes for result in o.results}


@pytest.mark.parametrize(
    "script",
    [
        ["429"],
        ["429-retry-after"],
        ["500", "502", "503"],
        ["drop"],
        ["drop-after"],
        ["429", "drop", "503", "drop-after", "429-retry-after"],
    ],
)
def test_every_fault_kind_ends_delivered_once(sandbox: RunningSandbox, script: list[str]) -> None:
    sandbox.set_faults(script=script, retry_after_seconds=0.01)
    items = actions(60, per_user=2)
    outcomes = deliver_all(sandbox_settings(sandbox), items)
    assert statuses(outcomes) == {item.action_id: Status.DELIVERED for item in items}
    held = sandbox.state()
    assert len(held["suppressed"]) == 60
    duplicates = held["duplicate_message_ids"]
    assert duplicates == (0 if "drop-after" not in script else held["messages_received"] - 120)
    assert sum(o.http_requests for o in outcomes) > len(outcomes)


def test_random_faults_end_delivered(sandbox: RunningSandbox) -> None:
    sandbox.set_faults(fail_rate=0.2, throttle_rate=0.2, drop_rate=0.1, retry_after_seconds=0.01)
    items = actions(300, per_user=2)
    outcomes = deliver_all(sandbox_settings(sandbox, cio_privacy_max_attempts=20), items)
    assert set(statuses(outcomes).values()) == {Status.DELIVERED}
    assert len(statuses(outcomes)) == 600
    stats = sandbox.stats()["faults_injected"]
    assert sum(stats.values()) > 10


def test_a_wrong_key_against_the_sandbox_is_fatal_without_the_key(sandbox: RunningSandbox) -> None:
    config = sandbox_settings(sandbox, customerio_api_key="not-the-key-9876")
    with pytest.raises(FatalApiError) as raised:
        deliver_all(config, actions(5))
    assert "not-the-key-9876" not in str(raised.value)
    assert "401" in str(raised.value)
    assert sandbox.state()["messages_received"] == 0


def test_everything_sent_to_the_sandbox_matches_what_it_holds(sandbox: RunningSandbox) -> None:
    items = [
        *actions(10, per_user=1),
        Action("d-1", "user_0100", "identify", '{"plan": "pro"}', 1, WHEN),
        Action("d-2", "user_0100", "delete_person", "{}", 2, WHEN),
    ]
    outcomes = deliver_all(sandbox_settings(sandbox), items)
    assert set(statuses(outcomes).values()) == {Status.DELIVERED}
    held = sandbox.state()
    assert held["people"] == {f"user_{n:04d}": {"email_suppressed": bool(n % 2)} for n in range(10)}
    assert held["deleted"] == ["user_0100"]
    assert held["messages_received"] == 12


def test_a_fatal_answer_mid_run_hands_over_what_was_delivered_then_stops() -> None:
    seen = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal seen
        seen += 1
        return OK if seen <= 3 else httpx.Response(401)

    planned = 0

    def planner() -> Iterator[BatchRequest]:
        nonlocal planned
        for request in plan_requests(actions(500), max_request_bytes=2_000):
            planned += 1
            yield request

    config = settings(cio_privacy_max_concurrent_requests=1)
    delivered = 0

    def run() -> None:
        nonlocal delivered
        with Dispatcher(config, transport=httpx.MockTransport(handler)) as dispatcher:
            for outcome in dispatcher.deliver(planner()):
                delivered += outcome.count(Status.DELIVERED)

    with pytest.raises(FatalApiError):
        run()
    assert delivered > 0
    assert seen < 10  # stopped sending
    assert planned < 10  # and stopped planning


def test_a_planning_error_comes_after_the_outcomes_in_flight() -> None:
    def planner() -> Iterator[BatchRequest]:
        yield from plan_requests(actions(30), max_request_bytes=2_000)
        raise RuntimeError("the warehouse went away")

    handler, _ = answers(OK)
    delivered = 0

    def run() -> None:
        nonlocal delivered
        with Dispatcher(settings(), transport=httpx.MockTransport(handler)) as dispatcher:
            for outcome in dispatcher.deliver(planner()):
                delivered += outcome.count(Status.DELIVERED)

    with pytest.raises(RuntimeError, match="went away"):
        run()
    assert delivered == 30
