"""The local Customer.io sandbox behaves as customerio-api.md says Customer.io does."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from cio_privacy.sandbox import MAX_CALL_BYTES, MAX_REQUEST_BYTES, RunningSandbox, running_sandbox

from tests.conftest import REPO
from tests.customerio_reference import call_errors

KEY = "sandbox-key-123"
STRICT = {"X-Strict-Mode": "1"}
WHEN = "2026-11-01T00:00:00.000Z"


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(api_key=KEY, seed=1) as running:
        yield running


@pytest.fixture
def api(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, auth=(KEY, ""), timeout=10) as client:
        yield client


def identify(user: str, traits: dict[str, Any], message_id: str | None = None) -> dict[str, Any]:
    return {
        "type": "identify",
        "userId": user,
        "traits": traits,
        "messageId": message_id or f"m-{user}-{sorted(traits)}",
        "timestamp": WHEN,
    }


def track(user: str, event: str, message_id: str | None = None) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": user,
        "event": event,
        "properties": {},
        "messageId": message_id or f"m-{user}-{event}",
        "timestamp": WHEN,
    }


def batch(
    api: httpx.Client, *calls: dict[str, Any], strict: bool = True, **kwargs: Any
) -> httpx.Response:
    return api.post(
        "/v1/batch", json={"batch": list(calls)}, headers=STRICT if strict else {}, **kwargs
    )


def state(sandbox: RunningSandbox) -> dict[str, Any]:
    return sandbox.state()


def test_state_is_exactly_the_documented_shape(sandbox: RunningSandbox, api: httpx.Client) -> None:
    assert batch(api, identify("u1", {"email_suppressed": False})).status_code == 200
    response = httpx.get(f"{sandbox.url}/_sandbox/state")
    assert response.status_code == 200
    assert response.json() == {
        "people": {"u1": {"email_suppressed": False}},
        "suppressed": [],
        "deleted": [],
        "messages_received": 1,
        "duplicate_message_ids": 0,
    }


# authentication


def test_the_right_key_with_an_empty_password_is_accepted(api: httpx.Client) -> None:
    response = batch(api, identify("u1", {}))
    assert response.status_code == 200
    assert response.json() == {}


@pytest.mark.parametrize("auth", [("wrong-key", ""), (KEY, "a-password"), ("", ""), None], ids=str)
def test_a_wrong_key_is_401_in_strict_mode_and_a_silent_200_otherwise(
    sandbox: RunningSandbox, auth: tuple[str, str] | None
) -> None:
    with httpx.Client(base_url=sandbox.url, auth=auth) as client:
        strict = batch(client, identify("u1", {}))
        permissive = batch(client, identify("u2", {}), strict=False)
    assert strict.status_code == 401
    assert KEY not in strict.text
    assert permissive.status_code == 200
    assert state(sandbox)["people"] == {}
    assert state(sandbox)["messages_received"] == 0


def test_without_a_configured_key_any_non_empty_key_is_accepted() -> None:
    with running_sandbox() as sandbox, httpx.Client(base_url=sandbox.url) as client:
        assert batch(client, identify("u1", {}), auth=("anything", "")).status_code == 200
        assert batch(client, identify("u1", {}), auth=("", "")).status_code == 401


# endpoints


@pytest.mark.parametrize(
    ("endpoint", "call"),
    [
        ("identify", {"userId": "u1", "traits": {"plan": "pro"}}),
        ("track", {"userId": "u1", "event": "Course Started", "properties": {"n": 1}}),
        ("page", {"userId": "u1", "name": "Home"}),
        ("screen", {"userId": "u1", "name": "Settings"}),
        ("group", {"userId": "u1", "groupId": "g1", "traits": {"name": "ACME"}}),
        ("alias", {"userId": "u1", "previousId": "anon-1"}),
    ],
)
def test_single_call_endpoints(
    sandbox: RunningSandbox, api: httpx.Client, endpoint: str, call: dict[str, Any]
) -> None:
    response = api.post(f"/v1/{endpoint}", json=call, headers=STRICT)
    assert response.status_code == 200, response.text
    assert state(sandbox)["messages_received"] == 1
    wrong_type = api.post(f"/v1/{endpoint}", json={**call, "type": "nonsense"}, headers=STRICT)
    assert wrong_type.status_code == 400


def test_unknown_paths_and_methods(api: httpx.Client) -> None:
    assert api.post("/v1/nothing", json={}).status_code == 404
    assert api.get("/v1/batch").status_code == 405


def test_gzip_bodies_are_read(sandbox: RunningSandbox, api: httpx.Client) -> None:
    body = gzip.compress(orjson.dumps({"batch": [identify("u1", {"a": 1})]}))
    response = api.post("/v1/batch", content=body, headers={**STRICT, "Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert state(sandbox)["people"] == {"u1": {"a": 1}}


def test_chunked_bodies_are_read(sandbox: RunningSandbox, api: httpx.Client) -> None:
    body = orjson.dumps({"batch": [identify("u1", {"a": 1})]})

    def pieces() -> Iterator[bytes]:
        yield body[:10]
        yield body[10:]

    response = api.post("/v1/batch", content=pieces(), headers=STRICT)
    assert response.status_code == 200
    assert state(sandbox)["people"] == {"u1": {"a": 1}}


# validation (strict mode)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"type": "identify", "traits": {}}, "batch[1]: userId or anonymousId is required"),
        ({"type": "identify", "userId": "", "traits": {}}, "userId or anonymousId is required"),
        ({"type": "shout", "userId": "u9"}, "batch[1]: type is missing or unknown"),
        ({"userId": "u9"}, "batch[1]: type is missing or unknown"),
        ({"type": "track", "userId": "u9"}, "batch[1]: event is required"),
        (
            {"type": "identify", "userId": "u9", "timestamp": "yesterday"},
            "batch[1]: timestamp must be an ISO-8601 date-time",
        ),
        (
            {"type": "identify", "userId": "u9", "timestamp": "2026-13-01T00:00:00Z"},
            "timestamp must be an ISO-8601 date-time",
        ),
        ({"type": "identify", "userId": "u9", "traits": [1]}, "traits must be an object"),
        ({"type": "identify", "userId": True}, "userId must be a string"),
        ({"type": "identify", "userId": "u9", "messageId": 5}, "messageId must be a string"),
        ("not an object", "batch[1]: a call must be a JSON object"),
    ],
)
def test_strict_mode_refuses_the_whole_request_naming_the_bad_call(
    sandbox: RunningSandbox, api: httpx.Client, bad: Any, message: str
) -> None:
    response = batch(api, identify("u1", {"a": 1}), bad, identify("u2", {"b": 2}))
    assert response.status_code == 400
    errors = response.json()["meta"]["errors"]
    assert any(message in error for error in errors), errors
    assert state(sandbox)["people"] == {}  # nothing of that request was processed
    assert state(sandbox)["messages_received"] == 0


def test_without_strict_mode_a_bad_call_is_skipped_and_the_rest_processed(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    response = batch(
        api, identify("u1", {"a": 1}), {"type": "identify"}, identify("u2", {}), strict=False
    )
    assert response.status_code == 200
    assert set(state(sandbox)["people"]) == {"u1", "u2"}
    assert sandbox.stats()["invalid_calls_skipped"] == 1


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"batch": {}}', b'{"sentAt": "x"}'])
def test_malformed_bodies(api: httpx.Client, body: bytes) -> None:
    response = api.post("/v1/batch", content=body, headers=STRICT)
    assert response.status_code == 400
    assert response.json()["meta"]["errors"]
    assert api.post("/v1/batch", content=body).status_code == 200


def test_the_calls_the_sandbox_accepts_here_are_valid_by_customerio_schemas() -> None:
    calls = [
        identify("u1", {"a": 1, "cio_subscription_preferences.topics.topic_1": True}),
        track("u1", "User Suppressed"),
        track("u1", "User Unsuppressed"),
        track("u1", "User Deleted"),
    ]
    assert [error for call in calls for error in call_errors(call)] == []


# size limits


def _call_of_size(size: int, user: str = "big") -> dict[str, Any]:
    call = identify(user, {"note": ""}, message_id="m-big")
    call["traits"]["note"] = "x" * (size - len(orjson.dumps(call)))
    assert len(orjson.dumps(call)) == size
    return call


def test_a_call_of_exactly_32000_bytes_is_processed(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    assert batch(api, _call_of_size(MAX_CALL_BYTES)).status_code == 200
    assert "big" in state(sandbox)["people"]


def test_a_call_over_32000_bytes_stops_the_request(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    oversized = _call_of_size(MAX_CALL_BYTES + 1)
    strict = batch(api, identify("u1", {}), oversized)
    assert strict.status_code == 400
    assert "batch[1]: the call is 32001 bytes" in strict.json()["meta"]["errors"][0]
    permissive = batch(api, identify("u1", {}), oversized, strict=False)
    assert permissive.status_code == 200  # "answered 200, but not processed"
    assert state(sandbox)["people"] == {}


def test_a_request_over_500000_bytes_is_not_processed(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    calls = [_call_of_size(30_000, user=f"u{n:02d}") for n in range(17)]
    assert len(orjson.dumps({"batch": calls})) > MAX_REQUEST_BYTES
    strict = batch(api, *calls)
    assert strict.status_code == 400
    assert "over 500000" in strict.json()["meta"]["errors"][0]
    assert batch(api, *calls, strict=False).status_code == 200
    assert state(sandbox)["messages_received"] == 0
    assert batch(api, *calls[:16]).status_code == 200
    assert state(sandbox)["messages_received"] == 16


# privacy semantics


def test_suppression_deletes_and_blocks_until_unsuppressed(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    batch(api, identify("u1", {"email": "a@example.com"}), track("u1", "User Suppressed"))
    assert state(sandbox)["people"] == {}
    assert state(sandbox)["suppressed"] == ["u1"]

    batch(api, identify("u1", {"email": "b@example.com"}, "m2"), track("u1", "Order Placed"))
    assert state(sandbox)["people"] == {}
    assert sandbox.stats()["ignored_because_suppressed"] == {"identify": 1, "track": 1}

    batch(api, track("u1", "User Unsuppressed"))
    assert state(sandbox)["suppressed"] == []
    assert state(sandbox)["people"] == {}  # restores nothing
    batch(api, identify("u1", {"plan": "free"}, "m3"))
    assert state(sandbox)["people"] == {"u1": {"plan": "free"}}


def test_deletion_allows_recreation_with_no_history(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    batch(api, identify("u1", {"unsubscribed": True, "plan": "pro"}), track("u1", "User Deleted"))
    assert state(sandbox)["people"] == {}
    assert state(sandbox)["deleted"] == ["u1"]
    batch(api, identify("u1", {"plan": "free"}, "m2"))
    assert state(sandbox)["people"] == {"u1": {"plan": "free"}}  # unsubscribe status gone too
    assert state(sandbox)["deleted"] == []


def test_dotted_topic_traits_merge_and_a_whole_object_replaces(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    topics = "cio_subscription_preferences.topics"
    batch(
        api,
        identify("u1", {f"{topics}.topic_1": True, f"{topics}.topic_2": True}, "m1"),
        identify("u1", {f"{topics}.topic_2": False, "email": "x@example.com"}, "m2"),
    )
    assert state(sandbox)["people"]["u1"] == {
        "cio_subscription_preferences": {"topics": {"topic_1": True, "topic_2": False}},
        "email": "x@example.com",
    }
    batch(
        api, identify("u1", {"cio_subscription_preferences": {"topics": {"topic_9": True}}}, "m3")
    )
    assert state(sandbox)["people"]["u1"]["cio_subscription_preferences"] == {
        "topics": {"topic_9": True}
    }
    batch(api, identify("u1", {"email": None, f"{topics}.topic_9": None}, "m4"))
    assert state(sandbox)["people"]["u1"] == {"cio_subscription_preferences": {"topics": {}}}


def test_messages_and_duplicate_message_ids_are_counted(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    batch(api, identify("u1", {}, "m1"), identify("u2", {}, "m2"))
    batch(api, identify("u1", {}, "m1"))
    snapshot = state(sandbox)
    assert snapshot["messages_received"] == 3
    assert snapshot["duplicate_message_ids"] == 1


# faults


@pytest.mark.parametrize(
    ("fault", "status", "retry_after"),
    [("500", 500, None), ("502", 502, None), ("503", 503, None), ("429", 429, None)],
)
def test_scripted_errors_process_nothing(
    sandbox: RunningSandbox, api: httpx.Client, fault: str, status: int, retry_after: str | None
) -> None:
    sandbox.set_faults(script=[fault])
    response = batch(api, identify("u1", {}))
    assert response.status_code == status
    assert response.headers.get("retry-after") == retry_after
    assert state(sandbox)["messages_received"] == 0
    assert batch(api, identify("u1", {})).status_code == 200  # the script is used up


def test_throttling_with_retry_after(sandbox: RunningSandbox, api: httpx.Client) -> None:
    sandbox.set_faults(script=["429-retry-after"], retry_after_seconds=2)
    response = batch(api, identify("u1", {}))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"


def test_dropped_connections_before_and_after_processing(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    sandbox.set_faults(script=["drop", "drop-after"])
    for _ in range(2):
        with pytest.raises(httpx.TransportError):
            batch(api, identify("u1", {"n": 1}, "m1"))
    snapshot = state(sandbox)
    assert snapshot["messages_received"] == 1  # the second one was processed, then dropped
    assert batch(api, identify("u1", {"n": 1}, "m1")).status_code == 200
    assert state(sandbox)["duplicate_message_ids"] == 1


def test_random_fault_rates(sandbox: RunningSandbox, api: httpx.Client) -> None:
    sandbox.set_faults(fail_rate=1.0)
    assert {batch(api, identify("u1", {})).status_code for _ in range(20)} <= {500, 502, 503}
    sandbox.set_faults(fail_rate=0.0, throttle_rate=1.0)
    answers = [batch(api, identify("u1", {})) for _ in range(40)]
    assert {answer.status_code for answer in answers} == {429}
    with_header = sum("retry-after" in answer.headers for answer in answers)
    assert 0 < with_header < 40  # both kinds of 429
    sandbox.set_faults(throttle_rate=0.0, drop_rate=1.0)
    with pytest.raises(httpx.TransportError):
        batch(api, identify("u1", {}))
    stats = sandbox.stats()["faults_injected"]
    assert stats["429"] + stats["429-retry-after"] == 40


def test_latency(sandbox: RunningSandbox, api: httpx.Client) -> None:
    sandbox.set_faults(latency_ms=150)
    started = time.monotonic()
    assert batch(api, identify("u1", {})).status_code == 200
    assert time.monotonic() - started >= 0.15


def test_faults_and_reset_over_http(sandbox: RunningSandbox, api: httpx.Client) -> None:
    changed = httpx.post(f"{sandbox.url}/_sandbox/faults", json={"script": ["503"]})
    assert changed.json()["script"] == ["503"]
    assert httpx.post(f"{sandbox.url}/_sandbox/faults", json={"fail_rate": 2}).status_code == 400
    assert (
        httpx.post(f"{sandbox.url}/_sandbox/faults", json={"script": ["boom"]}).status_code == 400
    )
    assert batch(api, identify("u1", {})).status_code == 503
    assert batch(api, identify("u1", {})).status_code == 200
    assert httpx.post(f"{sandbox.url}/_sandbox/reset").status_code == 200
    assert state(sandbox)["people"] == {}
    assert httpx.get(f"{sandbox.url}/_sandbox/stats").json()["requests"] == 0


# the command


def test_the_command_serves_until_interrupted() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "cio_privacy.cli", "sandbox", "--port", "0", "--latency-ms", "1"],
        cwd=REPO,
        env={**os.environ, "CUSTOMERIO_API_KEY": KEY},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "the key in CUSTOMERIO_API_KEY" in line
        assert KEY not in line
        url = line.split("listening on ")[1].split(" ")[0]
        assert url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=url, auth=(KEY, "")) as client:
            assert batch(client, identify("u1", {"a": 1})).status_code == 200
        assert httpx.get(f"{url}/_sandbox/state").json()["people"] == {"u1": {"a": 1}}
    finally:
        process.send_signal(2)
        _, errors = process.communicate(timeout=20)
    assert process.returncode == 0
    assert "Traceback" not in errors


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fail-rate", "1.5"], "from 0 to 1"),
        (["--port", "70000"], "from 0 to 65535"),
        (["--latency-ms", "-3"], "at least 0"),
    ],
)
def test_bad_sandbox_options_exit_2(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cio_privacy.cli", "sandbox", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr


def test_a_port_in_use_is_one_line_and_exit_2(sandbox: RunningSandbox) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cio_privacy.cli", "sandbox", "--port", str(sandbox.port)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("cio-privacy: error: cannot listen")
