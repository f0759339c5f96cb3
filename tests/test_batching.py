"""From actions to /v1/batch requests: shapes, schemas, sizes and the order of a user's actions."""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import replace as dataclass_replace

import orjson
import pytest
from cio_privacy.actions import Action, ActionColumns, ActionSlice, ResultGroup, Status, columns_of
from cio_privacy.batching import (
    MAX_CALL_BYTES,
    MAX_REQUEST_BYTES,
    ActionOrderError,
    BatchRequest,
    CallEncoder,
    iso_timestamp,
    plan_batches,
    plan_requests,
    request_bytes,
)

from tests.customerio_reference import batch_errors, call_errors

GENERATED_AT = dt.datetime(2026, 11, 1, 6, 30)
TRAITS = {
    "unsubscribed": True,
    "email_suppressed": True,
    "email_suppression_reason": "user_request",
    "consent_email_marketing": "withdrawn",
    "cio_subscription_preferences.topics.topic_3": False,
    "anonymized_at": None,
}


def action(
    user_id: str = "user_1",
    action_type: str = "identify",
    payload: object = None,
    sequence: int = 1,
    action_id: str | None = None,
) -> Action:
    text = payload if isinstance(payload, str) else json.dumps(payload or {})
    return Action(
        action_id=action_id or f"{user_id}-{action_type}-{sequence}",
        user_id=user_id,
        action_type=action_type,
        payload=text,
        sequence=sequence,
        generated_at=GENERATED_AT,
    )


def calls_of(request: BatchRequest) -> list[dict[str, object]]:
    document = orjson.loads(request.body)
    assert set(document) == {"batch"}
    return list(document["batch"])


def refused(requests: list[BatchRequest]) -> list[ResultGroup]:
    return [group for request in requests for group in request.refused]


# the calls


def test_identify_carries_the_traits_the_action_id_and_the_time() -> None:
    [request] = plan_requests([action(payload=TRAITS, action_id="a1")])
    assert calls_of(request) == [
        {
            "type": "identify",
            "userId": "user_1",
            "messageId": "a1",
            "timestamp": "2026-11-01T06:30:00.000Z",
            "traits": TRAITS,
        }
    ]


@pytest.mark.parametrize(
    ("action_type", "event"),
    [
        ("suppress_person", "User Suppressed"),
        ("unsuppress_person", "User Unsuppressed"),
        ("delete_person", "User Deleted"),
    ],
)
def test_privacy_actions_are_the_semantic_track_events(action_type: str, event: str) -> None:
    [request] = plan_requests([action(action_type=action_type, payload={}, action_id="a9")])
    assert calls_of(request) == [
        {
            "type": "track",
            "userId": "user_1",
            "messageId": "a9",
            "timestamp": "2026-11-01T06:30:00.000Z",
            "event": event,
            "properties": {},
        }
    ]


def test_topics_are_sent_as_dotted_traits_even_when_the_payload_nests_them() -> None:
    nested = {"unsubscribed": False, "cio_subscription_preferences": {"topics": {"topic_7": True}}}
    dotted = {"cio_subscription_preferences.topics.topic_2": False}
    requests = list(plan_requests([action("u1", payload=nested), action("u2", payload=dotted)]))
    first, second = (call["traits"] for call in calls_of(requests[0]))
    assert first == {"unsubscribed": False, "cio_subscription_preferences.topics.topic_7": True}
    assert second == dotted


def test_every_call_and_request_validates_against_customerio_schemas() -> None:
    actions = [
        action('user 1 "quoted" \\ back', payload=TRAITS),
        action('user 1 "quoted" \\ back', "suppress_person", sequence=2),
        action("user_3", "delete_person"),
        action("user_4", payload={}),
        action("usér-2 ✓", payload={"first_name": "Zoë", "email": "zoe@example.org"}),
        action("usér-2 ✓", "unsuppress_person", sequence=2),
    ]
    [request] = plan_requests(actions)
    assert batch_errors(request.body) == []
    assert len(calls_of(request)) == len(actions)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"timestamp": "2026-11-01 06:30"}, "is not valid under any of the given schemas"),
        ({"timestamp": "2026-02-30T00:00:00Z"}, "is not valid under any of the given schemas"),
        ({"userId": 7}, "is not valid under any of the given schemas"),
        ({"event": "User Supressed"}, "is not a privacy semantic event"),
        ({"type": "page"}, "identify and track calls only"),
    ],
)
def test_the_schema_check_can_fail(change: dict[str, object], expected: str) -> None:
    [request] = plan_requests([action(action_type="suppress_person")])
    call = {**calls_of(request)[0], **change}
    errors = call_errors(call)
    assert errors
    assert expected in " ".join(errors)


def test_a_track_without_user_fails_the_suppress_schema() -> None:
    [request] = plan_requests([action(action_type="suppress_person")])
    call = calls_of(request)[0]
    del call["userId"]
    assert any("'userId' is a required property" in error for error in call_errors(call))


def test_timestamps_are_utc_iso_8601_with_milliseconds() -> None:
    assert iso_timestamp(dt.datetime(2026, 3, 1, 12, 0, 0, 123456)) == "2026-03-01T12:00:00.123Z"
    aware = dt.datetime(2026, 3, 1, 13, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert iso_timestamp(aware) == "2026-03-01T12:00:00.000Z"
    now = dt.datetime(2026, 1, 2, 3, 4, 5)
    no_time = Action("a", "u", "delete_person", "{}", 1, generated_at=None)
    call = orjson.loads(CallEncoder(now=now).encode(no_time))
    assert call["timestamp"] == "2026-01-02T03:04:05.000Z"


# what is never sent


def test_a_call_over_32_kb_is_never_sent_and_comes_back_rejected_with_the_reason() -> None:
    encoder = CallEncoder()
    probe = len(encoder.encode(action("big", payload={"note": ""})))
    exactly = action("big", payload={"note": "x" * (MAX_CALL_BYTES - probe)})
    over = action("bih", payload={"note": "x" * (MAX_CALL_BYTES - probe + 1)})
    assert len(encoder.encode(exactly)) == MAX_CALL_BYTES

    requests = list(plan_requests([exactly, over, action("small")]))
    sent = [call["userId"] for request in requests for call in calls_of(request)]
    assert sent == ["big", "small"]
    [group] = refused(requests)
    assert group.actions == [over]
    assert group.status is Status.REJECTED
    assert group.attempts == 0
    assert "32,001 bytes" in (group.error or "")
    assert "32,000-byte limit" in (group.error or "")


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (action("u", payload="{not json"), "not valid JSON"),
        (action("u", payload='{"a": 1} {"b": 2}'), "not valid JSON"),
        (action("u", payload='{"a": NaN}'), "not valid JSON"),
        (action("u", payload='{"a": 1}, "userId": "someone else"'), "not valid JSON"),
        (action("u", payload="[1, 2]"), "JSON object of traits"),
        (action("u", action_type="merge_person"), "unknown action type"),
        (action("   "), "no user_id"),
    ],
)
def test_an_action_that_cannot_be_encoded_is_rejected_not_sent(bad: Action, reason: str) -> None:
    requests = list(plan_requests([bad, action("v")]))
    assert [call["userId"] for call in calls_of(requests[0])] == ["v"]
    [group] = refused(requests)
    assert group.status is Status.REJECTED
    assert reason in (group.error or "")


# sizes and order


def _many_users(count: int, seed: int) -> list[Action]:
    rng = random.Random(seed)
    actions = []
    for index in range(count):
        user = f"user_{index:06d}"
        traits = {f"trait_{n}": "v" * rng.randint(0, 400) for n in range(rng.randint(1, 20))}
        actions.append(action(user, payload=traits, sequence=1))
        if rng.random() < 0.3:
            actions.append(action(user, "suppress_person", sequence=2))
    return actions


def test_requests_stay_under_475000_bytes_and_every_action_is_in_exactly_one() -> None:
    actions = _many_users(4000, seed=1)
    requests = list(plan_requests(actions))
    assert len(requests) > 3
    for request in requests:
        assert len(request.body) == request.body_bytes == request_bytes(request.messages)
        assert len(request.body) <= MAX_REQUEST_BYTES
    sent = [a.action_id for request in requests for a in request.actions]
    assert sorted(sent) == sorted(a.action_id for a in actions)
    assert refused(requests) == []
    # the bodies carry the actions' own messages, in order
    for request in requests:
        assert [call["messageId"] for call in calls_of(request)] == [
            a.action_id for a in request.actions
        ]


def test_a_user_is_never_split_and_keeps_sequence_order() -> None:
    actions = _many_users(3000, seed=2)
    requests = list(plan_requests(actions, max_request_bytes=20_000))
    seen: dict[str, int] = {}
    for number, request in enumerate(requests):
        for call in calls_of(request):
            user = str(call["userId"])
            assert seen.setdefault(user, number) == number, f"{user} split across requests"
    flattened = [a for request in requests for a in request.actions]
    assert flattened == actions  # nothing reordered, within or across users


def test_the_user_who_does_not_fit_moves_whole_to_the_next_request() -> None:
    filler = action("a", payload={"x": "y" * 300})
    first = action("b", payload={"x": "y" * 200}, sequence=1)
    second = action("b", "suppress_person", sequence=2)
    limit = request_bytes(CallEncoder().encode(a) for a in (filler, first)) + 5
    requests = list(plan_requests([filler, first, second], max_request_bytes=limit))
    assert [[a.user_id for a in r.actions] for r in requests] == [["a"], ["b", "b"]]


def test_a_user_larger_than_a_request_sends_what_fits_and_defers_the_rest_in_order() -> None:
    first = action("a", payload={"x": "y" * 300}, sequence=1)
    second = action("a", "suppress_person", sequence=2)
    third = action("a", "unsuppress_person", sequence=3)
    limit = request_bytes([CallEncoder().encode(first)]) + 10
    requests = list(plan_requests([first, second, third, action("b")], max_request_bytes=limit))
    assert [[a.action_id for a in r.actions] for r in requests] == [
        [first.action_id],
        ["b-identify-1"],
    ]
    [deferred] = [group for group in refused(requests)][:1]
    assert deferred.status is Status.FAILED
    assert [g.actions[0] for g in refused(requests)] == [second, third]
    assert all(g.status is Status.FAILED for g in refused(requests))


@pytest.mark.parametrize(
    "actions",
    [
        [action("b"), action("a")],
        [action("a", sequence=2), action("a", "suppress_person", sequence=1)],
        [action("a"), action("b"), action("a", "suppress_person", sequence=2)],
    ],
)
def test_actions_out_of_user_sequence_order_are_refused_loudly(actions: list[Action]) -> None:
    with pytest.raises(ActionOrderError, match="ordered by user_id, sequence"):
        list(plan_requests(actions))


def test_planning_is_lazy() -> None:
    consumed = 0

    def source() -> object:
        nonlocal consumed
        for index in range(100_000):
            consumed += 1
            yield action(f"user_{index:06d}", payload=TRAITS)

    first = next(iter(plan_requests(source())))  # type: ignore[arg-type]
    assert first.body_bytes <= MAX_REQUEST_BYTES
    assert consumed < 5_000


def test_split_cuts_at_a_user_boundary_and_a_single_user_after_the_first_call() -> None:
    actions = [action("a"), action("a", "suppress_person", 2), action("b"), action("c")]
    [request] = plan_requests(actions)
    left, right = request.split()
    assert [a.user_id for a in left.actions] == ["a", "a"]
    assert [a.user_id for a in right.actions] == ["b", "c"]
    assert left.messages + right.messages == request.messages
    one_user = BatchRequest(actions[:2], request.messages[:2])
    head, tail = one_user.split()
    assert head.actions == actions[:1]
    assert tail.actions == actions[1:2]


# actions in bulk: batches of columns


def _plan_summary(requests: list[BatchRequest]) -> list[tuple[bytes, list[str], list[str]]]:
    return [
        (
            request.body,
            [a.action_id for a in request.actions],
            [g.actions[0].action_id + ":" + str(g.error) for g in request.refused],
        )
        for request in requests
    ]


@pytest.mark.parametrize("batch_size", [1, 2, 7, 500])
def test_where_the_reader_cuts_its_batches_changes_nothing(batch_size: int) -> None:
    actions = _many_users(1500, seed=3)
    # refused on the way: bad JSON, an unknown type; and a user too large for one request
    actions[10] = action(actions[10].user_id, payload="{not json", action_id="bad-json")
    actions[20] = action(actions[20].user_id, "forget_person", action_id="bad-type")
    big = [action("zz_big", payload={"x": "y" * 3000}, sequence=n) for n in range(1, 4)]
    actions += big
    limit = 7_000
    expected = _plan_summary(list(plan_requests(actions, max_request_bytes=limit)))
    batches = columns_of(actions, size=batch_size)
    planned = list(plan_batches(batches, max_request_bytes=limit))
    assert _plan_summary(planned) == expected
    sent = [a for request in planned for a in request.actions]
    not_sent = [g.actions[0] for request in planned for g in request.refused]
    assert sorted(a.action_id for a in sent + not_sent) == sorted(a.action_id for a in actions)
    assert [a.action_id for a in not_sent] == ["bad-json", "bad-type", "zz_big-identify-3"]


def test_an_action_slice_reads_like_the_list_of_its_actions() -> None:
    actions = [action(f"u{n // 2}", sequence=n % 2 + 1) for n in range(10)]
    first, second = ActionColumns.of_actions(actions[:4]), ActionColumns.of_actions(actions[4:])
    rows = ActionSlice([(first, 1, 4), (second, 0, 5)])
    assert len(rows) == 8
    assert list(rows) == actions[1:9]
    assert rows == actions[1:9]
    assert rows[0] == actions[1]
    assert rows[-1] == actions[8]
    assert rows[5] == actions[6]
    assert rows[2:6] == actions[3:7]
    assert rows[6:] == actions[7:9]
    assert rows.user_ids == {a.user_id for a in actions[1:9]}
    with pytest.raises(IndexError):
        rows[8]


def test_acknowledged_columns_are_the_same_from_arrow_and_from_actions() -> None:
    import pyarrow as pa

    actions = [action(f"u{n}", payload={"n": n}, sequence=1) for n in range(6)]
    read = pa.RecordBatch.from_pylist(
        [
            {
                "action_id": a.action_id,
                "user_id": a.user_id,
                "action_type": a.action_type,
                "payload": None if n == 2 else a.payload,  # a missing payload reads as {}
                "sequence": None if n == 3 else a.sequence,  # a missing sequence as 0
                "generated_at": "2026-11-01 06:30:00",
                "reason": "traits_changed",
            }
            for n, a in enumerate(actions)
        ]
    )
    from_arrow = ActionColumns.of_arrow(read)
    assert from_arrow.payloads[2] == "{}"
    assert from_arrow.sequences[3] == 0
    assert from_arrow.action(1) == dataclass_replace(actions[1], reason="traits_changed")
    from_lists = ActionColumns.of_actions([from_arrow.action(n) for n in range(6)])
    sliced = ActionSlice([(from_arrow, 1, 5)]).ack_columns()
    rebuilt = ActionSlice([(from_lists, 1, 5)]).ack_columns()
    assert {k: pa.chunked_array(v).to_pylist() for k, v in sliced.items()} == {
        k: pa.chunked_array(v).to_pylist() for k, v in rebuilt.items()
    }
    assert pa.chunked_array(sliced["payload"]).to_pylist()[1] == "{}"
