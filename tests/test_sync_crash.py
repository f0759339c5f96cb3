"""The sync killed with SIGKILL at random points: the next run converges, nothing twice.

Each trial copies a fresh lakehouse, starts `cio-privacy sync` as a
subprocess against the sandbox (slowed down, so that the kill lands while
requests are in flight), kills it once or twice at a random moment, and
then syncs to the end in this process. Whatever the moment: every action
is acknowledged delivered exactly once (the poison ones rejected once),
the sandbox holds exactly the expected people, suppressions and deletions,
and it never saw an identify for a user after that user's suppression.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from cio_privacy.ledger import RunStatus
from cio_privacy.sandbox import RunningSandbox, running_sandbox

from tests.conftest import REPO
from tests.sync_world import (
    KEY,
    assert_converged,
    ledger_rows,
    make_world,
    write_actions,
)
from tests.test_sync import settings_for, sync_until_done

TRIALS = 20
SEED = 20261101
REQUEST_BYTES = 2_000  # about ten calls per request: many responses, many moments to die at
LATENCY_MS = 40
# 280 calls in requests of ~10, two at a time, 40 ms each: about 0.6 s of sending
SENDING_SECONDS = 0.7


def kill_after(process: subprocess.Popen[bytes], seconds: float) -> None:
    time.sleep(seconds)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def wait_for_requests(
    sandbox: RunningSandbox, before: int, process: subprocess.Popen[bytes]
) -> None:
    """Until the sync's first request reaches the sandbox (or the sync ends)."""
    deadline = time.monotonic() + 30
    while sandbox.stats()["requests"] == before and process.poll() is None:
        assert time.monotonic() < deadline, "the sync never sent a request"
        time.sleep(0.005)


def start_sync(path: Path, url: str) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "CIO_PRIVACY_DUCKDB_PATH": str(path),
        "CUSTOMERIO_API_KEY": KEY,
        "CUSTOMERIO_BASE_URL": url,
        "CIO_PRIVACY_MAX_CONCURRENT_REQUESTS": "2",
        "DBT_PROFILES_DIR": str(REPO),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cio_privacy.cli",
            "sync",
            "--json",
            "--max-request-bytes",
            str(REQUEST_BYTES),
        ],
        cwd=REPO,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run_rows(path: Path) -> list[tuple[object, ...]]:
    """(status, finished_at) of every run; none when the sync died before creating the table."""
    tables = ledger_rows(path, "select table_name from information_schema.tables")
    if ("customerio_sync_runs",) not in tables:
        return []
    return ledger_rows(path, "select status, finished_at from raw.customerio_sync_runs")


def test_killed_syncs_converge_to_every_action_delivered_exactly_once(tmp_path: Path) -> None:
    world = make_world(200)
    template = tmp_path / "template.duckdb"
    write_actions(template, world)
    draws = random.Random(SEED)
    killed_mid_run = 0
    with running_sandbox(api_key=KEY, seed=SEED) as sandbox:
        for trial in range(TRIALS):
            path = tmp_path / f"trial-{trial}.duckdb"
            shutil.copy(template, path)
            sandbox.reset()
            sandbox.set_faults(latency_ms=LATENCY_MS)
            if trial % 2:  # odd trials also die once anywhere, start-up included
                kill_after(start_sync(path, sandbox.url), draws.uniform(0.0, 1.5))
            requests_before = sandbox.stats()["requests"]
            process = start_sync(path, sandbox.url)
            wait_for_requests(sandbox, requests_before, process)
            kill_after(process, draws.uniform(0.0, SENDING_SECONDS))
            received = sandbox.state()["messages_received"]
            killed_mid_run += 0 < received < len(world.rows) - 2
            for status, finished_at in run_rows(path):
                # a killed run stays visible: running, never finished
                assert (status, finished_at) == (RunStatus.RUNNING, None) or status in (
                    RunStatus.SUCCEEDED,
                    RunStatus.COMPLETED_WITH_FAILURES,
                )

            sandbox.set_faults(latency_ms=0)
            runs = sync_until_done(path, settings_for(sandbox))

            assert runs[-1].failed == 0, f"trial {trial}"
            assert_converged(path, world, sandbox.state(), sandbox.stats())
    # the kills landed while requests were in flight often enough to mean something
    assert killed_mid_run >= TRIALS // 2, killed_mid_run
