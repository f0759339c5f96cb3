"""Benchmark `cio-privacy sync` against Customer.io's official Python library.

    python bench/bench_sync.py --actions 1000000

A DuckDB file under --scratch (never in the repository) gets a
`customerio_actions` table of --actions pending actions, made directly
(the sync reads a relation; the model is benchmarked elsewhere), with a
realistic mix: trait updates with consent, suppression and topic traits,
erasures (suppress_person), retention deletions after a last trait update,
released suppressions. A sandbox (`cio-privacy sandbox`) runs as its own
process on 127.0.0.1, as Customer.io would on another machine.

(a) `cio-privacy sync` as a subprocess: read, send, acknowledge (one
    `customerio_acks` row per action, committed per response). Wall time of
    the process, its peak resident memory (getrusage of the child), and the
    sandbox's count of messages received.
(b) The same messages (same ids, traits, events, timestamps) through the
    official library `customerio-cdp-analytics` with its default settings,
    `flush()` at the end, in a subprocess of its own that reads the same
    table. Its queue holds 10,000 messages and drops what does not fit, so
    the producer waits while the queue is full: a message the library drops
    is not delivered, and a benchmark of lost messages would flatter it.

Goal: (a) at least 5x the throughput of (b), peak memory of (a) under
300 MB. Results go to the `## Sync` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb
import httpx
from cio_privacy.backends import DuckDBLedger
from cio_privacy.profiles import Target
from results import write_section

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SECTION = "## Sync"
KEY = "bench-sync-key-0123456789"
GOAL_RATIO = 5.0
GOAL_PEAK_MB = 300
GENERATED_AT = "2026-11-01 02:00:00"
GENERATED = datetime.datetime.fromisoformat(GENERATED_AT)
ACTIONS_PER_USER = 1 + 1 / 20 + 1 / 40

# One user in twenty is erased, one in forty deleted after a last update, one
# in twenty released; the rest get trait updates. About 1.25 actions per user.
ACTIONS_SQL = """
create or replace table main.customerio_actions as
with users as (
    select i, 'user_' || lpad(cast(i as varchar), 8, '0') as user_id from range({users}) t(i)
),
planned as (
    select user_id, i, 1 as sequence,
        case when i % 20 = 0 then 'suppress_person'
             when i % 20 = 7 then 'unsuppress_person' else 'identify' end as action_type
    from users
    union all
    select user_id, i, 2, 'identify' from users where i % 20 = 7
    union all
    select user_id, i, 2, 'delete_person' from users where i % 40 = 3
),
actions as (
    select
        user_id, sequence, action_type,
        case when action_type = 'identify' then
            '{{"unsubscribed":' || (i % 3 = 0)
            || ',"email_suppressed":' || (i % 3 = 0)
            || ',"email_suppression_reason":'
            || case when i % 3 = 0 then '"unsubscribed"' else 'null' end
            || ',"sms_suppressed":' || (i % 11 = 0)
            || ',"sms_suppression_reason":'
            || case when i % 11 = 0 then '"sms_stop_keyword"' else 'null' end
            || ',"push_suppressed":false,"push_suppression_reason":null'
            || ',"in_app_suppressed":false,"in_app_suppression_reason":null'
            || ',"consent_email_marketing":"'
            || case when i % 3 = 0 then 'withdrawn' else 'granted' end || '"'
            || ',"consent_sms_marketing":"'
            || case when i % 4 = 0 then 'granted' else 'withdrawn' end || '"'
            || ',"consent_data_analytics":"granted","consent_third_party_sharing":"withdrawn"'
            || ',"cio_subscription_preferences.topics.topic_1":' || (i % 3 <> 0)
            || ',"cio_subscription_preferences.topics.topic_2":' || (i % 4 = 0) || '}}'
        else '{{}}' end as payload,
        case action_type when 'identify' then 'traits_changed' when 'suppress_person' then 'erasure'
             when 'delete_person' then 'retention' else 'suppression_released' end as reason
    from planned
)
select
    substr(sha256(user_id || '|' || action_type || '|' || payload), 1, 32) as action_id,
    user_id, action_type, payload, sequence, reason,
    timestamp '{generated_at}' as generated_at
from actions
"""


@dataclass
class Measured:
    seconds: float
    peak_mb: float
    received: int
    duplicates: int
    detail: dict[str, Any]
    all_seconds: list[float] = field(default_factory=list)

    def rate(self, actions: int) -> float:
        return actions / self.seconds


def make_actions(path: Path, actions: int) -> int:
    users = round(actions / ACTIONS_PER_USER) + 1
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists main")
        con.execute(ACTIONS_SQL.format(users=users, generated_at=GENERATED_AT))
        con.execute(f"delete from main.customerio_actions where rowid >= {actions}")
        count = con.execute("select count(*) from main.customerio_actions").fetchone()
    assert count is not None
    return int(count[0])


def forget_sync(path: Path) -> None:
    """Drops the ledger tables, so that the next sync sends every action again."""
    with duckdb.connect(str(path)) as con:
        con.execute("drop table if exists raw.customerio_acks")
        con.execute("drop table if exists raw.customerio_sync_runs")
        con.execute("checkpoint")


def median_run(runs: list[Measured]) -> Measured:
    """The run of median time, with every run's time and the highest peak of them all."""
    ordered = sorted(runs, key=lambda run: run.seconds)
    middle = ordered[len(ordered) // 2]
    return replace(
        middle, peak_mb=max(run.peak_mb for run in runs), all_seconds=[r.seconds for r in runs]
    )


class SandboxProcess:
    """`cio-privacy sandbox` on a free port, as a process of its own."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cio_privacy.cli", "sandbox", "--port", "0"],
            cwd=REPO,
            env={**os.environ, "CUSTOMERIO_API_KEY": KEY},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        self.url = line.split("listening on ")[1].split(" ")[0]

    def state_counts(self) -> tuple[int, int]:
        state = httpx.get(f"{self.url}/_sandbox/state", timeout=600).json()
        return int(state["messages_received"]), int(state["duplicate_message_ids"])

    def reset(self) -> None:
        httpx.post(f"{self.url}/_sandbox/reset", timeout=60)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_mb: float


def run_measured(command: list[str], env: dict[str, str]) -> Finished:
    """Runs a process; its wall time and its own peak RSS.

    The peak is the kernel's high-water mark of the process's memory
    (VmHWM), read until it exits. getrusage would not do: a child started
    with vfork inherits its parent's high-water mark at exec, and this
    parent holds the sandbox's whole state after reading it.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=err)  # noqa: S603
        peak_kb = 0
        status = Path(f"/proc/{process.pid}/status")
        while process.poll() is None:
            try:
                fields = dict(
                    line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
                )
                peak_kb = max(peak_kb, int(fields["VmHWM"].split()[0]))
            except (OSError, KeyError, ValueError):
                pass
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return Finished(
            process.returncode, out.read().decode(), err.read().decode(), seconds, peak_kb / 1024
        )


def run_sync(path: Path, sandbox: SandboxProcess) -> Measured:
    environment = {
        **os.environ,
        "CIO_PRIVACY_DUCKDB_PATH": str(path),
        "CUSTOMERIO_API_KEY": KEY,
        "CUSTOMERIO_BASE_URL": sandbox.url,
        "DBT_PROFILES_DIR": str(REPO),
    }
    done = run_measured(
        [sys.executable, "-m", "cio_privacy.cli", "sync", "--json", "--max-deletes", "10000000"],
        environment,
    )
    if done.returncode != 0:
        raise SystemExit(f"sync failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    received, duplicates = sandbox.state_counts()
    return Measured(done.seconds, done.peak_mb, received, duplicates, json.loads(done.stdout))


def run_official(path: Path, sandbox: SandboxProcess) -> Measured:
    done = run_measured(
        [sys.executable, __file__, "--official-worker", str(path), "--url", sandbox.url],
        dict(os.environ),
    )
    if done.returncode != 0:
        raise SystemExit(f"official library run failed: {done.stderr.strip()[-2000:]}")
    received, duplicates = sandbox.state_counts()
    detail = json.loads(done.stdout.strip().splitlines()[-1])
    return Measured(done.seconds, done.peak_mb, received, duplicates, detail)


def official_worker(path: Path, url: str) -> None:
    """Sends every action of the table with customerio-cdp-analytics, default settings."""
    from customerio import analytics

    events = {
        "suppress_person": "User Suppressed",
        "unsuppress_person": "User Unsuppressed",
        "delete_person": "User Deleted",
    }
    client = analytics.Client(write_key=KEY, host=url)
    waits = 0
    # the same reader as the sync (DuckDB settings, chunks, order): only the sending differs
    ledger = DuckDBLedger(Target("local", "duckdb", {"path": str(path), "schema": "main"}))
    try:
        for action in ledger.pending_actions(None):
            moment = (action.generated_at or GENERATED).replace(tzinfo=datetime.UTC)
            while True:
                if action.action_type == "identify":
                    accepted, _ = client.identify(
                        action.user_id,
                        json.loads(action.payload),
                        timestamp=moment,
                        message_id=action.action_id,
                    )
                else:
                    accepted, _ = client.track(
                        action.user_id,
                        events[action.action_type],
                        {},
                        timestamp=moment,
                        message_id=action.action_id,
                    )
                if accepted:
                    break
                waits += 1  # the queue is full: wait rather than lose the message
                time.sleep(0.001)
    finally:
        ledger.close()
    client.flush()
    client.join()
    sys.stdout.write(json.dumps({"queue_full_waits": waits}) + "\n")


def report(actions: int, official_actions: int, ours: Measured, theirs: Measured) -> str:
    ratio = ours.rate(actions) / theirs.rate(official_actions)
    ratio_ok = "met" if ratio >= GOAL_RATIO else "NOT met"
    peak_megabytes = ours.peak_mb * 2**20 / 10**6  # the goal is in MB, the kernel counts KiB
    peak_ok = "met" if peak_megabytes < GOAL_PEAK_MB else "NOT met"
    runs = len(ours.all_seconds) or 1

    def each(measured: Measured) -> str:
        return ", ".join(f"{seconds:.1f}" for seconds in measured.all_seconds)

    subset = (
        ""
        if official_actions == actions
        else f" The official library was measured on the first {official_actions:,} actions "
        "(its rate does not depend on the count: one thread, fixed-size batches)."
    )
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""{SECTION}

`python bench/bench_sync.py --actions {actions:,} --repeats {runs}`, run {now} on \
{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, \
customerio-cdp-analytics {metadata.version("customerio-cdp-analytics")}. The sandbox runs \
as its own process on 127.0.0.1; both clients send to it. Times are wall times of the \
client process, from start to exit; each client ran {runs} times, interleaved with the \
other, and the table shows the run of median time (seconds of every run: sync \
{each(ours)}; library {each(theirs)}) with the highest peak of all runs.{subset}

| metric | cio-privacy sync | customerio-cdp-analytics |
|---|---|---|
| actions | {actions:,} | {official_actions:,} |
| seconds (end to end), median | {ours.seconds:.1f} | {theirs.seconds:.1f} |
| **actions per second** | **{ours.rate(actions):,.0f}** | \
**{theirs.rate(official_actions):,.0f}** |
| peak RSS of the process | {ours.peak_mb:,.0f} MiB | {theirs.peak_mb:,.0f} MiB |
| messages the sandbox received | {ours.received:,} | {theirs.received:,} |
| duplicate message ids | {ours.duplicates:,} | {theirs.duplicates:,} |
| HTTP requests | {ours.detail.get("http_requests", 0):,} | \
about {official_actions // 100:,} (batches of 100) |
| acknowledgements written | {ours.detail.get("delivered", 0):,} delivered | \
none (no outcome per message) |

- **Throughput ratio: {ratio:.1f}x** (goal at least {GOAL_RATIO:.0f}x: {ratio_ok}).
- **Peak memory: {ours.peak_mb:,.0f} MiB = {peak_megabytes:,.0f} MB** (goal under \
{GOAL_PEAK_MB} MB: {peak_ok}).
- Both read the actions with the same reader (DuckDB, the same settings and \
order); the sync also commits one acknowledgement per action, per response, and \
the library writes nothing back. Times the library's producer \
waited for room in its queue: {theirs.detail.get("queue_full_waits", 0):,}.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=1_000_000)
    parser.add_argument(
        "--official-actions",
        type=int,
        help="actions sent with the official library (default: the same as --actions)",
    )
    parser.add_argument(
        "--scratch",
        type=Path,
        default=Path("/tmp/cio-privacy-bench-sync"),  # noqa: S108 - a scratch dir by design
        help="where the DuckDB files go (default /tmp/cio-privacy-bench-sync)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs of each client, interleaved; the medians are reported (default 3)",
    )
    parser.add_argument("--no-write", action="store_true", help="print, do not edit RESULTS.md")
    parser.add_argument("--official-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.official_worker is not None:
        official_worker(args.official_worker, args.url)
        return 0

    shutil.rmtree(args.scratch, ignore_errors=True)
    args.scratch.mkdir(parents=True)
    ours_path, theirs_path = args.scratch / "sync.duckdb", args.scratch / "official.duckdb"
    actions = make_actions(ours_path, args.actions)
    official_actions = make_actions(theirs_path, args.official_actions or args.actions)
    sandbox = SandboxProcess()
    ours_runs: list[Measured] = []
    theirs_runs: list[Measured] = []
    try:
        # interleaved, so that both see the same shifts in the machine's load
        for repeat in range(args.repeats):
            if repeat:
                forget_sync(ours_path)
            sandbox.reset()
            ours_runs.append(run_sync(ours_path, sandbox))
            print(f"cio-privacy sync: {actions:,} in {ours_runs[-1].seconds:.1f} s", flush=True)
            sandbox.reset()
            theirs_runs.append(run_official(theirs_path, sandbox))
            print(
                f"official library: {official_actions:,} in {theirs_runs[-1].seconds:.1f} s",
                flush=True,
            )
    finally:
        sandbox.stop()
    for ours, theirs in zip(ours_runs, theirs_runs, strict=True):
        if ours.received < actions or theirs.received < official_actions:
            raise SystemExit(
                f"messages lost: sync {ours.received:,}/{actions:,}, "
                f"official {theirs.received:,}/{official_actions:,}"
            )
    section = report(actions, official_actions, median_run(ours_runs), median_run(theirs_runs))
    print(section)
    if not args.no_write:
        write_section(section, SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
