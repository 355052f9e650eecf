"""What every results table records about the run: date, CPU, cores, Python, load average."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> dict[str, str]:
    """date (UTC), cpu, nproc, python and the load average (the machine may be shared)."""
    date = subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip()
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "unknown"
    return {
        "date": date,
        "cpu": cpu_model(),
        "nproc": str(os.cpu_count() or "?"),
        "python": platform.python_version(),
        "load": load,
    }


def describe(m: dict[str, str] | None = None) -> str:
    """One line: 'AMD EPYC ..., nproc=2, Python 3.11.7'."""
    m = m or machine()
    return f"{m['cpu']}, nproc={m['nproc']}, Python {m['python']}"


NOTES_HEADING = "## Notes (written by hand"


def write_results(path: Path, lines: list[str]) -> None:
    """Write a results file from ``lines``, keeping the hand-written "Notes" section that ends
    the old file, if it has one (``--write`` regenerates the tables, never the notes)."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    notes = old.find(NOTES_HEADING)
    if notes >= 0:
        lines = [*lines, "", old[notes:].rstrip("\n")]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {path}")
