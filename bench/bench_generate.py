"""Benchmark the synthetic lakehouse generator on an on-disk DuckDB database.

    python bench/bench_generate.py --users 1000000 --repeats 3

Each repeat generates into a fresh file under bench/out/ (gitignored) and is timed
from the call until the database is checkpointed and closed. The median run is
reported on stdout and written to the ``## Generator`` section of bench/RESULTS.md
(other sections of that file are kept).
"""

from __future__ import annotations

import argparse
import datetime
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from cio_privacy.generate import GenerationSummary, generate_lakehouse
from results import RESULTS, machine, write_section

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
SECTION = "## Generator"
DEFAULT_END = datetime.datetime(2026, 1, 1)


@dataclass
class Run:
    seconds: float
    summary: GenerationSummary
    db_bytes: int
    steps: list[tuple[str, float]] = field(default_factory=list)


def run_once(users: int, seed: int, end: datetime.datetime) -> Run:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    db = OUT_DIR / "generator.duckdb"
    for path in (db, db.with_name(db.name + ".wal")):
        path.unlink(missing_ok=True)
    steps: list[tuple[str, float]] = []
    began = last = time.perf_counter()

    def progress(step: str) -> None:
        nonlocal last
        now = time.perf_counter()
        steps.append((step, now - last))
        last = now

    con = duckdb.connect(str(db))
    try:
        summary = generate_lakehouse(con, users=users, seed=seed, end=end, progress=progress)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    seconds = time.perf_counter() - began
    steps.append(("checkpoint_and_close", time.perf_counter() - last))
    return Run(seconds, summary, db.stat().st_size, steps)


def render(args: argparse.Namespace, runs: list[Run], peak_rss_mb: float) -> str:
    ordered = sorted(runs, key=lambda r: r.seconds)
    median = statistics.median(r.seconds for r in runs)
    mid = ordered[(len(ordered) - 1) // 2]
    s = mid.summary
    good = s.privacy_events - s.bad_rows - s.duplicate_rows

    def n(value: int) -> str:
        return f"{value:,}"

    lines = [
        SECTION,
        "",
        f"`python bench/bench_generate.py --users {args.users} --seed {args.seed} "
        f"--repeats {args.repeats}` (end = {args.end.isoformat()}), run "
        f"{datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}. "
        "Each run writes a fresh on-disk DuckDB file; time is from the call until the "
        "database is checkpointed and closed.",
        "",
        "| metric | value |",
        "|---|---|",
        f"| users | {n(s.users)} |",
        f"| **median seconds** ({len(runs)} runs) | **{median:.1f}** |",
        f"| all runs (s) | {', '.join(f'{r.seconds:.1f}' for r in runs)} |",
        f"| privacy_events rows | {n(s.privacy_events)} "
        f"({s.privacy_events / s.users:.2f} per user) |",
        f"| good privacy events (without bad rows and duplicates) | {n(good)} |",
        f"| bad rows / duplicate rows | {n(s.bad_rows)} / {n(s.duplicate_rows)} |",
        f"| user_profiles rows | {n(s.user_profiles)} |",
        f"| customer_events rows | {n(s.customer_events)} |",
        f"| privacy events per second | {n(round(s.privacy_events / median))} |",
        f"| peak RSS (ru_maxrss) | {peak_rss_mb:,.0f} MiB |",
        f"| database file | {mid.db_bytes / 1024**2:,.0f} MiB |",
        "",
        "Steps of the median run (seconds):",
        "",
        "| step | seconds |",
        "|---|---|",
        *(f"| {step} | {secs:.2f} |" for step, secs in mid.steps),
        "",
        "Machine:",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in machine().items()),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--end",
        type=datetime.datetime.fromisoformat,
        default=DEFAULT_END,
        help="naive UTC 'now' of the generated world (default 2026-01-01T00:00:00)",
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print the results without updating RESULTS.md"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    runs = []
    for i in range(args.repeats):
        run = run_once(args.users, args.seed, args.end)
        runs.append(run)
        print(
            f"run {i + 1}/{args.repeats}: {run.seconds:.1f} s, "
            f"{run.summary.privacy_events:,} privacy events",
            file=sys.stderr,
            flush=True,
        )
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    section = render(args, runs, peak_rss_mb)
    print(section)
    if not args.no_write:
        write_section(section, SECTION)
        print(f"wrote {RESULTS.relative_to(BENCH_DIR.parent)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
