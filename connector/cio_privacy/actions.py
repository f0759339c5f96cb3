"""What the connector sends and what became of it: an action and its result.

An `Action` is one row of the export model `customerio_actions` (contracts.md,
rules R16-R22). An `ActionResult` is the outcome of one attempt to deliver it,
the shape of a `customerio_acks` row before the warehouse adds run_id and
acked_at.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum


class ActionType(StrEnum):
    IDENTIFY = "identify"
    SUPPRESS_PERSON = "suppress_person"
    UNSUPPRESS_PERSON = "unsuppress_person"
    DELETE_PERSON = "delete_person"


# R16: the privacy semantic events of Customer.io, sent as `track` calls.
SEMANTIC_EVENTS: dict[str, str] = {
    ActionType.SUPPRESS_PERSON: "User Suppressed",
    ActionType.UNSUPPRESS_PERSON: "User Unsuppressed",
    ActionType.DELETE_PERSON: "User Deleted",
}


class Status(StrEnum):
    """`customerio_acks.status` (R22)."""

    DELIVERED = "delivered"  # Customer.io accepted it: final
    REJECTED = "rejected"  # refused for its content (by the API, or never sent): not resent
    FAILED = "failed"  # retries used up, or not attempted: still pending for the next run


@dataclass(frozen=True, slots=True)
class Action:
    """A pending action, read from `customerio_actions` ordered by user_id, sequence."""

    action_id: str
    user_id: str
    action_type: str
    payload: str  # JSON text: the traits for identify, `{}` otherwise
    sequence: int
    generated_at: dt.datetime | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ActionResult:
    """The outcome of one action in one batch (one future `customerio_acks` row)."""

    action: Action
    status: Status
    http_status: int | None  # of the last response, None when nothing was answered
    error: str | None  # the API's message or ours; never a key, e-mail or phone
    attempts: int  # HTTP requests that carried this action, retries and splits included
    sent_at: dt.datetime | None  # first attempt, UTC; None when never sent
    completed_at: dt.datetime  # when the outcome was known, UTC
    message: bytes | None  # the call as sent (JSON), None when never built


@dataclass(frozen=True, slots=True)
class ResultGroup:
    """One outcome shared by consecutive actions of a request: `ActionResult`s, stored once.

    A million actions make a few thousand groups, which an acknowledgement
    writer turns into columns without a Python object per action.
    """

    actions: list[Action]
    messages: list[bytes] | None
    status: Status
    http_status: int | None
    error: str | None
    attempts: int
    sent_at: dt.datetime | None
    completed_at: dt.datetime

    def __len__(self) -> int:
        return len(self.actions)

    def results(self) -> list[ActionResult]:
        messages: list[bytes] | list[None] = self.messages or [None] * len(self.actions)
        return [
            ActionResult(
                action=action,
                status=self.status,
                http_status=self.http_status,
                error=self.error,
                attempts=self.attempts,
                sent_at=self.sent_at,
                completed_at=self.completed_at,
                message=message,
            )
            for action, message in zip(self.actions, messages, strict=True)
        ]
