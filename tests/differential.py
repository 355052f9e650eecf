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
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from brokerlab import Broker

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


class Side:
    """The calls a scenario makes. ``kind`` is "classic" or "quorum"; ``ttl`` in seconds."""

    def __init__(self) -> None:
        self.trace = Trace()
        self.marks: list[int] = []  # deliveries seen after each step (set by the reference)
        self.step = 0

    def last(self, consumer: str) -> str:
        """The id of the latest delivery pushed to ``consumer``."""
        return self.trace.pushed[consumer][-1][0]

    def _pushed(self) -> int:
        return sum(len(v) for v in self.trace.pushed.values())

    def _done(self) -> None:  # after every step
        self.step += 1


class Reference(Side):
    """The reference broker, on a virtual clock."""

    name = "reference"

    def __init__(self) -> None:
        super().__init__()
        self.broker = Broker()
        self.consumers: dict[str, Any] = {}
        self.held: dict[str, dict[str, Any]] = {}  # consumer -> message id -> Delivery

    def _collect(self) -> None:
        for name, c in self.consumers.items():
            if not c.is_open:
                continue
            for d in c.take():
                self.trace.pushed.setdefault(name, []).append(_seen_ref(d))
                self.held.setdefault(name, {})[d.message.id] = d
        self.marks.append(self._pushed())
        self._done()

    def queue(
        self,
        name: str,
        *,
        kind: str = "classic",
        ttl: float | None = None,
        max_length: int | None = None,
        delivery_limit: int | None = None,
        dlx: str | None = None,
        dlk: str | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"queue_type": kind, "message_ttl": ttl, "max_length": max_length}
        if delivery_limit is not None:
            kwargs["delivery_limit"] = delivery_limit
        self.broker.declare_queue(
            name, dead_letter_exchange=dlx, dead_letter_routing_key=dlk, **kwargs
        )
        self._collect()

    def exchange(self, name: str, type: str) -> None:
        self.broker.declare_exchange(name, type)
        self._collect()

    def bind(self, queue: str, exchange: str, key: str = "", arguments: dict | None = None) -> None:
        self.broker.bind(queue, exchange, key, arguments)
        self._collect()

    def publish(
        self,
        exchange: str,
        key: str,
        id: str,
        *,
        headers: dict[str, Any] | None = None,
        ttl: float | None = None,
    ) -> list[str]:
        routed = self.broker.publish(exchange, key, id, id=id, headers=headers, ttl=ttl)
        self._collect()
        return sorted(routed)

    def consume(self, consumer: str, queue: str, prefetch: int = 0) -> None:
        self.consumers[consumer] = self.broker.queue(queue).consume(consumer, prefetch=prefetch)
        self._collect()

    def _settle(self, consumer: str, id: str, how: str, requeue: bool = True) -> None:
        d = self.held[consumer].pop(id)
        c = self.consumers[consumer]
        if how == "ack":
            c.ack(d)
        else:
            getattr(c, how)(d, requeue=requeue)
        self._collect()

    def ack(self, consumer: str, id: str) -> None:
        self._settle(consumer, id, "ack")

    def nack(self, consumer: str, id: str, requeue: bool) -> None:
        self._settle(consumer, id, "nack", requeue)

    def reject(self, consumer: str, id: str, requeue: bool) -> None:
        self._settle(consumer, id, "reject", requeue)

    def close(self, consumer: str) -> None:
        self.consumers[consumer].close()
        self.held.pop(consumer, None)
        self._collect()

    def cancel(self, consumer: str) -> None:
        """basic.cancel: no more deliveries; the unacked stay unacked (not modelled: closes)."""
        self.close(consumer)

    def drain(self, queue: str) -> list[Seen]:
        """basic.get + ack until the queue is empty."""
        q = self.broker.queue(queue)
        got = []
        while True:
            ds = q.receive(1)
            if not ds:
                break
            got.append(_seen_ref(ds[0]))
            q.ack(ds[0])
        self.trace.pulled.append((queue, got))
        self._collect()
        return got

    def wait(self, seconds: float) -> None:
        self.broker.clock.advance(seconds)
        self.broker.catch_up()
        self._collect()


def _seen_ref(d: Any) -> Seen:
    return (
        d.message.id,
        bool(d.redelivered),
        normal_headers(getattr(d, "headers", None) or d.message.headers),
    )


class Rabbit(Side):
    """A real RabbitMQ, through pika: one connection, a confirming control channel, and one
    channel per consumer (closing it requeues what it holds, as a crash would)."""

    name = "rabbitmq"

    def __init__(self, conn: Any, marks: list[int], prefix: str = "") -> None:
        super().__init__()
        import pika

        self.pika = pika
        self.conn = conn
        self.ch = conn.channel()
        self.ch.confirm_delivery()
        self.marks = marks
        self.channels: dict[str, Any] = {}
        self.consuming: dict[str, str] = {}  # consumer -> its queue
        self.held: dict[str, dict[str, int]] = {}  # consumer -> message id -> delivery tag
        self.queues: list[str] = []
        self.kinds: dict[str, str] = {}
        self.exchanges: list[str] = []

    # --- waiting ---------------------------------------------------------------------------

    def _collect(self) -> None:
        want = self.marks[self.step] if self.step < len(self.marks) else self._pushed()
        deadline = time.monotonic() + PATIENCE
        while self._pushed() < want and time.monotonic() < deadline:
            self.conn.process_data_events(time_limit=0.01)
        self.conn.process_data_events(time_limit=GRACE)
        self._done()

    def _on_delivery(self, consumer: str) -> Any:
        def record(ch: Any, method: Any, props: Any, body: bytes) -> None:
            id = props.message_id or body.decode()
            self.trace.pushed.setdefault(consumer, []).append(
                (id, bool(method.redelivered), normal_headers(props.headers))
            )
            self.held.setdefault(consumer, {})[id] = method.delivery_tag

        return record

    # --- the calls -------------------------------------------------------------------------

    def queue(
        self,
        name: str,
        *,
        kind: str = "classic",
        ttl: float | None = None,
        max_length: int | None = None,
        delivery_limit: int | None = None,
        dlx: str | None = None,
        dlk: str | None = None,
    ) -> None:
        args: dict[str, Any] = {"x-queue-type": kind}
        if ttl is not None:
            args["x-message-ttl"] = round(ttl * 1000)
        if max_length is not None:
            args["x-max-length"] = max_length
        if delivery_limit is not None:
            args["x-delivery-limit"] = delivery_limit
        if dlx is not None:
            args["x-dead-letter-exchange"] = dlx
        if dlk is not None:
            args["x-dead-letter-routing-key"] = dlk
        self.ch.queue_delete(name)
        self.ch.queue_declare(name, durable=kind == "quorum", arguments=args)
        self.queues.append(name)
        self.kinds[name] = kind
        self._collect()

    def exchange(self, name: str, type: str) -> None:
        self.ch.exchange_delete(name)
        self.ch.exchange_declare(name, type)
        self.exchanges.append(name)
        self._collect()

    def bind(self, queue: str, exchange: str, key: str = "", arguments: dict | None = None) -> None:
        self.ch.queue_bind(queue, exchange, key, arguments)
        self._collect()

    def publish(
        self,
        exchange: str,
        key: str,
        id: str,
        *,
        headers: dict[str, Any] | None = None,
        ttl: float | None = None,
    ) -> None:
        props = self.pika.BasicProperties(
            message_id=id,
            headers=headers,
            expiration=None if ttl is None else str(round(ttl * 1000)),
        )
        self.ch.basic_publish(exchange, key, id.encode(), props)
        self._collect()

    def consume(self, consumer: str, queue: str, prefetch: int = 0) -> None:
        ch = self.conn.channel()
        ch.basic_qos(prefetch_count=prefetch)
        ch.basic_consume(queue, self._on_delivery(consumer), consumer_tag=consumer)
        self.channels[consumer] = ch
        self.consuming[consumer] = queue
        self._collect()

    def _tag(self, consumer: str, id: str) -> int:
        return self.held[consumer].pop(id)

    def _barrier(self, consumer: str) -> None:
        """A synchronous call on the consumer's channel after an ack or nack: the channel hands
        the settlement to the queue before it asks the queue for its state, so the queue has
        seen it before the next step starts."""
        self.channels[consumer].queue_declare(self.consuming[consumer], passive=True)

    def ack(self, consumer: str, id: str) -> None:
        self.channels[consumer].basic_ack(self._tag(consumer, id))
        self._barrier(consumer)
        self._collect()

    def nack(self, consumer: str, id: str, requeue: bool) -> None:
        self.channels[consumer].basic_nack(self._tag(consumer, id), requeue=requeue)
        self._barrier(consumer)
        self._collect()

    def reject(self, consumer: str, id: str, requeue: bool) -> None:
        self.channels[consumer].basic_reject(self._tag(consumer, id), requeue=requeue)
        self._barrier(consumer)
        self._collect()

    def close(self, consumer: str) -> None:
        self.channels.pop(consumer).close()
        self.held.pop(consumer, None)
        self._collect()

    def drain(self, queue: str) -> list[Seen]:
        got = []
        while True:
            method, props, body = self.ch.basic_get(queue)
            if method is None:
                break
            headers = normal_headers(props.headers)
            if self.kinds.get(queue) == "quorum" and headers.get("x-delivery-count") == 0:
                # RabbitMQ 3.10 writes x-delivery-count 0 on a quorum queue's basic.get of a
                # message that never came back (basic.consume leaves it out); the reference
                # writes it from the first return on (test_quorum_get_says_delivery_count_0).
                del headers["x-delivery-count"]
            got.append((props.message_id or body.decode(), bool(method.redelivered), headers))
            self.ch.basic_ack(method.delivery_tag)
        self.trace.pulled.append((queue, got))
        self._collect()
        return got

    def wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.conn.process_data_events(time_limit=left)
        self._collect()

    def cleanup(self) -> None:
        for ch in self.channels.values():
            if ch.is_open:
                ch.close()
        self.channels.clear()
        for q in self.queues:
            self.ch.queue_delete(q)
        for x in self.exchanges:
            self.ch.exchange_delete(x)
        self.ch.close()


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
