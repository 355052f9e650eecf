"""Benchmark: the at-least-once cycle on real brokers, beside the reference queue, in one run.

The cycle is the one ``bench_queue.py`` measures: publish a message, receive it, ack it. Here
it runs on:

- **the reference queue** (``brokerlab.queue.Queue``, type ``classic``, in this process):
  per message (publish, ``receive(1)``, ack) and batched (publish 10, ``receive(10)``, ack
  each);
- **RabbitMQ** (a private node from :mod:`brokerlab.servers`, pika's BlockingConnection on
  loopback): publish every message to a classic queue, then consume them with
  ``basic.consume`` at prefetch 100 and ``basic.ack`` each one; with publisher confirms off
  (publish and forget) and on (``confirm_delivery()``: each publish waits for its confirm,
  as pika's BlockingChannel does). A quorum queue with confirms on is the third row;
- **Redis Streams** (a private ``redis-server``, redis-py on loopback TCP), batched: ``XADD``
  100 entries in one pipeline, ``XREADGROUP ... COUNT 100``, ``XACK`` the 100 ids in one call.

msgs/s = messages / **wall-clock** time, best of ``--repeat`` rounds in which every contender
takes a turn. Wall time, unlike ``bench_queue.py``'s CPU time, because the real brokers do
their work in other processes; so these figures move with the load of the shared machine (the
table records the load average). The real brokers pay for a network round-trip (loopback),
framing and, for quorum queues, a Raft log written to disk: the point of the table is the
size of that gap, not a ranking.

Run:  python benchmarks/bench_live.py [--messages 10000] [--repeat 3] [--write]
A server that is not installed is skipped, with the command that installs it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from machine import describe, machine, write_results  # noqa: E402

from brokerlab.clock import VirtualClock  # noqa: E402
from brokerlab.queue import Queue  # noqa: E402
from brokerlab.servers import missing, start_rabbitmq, start_redis  # noqa: E402

PAYLOAD = b"x" * 16
PREFETCH = 100
REDIS_BATCH = 100
QUEUE_BATCH = 10


def reference(n: int, batch: int) -> float:
    """Wall seconds for n messages through a classic reference queue, in batches of ``batch``."""
    q = Queue("bench", clock=VirtualClock(), queue_type="classic")
    publish, receive, ack = q.publish, q.receive, q.ack
    t0 = time.perf_counter()
    for _ in range(n // batch):
        for _ in range(batch):
            publish(PAYLOAD)
        for d in receive(batch):
            ack(d)
    t = time.perf_counter() - t0
    assert len(q) == 0 and not q.in_flight()
    return t


def rabbitmq(url: str, n: int, *, confirms: bool, kind: str = "classic") -> float:
    """Wall seconds to publish n messages, then consume and ack them all (prefetch 100)."""
    import pika

    conn = pika.BlockingConnection(pika.URLParameters(url))
    try:
        ch = conn.channel()
        name = f"bench-{kind}-{'confirms' if confirms else 'plain'}"
        ch.queue_delete(name)
        ch.queue_declare(name, durable=kind == "quorum", arguments={"x-queue-type": kind})
        if confirms:
            ch.confirm_delivery()
        ch.basic_qos(prefetch_count=PREFETCH)
        got = 0

        def on_message(c: Any, method: Any, props: Any, body: bytes) -> None:
            nonlocal got
            c.basic_ack(method.delivery_tag)
            got += 1

        t0 = time.perf_counter()
        for _ in range(n):
            ch.basic_publish("", name, PAYLOAD)
        ch.basic_consume(name, on_message)
        while got < n:
            conn.process_data_events(time_limit=1)
        t = time.perf_counter() - t0
        ch.queue_declare(name, passive=True)  # the last acks are in
        assert ch.queue_declare(name, passive=True).method.message_count == 0
        ch.queue_delete(name)
        return t
    finally:
        conn.close()


def redis_streams(url: str, n: int) -> float:
    """Wall seconds for n entries: XADD in pipelines of 100, XREADGROUP COUNT 100, XACK."""
    import redis

    r = redis.Redis.from_url(url)
    try:
        r.delete("bench")
        r.xgroup_create("bench", "g", id="0", mkstream=True)
        t0 = time.perf_counter()
        for _ in range(n // REDIS_BATCH):
            pipe = r.pipeline(transaction=False)
            for _ in range(REDIS_BATCH):
                pipe.xadd("bench", {"p": PAYLOAD})
            pipe.execute()
            [(_, entries)] = r.xreadgroup("g", "c", {"bench": ">"}, count=REDIS_BATCH)
            r.xack("bench", "g", *[e for e, _ in entries])
        t = time.perf_counter() - t0
        assert r.xpending("bench", "g")["pending"] == 0
        r.delete("bench")
        return t
    finally:
        r.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--write", action="store_true", help="write benchmarks/results/live.md")
    args = ap.parse_args()
    n = max(REDIS_BATCH, args.messages // REDIS_BATCH * REDIS_BATCH)

    contenders: dict[str, Any] = {
        "reference Queue (classic), per message": lambda: reference(n, 1),
        f"reference Queue (classic), batches of {QUEUE_BATCH}": lambda: reference(n, QUEUE_BATCH),
    }
    skipped = []
    servers = []
    try:
        if missing("rabbitmq-server") is None:
            rabbit = start_rabbitmq()
            servers.append(rabbit)
            contenders.update(
                {
                    "RabbitMQ classic, pika, prefetch 100, confirms off": lambda: rabbitmq(
                        rabbit.url, n, confirms=False
                    ),
                    "RabbitMQ classic, pika, prefetch 100, confirms on": lambda: rabbitmq(
                        rabbit.url, n, confirms=True
                    ),
                    "RabbitMQ quorum, pika, prefetch 100, confirms on": lambda: rabbitmq(
                        rabbit.url, n, confirms=True, kind="quorum"
                    ),
                }
            )
        else:
            skipped.append(f"RabbitMQ skipped: not installed ({missing('rabbitmq-server')})")
        if missing("redis-server") is None:
            redis_server = start_redis()
            servers.append(redis_server)
            contenders[f"Redis Streams, batches of {REDIS_BATCH}"] = lambda: redis_streams(
                redis_server.url, n
            )
        else:
            skipped.append(f"Redis skipped: not installed ({missing('redis-server')})")

        best = dict.fromkeys(contenders, float("inf"))
        for _ in range(args.repeat):
            for name, run in contenders.items():
                best[name] = min(best[name], run())
    finally:
        for s in servers:
            s.stop()

    m = machine()
    base = n / best["reference Queue (classic), per message"]
    rows = [
        "| contender | msgs/s | reference per message / contender |",
        "|---|---:|---:|",
    ]
    print(f"{n} messages, best of {args.repeat}, wall clock; {describe(m)}, load {m['load']}")
    for name, t in best.items():
        rate = n / t
        rows.append(f"| {name} | {rate:,.0f} | {base / rate:,.1f}x |")
        print(f"{name:58s} {rate:>12,.0f} msgs/s  ({base / rate:,.1f}x)")
    for line in skipped:
        print(line)
    if args.write:
        lines = [
            "# Live benchmark: the at-least-once cycle on real brokers",
            "",
            f"- date: {m['date']}",
            f"- machine: {describe(m)}; load average at the end: {m['load']}",
            f"- command: `python benchmarks/bench_live.py --messages {args.messages} "
            f"--repeat {args.repeat} --write`",
            f"- {n} messages of {len(PAYLOAD)} bytes per contender and round; msgs/s = messages / "
            "wall-clock time, best of the rounds, every contender taking a turn in each round.",
            "- RabbitMQ 3.10 and Redis 7 run as private servers on loopback (brokerlab.servers); "
            "RabbitMQ: publish all, then basic.consume at prefetch 100 and basic.ack each; Redis: "
            f"XADD pipelined {REDIS_BATCH} at a time, XREADGROUP COUNT {REDIS_BATCH}, one XACK "
            "per batch. The reference queue runs in this process on a virtual clock.",
            "",
            *rows,
            *(["", *skipped] if skipped else []),
        ]
        write_results(Path(__file__).resolve().parent / "results" / "live.md", lines)


if __name__ == "__main__":
    main()
