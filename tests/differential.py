"""Differential tests' two sides: one scenario, run on the reference broker and on a real RabbitMQ.

A *scenario* is a function ``scenario(side)`` that calls the methods of :class:`Side`
(declare, publish, consume, ack, nack, close, get, drain, wait). :func:`compare` runs it on a
:class:`Reference` (a :class:`brokerlab.Broker` on a virtual clock) and then on a
:class:`Rabbit` (pika, on a server from :mod:`brokerlab.servers`), and returns both
:class:`Trace` s, which hold what each side saw: every delivery pushed to each consumer, in
order, and what every ``get``/``drain`` returned, each as ``(message id, redelivered, headers)``
with the headers reduced to what both brokers can agree on (:func:`normal_headers`).

RabbitMQ works asynchronously: a consumer's deliveries arrive when they arrive. The reference
runs first, and after each step the RabbitMQ side waits until it has seen as many deliveries as
the reference made by then (or 5 s pass), then takes a short look for extra ones. Order is
compared per consumer (each consumer has its own channel, and RabbitMQ orders nothing across
channels).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from brokerlab import Broker
from brokerlab.servers import start_rabbitmq
from live_servers import need

#: Seconds a RabbitMQ side waits for the deliveries the reference made, before comparing.
PATIENCE = 5.0
#: Seconds it keeps listening for deliveries the reference did not make.
GRACE = 0.03

Seen = tuple[str, bool, dict[str, Any]]


def normal_headers(headers: dict[str, Any] | None) -> dict[str, Any]:
    """Headers as both sides can compare them.

    - ``x-death`` entries keep every field but ``time`` (a wall-clock timestamp on RabbitMQ,
      the virtual clock's seconds on the reference); ``original-expiration`` becomes seconds
      (RabbitMQ writes the ``expiration`` property back: milliseconds, as a string);
    - ``x-last-death-queue/-reason/-exchange`` are left out: RabbitMQ sets them from 3.13 on,
      the reference models 3.13 (see ``test_last_death_headers_are_3_13``), the server here is
      3.10;
    - ``Decimal`` and the AMQP integer types come back as Python numbers.
    """
    out: dict[str, Any] = {}
    for k, v in (headers or {}).items():
        if k.startswith("x-last-death-"):
            continue
        if k == "x-death":
            v = [_death(d) for d in v]
        elif isinstance(v, Decimal):
            v = float(v)
        elif isinstance(v, bytes):
            v = v.decode()
        out[k] = v
    return out


def _death(d: dict[str, Any]) -> dict[str, Any]:
    entry = {k: v for k, v in d.items() if k != "time"}
    entry["count"] = int(entry["count"])
    entry["routing-keys"] = [k.decode() if isinstance(k, bytes) else k for k in d["routing-keys"]]
    if "original-expiration" in entry:
        exp = entry["original-expiration"]
        entry["original-expiration"] = float(exp) / 1000 if isinstance(exp, (str, bytes)) else exp
    return entry


@dataclass
class Trace:
    """What one side saw: pushed deliveries per consumer, and each get/drain's result."""

    pushed: dict[str, list[Seen]] = field(default_factory=dict)
    pulled: list[tuple[str, list[Seen]]] = field(default_factory=list)

    def ids(self, consumer: str) -> list[str]:
        return [i for i, _, _ in self.pushed.get(consumer, [])]

    def drained(self, label: str) -> list[Seen]:
        return [s for lbl, got in self.pulled if lbl == label for s in got]


@dataclass(frozen=True)
class QueueSpec:
    """A queue's settings, in the words both sides translate: ``kind`` "classic" or "quorum",
    ``ttl`` seconds, ``dlx``/``dlk`` the dead-letter exchange and routing key."""

    kind: str = "classic"
    ttl: float | None = None
    max_length: int | None = None
    delivery_limit: int | None = None
    dlx: str | None = None
    dlk: str | None = None


class Side:
    """The calls a scenario makes. Each public call does its work (``_declare``, ``_publish``,
    ...: one per side) and then lets the side collect the deliveries it caused."""

    def __init__(self) -> None:
        self.trace = Trace()
        self.marks: list[int] = []  # deliveries seen after each step (set by the reference)
        self.step = 0
        self.held: dict[str, dict[str, Any]] = {}  # consumer -> message id -> its handle

    def last(self, consumer: str) -> str:
        """The id of the latest delivery pushed to ``consumer``."""
        return self.trace.pushed[consumer][-1][0]

    def _pushed(self) -> int:
        return sum(len(v) for v in self.trace.pushed.values())

    def _record(self, consumer: str, seen: Seen, handle: Any) -> None:
        self.trace.pushed.setdefault(consumer, []).append(seen)
        self.held.setdefault(consumer, {})[seen[0]] = handle

    def _collect(self) -> None:  # pragma: no cover - each side has its own
        raise NotImplementedError

    # --- the calls -------------------------------------------------------------------------

    def queue(self, name: str, **settings: Any) -> None:
        """Declare queue ``name`` with :class:`QueueSpec` settings."""
        self._declare(name, QueueSpec(**settings))
        self._collect()

    def exchange(self, name: str, type: str) -> None:
        self._exchange(name, type)
        self._collect()

    def bind(self, queue: str, exchange: str, key: str = "", arguments: dict | None = None) -> None:
        self._bind(queue, exchange, key, arguments)
        self._collect()

    def publish(
        self,
        exchange: str,
        key: str,
        id: str,
        *,
        headers: dict | None = None,
        ttl: float | None = None,
    ) -> None:
        """Publish a message whose id and body are ``id``; ``ttl`` in seconds."""
        self._publish(exchange, key, id, headers, ttl)
        self._collect()

    def consume(self, consumer: str, queue: str, prefetch: int = 0) -> None:
        self._consume(consumer, queue, prefetch)
        self._collect()

    def ack(self, consumer: str, id: str) -> None:
        self._settle(consumer, self.held[consumer].pop(id), "ack", False)
        self._collect()

    def nack(self, consumer: str, id: str, requeue: bool) -> None:
        self._settle(consumer, self.held[consumer].pop(id), "nack", requeue)
        self._collect()

    def reject(self, consumer: str, id: str, requeue: bool) -> None:
        self._settle(consumer, self.held[consumer].pop(id), "reject", requeue)
        self._collect()

    def close(self, consumer: str) -> None:
        """The consumer's channel closes: what it holds goes back to the queue."""
        self._close(consumer)
        self.held.pop(consumer, None)
        self._collect()

    def drain(self, queue: str) -> list[Seen]:
        """basic.get and ack until the queue is empty; returns (and records) what came."""
        got = self._drain(queue)
        self.trace.pulled.append((queue, got))
        self._collect()
        return got

    def wait(self, seconds: float) -> None:
        self._wait(seconds)
        self._collect()


class Reference(Side):
    """The reference broker, on a virtual clock."""

    name = "reference"

    def __init__(self) -> None:
        super().__init__()
        self.broker = Broker()
        self.consumers: dict[str, Any] = {}

    def _collect(self) -> None:
        for name, c in self.consumers.items():
            if c.is_open:
                for d in c.take():
                    self._record(name, _seen_ref(d), d)
        self.marks.append(self._pushed())
        self.step += 1

    def _declare(self, name: str, spec: QueueSpec) -> None:
        limit = {} if spec.delivery_limit is None else {"delivery_limit": spec.delivery_limit}
        self.broker.declare_queue(
            name,
            dead_letter_exchange=spec.dlx,
            dead_letter_routing_key=spec.dlk,
            queue_type=spec.kind,
            message_ttl=spec.ttl,
            max_length=spec.max_length,
            **limit,
        )

    def _exchange(self, name: str, type: str) -> None:
        self.broker.declare_exchange(name, type)

    def _bind(self, queue: str, exchange: str, key: str, arguments: dict | None) -> None:
        self.broker.bind(queue, exchange, key, arguments)

    def _publish(self, exchange: str, key: str, id: str, headers: Any, ttl: Any) -> None:
        self.broker.publish(exchange, key, id, id=id, headers=headers, ttl=ttl)

    def _consume(self, consumer: str, queue: str, prefetch: int) -> None:
        self.consumers[consumer] = self.broker.queue(queue).consume(consumer, prefetch=prefetch)

    def _settle(self, consumer: str, delivery: Any, how: str, requeue: bool) -> None:
        c = self.consumers[consumer]
        if how == "ack":
            c.ack(delivery)
        else:
            getattr(c, how)(delivery, requeue=requeue)

    def _close(self, consumer: str) -> None:
        self.consumers[consumer].close()

    def _drain(self, queue: str) -> list[Seen]:
        q = self.broker.queue(queue)
        got = []
        while ds := q.receive(1):
            got.append(_seen_ref(ds[0]))
            q.ack(ds[0])
        return got

    def _wait(self, seconds: float) -> None:
        self.broker.clock.advance(seconds)
        self.broker.catch_up()


def _seen_ref(d: Any) -> Seen:
    return (d.message.id, bool(d.redelivered), normal_headers(d.message.headers))


class Rabbit(Side):
    """A real RabbitMQ, through pika: one connection, a confirming control channel, and one
    channel per consumer (closing it requeues what it holds, as a crash would)."""

    name = "rabbitmq"

    def __init__(self, conn: Any, marks: list[int]) -> None:
        super().__init__()
        import pika

        self.pika = pika
        self.conn = conn
        self.ch = conn.channel()
        self.ch.confirm_delivery()
        self.marks = marks
        self.channels: dict[str, Any] = {}
        self.consuming: dict[str, str] = {}  # consumer -> its queue
        self.kinds: dict[str, str] = {}  # queue -> "classic" or "quorum"
        self.exchanges: list[str] = []

    def _collect(self) -> None:
        """Wait for as many deliveries as the reference had made by this step, then listen a
        little longer for any it did not make."""
        want = self.marks[self.step] if self.step < len(self.marks) else self._pushed()
        deadline = time.monotonic() + PATIENCE
        while self._pushed() < want and time.monotonic() < deadline:
            self.conn.process_data_events(time_limit=0.01)
        self.conn.process_data_events(time_limit=GRACE)
        self.step += 1

    def _on_delivery(self, consumer: str) -> Any:
        def record(ch: Any, method: Any, props: Any, body: bytes) -> None:
            seen = (props.message_id, bool(method.redelivered), normal_headers(props.headers))
            self._record(consumer, seen, method.delivery_tag)

        return record

    def _declare(self, name: str, spec: QueueSpec) -> None:
        args: dict[str, Any] = {"x-queue-type": spec.kind}
        for key, value in (
            ("x-message-ttl", None if spec.ttl is None else round(spec.ttl * 1000)),
            ("x-max-length", spec.max_length),
            ("x-delivery-limit", spec.delivery_limit),
            ("x-dead-letter-exchange", spec.dlx),
            ("x-dead-letter-routing-key", spec.dlk),
        ):
            if value is not None:
                args[key] = value
        self.ch.queue_delete(name)
        self.ch.queue_declare(name, durable=spec.kind == "quorum", arguments=args)
        self.kinds[name] = spec.kind

    def _exchange(self, name: str, type: str) -> None:
        self.ch.exchange_delete(name)
        self.ch.exchange_declare(name, type)
        self.exchanges.append(name)

    def _bind(self, queue: str, exchange: str, key: str, arguments: dict | None) -> None:
        self.ch.queue_bind(queue, exchange, key, arguments)

    def _publish(self, exchange: str, key: str, id: str, headers: Any, ttl: Any) -> None:
        expiration = None if ttl is None else str(round(ttl * 1000))
        props = self.pika.BasicProperties(message_id=id, headers=headers, expiration=expiration)
        self.ch.basic_publish(exchange, key, id.encode(), props)

    def _consume(self, consumer: str, queue: str, prefetch: int) -> None:
        ch = self.conn.channel()
        ch.basic_qos(prefetch_count=prefetch)
        ch.basic_consume(queue, self._on_delivery(consumer), consumer_tag=consumer)
        self.channels[consumer] = ch
        self.consuming[consumer] = queue

    def _settle(self, consumer: str, tag: Any, how: str, requeue: bool) -> None:
        ch = self.channels[consumer]
        if how == "ack":
            ch.basic_ack(tag)
        else:
            getattr(ch, f"basic_{how}")(tag, requeue=requeue)
        # A synchronous call on the same channel: the channel hands the settlement to the queue
        # before it asks the queue for its state, so the queue has seen it before the next step.
        ch.queue_declare(self.consuming[consumer], passive=True)

    def _close(self, consumer: str) -> None:
        self.channels.pop(consumer).close()

    def _drain(self, queue: str) -> list[Seen]:
        got = []
        while True:
            method, props, _ = self.ch.basic_get(queue)
            if method is None:
                return got
            headers = normal_headers(props.headers)
            if self.kinds.get(queue) == "quorum" and headers.get("x-delivery-count") == 0:
                # RabbitMQ 3.10 writes x-delivery-count 0 on a quorum queue's basic.get of a
                # message that never came back (basic.consume leaves it out); the reference
                # writes it from the first return on (test_quorum_get_says_delivery_count_0).
                del headers["x-delivery-count"]
            got.append((props.message_id, bool(method.redelivered), headers))
            self.ch.basic_ack(method.delivery_tag)

    def _wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.conn.process_data_events(time_limit=left)

    def cleanup(self) -> None:
        """Close the consumers' channels, delete every queue and exchange declared."""
        for ch in self.channels.values():
            if ch.is_open:
                ch.close()
        self.channels.clear()
        for q in self.kinds:
            self.ch.queue_delete(q)
        for x in self.exchanges:
            self.ch.exchange_delete(x)
        self.ch.close()


@contextmanager
def rabbitmq_connection() -> Iterator[Any]:
    """A RabbitMQ node of its own and a pika connection to it, for one test module; skips (or
    fails under CI=true) when RabbitMQ or pika is missing."""
    need("rabbitmq-server")
    pika = pytest.importorskip("pika")
    with start_rabbitmq() as server:
        connection = pika.BlockingConnection(pika.URLParameters(server.url))
        try:
            yield connection
        finally:
            connection.close()


def compare(scenario: Any, conn: Any) -> tuple[Trace, Trace]:
    """Run ``scenario`` on the reference, then on RabbitMQ (``conn``: a pika connection).

    Returns ``(reference trace, rabbitmq trace)``; everything the RabbitMQ side declared is
    deleted afterwards.
    """
    ref = Reference()
    scenario(ref)
    live = Rabbit(conn, ref.marks)
    try:
        scenario(live)
    finally:
        live.cleanup()
    return ref.trace, live.trace
