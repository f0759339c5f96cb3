"""`cio-privacy sync`: pending actions from the warehouse to Customer.io, outcomes back.

    read (ledger) -> plan (batching) -> send (client) -> acknowledge (ledger)

One run, in order:

1. Count what is pending (per action type) in `customerio_actions`, less
   what `customerio_acks` already holds as delivered or rejected.
2. Guards, before anything is written: more suppress/delete actions than
   `--max-deletes` refuses to start (exit 3); a missing API key, region or,
   when pseudonymisation directives are pending, `PRIVACY_HMAC_KEY` is a
   configuration error (exit 2).
3. `--dry-run` stops here: counts and a few calls as they would be sent,
   personal data masked. Nothing is written, not even a run row.
4. The run row goes in as `running`; actions stream through the planner and
   the dispatcher, and every response's outcomes are appended to the
   acknowledgements before the next response is taken (the responses that
   arrived together, in one commit) and before another request is sent.
5. The run row is completed with its counts and status.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from cio_privacy.actions import Status
from cio_privacy.batching import MAX_REQUEST_BYTES, CallEncoder, CallRefused, plan_batches
from cio_privacy.client import Dispatcher
from cio_privacy.errors import SafetyGuardError
from cio_privacy.ledger import (
    PSEUDONYMIZE_DIRECTIVE,
    PSEUDONYMIZE_SOURCES,
    Ledger,
    PendingSummary,
    RunStatus,
    SyncRun,
)
from cio_privacy.redaction import Pseudonymizer, mask_payload, mask_text, register_secrets
from cio_privacy.settings import Settings, SettingsError

# Enough for a day of real erasures and retention deletions in a large
# workspace; a model that suddenly wants more is more likely broken than right.
DEFAULT_MAX_DELETES = 1000
SAMPLES_PER_TYPE = 2
TOP_ERRORS = 5

Progress = Callable[[int], None]


@dataclass(frozen=True)
class SyncOptions:
    dry_run: bool = False
    limit: int | None = None
    max_deletes: int = DEFAULT_MAX_DELETES
    max_request_bytes: int = MAX_REQUEST_BYTES


@dataclass
class SyncSummary:
    """What a run did (or, dry, would do); printed, or one JSON object under --json."""

    target: str
    dry_run: bool
    pending: PendingSummary
    run_id: str | None = None
    region: str | None = None
    status: str | None = None
    actions_read: int = 0
    delivered: int = 0
    rejected: int = 0
    failed: int = 0
    http_requests: int = 0
    seconds: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[dict[str, Any]] = field(default_factory=list)
    guard_warning: str | None = None

    @property
    def exit_status(self) -> int:
        """0: everything delivered (or a dry run); 1: some rejected or failed."""
        return 0 if self.dry_run or (self.rejected == 0 and self.failed == 0) else 1

    @property
    def actions_per_second(self) -> float:
        return self.actions_read / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "command": "sync",
            "target": self.target,
            "dry_run": self.dry_run,
            "pending": self.pending.total,
            "pending_by_type": self.pending.by_type,
        }
        if self.dry_run:
            payload["samples"] = self.samples
            if self.guard_warning:
                payload["guard_warning"] = self.guard_warning
            return payload
        return {
            **payload,
            "run_id": self.run_id,
            "region": self.region,
            "status": self.status,
            "actions_read": self.actions_read,
            "delivered": self.delivered,
            "rejected": self.rejected,
            "failed": self.failed,
            "http_requests": self.http_requests,
            "seconds": round(self.seconds, 3),
            "actions_per_second": round(self.actions_per_second, 1),
            "top_errors": dict(self.errors.most_common(TOP_ERRORS)),
        }


# R18 pseudonymisation


class PseudonymizingEncoder(CallEncoder):
    """Replaces `{"$pseudonymize": "email"}` trait values by HMAC-SHA256(key, the user's email).

    The export model cannot hold the key (no secret in SQL) and holds no
    personal data, so it writes a directive naming the profile column
    (`email` or `phone`); the connector reads the user's value from
    `raw.user_profiles` (`sources`: action_id -> values) and computes the
    pseudonym as the call is built. A missing value becomes null. The
    acknowledgement keeps the model's payload, directive included, so that
    the model's diff (R21) compares like with like.
    """

    def __init__(
        self,
        pseudonymizer: Pseudonymizer | None,
        sources: dict[str, dict[str, str | None]] | None = None,
        now: dt.datetime | None = None,
    ):
        super().__init__(now)
        self._pseudonymizer = pseudonymizer
        self._sources = sources or {}

    def traits_of(self, action_id: str, payload: str) -> str:
        if PSEUDONYMIZE_DIRECTIVE in payload:
            return self._substitute(payload, self._sources.pop(action_id, {}))
        return payload

    def _substitute(self, payload: str, values: Mapping[str, str | None]) -> str:
        try:
            traits = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return payload  # the encoder refuses it with its own reason
        if not isinstance(traits, dict):
            return payload
        for name, value in traits.items():
            if isinstance(value, dict) and set(value) == {PSEUDONYMIZE_DIRECTIVE}:
                source = value[PSEUDONYMIZE_DIRECTIVE]
                if source not in PSEUDONYMIZE_SOURCES:
                    raise CallRefused(
                        f"the {PSEUDONYMIZE_DIRECTIVE} directive of trait '{name}' must name "
                        f"one of {', '.join(PSEUDONYMIZE_SOURCES)}"
                    )
                if self._pseudonymizer is None:
                    raise CallRefused("PRIVACY_HMAC_KEY is not set")
                original = values.get(source)
                traits[name] = None if original is None else self._pseudonymizer.pseudonym(original)
        return orjson.dumps(traits).decode()


def pseudonymizer_for(settings: Settings, pending: PendingSummary) -> Pseudonymizer | None:
    if not pending.pseudonymized:
        return None
    key = settings.require_hmac_key()
    register_secrets(key.decode())
    try:
        return Pseudonymizer(key)
    except ValueError as error:
        raise SettingsError(f"PRIVACY_HMAC_KEY is invalid: {error}") from None


# the run


def new_run_id(now: dt.datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:12]}"


def check_max_deletes(pending: PendingSummary, max_deletes: int) -> str | None:
    """The guard's one line when it refuses, else None."""
    if pending.removals <= max_deletes:
        return None
    return (
        f"{pending.removals:,} suppress/delete actions are pending, more than --max-deletes "
        f"{max_deletes:,}: nothing sent; check the models, then rerun with a higher --max-deletes"
    )


def dry_run_samples(ledger: Ledger, limit: int | None) -> list[dict[str, Any]]:
    """A few calls per action type as they would be sent, personal data masked."""
    encoder = CallEncoder()
    samples = []
    for action in ledger.sample_actions(SAMPLES_PER_TYPE, limit):
        try:
            call: Any = orjson.loads(encoder.encode(action))
        except CallRefused as reason:
            call = {"not sent": str(reason)}
        else:
            message_id = call.pop("messageId")  # a hash, whatever its digits look like
            call = {**mask_payload(call), "messageId": message_id}
        samples.append({"action_type": action.action_type, "reason": action.reason, "call": call})
    return samples


def run_sync(
    ledger: Ledger,
    settings: Settings,
    options: SyncOptions,
    *,
    progress: Callable[[PendingSummary], Progress] | None = None,
    dispatcher_options: Mapping[str, Any] | None = None,
) -> SyncSummary:
    """One sync run; see the module docstring. Raises UsageError / SafetyGuardError."""
    pending = ledger.pending_summary(options.limit)
    summary = SyncSummary(target=ledger.target.name, dry_run=options.dry_run, pending=pending)
    refusal = check_max_deletes(pending, options.max_deletes)
    if options.dry_run:
        summary.samples = dry_run_samples(ledger, options.limit)
        summary.guard_warning = refusal
        return summary
    if refusal is not None:
        raise SafetyGuardError(refusal)
    settings.require_api_key()
    settings.require_destination()
    pseudonymizer = pseudonymizer_for(settings, pending)
    sources = ledger.pseudonym_sources(options.limit) if pseudonymizer is not None else None
    encoder = PseudonymizingEncoder(pseudonymizer, sources)

    started = dt.datetime.now(dt.UTC)
    clock = time.monotonic()
    region = str(settings.customerio_region) if settings.customerio_region else None
    run = SyncRun(
        run_id=new_run_id(started), started_at=started, target=ledger.target.name, region=region
    )
    summary.run_id, summary.region = run.run_id, region
    advance = progress(pending) if progress is not None else None
    with Dispatcher(settings, **dict(dispatcher_options or {})) as dispatcher:
        ledger.ensure_tables()
        ledger.start_run(run)
        try:
            # closed however the run ends, so that the warehouse read stops with it
            with contextlib.closing(
                plan_batches(
                    ledger.pending_batches(options.limit),
                    encoder=encoder,
                    max_request_bytes=options.max_request_bytes,
                )
            ) as requests:
                for outcomes in dispatcher.deliver_settled(requests):
                    # the responses that arrived together, acknowledged in one commit
                    groups = [group for outcome in outcomes for group in outcome.groups]
                    ledger.append_acks(run.run_id, groups)
                    summary.http_requests += sum(o.http_requests for o in outcomes)
                    for group in groups:
                        run.count(group)
                        if group.status is not Status.DELIVERED and group.error:
                            summary.errors[mask_text(group.error)] += len(group)
                    if advance is not None:
                        advance(sum(len(group) for group in groups))
        except BaseException:
            run.status = RunStatus.ABORTED
            raise
        else:
            run.status = (
                RunStatus.SUCCEEDED
                if run.rejected == 0 and run.failed == 0
                else RunStatus.COMPLETED_WITH_FAILURES
            )
        finally:
            run.finished_at = dt.datetime.now(dt.UTC)
            summary.seconds = time.monotonic() - clock
            summary.status = run.status
            summary.actions_read = run.actions_read
            summary.delivered, summary.rejected, summary.failed = (
                run.delivered,
                run.rejected,
                run.failed,
            )
            ledger.finish_run(run)
    return summary
