"""What every benchmark shares: the machine it ran on and its section of RESULTS.md."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import duckdb

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def _first(path: str, key: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def machine() -> dict[str, str]:
    """The facts that make a timing comparable: CPU, cores, memory, versions."""
    mem_kb = _first("/proc/meminfo", "MemTotal").split()[0]
    ram = f"{int(mem_kb) / 1024**2:.1f} GiB" if mem_kb.isdigit() else "unknown"
    with duckdb.connect() as con:
        threads = con.execute("select current_setting('threads')").fetchone()
    return {
        "CPU": _first("/proc/cpuinfo", "model name"),
        "cores (nproc)": str(len(os.sched_getaffinity(0))),
        "total RAM": ram,
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "DuckDB": duckdb.__version__,
        "DuckDB threads": str(threads[0]) if threads else "unknown",
    }


def write_section(section: str, title: str, path: Path = RESULTS) -> None:
    """Replaces (or appends) the `title` section of RESULTS.md, keeping every other one."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == title), None)
    if start is None:
        body = text.rstrip("\n") + "\n\n" + section
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        before = "\n".join(lines[:start]).rstrip("\n")
        after = "\n".join(lines[end:])
        body = (before + "\n\n" if before else "") + section + ("\n" + after if after else "")
    path.write_text(body.rstrip("\n") + "\n", encoding="utf-8")
