"""A local stand-in for Customer.io's Data Pipelines API, on 127.0.0.1 only.

It does what customerio-api.md says Customer.io does, so that the connector
can be tried without an account and tested without the network:

- HTTP Basic with the API key as user name and an empty password: the key in
  `CUSTOMERIO_API_KEY` when set, else any non-empty key. A wrong key is a 401
  in strict mode (`X-Strict-Mode: 1`) and a silently dropped 200 otherwise.
- `POST /v1/batch`, `/v1/identify`, `/v1/track`, `/v1/page`, `/v1/screen`,
  `/v1/group`, `/v1/alias`. A request over 500,000 bytes, or with a call over
  32,000 bytes, is not processed: 400 in strict mode, 200 otherwise.
- Strict mode answers 400 to a malformed call (no userId, unknown type, bad
  timestamp, ...) and then processes nothing of that request; the errors name
  the call by its index (`batch[3]: ...`), never by its values. Without
  strict mode a malformed call is skipped and the rest processed.
- `User Suppressed` deletes the person and ignores later identify/track calls
  for that id until `User Unsuppressed`; `User Deleted` deletes the person,
  and a later identify re-creates them with no history.
- `cio_subscription_preferences.topics.<topic>` traits are merged into the
  person's `cio_subscription_preferences.topics`; a whole
  `cio_subscription_preferences` object replaces it, as in Customer.io. A
  null trait removes the trait (unconfirmed for Customer.io).
- Faults on demand, drawn per API request: `fail_rate` (500/502/503),
  `throttle_rate` (429, half of them with `Retry-After`), `drop_rate`
  (connection closed without an answer, half of them after processing,
  which is how a client comes to send a message twice), `latency_ms`; and
  `script`, a list of faults for the next requests, for deterministic tests.

Control endpoints (no auth): `GET /_sandbox/state` (exactly
`{"people", "suppressed", "deleted", "messages_received",
"duplicate_message_ids"}`), `GET /_sandbox/stats` (requests, calls by type,
calls ignored because suppressed, faults injected, requests refused),
`GET|POST /_sandbox/faults` (read or change the faults), `POST
/_sandbox/reset` (forget everything held).

It is one asyncio server: request bodies are parsed by the C JSON scanner
and each request is applied whole before the next one, so it keeps up with
a client sending a million calls.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime as dt
import functools
import gc
import gzip
import hmac
import json
import random
import re
import threading
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import orjson

HOST = "127.0.0.1"
DEFAULT_PORT = 8765
MAX_CALL_BYTES = 32_000
MAX_REQUEST_BYTES = 500_000
MAX_BODY_READ_BYTES = 16_000_000  # beyond this the connection is refused outright
# A whole request body fits the stream's buffer (asyncio's default is 64 KiB).
READ_BUFFER_BYTES = 1 << 20
CALL_TYPES = frozenset({"identify", "track", "page", "screen", "group", "alias"})
ENDPOINTS = {
    "/v1/batch": None,
    **{f"/v1/{call_type}": call_type for call_type in sorted(CALL_TYPES)},
}
TOPICS_PREFIX = "cio_subscription_preferences."
SUPPRESS, UNSUPPRESS, DELETE = "User Suppressed", "User Unsuppressed", "User Deleted"
FAULT_KINDS = ("ok", "500", "502", "503", "429", "429-retry-after", "drop", "drop-after")

_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


class _Malformed(ValueError):
    """The request body is not what the endpoint takes (message has no values in it)."""


@dataclass
class Faults:
    fail_rate: float = 0.0
    throttle_rate: float = 0.0
    drop_rate: float = 0.0
    latency_ms: float = 0.0
    retry_after_seconds: float = 1.0
    script: deque[str] = field(default_factory=deque)

    def update(self, changes: dict[str, Any]) -> None:
        for name in ("fail_rate", "throttle_rate", "drop_rate"):
            if name in changes:
                value = float(changes[name])
                if not 0.0 <= value <= 1.0:
                    raise _Malformed(f"{name} must be between 0 and 1")
                setattr(self, name, value)
        for name in ("latency_ms", "retry_after_seconds"):
            if name in changes:
                value = float(changes[name])
                if value < 0:
                    raise _Malformed(f"{name} must not be negative")
                setattr(self, name, value)
        if "script" in changes:
            script = [str(kind) for kind in changes["script"]]
            unknown = sorted(set(script) - set(FAULT_KINDS))
            if unknown:
                raise _Malformed(f"unknown fault kinds {unknown}; known: {list(FAULT_KINDS)}")
            self.script = deque(script)

    def as_dict(self) -> dict[str, Any]:
        return {
            "fail_rate": self.fail_rate,
            "throttle_rate": self.throttle_rate,
            "drop_rate": self.drop_rate,
            "latency_ms": self.latency_ms,
            "retry_after_seconds": self.retry_after_seconds,
            "script": list(self.script),
        }

    def draw(self, rng: random.Random) -> str:
        if self.script:
            return self.script.popleft()
        roll = rng.random()
        if roll < self.drop_rate:
            return rng.choice(("drop", "drop-after"))
        roll -= self.drop_rate
        if roll < self.fail_rate:
            return rng.choice(("500", "502", "503"))
        roll -= self.fail_rate
        if roll < self.throttle_rate:
            return rng.choice(("429", "429-retry-after"))
        return "ok"


@dataclass
class Workspace:
    """What the sandbox holds: people, suppressed and deleted ids, and counters.

    Traits are merged when someone looks (`people`), not on arrival: an
    identify costs a list append, and a million of them stay cheap.
    """

    suppressed: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    message_ids: set[str] = field(default_factory=set)
    messages_received: int = 0
    duplicate_message_ids: int = 0
    calls_by_type: Counter[str] = field(default_factory=Counter)
    ignored_suppressed: Counter[str] = field(default_factory=Counter)
    _merged: dict[str, dict[str, Any]] = field(default_factory=dict)
    _unmerged: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def people(self) -> dict[str, dict[str, Any]]:
        for user_id, updates in self._unmerged.items():
            person = self._merged.setdefault(user_id, {})
            for traits in updates:
                _merge_traits(person, traits)
        self._unmerged.clear()
        return self._merged

    def state(self) -> dict[str, Any]:
        return {
            "people": self.people,
            "suppressed": sorted(self.suppressed),
            "deleted": sorted(self.deleted),
            "messages_received": self.messages_received,
            "duplicate_message_ids": self.duplicate_message_ids,
        }

    def apply(self, call: dict[str, Any], call_type: str) -> None:
        self.messages_received += 1
        message_id = call.get("messageId")
        if message_id is not None:
            seen = len(self.message_ids)
            self.message_ids.add(message_id)
            if len(self.message_ids) == seen:
                self.duplicate_message_ids += 1
        user_id = call.get("userId")
        if not user_id and user_id != 0:
            return  # anonymous: nothing this sandbox keeps
        if user_id.__class__ is not str:
            user_id = str(user_id)
        if call_type == "identify":
            if user_id in self.suppressed:
                self.ignored_suppressed[call_type] += 1
                return
            updates = self._unmerged.get(user_id)
            if updates is None:
                if user_id not in self._merged:
                    self.deleted.discard(user_id)  # (re-)created, with no history
                updates = self._unmerged[user_id] = []
            updates.append(call.get("traits") or {})
            return
        event = call.get("event") if call_type == "track" else None
        if user_id in self.suppressed:
            if event == UNSUPPRESS:
                self.suppressed.discard(user_id)
            else:
                self.ignored_suppressed[call_type] += 1
        elif event == SUPPRESS:
            self._forget(user_id)
            self.deleted.discard(user_id)
            self.suppressed.add(user_id)
        elif event == DELETE:
            self._forget(user_id)
            self.deleted.add(user_id)

    def _forget(self, user_id: str) -> None:
        self._merged.pop(user_id, None)
        self._unmerged.pop(user_id, None)


def _merge_traits(person: dict[str, Any], traits: dict[str, Any]) -> None:
    for name, value in traits.items():
        target = person
        if name.startswith(TOPICS_PREFIX):
            *parents, name = name.split(".")
            for parent in parents:
                child = target.get(parent)
                if not isinstance(child, dict):
                    child = target[parent] = {}
                target = child
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value


def call_sizes(calls: list[Any], body_bytes: int) -> list[int]:
    """Bytes of each call, as its compact JSON (what the connector sends).

    A call cannot be larger than the request that carries it, so small
    requests are not measured call by call.
    """
    if body_bytes <= MAX_CALL_BYTES:
        return [0] * len(calls)
    return [len(orjson.dumps(call)) for call in calls]


@functools.lru_cache(maxsize=4096)
def _is_timestamp(value: str) -> bool:
    if not _DATE_TIME.match(value):
        return False
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


_ID, _OBJECT, _TIMESTAMP, _STRING = "id", "object", "timestamp", "string"
_FIELD_KINDS = {
    **dict.fromkeys(("userId", "anonymousId", "previousId", "groupId"), _ID),
    **dict.fromkeys(("traits", "properties", "context", "integrations"), _OBJECT),
    **dict.fromkeys(("timestamp", "sentAt", "originalTimestamp"), _TIMESTAMP),
    **dict.fromkeys(("messageId", "event", "type"), _STRING),
}
_FIELD_ERRORS = {
    _ID: "{} must be a string",
    _OBJECT: "{} must be an object",
    _TIMESTAMP: "{} must be an ISO-8601 date-time",
    _STRING: "{} must be a string",
}


def call_error(call: Any, endpoint_type: str | None) -> tuple[str | None, str]:
    """(what is wrong with the call or None, its type). Names fields, never values."""
    if call.__class__ is not dict:
        return "a call must be a JSON object", "unknown"
    call_type = call.get("type", endpoint_type)
    if endpoint_type is not None and call_type != endpoint_type:
        return f"type must be '{endpoint_type}' on this endpoint", "unknown"
    if call_type not in CALL_TYPES:
        return "type is missing or unknown", "unknown"
    for name, value in call.items():
        kind = _FIELD_KINDS.get(name)
        if kind is None or value is None:
            continue
        kind_of_value = value.__class__
        if kind is _STRING:
            wrong = kind_of_value is not str
        elif kind is _OBJECT:
            wrong = kind_of_value is not dict
        elif kind is _TIMESTAMP:
            wrong = kind_of_value is not str or not _is_timestamp(value)
        else:
            wrong = kind_of_value is not str and kind_of_value is not int
        if wrong:
            return _FIELD_ERRORS[kind].format(name), call_type
    if call_type == "alias":
        if not (call.get("userId") and call.get("previousId")):
            return "alias needs userId and previousId", call_type
    elif not (call.get("userId") or call.get("anonymousId")):
        return "userId or anonymousId is required", call_type
    if call_type == "group" and not call.get("groupId"):
        return "groupId is required", call_type
    if call_type == "track" and not call.get("event"):
        return "event is required", call_type
    return None, call_type


@dataclass
class _Reply:
    status: int
    body: dict[str, Any] | list[Any]
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


_DROP = _Reply(0, {}, drop=True)


class Sandbox:
    """The server. `start()` binds 127.0.0.1, `close()` stops it; state in `workspace`."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        faults: Faults | None = None,
        seed: int | None = None,
        freeze_gc: bool = False,
    ) -> None:
        self.api_key = api_key or None
        # A process that is only a sandbox moves what it holds out of the cyclic
        # garbage collector's sight after each request: with a million people
        # held, full collections would otherwise cost more than the requests.
        self._freeze_gc = freeze_gc
        self.faults = faults or Faults()
        self.workspace = Workspace()
        self.stats: Counter[str] = Counter()
        self._rng = random.Random(seed)  # noqa: S311 - fault draws, not secrets
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    # serving

    async def start(self, port: int = DEFAULT_PORT) -> int:
        self._server = await asyncio.start_server(
            self._serve_connection, HOST, port, limit=READ_BUFFER_BYTES, backlog=256
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._connections):
                writer.transport.abort()
            await self._server.wait_closed()

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._connections.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                method, target, version, headers = _parse_head(head)
                if headers.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = await _read_body(reader, headers)
                if body is None:
                    writer.write(_encode(_Reply(413, {"meta": {"errors": ["body too large"]}})))
                    await writer.drain()
                    return
                reply = await self._handle(method, target, headers, body)
                if reply.drop:
                    writer.transport.abort()
                    return
                keep_alive = version == "HTTP/1.1" and headers.get("connection") != "close"
                writer.write(_encode(reply, keep_alive=keep_alive))
                await writer.drain()
                if not keep_alive:
                    return
        except (
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
        ):
            return
        except asyncio.CancelledError:
            return  # the server is shutting down: nothing to report for this connection
        finally:
            self._connections.discard(writer)
            writer.close()

    async def _handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> _Reply:
        path = target.split("?", 1)[0]
        if path.startswith("/_sandbox/"):
            return self._control(method, path, body)
        if path not in ENDPOINTS:
            return _Reply(404, {"meta": {"errors": [f"no endpoint {path}"]}})
        if method != "POST":
            return _Reply(405, {"meta": {"errors": ["use POST"]}}, {"Allow": "POST"})
        return await self._api(ENDPOINTS[path], headers, body)

    async def _api(self, endpoint_type: str | None, headers: dict[str, str], body: bytes) -> _Reply:
        self.stats["requests"] += 1
        if self.faults.latency_ms:
            await asyncio.sleep(self.faults.latency_ms / 1000)
        fault = self.faults.draw(self._rng)
        if fault != "ok":
            self.stats[f"fault {fault}"] += 1
        if fault in ("500", "502", "503"):
            return _Reply(int(fault), {"meta": {"errors": ["injected server error"]}})
        if fault == "429":
            return _Reply(429, {"meta": {"errors": ["rate limited"]}})
        if fault == "429-retry-after":
            wait = f"{self.faults.retry_after_seconds:g}"
            return _Reply(429, {"meta": {"errors": ["rate limited"]}}, {"Retry-After": wait})
        if fault == "drop":
            return _DROP
        strict = headers.get("x-strict-mode", "").strip() == "1"
        if not self._authorized(headers.get("authorization", "")):
            return self._refuse(strict, 401, ["unauthorized: check the API key"])
        try:
            calls, sizes = self._calls(endpoint_type, headers, body)
        except _Malformed as error:
            return self._refuse(strict, 400, [str(error)])
        errors: list[str] = []
        valid: list[tuple[dict[str, Any], str]] = []
        oversized = False
        for index, (call, size) in enumerate(zip(calls, sizes, strict=True)):
            where = f"batch[{index}]: " if endpoint_type is None else ""
            problem, call_type = call_error(call, endpoint_type)
            if size > MAX_CALL_BYTES:
                problem, oversized = f"the call is {size} bytes, over {MAX_CALL_BYTES}", True
            if problem is None:
                valid.append((call, call_type))
            else:
                errors.append(where + problem)
        if errors and (strict or oversized):
            return self._refuse(strict, 400, errors[:100])
        self.stats["calls invalid, skipped"] += len(errors)
        apply = self.workspace.apply
        for call, call_type in valid:
            apply(call, call_type)
        self.workspace.calls_by_type.update(call_type for _, call_type in valid)
        self.stats["requests processed"] += 1
        if self._freeze_gc:
            gc.freeze()
        if fault == "drop-after":
            return _DROP
        return _Reply(200, {})

    def _refuse(self, strict: bool, status: int, errors: list[str]) -> _Reply:
        if strict:
            self.stats[f"refused {status}"] += 1
            return _Reply(status, {"meta": {"errors": errors}})
        self.stats[f"dropped silently ({status} in strict mode)"] += 1
        return _Reply(200, {})

    def _authorized(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            credentials = base64.b64decode(token.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, _, password = credentials.partition(":")
        if not user or password:
            return False
        return self.api_key is None or hmac.compare_digest(user.encode(), self.api_key.encode())

    def _calls(
        self, endpoint_type: str | None, headers: dict[str, str], body: bytes
    ) -> tuple[list[Any], list[int]]:
        """The calls of the request and their sizes; `_Malformed` when it cannot be read."""
        if headers.get("content-encoding", "").lower() == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError):
                raise _Malformed("the body is not valid gzip") from None
        if len(body) > MAX_REQUEST_BYTES:
            raise _Malformed(f"the request is {len(body)} bytes, over {MAX_REQUEST_BYTES}")
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise _Malformed("the body is not valid JSON") from None
        if endpoint_type is not None:
            return [document], [len(body)]
        calls = document.get("batch") if isinstance(document, dict) else None
        if not isinstance(calls, list):
            raise _Malformed("batch must be an array of calls")
        return calls, call_sizes(calls, len(body))

    # control endpoints

    def _control(self, method: str, path: str, body: bytes) -> _Reply:
        if path == "/_sandbox/state" and method == "GET":
            return _Reply(200, self.workspace.state())
        if path == "/_sandbox/stats" and method == "GET":
            return _Reply(200, self.stats_view())
        if path == "/_sandbox/faults" and method in ("GET", "POST"):
            if method == "POST":
                try:
                    changes = json.loads(body or b"{}")
                    if not isinstance(changes, dict):
                        raise _Malformed("send a JSON object of faults")
                    self.faults.update(changes)
                except (_Malformed, json.JSONDecodeError, TypeError, ValueError) as error:
                    return _Reply(400, {"meta": {"errors": [str(error)]}})
            return _Reply(200, self.faults.as_dict())
        if path == "/_sandbox/reset" and method == "POST":
            self.reset()
            return _Reply(200, {})
        return _Reply(404, {"meta": {"errors": [f"no control endpoint {method} {path}"]}})

    def reset(self) -> None:
        self.workspace = Workspace()
        self.stats.clear()
        self.faults.script.clear()

    def stats_view(self) -> dict[str, Any]:
        return {
            "requests": self.stats["requests"],
            "requests_processed": self.stats["requests processed"],
            "calls_by_type": dict(self.workspace.calls_by_type),
            "ignored_because_suppressed": dict(self.workspace.ignored_suppressed),
            "faults_injected": {
                key.removeprefix("fault "): count
                for key, count in self.stats.items()
                if key.startswith("fault ")
            },
            "refused": {
                key.removeprefix("refused "): count
                for key, count in self.stats.items()
                if key.startswith("refused ")
            },
            "dropped_silently": sum(
                count for key, count in self.stats.items() if key.startswith("dropped silently")
            ),
            "invalid_calls_skipped": self.stats["calls invalid, skipped"],
        }


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise ValueError("bad request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return parts[0].upper(), parts[1], parts[2], headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes | None:
    """The body, or None when it is larger than the sandbox reads."""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_READ_BYTES:
                return None
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = int(headers.get("content-length", "0") or 0)
    if length > MAX_BODY_READ_BYTES:
        return None
    return await reader.readexactly(length) if length else b""


def _encode(reply: _Reply, *, keep_alive: bool = True) -> bytes:
    body = orjson.dumps(reply.body)
    lines = [
        f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        f"Connection: {'keep-alive' if keep_alive else 'close'}",
        *(f"{name}: {value}" for name, value in reply.headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class RunningSandbox:
    """A sandbox serving on a background thread (tests, benchmarks)."""

    sandbox: Sandbox
    port: int
    loop: asyncio.AbstractEventLoop

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _in_loop(self, action: Any) -> Any:
        async def run() -> Any:
            return action()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result()

    def state(self) -> dict[str, Any]:
        """A deep copy of `/_sandbox/state`, taken between two requests."""
        return json.loads(json.dumps(self._in_loop(self.sandbox.workspace.state)))  # type: ignore[no-any-return]

    def stats(self) -> dict[str, Any]:
        return self._in_loop(self.sandbox.stats_view)  # type: ignore[no-any-return]

    def set_faults(self, **changes: Any) -> None:
        self._in_loop(lambda: self.sandbox.faults.update(changes))

    def reset(self) -> None:
        self._in_loop(self.sandbox.reset)


@contextlib.contextmanager
def running_sandbox(
    *,
    api_key: str | None = None,
    faults: Faults | None = None,
    seed: int | None = None,
    port: int = 0,
) -> Iterator[RunningSandbox]:
    """Serves a sandbox on 127.0.0.1 (an ephemeral port by default) until the block ends."""
    sandbox = Sandbox(api_key=api_key, faults=faults, seed=seed)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="cio-privacy-sandbox", daemon=True)
    thread.start()
    try:
        bound = asyncio.run_coroutine_threadsafe(sandbox.start(port), loop).result()
        yield RunningSandbox(sandbox, bound, loop)
    finally:
        asyncio.run_coroutine_threadsafe(sandbox.close(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


async def serve(sandbox: Sandbox, port: int, on_ready: Any = None) -> None:
    """Serves until cancelled (the command line)."""
    bound = await sandbox.start(port)
    if on_ready is not None:
        on_ready(bound)
    try:
        await asyncio.Event().wait()
    finally:
        await sandbox.close()
