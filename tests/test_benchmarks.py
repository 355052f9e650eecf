"""The benchmark scripts still run, on tiny sizes, and report every contender.

These are smoke tests: they keep ``benchmarks/`` from rotting as the package changes. They
assert what the scripts print and that each contender ends with an empty queue (the scripts
assert that themselves), never how fast anything is.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
START = BENCH.parent / "notebooks" / "00-start-here.ipynb"

RUNS = {
    "bench_queue.py": (
        ["--messages", "200", "--kombu-messages", "20", "--repeat", "1"],
        [
            "brokerlab Queue",
            "lean deque + dict + deadline",
            "queue.Queue",
            "kombu memory://",
            "floor >= 5x",
        ],
    ),
    "bench_log.py": (["--records", "2000", "--repeat", "1", "--redis-records", "500"], ["target"]),
    "bench_simulation.py": (
        ["--messages", "500", "--run-messages", "100", "--repeat", "1"],
        ["simpy"],
    ),
    "bench_checker.py": (
        ["--sizes", "1000", "--repeat", "1", "--memory-events", "1000"],
        ["events/s", "bytes/event"],
    ),
    "bench_grading.py": (
        ["--repeat", "1", "--exercises", "ex03_commit_points", "--no-hang"],
        ["solution", "stub", "mutant", "Targets"],
    ),
    "bench_notebooks.py": (
        ["--repeat", "1", "--notebooks", str(START)],
        ["ratio to baseline", "a baseline notebook", "nbval on the course's 1 notebooks"],
    ),
    "bench_widgets.py": (
        ["--events", "2", "--moves", "3", "--repeat", "1"],
        [
            "Every widget",
            "fair dispatch",
            "spike: depth and wait",
            "who got what: queue and topic",
            "recompute <= redraw",
            "live_figure, every event drawn",
            "live_figure as shipped",
            "old approach",
            "bare one-line figure",
            "One slider event",
        ],
    ),
}


@pytest.mark.parametrize("script", sorted(RUNS))
def test_benchmark_runs_on_tiny_sizes(script: str, tmp_path: Path) -> None:
    args, expected = RUNS[script]
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for text in expected:
        assert text in done.stdout, f"{script} no longer prints {text!r}:\n{done.stdout[-2000:]}"


def test_live_benchmark_runs_on_tiny_sizes(tmp_path: Path) -> None:
    """bench_live.py starts its own RabbitMQ and Redis: skipped here when they are missing
    (a failure under CI=true, where .ci/run installs them)."""
    from live_servers import need

    need("rabbitmq-server")
    need("redis-server")
    done = subprocess.run(
        [sys.executable, str(BENCH / "bench_live.py"), "--messages", "200", "--repeat", "1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for text in ("reference Queue (classic), per message", "confirms off", "confirms on",
                 "Redis Streams, batches of 100"):  # fmt: skip
        assert text in done.stdout, f"bench_live.py no longer prints {text!r}:\n{done.stdout}"
