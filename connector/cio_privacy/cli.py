"""The `cio-privacy` command line (contracts.md, "Connector command line")."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from cio_privacy import __version__
from cio_privacy.batching import MAX_REQUEST_BYTES
from cio_privacy.console import (
    error_line,
    print_json,
    print_table,
    progress_steps,
    stderr,
    stdout,
)
from cio_privacy.errors import SafetyGuardError, UsageError
from cio_privacy.profiles import Target, load_target, peek_target
from cio_privacy.sync import DEFAULT_MAX_DELETES

RAW_SCHEMA = "raw"
MIN_REQUEST_BYTES = 1_000
N = TypeVar("N", int, float)


def _text(value: float | None) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _number(
    parse: Callable[[str], N], expected: str, low: N | None = None, high: N | None = None
) -> Callable[[str], N]:
    """An argparse type: `parse`, then a range check; one line says what was wrong."""

    def convert(text: str) -> N:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got '{text}'") from None
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = (
                (
                    f"of at least {_text(low)}"
                    if high is None
                    else f"from {_text(low)} to {_text(high)}"
                )
                if low is not None
                else f"of at most {_text(high)}"
            )
            raise argparse.ArgumentTypeError(f"expected {expected} {bounds}, got {_text(value)}")
        return value

    return convert


_positive_int = _number(int, "a whole number", low=1)
_non_negative_int = _number(int, "a whole number", low=0)
_request_bytes = _number(
    int, "a request size in bytes", low=MIN_REQUEST_BYTES, high=MAX_REQUEST_BYTES
)
_rate = _number(float, "a share", low=0.0, high=1.0)
_non_negative = _number(float, "a number", low=0.0)
_port = _number(int, "a port number", low=0, high=65535)


def _utc_day(text: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got '{text}'") from None


def _start_of_today_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cio-privacy",
        description="Warehouse-native privacy compliance for Customer.io.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    generate = commands.add_parser(
        "generate", help="write a realistic synthetic lakehouse into the raw schema"
    )
    generate.add_argument(
        "--users", type=_positive_int, help="number of users (required unless --append)"
    )
    generate.add_argument("--target", help="profile target: local (default) or spark")
    generate.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    generate.add_argument(
        "--end",
        type=_utc_day,
        help="the generated world's 'now', YYYY-MM-DD UTC (default: today); "
        "output is a pure function of users, seed and end",
    )
    generate.add_argument(
        "--append",
        action="store_true",
        help="add a batch of new events to the existing lakehouse instead (about --share of "
        "its privacy rows, stamped up to --end), as the next sync would",
    )
    generate.add_argument(
        "--share",
        type=_rate,
        default=0.01,
        help="with --append: new privacy rows as a share of the existing ones (default 0.01)",
    )
    generate.add_argument("--json", action="store_true", help="print the summary as JSON")

    summary = commands.add_parser(
        "summary", help="rows per public model and quarantined rows by reason, after dbt build"
    )
    summary.add_argument("--target", help="profile target: local (default) or spark")
    summary.add_argument(
        "--manifest",
        type=Path,
        default=Path("target/manifest.json"),
        help="dbt manifest of the build (default target/manifest.json)",
    )
    summary.add_argument("--json", action="store_true", help="print the summary as JSON")

    sync = commands.add_parser(
        "sync",
        help="send pending customerio_actions to Customer.io and record the outcomes",
        description="Reads the pending rows of customerio_actions (less those customerio_acks "
        "holds as delivered or rejected), sends them to Customer.io's Data Pipelines API and "
        "appends one acknowledgement per action and one run row. Exit status: 0 all "
        "delivered (or a dry run), 1 some rejected or failed, 2 usage or configuration "
        "error, 3 a safety guard refused to run.",
    )
    sync.add_argument("--target", help="profile target: local (default), spark or databricks")
    sync.add_argument(
        "--dry-run",
        action="store_true",
        help="send and write nothing; print counts per action type and sample calls (masked)",
    )
    sync.add_argument(
        "--limit", type=_positive_int, help="send at most this many actions (in user order)"
    )
    sync.add_argument(
        "--max-deletes",
        type=_non_negative_int,
        default=DEFAULT_MAX_DELETES,
        help="refuse to start (exit 3) when more suppress/delete actions are pending "
        f"(default {DEFAULT_MAX_DELETES:,})",
    )
    sync.add_argument(
        "--raw-schema",
        default=RAW_SCHEMA,
        help=f"schema of the raw tables and the acknowledgements, dbt var raw_schema "
        f"(default {RAW_SCHEMA})",
    )
    sync.add_argument(
        "--max-request-bytes",
        type=_request_bytes,
        default=MAX_REQUEST_BYTES,
        help=f"largest /v1/batch request body (default and most {MAX_REQUEST_BYTES:,}); smaller "
        "requests mean fewer actions resent after a crash, and more requests",
    )
    sync.add_argument("--json", action="store_true", help="print the summary as JSON")

    sandbox = commands.add_parser(
        "sandbox",
        help="a local stand-in for Customer.io's Data Pipelines API on 127.0.0.1",
        description="Serves a local stand-in for Customer.io's Data Pipelines API on "
        "127.0.0.1 until interrupted. It accepts the key in CUSTOMERIO_API_KEY (any "
        "non-empty key when unset); GET /_sandbox/state shows what it holds.",
    )
    sandbox.add_argument(
        "--port", type=_port, default=8765, help="port on 127.0.0.1 (default 8765; 0: any free)"
    )
    sandbox.add_argument(
        "--fail-rate", type=_rate, default=0.0, help="share of requests answered 500/502/503"
    )
    sandbox.add_argument(
        "--throttle-rate",
        type=_rate,
        default=0.0,
        help="share of requests answered 429, half of them with Retry-After",
    )
    sandbox.add_argument(
        "--drop-rate",
        type=_rate,
        default=0.0,
        help="share of connections closed without an answer, half of them after processing",
    )
    sandbox.add_argument(
        "--latency-ms", type=_non_negative, default=0.0, help="delay before every answer"
    )
    sandbox.add_argument(
        "--retry-after",
        type=_non_negative,
        default=1.0,
        help="seconds in the Retry-After header of throttled answers (default 1)",
    )
    sandbox.add_argument("--seed", type=int, help="seed of the fault draws, for repeatable runs")
    return parser


def _generate(args: argparse.Namespace, target: Target) -> int:
    import duckdb

    from cio_privacy.generate import STEPS, generate_lakehouse
    from cio_privacy.warehouse import (
        connect_duckdb,
        copy_tables_to_spark,
        forget_sync_history,
        spark_session,
    )

    end = args.end or _start_of_today_utc()
    if args.append:
        return _append(args, target, end)
    if args.users is None:
        raise UsageError("generate needs --users (or --append to extend an existing lakehouse)")
    with progress_steps(len(STEPS) + (target.type == "spark"), enabled=not args.json) as step:
        if target.type == "duckdb":
            with connect_duckdb(target) as con:
                result = generate_lakehouse(
                    con, users=args.users, seed=args.seed, end=end, schema=RAW_SCHEMA, progress=step
                )
                forgotten = forget_sync_history(schema=RAW_SCHEMA, con=con)
        else:
            with duckdb.connect() as con:
                result = generate_lakehouse(
                    con, users=args.users, seed=args.seed, end=end, schema=RAW_SCHEMA, progress=step
                )
                spark = spark_session(target)
                copy_tables_to_spark(con, spark, source_schema=RAW_SCHEMA, target_schema=RAW_SCHEMA)
                forgotten = forget_sync_history(schema=RAW_SCHEMA, spark=spark)
                step("copied to Spark")
                spark.stop()
    payload = {
        "command": "generate",
        "target": target.name,
        "seed": args.seed,
        "end": end.date().isoformat(),
        **result.as_dict(),
        "acknowledgements_dropped": forgotten,
    }
    if args.json:
        print_json(payload)
    else:
        stdout.print(
            f"Generated {result.users:,} users into {target.name}:{RAW_SCHEMA} "
            f"(seed {args.seed}, ending {end.date()}) in {result.seconds:.1f} s"
        )
        print_table(
            "raw tables",
            [
                ("privacy_events", f"{result.privacy_events:,}"),
                ("  of which bad on purpose", f"{result.bad_rows:,}"),
                ("  of which redelivered duplicates", f"{result.duplicate_rows:,}"),
                ("user_profiles", f"{result.user_profiles:,}"),
                ("customer_events", f"{result.customer_events:,}"),
            ],
            ("table", "rows"),
        )
        if forgotten:
            stdout.print(
                f"Dropped the sync ledger of the previous lakehouse ({forgotten:,} "
                f"acknowledgements in {RAW_SCHEMA}.customerio_acks): a new world starts unsynced."
            )
    return 0


def _append(args: argparse.Namespace, target: Target, end: dt.datetime) -> int:
    import tempfile

    import duckdb

    from cio_privacy.generate import APPEND_STEPS, append_events, load_tables_from_spark
    from cio_privacy.warehouse import connect_duckdb, copy_tables_to_spark, spark_session

    extra = 2 if target.type == "spark" else 0
    try:
        with progress_steps(len(APPEND_STEPS) + extra, enabled=not args.json) as step:
            if target.type == "duckdb":
                with connect_duckdb(target) as con:
                    result = append_events(
                        con,
                        end=end,
                        seed=args.seed,
                        share=args.share,
                        schema=RAW_SCHEMA,
                        progress=step,
                    )
            else:
                # Spark's raw tables come into DuckDB, grow there, and go back whole.
                spark = spark_session(target)
                with duckdb.connect() as con, tempfile.TemporaryDirectory() as scratch:
                    load_tables_from_spark(spark, con, schema=RAW_SCHEMA, scratch=scratch)
                    step("read from Spark")
                    result = append_events(
                        con,
                        end=end,
                        seed=args.seed,
                        share=args.share,
                        schema=RAW_SCHEMA,
                        progress=step,
                    )
                    copy_tables_to_spark(
                        con, spark, source_schema=RAW_SCHEMA, target_schema=RAW_SCHEMA
                    )
                    step("copied to Spark")
                spark.stop()
    except (ValueError, duckdb.CatalogException) as error:
        raise UsageError(f"cannot append: {str(error).splitlines()[0]}") from None
    payload = {
        "command": "generate",
        "append": True,
        "target": target.name,
        "seed": args.seed,
        **result.as_dict(),
    }
    if args.json:
        print_json(payload)
    else:
        stdout.print(
            f"Appended to {target.name}:{RAW_SCHEMA} the events from {result.since} to "
            f"{result.end} (seed {args.seed}) in {result.seconds:.1f} s"
        )
        print_table(
            "appended rows",
            [
                ("privacy_events", f"{result.privacy_events:,}"),
                ("  of which redeliveries", f"{result.redeliveries:,}"),
                ("    corrected", f"{result.corrected_redeliveries:,}"),
                ("  of which bad on purpose", f"{result.bad_rows:,}"),
                ("  new users", f"{result.new_users:,}"),
                ("user_profiles", f"{result.user_profiles:,}"),
                ("customer_events", f"{result.customer_events:,}"),
            ],
            ("table", "rows"),
        )
    return 0


def _summary(args: argparse.Namespace, target: Target) -> int:
    from cio_privacy.summary import public_relations, summarize
    from cio_privacy.warehouse import Warehouse

    relations = public_relations(args.manifest)
    warehouse = Warehouse(target)
    try:
        result = summarize(warehouse, relations)
    finally:
        warehouse.close()
    if args.json:
        print_json({"command": "summary", **result.as_dict()})
        return 0
    print_table(
        f"public models ({target.name})",
        [(model, f"{rows:,}") for model, rows in result.model_rows.items()],
        ("model", "rows"),
    )
    print_table(
        "rejected privacy events by reason (R2)",
        [(reason, f"{rows:,}") for reason, rows in result.rejected_by_reason.items()]
        or [("(none)", "0")],
        ("rejection_reason", "rows"),
    )
    return 0


@contextmanager
def _sync_progress(enabled: bool) -> Iterator[Any]:
    """A bar over the pending actions, on a terminal only."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "sync",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    ) as bar:

        def start(pending: Any) -> Any:
            task = bar.add_task("sync", total=pending.total)
            return lambda done: bar.update(task, advance=done)

        yield start


def _sync(args: argparse.Namespace, target: Target) -> int:
    from cio_privacy.backends import open_ledger
    from cio_privacy.settings import load_settings
    from cio_privacy.sync import SyncOptions, run_sync

    settings = load_settings()
    options = SyncOptions(
        dry_run=args.dry_run,
        limit=args.limit,
        max_deletes=args.max_deletes,
        max_request_bytes=args.max_request_bytes,
    )
    ledger = open_ledger(target, args.raw_schema)
    try:
        with _sync_progress(enabled=not args.json) as progress:
            summary = run_sync(ledger, settings, options, progress=progress)
    finally:
        ledger.close()
    if args.json:
        print_json(summary.as_dict())
        return summary.exit_status
    pending = summary.pending
    if summary.dry_run:
        stdout.print(
            f"Dry run on {target.name}: {pending.total:,} pending actions; nothing sent, "
            "nothing written"
        )
        print_table(
            "pending actions by type",
            [(kind, f"{count:,}") for kind, count in pending.by_type.items()] or [("(none)", "0")],
            ("action_type", "actions"),
        )
        stdout.file.flush()
        for sample in summary.samples:
            sys.stdout.write(json.dumps(sample, sort_keys=True) + "\n")
        if summary.guard_warning:
            stdout.print(f"A real run would refuse: {summary.guard_warning}", markup=False)
        return summary.exit_status
    stdout.print(
        f"Sync {summary.run_id} on {target.name}: {summary.status}, {summary.actions_read:,} "
        f"actions in {summary.seconds:.1f} s ({summary.actions_per_second:,.0f}/s, "
        f"{summary.http_requests:,} HTTP requests)",
        markup=False,
    )
    print_table(
        "outcomes",
        [
            ("delivered", f"{summary.delivered:,}"),
            ("rejected", f"{summary.rejected:,}"),
            ("failed (pending again)", f"{summary.failed:,}"),
        ],
        ("status", "actions"),
    )
    if summary.errors:
        print_table(
            "most frequent errors",
            [(error, f"{count:,}") for error, count in summary.errors.most_common(5)],
            ("error", "actions"),
        )
    return summary.exit_status


def _sandbox(args: argparse.Namespace) -> int:
    import asyncio
    import os

    from cio_privacy.sandbox import Faults, Sandbox, serve

    api_key = os.environ.get("CUSTOMERIO_API_KEY", "").strip() or None
    faults = Faults(
        fail_rate=args.fail_rate,
        throttle_rate=args.throttle_rate,
        drop_rate=args.drop_rate,
        latency_ms=args.latency_ms,
        retry_after_seconds=args.retry_after,
    )
    sandbox = Sandbox(api_key=api_key, faults=faults, seed=args.seed, freeze_gc=True)

    def ready(port: int) -> None:
        accepted = "the key in CUSTOMERIO_API_KEY" if api_key else "any non-empty API key"
        sys.stdout.write(
            f"Customer.io sandbox listening on http://127.0.0.1:{port} ({accepted}); "
            f"state at http://127.0.0.1:{port}/_sandbox/state; Ctrl-C stops it\n"
        )
        sys.stdout.flush()

    try:
        asyncio.run(serve(sandbox, args.port, on_ready=ready))
    except OSError as error:
        raise UsageError(f"cannot listen on 127.0.0.1:{args.port}: {error.strerror}") from None
    except KeyboardInterrupt:
        pass
    return 0


def _refuse_production_target(name: str | None) -> None:
    """generate writes synthetic data: never into a workspace, whatever is configured.

    Checked before the profile is rendered, so that the refusal does not
    wait on the workspace's settings.
    """
    target_name, engine = peek_target(name)
    if engine not in ("duckdb", "spark"):
        raise UsageError(
            f"generate writes synthetic data to local or spark targets only, not '{target_name}'"
        )


COMMANDS = {"generate": _generate, "summary": _summary, "sync": _sync}
COMMANDS_WITHOUT_TARGET = {"sandbox": _sandbox}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command in COMMANDS_WITHOUT_TARGET:
            return COMMANDS_WITHOUT_TARGET[args.command](args)
        if args.command == "generate":
            _refuse_production_target(args.target)
        target = load_target(args.target)
        return COMMANDS[args.command](args, target)
    except (UsageError, SafetyGuardError) as error:
        error_line(str(error))
        return error.exit_status
    except KeyboardInterrupt:
        error_line("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
