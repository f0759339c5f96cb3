"""From pending actions to Data Pipelines `/v1/batch` requests.

- one call per action: `identify` with the traits, or `track` with the
  semantic event (R16); `messageId` = action_id, so a retried call is
  recognisable; `timestamp` = generated_at in ISO-8601 UTC;
- topic preferences are sent as dotted traits
  (`cio_subscription_preferences.topics.topic_<id>`), never as the whole
  object, so topics the warehouse does not own are not overwritten;
- a call over `MAX_CALL_BYTES` is never sent: it comes back as rejected with
  the reason, and so does an action that cannot be encoded;
- a request holds at most `MAX_REQUEST_BYTES` of JSON;
- all of a user's actions go in one request, in sequence order, so that no
  two concurrent requests ever carry the same user. The input must therefore
  be ordered by (user_id, sequence), which the planner checks as it reads.

Calls are built as JSON text without a dict round trip (a million actions
per run), and each call is encoded once: its bytes go into the request as is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any

import orjson

from cio_privacy.actions import (
    SEMANTIC_EVENTS,
    Action,
    ActionColumns,
    ActionSlice,
    ActionType,
    ResultGroup,
    Status,
    columns_of,
    cut_pieces,
    parse_timestamp,
)

# Customer.io: 32 KB per call, 500 KB per request, not processed when over;
# the official library keeps requests under 475,000 bytes. "KB" read as 1000
# bytes, the stricter reading.
MAX_CALL_BYTES = 32_000
MAX_REQUEST_BYTES = 475_000
TOPIC_TRAITS = "cio_subscription_preferences"

_BODY_START = b'{"batch":['
_BODY_END = b"]}"
_ENVELOPE_BYTES = len(_BODY_START) + len(_BODY_END)


class ActionOrderError(ValueError):
    """The actions were not ordered by (user_id, sequence): a bug in the reader."""


@dataclass(slots=True)
class BatchRequest:
    """The calls of one `/v1/batch` request, and the actions refused on the way.

    `actions[i]` is sent as `messages[i]` (its JSON). `refused` holds the
    actions of this stretch of the input that are not sent (too large, not
    encodable, or deferred), with their final result for this run.
    """

    actions: Sequence[Action] = field(default_factory=list)  # a list, or an ActionSlice
    messages: list[bytes] = field(default_factory=list)
    refused: list[ResultGroup] = field(default_factory=list)

    @property
    def body(self) -> bytes:
        return _BODY_START + b",".join(self.messages) + _BODY_END

    @property
    def body_bytes(self) -> int:
        return request_bytes(self.messages)

    @property
    def user_ids(self) -> set[str]:
        if isinstance(self.actions, ActionSlice):
            return self.actions.user_ids
        return {action.user_id for action in self.actions}

    def split(self) -> tuple[BatchRequest, BatchRequest]:
        """Two requests, in order, cut at the user boundary nearest the middle.

        A request of one user is cut after its first call, so that a call is
        never sent before an earlier call of the same user has an outcome.
        """
        actions = self.actions
        middle = len(actions) // 2
        cut = 1
        for distance in range(middle):
            for candidate in (middle - distance, middle + distance + 1):
                if 0 < candidate < len(actions) and (
                    actions[candidate].user_id != actions[candidate - 1].user_id
                ):
                    cut = candidate
                    break
            else:
                continue
            break
        return (
            BatchRequest(actions[:cut], self.messages[:cut]),
            BatchRequest(actions[cut:], self.messages[cut:]),
        )


def request_bytes(messages: Iterable[bytes]) -> int:
    """Size of `{"batch":[m1,m2,...]}` for these calls."""
    total, count = _ENVELOPE_BYTES, 0
    for message in messages:
        total += len(message)
        count += 1
    return total + max(count - 1, 0)


class CallRefused(ValueError):
    """This action is not sent; the message says why (no personal data in it)."""


def iso_timestamp(moment: dt.datetime) -> str:
    """ISO-8601 in UTC with milliseconds and `Z`; naive times are taken as UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds") + "Z"


def _flatten_topics(traits: dict[str, Any]) -> dict[str, Any]:
    """`{"cio_subscription_preferences": {"topics": {"topic_1": true}}}` as dotted keys."""
    flat: dict[str, Any] = {}
    for name, value in traits.items():
        if name == TOPIC_TRAITS and isinstance(value, dict):
            topics = value.get("topics", {})
            if set(value) - {"topics"} or not isinstance(topics, dict):
                raise CallRefused(f"{TOPIC_TRAITS} may only hold topics")
            for topic, subscribed in topics.items():
                flat[f"{TOPIC_TRAITS}.topics.{topic}"] = subscribed
        else:
            flat[name] = value
    return flat


def traits_json(payload: str) -> str:
    """The traits of an identify as JSON text: one JSON object, topics as dotted keys.

    Parsed to make sure the payload is exactly one object (so that no text
    in it can become another field of the call), then sent as written.
    """
    try:
        traits = orjson.loads(payload)
    except (orjson.JSONDecodeError, TypeError):
        raise CallRefused("the payload is not valid JSON") from None
    if not isinstance(traits, dict):
        raise CallRefused("the payload of an identify must be a JSON object of traits")
    if isinstance(traits.get(TOPIC_TRAITS), dict):
        return orjson.dumps(_flatten_topics(traits)).decode()
    return payload


_IDENTIFY = str(ActionType.IDENTIFY)
_TRACK_EVENTS = {str(action_type): event for action_type, event in SEMANTIC_EVENTS.items()}


class CallEncoder:
    """Encodes actions as calls; caches the timestamp text (one generated_at per run)."""

    def __init__(self, now: dt.datetime | None = None) -> None:
        self._now = now
        self._timestamps: dict[Any, str] = {}

    def _timestamp(self, moment: dt.datetime | str | None) -> str:
        """`moment` as the reader gave it: a datetime, warehouse text, or None (now)."""
        text = self._timestamps.get(moment)
        if text is None:
            if len(self._timestamps) > 1024:
                self._timestamps.clear()
            parsed = parse_timestamp(moment) if isinstance(moment, str) else moment
            text = iso_timestamp(parsed or self._now or dt.datetime.now(dt.UTC))
            self._timestamps[moment] = text
        return text

    def traits_of(self, action_id: str, payload: str) -> str:
        """The traits an identify sends: the payload, unless a subclass fills it in."""
        return payload

    def encode(self, action: Action) -> bytes:
        """The call's JSON; raises CallRefused when it is not to be sent."""
        return self.encode_call(
            action.action_id,
            action.user_id,
            action.action_type,
            action.payload,
            action.generated_at,
        )

    def encode_call(
        self,
        action_id: str,
        user_id: str,
        action_type: str,
        payload: str,
        generated_at: dt.datetime | str | None,
    ) -> bytes:
        """`encode` from the action's columns (what the planner reads)."""
        if user_id.__class__ is not str or not user_id or user_id.isspace():
            raise CallRefused("the action has no user_id")
        if action_id.__class__ is not str or not action_id:
            raise CallRefused("the action has no action_id")
        head = (
            f'"userId":{encode_basestring(user_id)},'
            f'"messageId":{encode_basestring(action_id)},'
            f'"timestamp":"{self._timestamp(generated_at)}"'
        )
        if action_type == _IDENTIFY:
            traits = traits_json(self.traits_of(action_id, payload))
            text = f'{{"type":"identify",{head},"traits":{traits}}}'
        else:
            event = _TRACK_EVENTS.get(action_type)
            if event is None:
                raise CallRefused(f"unknown action type '{action_type}'")
            text = f'{{"type":"track",{head},"event":"{event}","properties":{{}}}}'
        message = text.encode()
        if len(message) > MAX_CALL_BYTES:
            raise CallRefused(
                f"the call is {len(message):,} bytes, over Customer.io's "
                f"{MAX_CALL_BYTES:,}-byte limit per call; not sent"
            )
        return message


def _refused(action: Action, reason: str, status: Status, message: bytes | None) -> ResultGroup:
    return ResultGroup(
        actions=[action],
        messages=None if message is None else [message],
        status=status,
        http_status=None,
        error=reason,
        attempts=0,
        sent_at=None,
        completed_at=dt.datetime.now(dt.UTC),
    )


_DEFERRED = (
    "deferred: this user's earlier actions fill a whole request; the next run sends the rest"
)


def plan_requests(
    actions: Iterable[Action],
    *,
    max_request_bytes: int = MAX_REQUEST_BYTES,
    encoder: CallEncoder | None = None,
) -> Iterator[BatchRequest]:
    """`plan_batches` for actions one by one."""
    return plan_batches(columns_of(actions), max_request_bytes=max_request_bytes, encoder=encoder)


def plan_batches(
    batches: Iterable[ActionColumns],
    *,
    max_request_bytes: int = MAX_REQUEST_BYTES,
    encoder: CallEncoder | None = None,
) -> Generator[BatchRequest, None, None]:
    """Batch requests for the actions of `batches`, lazily; the actions must be
    ordered by (user_id, sequence).

    Every action ends up in exactly one yielded request: as a call, or in
    `refused`. A request may have refused actions and no calls. When the next
    call does not fit, the current user's calls move to the next request with
    it, so a user is never split. R16/R21 allow one pending action per type,
    so a user's calls always fit one request; if they ever do not, the rest
    of that user's actions is deferred to the next run (failed), in order.

    The loop reads the batches' lists and notes which rows each request
    holds (`pieces`); no object is made per action.
    """
    try:
        yield from _plan(batches, max_request_bytes, encoder or CallEncoder())
    finally:
        close = getattr(batches, "close", None)
        if close is not None:  # a generator reading the warehouse: stop it with the plan
            close()


def _plan(
    batches: Iterable[ActionColumns], max_request_bytes: int, encoder: CallEncoder
) -> Iterator[BatchRequest]:
    encode = encoder.encode_call
    request = _Planned()
    size = _ENVELOPE_BYTES
    user_start = 0  # where the current user's calls begin in `request`
    last_user: str | None = None
    last_sequence = 0
    deferring = False
    for batch in batches:
        ids, users, types = batch.action_ids, batch.user_ids, batch.action_types
        payloads, sequences, moments = batch.payloads, batch.sequences, batch.generated_at
        for index, user_id in enumerate(users):
            sequence = sequences[index]
            if user_id != last_user:
                if last_user is not None and str(user_id) < last_user:
                    raise ActionOrderError(
                        "actions must be ordered by user_id, sequence (binary string order); "
                        "a user id came after a greater one"
                    )
                last_user, user_start, deferring = str(user_id), len(request.messages), False
            elif sequence < last_sequence:
                raise ActionOrderError(
                    "actions must be ordered by user_id, sequence: a user's sequence "
                    f"went from {last_sequence} back to {sequence}"
                )
            last_sequence = sequence
            try:
                message = encode(ids[index], user_id, types[index], payloads[index], moments[index])
            except CallRefused as reason:
                request.refused.append(
                    _refused(batch.action(index), str(reason), Status.REJECTED, None)
                )
                continue
            added = len(message) + (1 if request.messages else 0)
            if not deferring and size + added > max_request_bytes and user_start > 0:
                moving = request.cut(user_start)
                yield request.finished()
                request, user_start = moving, 0
                size = request_bytes(request.messages)
                added = len(message) + (1 if request.messages else 0)
            if deferring or size + added > max_request_bytes:
                deferring = True
                request.refused.append(
                    _refused(batch.action(index), _DEFERRED, Status.FAILED, message)
                )
                continue
            pieces = request.pieces
            if pieces and pieces[-1][0] is batch and pieces[-1][2] == index:
                pieces[-1][2] = index + 1
            else:
                pieces.append([batch, index, index + 1])
            request.messages.append(message)
            size += added
    if request.messages or request.refused:
        yield request.finished()


@dataclass(slots=True)
class _Planned:
    """A request being planned: its rows as [batch, start, stop] pieces, its calls."""

    pieces: list[list[Any]] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)
    refused: list[ResultGroup] = field(default_factory=list)

    def cut(self, at: int) -> _Planned:
        """Moves the calls from `at` on to a new request, which it returns."""
        rows = [(batch, start, stop) for batch, start, stop in self.pieces]
        moving = _Planned(
            [list(piece) for piece in cut_pieces(rows, at, len(self.messages))], self.messages[at:]
        )
        self.pieces = [list(piece) for piece in cut_pieces(rows, 0, at)]
        del self.messages[at:]
        return moving

    def finished(self) -> BatchRequest:
        actions = ActionSlice([(batch, start, stop) for batch, start, stop in self.pieces])
        return BatchRequest(actions, self.messages, self.refused)
