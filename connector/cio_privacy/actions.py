"""What the connector sends and what became of it: an action and its result.

An `Action` is one row of the export model `customerio_actions` (contracts.md,
rules R16-R22). An `ActionResult` is the outcome of one attempt to deliver it,
the shape of a `customerio_acks` row before the warehouse adds run_id and
acked_at.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:
    import pyarrow as pa


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


@functools.lru_cache(maxsize=1024)  # one generated_at per run, as a rule
def parse_timestamp(text: str | None) -> dt.datetime | None:
    """A warehouse timestamp as text (UTC wall time) as a naive datetime."""
    if text is None:
        return None
    return dt.datetime.fromisoformat(text)


# Actions in bulk. A sync reads a million actions; an object per action costs
# more than sending it. Readers hand over `ActionColumns` (a batch as lists,
# with the Arrow batch it came from); the planner walks the lists and hands
# the client `ActionSlice`s, which the acknowledgement writer turns back into
# Arrow columns by slicing. An `Action` is built only when one is looked at
# on its own: a refused call, a split request, a test.

ACK_ACTION_COLUMNS = ("action_id", "user_id", "action_type", "payload")


class ActionColumns:
    """Consecutive pending actions, one list per column, in the reader's order.

    `generated_at` holds what the reader gave (text or datetime); `arrow`,
    when the batch came from Arrow, holds the columns an acknowledgement
    repeats (`ACK_ACTION_COLUMNS`), so that they are sliced, not rebuilt,
    and `reason`, which only an `Action` made from the batch reads.
    """

    __slots__ = (
        "action_ids",
        "action_types",
        "arrow",
        "generated_at",
        "payloads",
        "reasons",
        "sequences",
        "user_ids",
    )

    def __init__(
        self,
        action_ids: list[str],
        user_ids: list[str],
        action_types: list[str],
        payloads: list[str],
        sequences: list[int],
        generated_at: list[Any],
        reasons: list[str | None] | None,
        arrow: pa.RecordBatch | None = None,
    ) -> None:
        self.action_ids, self.user_ids, self.action_types = action_ids, user_ids, action_types
        self.payloads, self.sequences, self.generated_at = payloads, sequences, generated_at
        self.reasons, self.arrow = reasons, arrow

    def __len__(self) -> int:
        return len(self.action_ids)

    def action(self, index: int) -> Action:
        moment = self.generated_at[index]
        return Action(
            action_id=self.action_ids[index],
            user_id=self.user_ids[index],
            action_type=self.action_types[index],
            payload=self.payloads[index],
            sequence=self.sequences[index],
            generated_at=parse_timestamp(moment) if isinstance(moment, str) else moment,
            reason=self._reason(index),
        )

    def _reason(self, index: int) -> str | None:
        if self.reasons is not None:
            return self.reasons[index]
        assert self.arrow is not None, "reasons come as a list or in the Arrow batch"
        reason: str | None = self.arrow.column("reason")[index].as_py()
        return reason

    @classmethod
    def of_actions(cls, actions: Sequence[Action]) -> ActionColumns:
        return cls(
            [action.action_id for action in actions],
            [action.user_id for action in actions],
            [action.action_type for action in actions],
            [action.payload for action in actions],
            [action.sequence for action in actions],
            [action.generated_at for action in actions],
            [action.reason for action in actions],
        )

    @classmethod
    def of_arrow(cls, batch: pa.RecordBatch) -> ActionColumns:
        """A batch with the columns of `pending_sql`; a missing payload is `{}`, a missing
        sequence 0, as `action_from_row` reads them."""
        import pyarrow as pa
        import pyarrow.compute as pc

        def column(name: str, missing: Any = None) -> Any:
            values = batch.column(name)
            if missing is not None and values.null_count:
                values = pc.fill_null(values, missing)
            return values

        payloads = column("payload", "{}")
        kept = [column(name) for name in ACK_ACTION_COLUMNS[:3]] + [payloads, column("reason")]
        return cls(
            column("action_id").to_pylist(),
            column("user_id").to_pylist(),
            column("action_type").to_pylist(),
            payloads.to_pylist(),
            column("sequence", 0).to_pylist(),
            column("generated_at").to_pylist(),
            None,  # read from `arrow` when an Action is made: rarely
            pa.RecordBatch.from_arrays(
                [value if value.type == pa.string() else value.cast(pa.string()) for value in kept],
                names=[*ACK_ACTION_COLUMNS, "reason"],
            ),
        )


def columns_of(actions: Iterable[Action], size: int = 1024) -> Iterator[ActionColumns]:
    """Actions in batches of `size`, as columns (for readers that yield rows)."""
    chunk: list[Action] = []
    for action in actions:
        chunk.append(action)
        if len(chunk) == size:
            yield ActionColumns.of_actions(chunk)
            chunk = []
    if chunk:
        yield ActionColumns.of_actions(chunk)


Piece = tuple[ActionColumns, int, int]  # rows [start, stop) of one batch


class ActionSlice(Sequence[Action]):
    """Consecutive actions over one or more `ActionColumns`, read as a sequence of `Action`."""

    __slots__ = ("_length", "pieces")

    def __init__(self, pieces: list[Piece]) -> None:
        self.pieces = pieces
        self._length = sum(stop - start for _, start, stop in pieces)

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> Action: ...

    @overload
    def __getitem__(self, index: slice) -> ActionSlice: ...

    def __getitem__(self, index: int | slice) -> Action | ActionSlice:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._length)
            if step != 1:
                raise ValueError("an ActionSlice is sliced without a step")
            return ActionSlice(cut_pieces(self.pieces, start, max(start, stop)))
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError(index)
        for columns, start, stop in self.pieces:
            if index < stop - start:
                return columns.action(start + index)
            index -= stop - start
        raise IndexError(index)  # pragma: no cover - the length says otherwise

    def __iter__(self) -> Iterator[Action]:
        for columns, start, stop in self.pieces:
            for index in range(start, stop):
                yield columns.action(index)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ActionSlice({list(self)!r})"

    @property
    def user_ids(self) -> set[str]:
        return {
            user_id
            for columns, start, stop in self.pieces
            for user_id in columns.user_ids[start:stop]
        }

    def ack_columns(self) -> dict[str, list[pa.Array]]:
        """`ACK_ACTION_COLUMNS` as Arrow chunks: slices of the batches read as Arrow."""
        import pyarrow as pa

        chunks: dict[str, list[pa.Array]] = {name: [] for name in ACK_ACTION_COLUMNS}
        for columns, start, stop in self.pieces:
            if columns.arrow is not None:
                for name in ACK_ACTION_COLUMNS:
                    chunks[name].append(columns.arrow.column(name).slice(start, stop - start))
            else:
                for name, values in zip(
                    ACK_ACTION_COLUMNS,
                    (columns.action_ids, columns.user_ids, columns.action_types, columns.payloads),
                    strict=True,
                ):
                    chunks[name].append(pa.array(values[start:stop], pa.string()))
        return chunks


def cut_pieces(pieces: list[Piece], start: int, stop: int) -> list[Piece]:
    """The pieces covering positions [start, stop) of their concatenation."""
    kept: list[Piece] = []
    offset = 0
    for columns, first, last in pieces:
        length = last - first
        low, high = max(start - offset, 0), min(stop - offset, length)
        if low < high:
            kept.append((columns, first + low, first + high))
        offset += length
        if offset >= stop:
            break
    return kept


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

    actions: Sequence[Action]  # a list, or an ActionSlice
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
