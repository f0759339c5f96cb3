"""What commands print: a progress bar on a terminal, then a summary or one JSON object."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

stderr = Console(stderr=True)
stdout = Console()


@contextmanager
def progress_steps(total: int, *, enabled: bool) -> Iterator[Any]:
    """Yields advance(step_name); draws a bar only on an interactive terminal."""
    if not enabled or not sys.stderr.isatty():
        yield lambda _step: None
        return
    with Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=total)

        def advance(step: str) -> None:
            bar.update(task, advance=1, description=step)

        yield advance


def print_json(payload: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, default=str, sort_keys=True) + "\n")


def print_table(title: str, rows: list[tuple[str, ...]], headers: tuple[str, ...]) -> None:
    table = Table(title=title, title_justify="left", show_edge=False)
    for index, header in enumerate(headers):
        table.add_column(header, justify="right" if index else "left")
    for row in rows:
        table.add_row(*row)
    stdout.print(table)


def error_line(message: str) -> None:
    """One line on stderr, for errors a user can act on."""
    first_line = " ".join(message.split())
    sys.stderr.write(f"cio-privacy: error: {first_line}\n")
