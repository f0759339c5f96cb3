"""Benchmark the dbt models on DuckDB against one windowed pass over the raw events.

    python bench/bench_models.py --users 1000000

On a generated lakehouse (cio_privacy.generate, on disk under --scratch, never
in the repository), three things are timed, in --repeats rounds of (a), (b),
(c) one after the other, so that a slow spell of the shared machine touches
every measurement alike; each is reported as the median of its rounds:

(a) one windowed pass over raw.privacy_events in plain DuckDB:
    create table ... as select *, row_number() over (partition by user_id,
    event_type order by event_timestamp) from raw.privacy_events
    (in a fresh process, so that its memory is its own);
(b) a full `dbt build --full-refresh` of every model, seed, unit and data test,
    on a fresh copy of the generated lakehouse;
(c) an incremental `dbt run` after about 1% new events (append_events: new
    consents, bounces, request moves, sign-ups, redeliveries, bad rows), at an
    as_of one day later, on the database (b) built: what a daily scheduled
    run recomputes. The same incremental step as a `dbt build` (every unit and
    data test too) is timed once, on a copy of the last round's database, and
    reported beside it; the goal is judged on the run, as the issue words it
    ("an incremental run"). Also once, for information: (c0) the same
    `dbt run` again right after the last (c), with nothing new: what a run
    costs whatever the batch (dbt's start, every node's own queries, the
    scans that find nothing to do); and (b') the build of (b) without its unit
    tests, on a fresh copy: unit tests read fixed fixtures, not the lakehouse,
    so their cost (dbt rendering each test) is the same at any data size, and
    a scheduled production build may leave them to CI
    (`--exclude-resource-type unit_test`).

dbt runs as a subprocess; its wall time and peak resident memory (getrusage of
that child) are recorded. Before each timed dbt run an untimed `dbt parse` with
the same vars leaves a partial-parse file, as a scheduler that runs every day
with an empty as_of has: the timed runs measure building, not parsing. The
goals: median (b) / median (a) <= 4 and median (c) / median (b) <= 0.15. The
results go to the `## Models` section of bench/RESULTS.md (other sections are
kept).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb
from cio_privacy.generate import append_events, generate_lakehouse
from results import RESULTS, machine, write_section

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SECTION = "## Models"
DEFAULT_END = datetime.datetime(2026, 11, 1)
WINDOW_SQL = (
    "create or replace table main.bench_windowed_pass as "
    "select *, row_number() over (partition by user_id, event_type order by event_timestamp) "
    "as row_number from raw.privacy_events"
)
GOAL_FULL = 4.0
GOAL_INCREMENTAL = 0.15


@dataclass
class Measured:
    """One timed process."""

    seconds: float
    peak_rss_mb: float
    nodes: list[dict[str, Any]] = field(default_factory=list)

    def node_seconds(self, resource_type: str) -> float:
        return sum(n["seconds"] for n in self.nodes if n["type"] == resource_type)


def run_measured(command: list[str], env: dict[str, str] | None = None) -> Measured:
    """Runs a command to completion; wall seconds and the child's own peak RSS."""
    began = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=REPO)  # noqa: S603 - our own commands
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - began
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(
            f"{' '.join(command[:3])} ... failed with exit status {process.returncode}"
        )
    return Measured(seconds=seconds, peak_rss_mb=usage.ru_maxrss / 1024)  # KiB on Linux


def measure_window(database: Path) -> Measured:
    """(a), in its own process so that its memory is its own."""
    command = [sys.executable, __file__, "--windowed-pass-only", str(database)]
    return run_measured(command)


def windowed_pass_only(database: str) -> None:
    with duckdb.connect(database) as con:
        con.execute(WINDOW_SQL)
        con.execute("drop table main.bench_windowed_pass")


class Dbt:
    """dbt on the DuckDB file `database`, with its own target and log paths."""

    def __init__(self, scratch: Path, database: Path) -> None:
        self.scratch = scratch
        self.env = {
            **os.environ,
            "CIO_PRIVACY_DUCKDB_PATH": str(database),
            "DBT_PROFILES_DIR": str(REPO),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
        self.executable = str(Path(sys.executable).with_name("dbt"))

    def command(self, *args: str, as_of: str) -> list[str]:
        return [
            self.executable,
            *args,
            "--vars",
            json.dumps({"as_of": as_of}),
            "--target",
            "local",
            "--project-dir",
            str(REPO),
            "--target-path",
            str(self.scratch / "target"),
            "--log-path",
            str(self.scratch / "logs"),
        ]

    def timed(self, verb: str, *args: str, as_of: str) -> Measured:
        """`dbt <verb>` after an untimed parse, with every node's own time."""
        run_measured(self.command("parse", as_of=as_of), env=self.env)
        measured = run_measured(self.command(verb, *args, as_of=as_of), env=self.env)
        results = json.loads((self.scratch / "target" / "run_results.json").read_text())
        measured.nodes = [
            {
                "id": r["unique_id"],
                "type": r["unique_id"].split(".", 1)[0],
                "seconds": r["execution_time"],
                "status": r["status"],
            }
            for r in results["results"]
        ]
        failed = [n["id"] for n in measured.nodes if n["status"] not in ("success", "pass")]
        if failed:
            raise SystemExit(f"dbt build had failures: {failed[:5]}")
        return measured


def dbt_versions() -> dict[str, str]:
    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "dbt-core": version("dbt-core"),
        "dbt-duckdb": version("dbt-duckdb"),
        "dbt threads (profiles.yml, local)": "2",
    }


def load() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def top_nodes(measured: Measured, resource_type: str, count: int = 5) -> list[str]:
    nodes = [n for n in measured.nodes if n["type"] == resource_type]
    ordered = sorted(nodes, key=lambda n: n["seconds"], reverse=True)[:count]
    return [f"{n['id'].split('.')[2]} {n['seconds']:.1f}" for n in ordered]


def model_rows(full: Measured, incremental: Measured, incremental_models: set[str]) -> list[str]:
    later = {n["id"]: n["seconds"] for n in incremental.nodes}
    models = sorted(
        (n for n in full.nodes if n["type"] == "model"), key=lambda n: n["seconds"], reverse=True
    )
    rows = []
    for node in models:
        name = node["id"].split(".")[-1]
        star = "*" if name in incremental_models else ""
        rows.append(f"| {name}{star} | {node['seconds']:.1f} | {later.get(node['id'], 0.0):.1f} |")
    return rows


def median_run(runs: list[Measured]) -> Measured:
    """The run of median time (the lower middle one of an even count)."""
    return sorted(runs, key=lambda m: m.seconds)[(len(runs) - 1) // 2]


def render(args: argparse.Namespace, facts: dict[str, Any]) -> str:
    window: list[Measured] = facts["window"]
    fulls: list[Measured] = facts["full"]
    incrementals: list[Measured] = facts["incremental"]
    incremental_build: Measured = facts["incremental_build"]
    nothing_new: Measured = facts["nothing_new"]
    without_unit_tests: Measured = facts["without_unit_tests"]
    full, incremental = median_run(fulls), median_run(incrementals)
    a = statistics.median(m.seconds for m in window)
    b = statistics.median(m.seconds for m in fulls)
    c = statistics.median(m.seconds for m in incrementals)
    full_ratio, incremental_ratio = b / a, c / b
    build_ratio = incremental_build.seconds / b

    def each(runs: list[Measured]) -> str:
        return ", ".join(f"{m.seconds:.1f}" for m in runs)

    def peak(runs: list[Measured]) -> str:
        return f"{max(m.peak_rss_mb for m in runs):,.0f} MiB"

    def mark(ok: bool) -> str:
        return "met" if ok else "**missed**"

    def n(value: int) -> str:
        return f"{value:,}"

    lines = [
        SECTION,
        "",
        f"`python bench/bench_models.py --users {args.users} --seed {args.seed} "
        f"--repeats {args.repeats}` (end = {args.end.date()}), run "
        f"{datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}: "
        f"{args.repeats} rounds of (a), (b), (c), each reported as the median of its rounds "
        "(the seconds of every round in brackets) with the highest peak. The machine was "
        f"shared with other work: load average {facts['load_before']} (1/5/15 min) before, "
        f"{facts['load_after']} after; times are wall clock and noisy.",
        "",
        "| measurement | seconds (median) | peak RSS |",
        "|---|---|---|",
        f"| (a) one windowed pass over raw.privacy_events ({each(window)}) | {a:.1f} | "
        f"{peak(window)} |",
        f"| (b) `dbt build --full-refresh`: every model, seed, unit and data test "
        f"({each(fulls)}) | {b:.1f} | {peak(fulls)} |",
        f"| (c) `dbt run` after {facts['appended']:,} new privacy rows "
        f"({facts['appended'] / facts['privacy_events']:.2%}), incremental ({each(incrementals)}) "
        f"| {c:.1f} | {peak(incrementals)} |",
        "| (c') the same step as `dbt build` (with every unit and data test), once, on a copy | "
        f"{incremental_build.seconds:.1f} | {incremental_build.peak_rss_mb:,.0f} MiB |",
        "| (c0) the same `dbt run` again right after (c), nothing new, once | "
        f"{nothing_new.seconds:.1f} | {nothing_new.peak_rss_mb:,.0f} MiB |",
        "| (b') (b) without its unit tests (`--exclude-resource-type unit_test`), once | "
        f"{without_unit_tests.seconds:.1f} | {without_unit_tests.peak_rss_mb:,.0f} MiB |",
        "",
        "| ratio | value | goal | |",
        "|---|---|---|---|",
        f"| (b)/(a) | **{full_ratio:.2f}** | <= {GOAL_FULL:g} | {mark(full_ratio <= GOAL_FULL)} |",
        f"| (c)/(b) | **{incremental_ratio:.3f}** | <= {GOAL_INCREMENTAL:g} | "
        f"{mark(incremental_ratio <= GOAL_INCREMENTAL)} |",
        f"| (c')/(b), for information | {build_ratio:.3f} | | |",
        f"| (c0)/(b), for information | {nothing_new.seconds / b:.3f} | | |",
        f"| (b')/(a), for information | {without_unit_tests.seconds / a:.2f} | | |",
        f"| ((c) - (c0))/(b), for information | {(c - nothing_new.seconds) / b:.3f} | | |",
        "",
        "Where the time goes, in the round of median time (sum of dbt's per-node times; "
        "two nodes run at once, so the sums exceed the wall time):",
        "",
        "| | models | data tests | unit tests | seeds |",
        "|---|---|---|---|---|",
        *(
            f"| {label} | {m.node_seconds('model'):.1f} | {m.node_seconds('test'):.1f} | "
            f"{m.node_seconds('unit_test'):.1f} | {m.node_seconds('seed'):.1f} |"
            for label, m in (
                ("(b) full build", full),
                ("(c) incremental run", incremental),
                ("(c') incremental build", incremental_build),
                ("(c0) run with nothing new", nothing_new),
                ("(b') full build without unit tests", without_unit_tests),
            )
        ),
        "",
        f"Slowest data tests of (b): {'; '.join(top_nodes(full, 'test'))}.",
        "",
        f"Slowest data tests of (c'): {'; '.join(top_nodes(incremental_build, 'test'))}.",
        "",
        "Models, slowest first (seconds in (b) and in (c); incremental models marked *):",
        "",
        "| model | (b) full | (c) incremental run |",
        "|---|---|---|",
        *model_rows(full, incremental, facts["incremental_models"]),
        "",
        "| data | rows |",
        "|---|---|",
        f"| users | {n(args.users)} |",
        f"| raw.privacy_events | {n(facts['privacy_events'])} |",
        f"| raw.customer_events | {n(facts['customer_events'])} |",
        f"| raw.user_profiles | {n(facts['user_profiles'])} |",
        f"| appended privacy rows (of which redeliveries) | {n(facts['appended'])} "
        f"({n(facts['redeliveries'])}) |",
        f"| appended customer events / profile versions | {n(facts['appended_customer'])} / "
        f"{n(facts['appended_profiles'])} |",
        "",
        "Machine:",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in {**machine(), **dbt_versions()}.items()),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--end",
        type=datetime.datetime.fromisoformat,
        default=DEFAULT_END,
        help="naive UTC 'now' of the generated world and the full build's as_of "
        "(default 2026-11-01)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="rounds of (a), (b) and (c) (default 3)"
    )
    parser.add_argument(
        "--scratch",
        type=Path,
        default=Path("/tmp/cio-privacy-bench-models"),  # noqa: S108 - a scratch dir by design
        help="where the lakehouse files go (default /tmp/cio-privacy-bench-models)",
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print the results without updating RESULTS.md"
    )
    parser.add_argument("--windowed-pass-only", metavar="DATABASE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.windowed_pass_only:
        windowed_pass_only(args.windowed_pass_only)
        return 0
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    def say(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    scratch: Path = args.scratch.resolve()
    if REPO in scratch.parents or scratch == REPO:
        parser.error("--scratch must be outside the repository")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    raw, work = scratch / "generated.duckdb", scratch / "lakehouse.duckdb"
    facts: dict[str, Any] = {"load_before": load()}

    say(f"generating {args.users:,} users")
    with duckdb.connect(str(raw)) as con:
        generated = generate_lakehouse(con, users=args.users, seed=args.seed, end=args.end)
        con.execute("checkpoint")
    facts.update(
        privacy_events=generated.privacy_events,
        customer_events=generated.customer_events,
        user_profiles=generated.user_profiles,
    )

    as_of = args.end.strftime("%Y-%m-%d %H:%M:%S")
    batch_end = args.end + datetime.timedelta(days=1)
    batch_as_of = batch_end.strftime("%Y-%m-%d %H:%M:%S")
    facts.update(window=[], full=[], incremental=[])
    for round_number in range(1, args.repeats + 1):
        say(f"round {round_number} of {args.repeats}: (a) windowed pass")
        facts["window"].append(measure_window(raw))

        shutil.copyfile(raw, work)
        dbt = Dbt(scratch, work)
        say(f"round {round_number}: (b) dbt build --full-refresh")
        facts["full"].append(dbt.timed("build", "--full-refresh", as_of=as_of))
        if round_number == 1:
            manifest = json.loads((scratch / "target" / "manifest.json").read_text())
            facts["incremental_models"] = {
                node["name"]
                for node in manifest["nodes"].values()
                if node["resource_type"] == "model"
                and node["config"]["materialized"] == "incremental"
            }

        with duckdb.connect(str(work)) as con:
            appended = append_events(con, end=batch_end, seed=args.seed)
            con.execute("checkpoint")
        facts.update(
            appended=appended.privacy_events,
            redeliveries=appended.redeliveries,
            appended_customer=appended.customer_events,
            appended_profiles=appended.user_profiles,
        )
        copy = scratch / "lakehouse-build.duckdb"
        if round_number == args.repeats:
            # (c') starts from the very same state as (c): a copy made before (c) runs
            shutil.copyfile(work, copy)
        say(f"round {round_number}: (c) incremental dbt run")
        facts["incremental"].append(dbt.timed("run", as_of=batch_as_of))
        if round_number == args.repeats:
            say("(c0) the same dbt run again, nothing new")
            facts["nothing_new"] = dbt.timed("run", as_of=batch_as_of)

    say("(c') the same incremental step as dbt build, on the copy")
    facts["incremental_build"] = Dbt(scratch, copy).timed("build", as_of=batch_as_of)
    copy.unlink()
    say("(b') the full build without unit tests, on a fresh copy")
    shutil.copyfile(raw, copy)
    facts["without_unit_tests"] = Dbt(scratch, copy).timed(
        "build", "--full-refresh", "--exclude-resource-type", "unit_test", as_of=as_of
    )
    copy.unlink()
    facts["load_after"] = load()

    section = render(args, facts)
    print(section)
    if not args.no_write:
        write_section(section, SECTION)
        say(f"wrote {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
