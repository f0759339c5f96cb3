"""The `cio-privacy` command line (contracts.md, "Connector command line")."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path

from cio_privacy import __version__
from cio_privacy.console import error_line, print_json, print_table, progress_steps, stdout
from cio_privacy.errors import SafetyGuardError, UsageError
from cio_privacy.profiles import Target, load_target

RAW_SCHEMA = "raw"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


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
    generate.add_argument("--users", type=_positive_int, required=True, help="number of users")
    generate.add_argument("--target", help="profile target: local (default) or spark")
    generate.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    generate.add_argument(
        "--end",
        type=_utc_day,
        help="the generated world's 'now', YYYY-MM-DD UTC (default: today); "
        "output is a pure function of users, seed and end",
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
    return parser


def _generate(args: argparse.Namespace, target: Target) -> int:
    import duckdb

    from cio_privacy.generate import STEPS, generate_lakehouse
    from cio_privacy.warehouse import connect_duckdb, copy_tables_to_spark, spark_session

    if target.type not in ("duckdb", "spark"):
        raise UsageError(
            f"generate writes synthetic data to local or spark targets only, not '{target.name}'"
        )
    end = args.end or _start_of_today_utc()
    with progress_steps(len(STEPS) + (target.type == "spark"), enabled=not args.json) as step:
        if target.type == "duckdb":
            with connect_duckdb(target) as con:
                result = generate_lakehouse(
                    con, users=args.users, seed=args.seed, end=end, schema=RAW_SCHEMA, progress=step
                )
        else:
            with duckdb.connect() as con:
                result = generate_lakehouse(
                    con, users=args.users, seed=args.seed, end=end, schema=RAW_SCHEMA, progress=step
                )
                spark = spark_session(target)
                copy_tables_to_spark(con, spark, source_schema=RAW_SCHEMA, target_schema=RAW_SCHEMA)
                step("copied to Spark")
                spark.stop()
    payload = {
        "command": "generate",
        "target": target.name,
        "seed": args.seed,
        "end": end.date().isoformat(),
        **result.as_dict(),
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


COMMANDS = {"generate": _generate, "summary": _summary}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
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
