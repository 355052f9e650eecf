"""Benchmark: the history checker's speed at 10k, 100k and 1M events, and a history's memory.

What is measured, in one process:

- **check events/s**: ``check(history)`` (well-formedness included, ``strict=True``) on a
  recorded history of N events, N = 10 k, 100 k and 1 M. events/s = N / CPU time
  (``time.process_time``) of the best of the rounds (at least ``--repeat``; small sizes get
  more, about a million events in all). CPU time rather than wall time
  because the machine is shared: other processes' bursts would otherwise decide the result.
- **floor events/s**: in the same rounds, the least a one-pass checker can do in Python: one
  loop over the events counting them per message id in a dict (``d[m] = d.get(m, 0) + 1``).
  The ratio check/floor says how much work the checker does per event beyond reading it, and
  it is steadier across machines and loads than the absolute rate.
- **linear growth**: nanoseconds per event at each N; the growth from 10 k to 1 M should stay
  near 1x (a quadratic checker would grow 100x).
- **memory**: ``tracemalloc`` bytes held by a recorded 1 M-event history (the History, its
  Events, their floats, ints, strings and shared info dicts), per event; current and peak.

The workload (``workload(n, seed)``), deterministic from the seed: producers publish messages
with 100 keys to 4 partitions (offsets given) and the consumer group ``g`` of two consumers
reads them: deliver, process, commit every 10 offsets; 1 message in 50 also goes through a
queue-style path with ack; 2 % of the deliveries are followed by a crash after processing and
a redelivery (duplicates), 1 % by an ack before processing and a crash (losses), 0.5 % of the
messages are poison and dead-lettered, and some producers retry after a lost confirm. So the
checker meets every event kind and real anomalies, about 3.5 events a message.

- **previous checker** (``--previous PATH``): another version of ``checker.py`` (for example
  the one before a rewrite, from ``git show <commit>:src/brokerlab/checker.py``), loaded as a
  module of the package and timed in the same rounds, alternating with the current one, so
  that the two are compared under the same load.

Run:  python benchmarks/bench_checker.py [--repeat 3] [--sizes 10000,100000,1000000]
      [--previous old_checker.py] [--write]
``--write`` also writes benchmarks/results/checker.md.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import random
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from machine import describe  # noqa: E402

from brokerlab.checker import check  # noqa: E402
from brokerlab.history import History  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "checker.md"


def workload(n_events: int, seed: int = 0) -> History:
    """A recorded history of about ``n_events`` events (see the module docstring)."""
    rng = random.Random(seed)
    h = History()
    record = h.record
    next_offset = [0, 0, 0, 0]
    t = 0.0
    i = 0
    while len(h) < n_events:
        t += 0.001
        m = f"m{i}"
        key = f"k{rng.randrange(100)}"
        roll = rng.random()
        if roll < 0.02:  # queue-style: deliver, process, ack
            record(t, "producer-2", "publish", m, key=key, attempt=1)
            record(t, "worker", "deliver", m, group="jobs")
            record(t, "worker", "process", m)
            record(t, "worker", "ack", m)
            i += 1
            continue
        p = int(key[1:]) % 4
        o = next_offset[p]
        next_offset[p] += 1
        c = "consumer-1" if p < 2 else "consumer-2"
        record(t, "producer-1", "publish", m, key=key, partition=p, offset=o, attempt=1)
        if roll < 0.03:  # a lost confirm and a retry with the same id
            record(t, "producer-1", "lost", m, what="confirm")
            record(t, "producer-1", "publish", m, key=key, partition=p, offset=o, attempt=2)
        record(t, c, "deliver", m, partition=p, offset=o, group="g")
        if roll < 0.04:  # crash after processing, before the commit: a duplicate effect
            record(t, c, "process", m)
            record(t, c, "crash", when="after processing")
            record(t, c, "deliver", m, partition=p, offset=o, redelivered=True)
        elif roll < 0.05:  # committed before processing, then a crash: a lost message
            record(t, c, "commit", partition=p, offset=o + 1)
            record(t, c, "crash", when="before processing")
            i += 1
            continue
        elif roll < 0.055:  # poison: dead-lettered, never processed
            record(t, "broker", "dead_letter", m, reason="delivery_limit")
            i += 1
            continue
        record(t, c, "process", m)
        if o % 10 == 9:
            record(t, c, "commit", partition=p, offset=o + 1)
        i += 1
    return h


def floor(history: History) -> None:
    """The least a one-pass checker does: count events per message id."""
    seen: dict[str, int] = {}
    for e in history.events:
        m = e.msg
        if m is not None:
            seen[m] = seen.get(m, 0) + 1


def cpu(fn, *args) -> float:
    t0 = time.process_time()
    fn(*args)
    return time.process_time() - t0


def load_checker(path: str):
    """The ``check`` function of another version of checker.py, as a module of the package."""
    spec = importlib.util.spec_from_file_location("brokerlab._previous_checker", path)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "brokerlab"  # its relative imports (.errors, .history) resolve
    sys.modules[spec.name] = module  # (dataclasses look their module up there)
    spec.loader.exec_module(module)
    return module.check


def measure(sizes: list[int], repeat: int, previous=None) -> list[dict[str, float]]:
    rows = []
    for n in sizes:
        h = workload(n)
        best_check = best_floor = best_previous = float("inf")
        # small sizes get more rounds (about a million events per contender in all), so that
        # the best of them is not just the luckiest of three on a shared machine
        for _ in range(max(repeat, min(50, 1_000_000 // max(n, 1)))):
            best_floor = min(best_floor, cpu(floor, h))
            best_check = min(best_check, cpu(check, h))
            if previous is not None:
                best_previous = min(best_previous, cpu(previous, h))
        report = check(h)
        rows.append(
            {
                "events": len(h),
                "check": len(h) / best_check,
                "previous": len(h) / best_previous if previous is not None else 0.0,
                "floor": len(h) / best_floor,
                "ns": best_check / len(h) * 1e9,
                "lost": len(report.lost),
                "duplicated": len(report.duplicated),
                "dead": len(report.dead_lettered),
            }
        )
        before = (
            f", previous checker {rows[-1]['previous']:>10,.0f} events/s"
            if previous is not None
            else ""
        )
        print(
            f"{len(h):>9,} events: check {rows[-1]['check']:>10,.0f} events/s "
            f"({rows[-1]['ns']:.0f} ns/event){before}, floor {rows[-1]['floor']:>10,.0f}/s, "
            f"check/floor time {best_check / best_floor:.1f}x; found {report.counts()}",
            flush=True,
        )
        del h, report
        gc.collect()
    return rows


def memory(n: int) -> tuple[int, float, float]:
    gc.collect()
    tracemalloc.start()
    h = workload(n)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    events = len(h)
    del h
    gc.collect()
    print(
        f"memory of a {events:,}-event history: {current / events:.0f} bytes/event "
        f"(peak while recording {peak / events:.0f})",
        flush=True,
    )
    return events, current / events, peak / events


def write(rows: list[dict[str, float]], mem: tuple[int, float, float], command: str) -> None:
    date = subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip()
    load = (
        " ".join(Path("/proc/loadavg").read_text().split()[:3])
        if Path("/proc/loadavg").exists()
        else "?"
    )
    base = rows[0]["ns"]
    floor_growth = rows[0]["floor"] / rows[-1]["floor"]
    lines = [
        "# Checker benchmark: events/s at 10k, 100k, 1M events; memory of a history",
        "",
        f"- date: {date}",
        f"- machine: {describe()}; load average {load} after the run (the machine is shared)",
        f"- command: `{command}`",
        "- workload: `workload(n)` in `benchmarks/bench_checker.py`: a consumer group reading 4",
        "  partitions, a queue-style worker, duplicates, losses, poison messages, producer retries",
        "  (every event kind the checker reads). events/s = events / CPU time of `check(history)`",
        "  (well-formedness included), best of the rounds (at least 3; about a million events per",
        "  size in all). floor = a loop that only counts events",
        "  per message id, in the same rounds.",
        "",
        "| events | check events/s | previous checker events/s | ns/event | growth vs 10k | "
        "floor events/s | check/floor time | lost | duplicated | dead-lettered |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        previous = f"{r['previous']:,.0f}" if r["previous"] else "-"
        lines.append(
            f"| {r['events']:,} | {r['check']:,.0f} | {previous} | {r['ns']:.0f} | "
            f"{r['ns'] / base:.2f}x | {r['floor']:,.0f} | {r['floor'] / r['check']:.1f}x | "
            f"{r['lost']:,} | {r['duplicated']:,} | {r['dead']:,} |"
        )
    events, per_event, peak = mem
    lines += [
        "",
        f"Memory of a recorded {events:,}-event history (tracemalloc): **{per_event:.0f} bytes/event**"
        f" (peak while recording {peak:.0f}). Target: under 400.",
        "",
        "Floor (issue 9): at least 150,000 events/s at 1M events, and linear growth (ns/event",
        "about flat). The earlier target of 500,000 events/s is withdrawn: the checker is the",
        "reference code learners read, and the course's runs are small.",
        "",
        "Reading the numbers: the checker builds an index of the history (one pass that checks",
        "each event's fields and learns each actor's group, one pass that files every event",
        "under its message and builds the views that span messages), then runs one small",
        "function per property over that index. It is written to be read, not tuned: each",
        "event costs a few function calls and dictionary look-ups, so per event it costs",
        "many times the floor loop, which does nothing but read the event. The previous",
        "checker (one hand-tuned 300-line pass, read through local aliases) is timed in the",
        "same rounds where given, alternating with this one, so the two columns are comparable",
        "with each other; this machine is shared and virtual, so compare across tables with",
        "care. Larger histories cost more per event:",
        f"the floor loop itself is {floor_growth:.1f}x slower per event at {rows[-1]['events']:,}"
        f" events than at {rows[0]['events']:,} (its dict of message ids outgrows the CPU",
        "caches). The cyclic garbage collector is paused during a check: with it on, the many",
        "small per-message objects made it walk the whole history again and again.",
    ]
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-events", type=int, default=1_000_000)
    parser.add_argument("--previous", help="another checker.py to time in the same rounds")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    previous = load_checker(args.previous) if args.previous else None
    rows = measure(sizes, args.repeat, previous)
    mem = memory(args.memory_events)
    if args.write:
        write(rows, mem, "python benchmarks/bench_checker.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
