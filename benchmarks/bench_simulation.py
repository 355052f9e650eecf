"""Benchmark: the simulation core beside simpy and a minimal heapq loop, then whole runs.

The workload (the same for the three cores): one producer publishes a message every 10 ms into a
buffer; one consumer takes messages one at a time and spends 5 ms on each. Three events a
message: the publish, the start of the work, its end. msgs/s = messages / CPU time of this
process (time.process_time), best of ``--repeat`` rounds in which the contenders take turns (the
machine is shared, so wall time would measure the neighbours).

Contenders:

- heapq loop: the least a discrete-event loop can be in Python: one heap of tuples, the event
  kinds as ints, no function calls per event.
- brokerlab Scheduler: the same workload as callbacks on :class:`brokerlab.scheduler.Scheduler`
  (``after``/``soon``, a bound method call per event).
- simpy: a producer process and a consumer process around a ``simpy.Store``.

Then whole runs of :func:`brokerlab.simulation.simulate` (producers, the reference broker,
consumers, the history, no checker), with and without faults, for a queue, an SQS queue
(pull consumers, visibility timeouts) and a log: what a widget pays. These are reported as msgs/s only: they do much more than the three cores.

Target: the Scheduler at least 2x simpy. No timing is asserted in the tests.

Run:  python benchmarks/bench_simulation.py [--messages 50000] [--repeat 7] [--write]
``--write`` also writes benchmarks/results/simulation.md.
"""

from __future__ import annotations

import argparse
import heapq
import os
import platform
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import simpy  # noqa: E402
from machine import cpu_model  # noqa: E402

from brokerlab.scenario import BrokerSetup, Consumers, Producers, Scenario  # noqa: E402
from brokerlab.scheduler import Scheduler  # noqa: E402
from brokerlab.simulation import simulate  # noqa: E402

INTERVAL = 0.01  # a message every 10 ms
WORK = 0.005  # 5 ms of work each


def heap_loop(n: int) -> int:
    heap: list[tuple[float, int, int, int]] = [(0.0, 0, 0, 0)]
    seq = 1
    done = 0
    buffer: deque[int] = deque()
    busy = False
    pop, push = heapq.heappop, heapq.heappush
    while heap:
        t, _, kind, m = pop(heap)
        if kind == 0:  # publish
            buffer.append(m)
            if m + 1 < n:
                push(heap, (t + INTERVAL, seq, 0, m + 1))
                seq += 1
            if not busy:
                busy = True
                push(heap, (t, seq, 1, 0))
                seq += 1
        elif kind == 1:  # start work
            buffer.popleft()
            push(heap, (t + WORK, seq, 2, 0))
            seq += 1
        else:  # work done
            done += 1
            if buffer:
                push(heap, (t, seq, 1, 0))
                seq += 1
            else:
                busy = False
    return done


def scheduler(n: int) -> int:
    s = Scheduler()
    done = 0
    buffer: deque[int] = deque()
    busy = False

    def publish(m: int) -> None:
        nonlocal busy
        buffer.append(m)
        if m + 1 < n:
            s.after(INTERVAL, publish, m + 1)
        if not busy:
            busy = True
            s.soon(start)

    def start() -> None:
        buffer.popleft()
        s.after(WORK, finish)

    def finish() -> None:
        nonlocal done, busy
        done += 1
        if buffer:
            s.soon(start)
        else:
            busy = False

    s.soon(publish, 0)
    s.run()
    return done


def simpy_store(n: int) -> int:
    env = simpy.Environment()
    store = simpy.Store(env)
    done = 0

    def producer():
        for i in range(n):
            yield store.put(i)
            yield env.timeout(INTERVAL)

    def consumer():
        nonlocal done
        while True:
            yield store.get()
            yield env.timeout(WORK)
            done += 1

    env.process(producer())
    env.process(consumer())
    env.run()
    return done


CORES = {"heapq loop": heap_loop, "brokerlab Scheduler": scheduler, "simpy Store": simpy_store}

FAULTS = {
    "crash_before_processing": 0.05,
    "crash_after_processing": 0.05,
    "lost_ack": 0.05,
    "producer_retry": 0.05,
    "network_delay": 0.05,
}
RUNS = {
    "simulate: queue, no faults": Scenario(producers=Producers(rate=100)),
    "simulate: queue, 5 fault kinds at 5%": Scenario(producers=Producers(rate=100), faults=FAULTS),
    "simulate: sqs, no faults": Scenario(
        producers=Producers(rate=100), broker=BrokerSetup(kind="sqs")
    ),
    "simulate: sqs, 5 fault kinds at 5%": Scenario(
        producers=Producers(rate=100), broker=BrokerSetup(kind="sqs"), faults=FAULTS
    ),
    "simulate: log (3 partitions), no faults": Scenario(
        producers=Producers(rate=100, keys=8), broker=BrokerSetup(kind="log", partitions=3)
    ),
    "simulate: log, 5 fault kinds at 5%": Scenario(
        producers=Producers(rate=100, keys=8),
        broker=BrokerSetup(kind="log", partitions=3),
        consumers=Consumers(batch=5),
        faults=FAULTS,
    ),
}


def best_rates(n: int, runs_n: int, repeat: int) -> tuple[dict[str, float], dict[str, float]]:
    for f in CORES.values():
        assert f(1000) == 1000, f
    best = {name: float("inf") for name in CORES}
    best_runs = {name: float("inf") for name in RUNS}
    for _ in range(repeat):
        for name, f in CORES.items():
            t0 = time.process_time()
            f(n)
            best[name] = min(best[name], time.process_time() - t0)
        for name, s in RUNS.items():
            scenario = s.replace(messages=runs_n)
            t0 = time.process_time()
            simulate(scenario)
            best_runs[name] = min(best_runs[name], time.process_time() - t0)
    return (
        {k: n / v for k, v in best.items()},
        {k: runs_n / v for k, v in best_runs.items()},
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=50_000, help="messages per core round")
    ap.add_argument("--run-messages", type=int, default=2_000, help="messages per simulate() run")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--write", action="store_true", help="write benchmarks/results/simulation.md")
    args = ap.parse_args()

    cores, runs = best_rates(args.messages, args.run_messages, args.repeat)
    simpy_rate = cores["simpy Store"]
    heap_rate = cores["heapq loop"]
    rows = [(name, rate, rate / simpy_rate, rate / heap_rate) for name, rate in cores.items()]
    print(f"{'contender':44} {'msgs/s':>12} {'vs simpy':>9} {'vs heapq':>9}")
    for name, rate, vs_simpy, vs_heap in rows:
        print(f"{name:44} {rate:12,.0f} {vs_simpy:8.2f}x {vs_heap:8.2f}x")
    for name, rate in runs.items():
        print(f"{name:44} {rate:12,.0f}")
    ratio = cores["brokerlab Scheduler"] / simpy_rate
    print(f"brokerlab Scheduler = {ratio:.1f}x simpy (target >= 2x)")

    if args.write:
        date = subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip()
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        lines = [
            "# Simulation benchmark: the discrete-event core, and whole runs",
            "",
            f"- date: {date}",
            f"- machine: {cpu_model()}, nproc={os.cpu_count()}, Python {platform.python_version()}; "
            f"load average {load} after the run (the machine is shared)",
            f"- command: `python benchmarks/bench_simulation.py --messages {args.messages} "
            f"--run-messages {args.run_messages} --repeat {args.repeat} --write`",
            "- workload (cores): a message every 10 ms into a buffer, one consumer working 5 ms "
            "on each, 3 events a message; msgs/s = messages / CPU time, best of the rounds, the "
            "contenders taking turns. See the docstring of `benchmarks/bench_simulation.py`.",
            "",
            "| contender | msgs/s | vs simpy | vs heapq loop |",
            "|---|---:|---:|---:|",
        ]
        for name, rate, vs_simpy, vs_heap in rows:
            lines.append(f"| {name} | {rate:,.0f} | {vs_simpy:.2f}x | {vs_heap:.2f}x |")
        lines += [
            "",
            f"brokerlab Scheduler = **{ratio:.1f}x simpy** (target >= 2x), "
            f"{cores['brokerlab Scheduler'] / heap_rate:.2f}x the bare heapq loop.",
            "",
            f"Whole runs of `simulate()` ({args.run_messages} messages; producers with confirms, "
            "the reference broker, consumers with handlers, every event recorded; no checker):",
            "",
            "| run | msgs/s |",
            "|---|---:|",
        ]
        for name, rate in runs.items():
            lines.append(f"| {name.removeprefix('simulate: ')} | {rate:,.0f} |")
        lines += [
            "",
            "Reading the numbers: the heapq loop is the floor of an event loop in Python (no call "
            "per event). The Scheduler pays one bound-method call per event and a check of its "
            "argument; simpy pays for generators, event objects and callbacks per step, which is "
            "why the simulation does not use it (see the docstring of `brokerlab/scheduler.py`). "
            "A whole run costs far more per message than the core: each message is published, "
            "confirmed, routed by the real Queue or Log, delivered, handled through `ctx`, acked "
            "or committed, and recorded as 5-8 history events. A widget run of 100 messages "
            "therefore takes a few milliseconds, plus the checker.",
            "",
        ]
        out = Path(__file__).resolve().parent / "results" / "simulation.md"
        out.write_text("\n".join(lines), encoding="utf-8")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
