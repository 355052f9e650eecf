"""Live runs: the course's handlers on a real RabbitMQ and a real Redis, recorded as a history.

A handler written for the simulation, ``handle(delivery, ctx)``, runs here unchanged against a
real broker. The run takes the same :class:`~brokerlab.scenario.Scenario` as
:func:`~brokerlab.simulation.simulate`, records a :class:`~brokerlab.history.History` in the
same vocabulary (on a :class:`~brokerlab.clock.RealClock`), and the same checker judges it:

>>> from brokerlab import Scenario, Fault                          # doctest: +SKIP
>>> from brokerlab.servers import start_rabbitmq                   # doctest: +SKIP
>>> with start_rabbitmq() as server:                               # doctest: +SKIP
...     run = run_live(Scenario(messages=3, faults=[Fault("crash_after_processing", msg="m1")]),
...                    RabbitMQ(server.url))
...     run.counts["duplicated"]
1

Two adapters, one interface (:class:`LiveBroker`):

- :class:`RabbitMQ` (pika): a quorum queue ``jobs`` with a dead-letter queue ``jobs.dlq``
  behind the default exchange. Consumers are pushed deliveries (``basic.consume``, prefetch
  from ``BrokerSetup.prefetch``) on connections of their own. ``ctx.ack()`` is ``basic.ack``,
  ``ctx.nack(requeue)`` is ``basic.nack``. The queue's ``x-delivery-limit`` dead-letters a
  message that keeps coming back (reason ``delivery_limit``), a ``nack(requeue=False)``
  dead-letters it at once (``rejected``); the dead letter carries RabbitMQ's own ``x-death``.
- :class:`RedisStreams` (redis-py): a stream ``jobs`` read by the consumer group ``workers``
  (``XREADGROUP``). Each delivery stays in the group's **pending entries list** until
  ``XACK``. Redis never hands a pending entry out again by itself: a consumer looks at the
  list (``XPENDING``) and takes over an entry that has sat idle long enough with ``XCLAIM``
  (which counts one more delivery; Redis checks the minimum idle time itself, so two consumers
  never both take it), and that is how a crashed consumer's entries, and nacked ones, come
  back. Redis has no dead-letter queue either: when a claimed entry has been delivered more
  than ``max_receive_count`` times, or is nacked with ``requeue=False``, the adapter copies it
  to the stream ``jobs.dlq`` with its death record (reason, source stream, delivery count,
  time) and ``XACK``\\ s it, the pattern the Redis documentation describes for streams.

Delayed retries
---------------
``ctx.nack(requeue=True, delay=d)`` asks for the message again no sooner than ``d`` seconds
from now (chapter 07's backoff; the reference broker's SQS setup uses SQS
``ChangeMessageVisibility``, its queue setup holds the delivery as the RabbitMQ adapter does).
Neither real broker has a delayed requeue, and the usual workarounds lose the delivery count
that the delivery limit needs, so each adapter builds the delay from what keeps the count:

- **RabbitMQ: the consumer holds the delivery.** It stays unacked on the consumer's channel for
  ``d`` seconds, then the consumer sends ``basic.nack(requeue=True)``. The quorum queue counts
  that return like any other (``x-delivery-count``, RabbitMQ's *Quorum Queues* guide, "Poison
  Message Handling"), so ``x-delivery-limit`` still dead-letters a message that keeps failing,
  with reason ``delivery_limit``. The common alternative, a retry queue with a per-message TTL
  that dead-letters back into the work queue (*Dead Letter Exchanges* and *Time-To-Live and
  Expiration* guides), makes every retry a new message in the work queue, whose
  ``x-delivery-count`` starts again from zero: the delivery limit never trips (only the
  ``x-death`` count grows; ``tests/test_live_retry.py`` shows it on RabbitMQ 3.10.8). The
  delayed-message exchange is a plugin, not in the server, and republishes too. The
  price of holding: a held delivery takes one of the channel's ``basic.qos`` prefetch slots
  for the whole delay, and a delay longer than ``consumer_timeout`` (30 minutes by default,
  *Consumer Acknowledgements and Publisher Confirms* guide) would make RabbitMQ close the
  channel. If the consumer dies meanwhile, the closed channel requeues the delivery at once,
  before its delay is over.
- **Redis: the entry stays pending.** The adapter restarts the entry's idle time (``XCLAIM`` to
  the same consumer with ``IDLE 0`` and ``JUSTID``, which does not count a delivery: Redis's
  ``xclaimCommand`` in ``t_stream.c``) and writes the wait into the hash ``jobs.backoff``. A
  consumer claims the entry only with ``XCLAIM``'s minimum idle time set to that wait, so
  Redis itself refuses it until the delay is over; the claim counts one more delivery, as any
  claim does. Redis measures idle time in whole milliseconds: a delay is rounded up to the next
  one.

In the history the ``nack`` carries ``delay``; the ``redeliver`` comes when the delay is over
(reason ``backoff over`` on RabbitMQ, ``claimed (XCLAIM)`` on Redis), as the reference
broker's comes when the visibility timeout runs out.

How a run goes
--------------
The producer publishes every message first (``m1``, ``m2``..., key ``k1``..., payload the
message's number) and waits for each confirm (RabbitMQ publisher confirms; Redis answers each
``XADD`` with the entry id). Then the consumers take turns: each asks its broker for its next
delivery and runs the handler on it, until every message is acked or dead-lettered. One
thread does it all, so the order of events is easy to follow.

Faults are the simulation's, from ``scenario.faults`` (a schedule of
:class:`~brokerlab.faults.Fault`, or probabilities drawn from ``scenario.seed``), and strike
at the same calls: ``crash_before_processing`` and ``crash_after_processing`` at
``ctx.effect()``, ``lost_ack`` at ``ctx.ack()``, ``poison_message`` makes every
``ctx.effect()`` of that message raise :class:`~brokerlab.errors.PoisonMessage`. A crash is
real as far as the broker can tell: the consumer's connection is closed with deliveries
unacked, and a new connection takes its place (a ``restart`` event). RabbitMQ requeues what
the closed channel held (``redeliver``, reason ``channel closed``); Redis keeps those entries
pending until a consumer claims them (``redeliver``, reason ``claimed (XCLAIM)``). A lost
ack closes the connection without sending the ack.

Deliberate differences from :func:`~brokerlab.simulation.simulate`
------------------------------------------------------------------
- Time is real, so event times differ from run to run; the *order* of a message's events is
  what to compare (:func:`story`).
- The producer publishes everything before the consumers start (the simulation publishes at
  ``producers.rate`` while consuming); the faults that strike the producer or the network
  (``producer_retry``, ``network_delay``, ``duplicate_delivery``, ``broker_restart``,
  ``rebalance``) are not injected here: :mod:`brokerlab.durability` and
  :mod:`brokerlab.replication` kill real brokers instead.
- ``max_receive_count`` N (the reference queue's delivery limit: N deliveries, then the dead
  letters) is RabbitMQ's ``x-delivery-limit`` N - 1: RabbitMQ counts *returns* (a message
  returned more than ``x-delivery-limit`` times is dead-lettered), so it allows one delivery
  more than the number it is given.
- A restarted consumer comes back at once (no ``restart_delay``).
- A scenario may be ``BrokerSetup(kind="sqs")`` as well as ``"queue"``. Both reference setups
  take ``ctx.nack(delay=...)``: the queue setup as the RabbitMQ adapter does (the consumer
  holds the delivery, then nacks), the SQS setup with ``ChangeMessageVisibility``. On the real
  brokers an SQS scenario runs on the same queue or stream as any other: the SQS settings
  (visibility timeout, receive batch, poll interval) have no counterpart, and a crashed
  consumer's messages come back when its channel closes (RabbitMQ) or when they are claimed
  (Redis), not when a visibility timeout runs out.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .clock import RealClock
from .errors import InvalidArgument, PoisonMessage, ScenarioError
from .history import History
from .queue_limits import check_nack
from .scenario import Scenario
from .simulation import DedupStore, HandlerError, Run, builtin_handler

__all__ = [
    "LIVE_FAULTS",
    "LiveBroker",
    "LiveContext",
    "LiveDelivery",
    "LiveRun",
    "RabbitMQ",
    "RedisStreams",
    "draw_side_by_side",
    "retry_waits",
    "route_topics",
    "run_live",
    "side_by_side",
    "story",
    "table",
    "who_processed",
]

#: The faults a live run can inject (the others act on producers, the network or the broker).
LIVE_FAULTS = ("crash_before_processing", "crash_after_processing", "lost_ack", "poison_message")
QUEUE = "jobs"
DEAD_LETTER_QUEUE = "jobs.dlq"
GROUP = "workers"
#: A run that has not settled after this many seconds stops (``LiveRun.stopped == "duration"``).
TIMEOUT = 30.0
#: A claim looks at this many pending entries at most (XPENDING's COUNT).
PENDING_SCAN = 1000


class _Crash(BaseException):
    """A fault struck: the consumer process is gone (not an Exception: handlers can't catch it
    with ``except Exception``)."""

    def __init__(self, when: str) -> None:
        super().__init__(when)
        self.when = when


# --- what a handler sees -----------------------------------------------------------------------


@dataclass
class LiveDelivery:
    """One delivery from a real broker, with the fields the course's handlers read.

    ``id`` is the producer's message id (AMQP ``message_id``; a field of the stream entry),
    ``receive_count`` the number of times it has been delivered, this one included (RabbitMQ
    quorum queues: ``x-delivery-count`` + 1; Redis: the pending entry's delivery counter).
    ``tag`` is the broker's own handle (AMQP delivery tag; stream entry id).
    """

    id: str
    payload: Any
    key: str | None
    redelivered: bool
    receive_count: int
    headers: dict[str, Any]
    tag: Any
    queue: str = QUEUE

    def __repr__(self) -> str:
        again = ", redelivered" if self.redelivered else ""
        return f"LiveDelivery({self.id!r}, {self.payload!r}, receive_count={self.receive_count}{again})"


class LiveContext:
    """``ctx`` for a handler on a real broker: the same calls as the simulation's
    :class:`~brokerlab.simulation.Context` (``effect``, ``ack``, ``nack``, ``reject``,
    ``store``, ``consumer``, ``now``), carried out on the broker."""

    def __init__(self, run: _LiveRunner, consumer: _Consumer, delivery: LiveDelivery) -> None:
        self._run = run
        self._consumer = consumer
        self.delivery = delivery
        self.store = run.store
        self.settled = False
        self._dead: str | None = None

    @property
    def now(self) -> float:
        return self._run.clock.now()

    @property
    def consumer(self) -> str:
        return self._consumer.name

    def _die(self, when: str) -> _Crash:
        self._dead = when
        return _Crash(when)

    def _alive(self) -> None:
        if self._dead is not None:
            raise _Crash(self._dead)

    def effect(self, value: Any = None, *, remember: Any = None) -> None:
        """Do the work that must happen once (a ``process`` event); ``remember=id`` adds the
        id to ``ctx.store`` in the same step."""
        self._alive()
        run, msg = self._run, self.delivery.id
        if run.strikes("crash_before_processing", msg):
            raise self._die("before processing")
        if msg in run.poison:
            raise PoisonMessage(
                f"{msg} is a poison message: processing it always fails. Catch PoisonMessage and "
                "reject it (ctx.nack(requeue=False)) to dead-letter it at once."
            )
        info = {} if value is None else {"value": value}
        run.record(self._consumer.name, "process", msg, key=self.delivery.key, **info)
        if remember is not None:
            self.store.add(remember)
        if run.strikes("crash_after_processing", msg):
            raise self._die("after processing")

    def ack(self) -> None:
        """Acknowledge the delivery (``basic.ack``; ``XACK``)."""
        self._alive()
        run, c, msg = self._run, self._consumer, self.delivery.id
        if run.strikes("lost_ack", msg):
            run.record(c.name, "lost", msg, what="ack")
            raise self._die("ack lost")
        run.broker.ack(c.handle, self.delivery)
        self.settled = True
        run.settled.add(msg)
        run.record(c.name, "ack", msg)

    def nack(self, requeue: bool = True, delay: float = 0.0) -> None:
        """Give the delivery back (``requeue=True``) or dead-letter it (``requeue=False``).

        ``delay``: seconds before the message may be delivered again (a retry's backoff,
        0..43200 as SQS allows). Neither broker has a delayed requeue of its own, so each
        adapter builds one that keeps the delivery count (see the module docstring, "Delayed
        retries"): RabbitMQ's consumer keeps the delivery unacked for ``delay`` seconds and
        then sends ``basic.nack``; Redis keeps the entry pending and a consumer claims it
        (``XCLAIM``) once it has been idle for ``delay`` seconds.
        """
        self._alive()
        check_nack(requeue, delay)
        run, c, msg = self._run, self._consumer, self.delivery.id
        run.record(c.name, "nack", msg, requeue=requeue, **({"delay": delay} if delay else {}))
        self.settled = True
        if delay and not run.broker.delays_on_server:
            run.hold(c, self.delivery, delay)  # basic.nack when the delay is over
            return
        run.broker.nack(c.handle, self.delivery, requeue, delay)
        if requeue and not delay and run.comes_back(self.delivery):
            run.record("broker", "redeliver", msg, reason="nack")

    def reject(self, requeue: bool = False) -> None:
        """``basic.reject``: like :meth:`nack`, dead-lettering by default."""
        self.nack(requeue)

    def __repr__(self) -> str:
        return f"LiveContext({self._consumer.name}, {self.delivery.id}, t={self.now:.3f})"


# --- the brokers ---------------------------------------------------------------------------------


class LiveBroker:
    """What a real broker must offer a live run (one subclass per broker)."""

    name = "broker"
    #: True when a nack(requeue=True) puts the message back at once (RabbitMQ); False when it
    #: waits to be claimed (Redis).
    requeues_at_once = True
    #: True when the broker itself can hold a nacked message back for a delay (Redis: the
    #: entry stays pending until it is claimed); False when the consumer must hold the
    #: delivery unacked for the delay and nack it afterwards (RabbitMQ).
    delays_on_server = False

    def setup(self, max_receive_count: int | None, prefetch: int) -> None:
        raise NotImplementedError  # pragma: no cover

    def publish(self, msg: str, key: str, payload: Any) -> bool:
        """Publish and wait for the broker's confirm; True when confirmed."""
        raise NotImplementedError  # pragma: no cover

    def connect(self, consumer: str) -> Any:
        """Open a consumer's connection; returns its handle."""
        raise NotImplementedError  # pragma: no cover

    def poll(self, handle: Any) -> tuple[LiveDelivery | None, list[str]]:
        """The consumer's next delivery (or None), and the ids of messages that came back to
        it by a claim (Redis; RabbitMQ's redeliveries need no claim)."""
        raise NotImplementedError  # pragma: no cover

    def ack(self, handle: Any, d: LiveDelivery) -> None:
        raise NotImplementedError  # pragma: no cover

    def nack(self, handle: Any, d: LiveDelivery, requeue: bool, delay: float = 0.0) -> None:
        """Give ``d`` back (after ``delay`` seconds, if the broker ``delays_on_server``), or
        dead-letter it."""
        raise NotImplementedError  # pragma: no cover

    def crash(self, handle: Any) -> None:
        """The consumer dies: its connection goes, whatever it had not acked stays unacked."""
        raise NotImplementedError  # pragma: no cover

    def dead_letters(self) -> list[tuple[str, str | None, dict[str, Any]]]:
        """Messages that reached the dead letters since the last call: (id, key, death)."""
        raise NotImplementedError  # pragma: no cover

    def close(self) -> None:
        raise NotImplementedError  # pragma: no cover

    def __enter__(self) -> LiveBroker:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _plain(value: Any) -> Any:
    """pika's table values as plain Python: bytes as str, its ``long`` as int, lists/dicts deep."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


class RabbitMQ(LiveBroker):
    """A real RabbitMQ through pika (see the module docstring). ``url``: an AMQP URL, e.g.
    ``RabbitMQServer.url``. ``queue_type``: ``"quorum"`` (default; needed for the delivery
    limit) or ``"classic"``."""

    name = "RabbitMQ"
    requeues_at_once = True

    def __init__(self, url: str, *, queue: str = QUEUE, queue_type: str = "quorum") -> None:
        import pika

        self._pika = pika
        self.url = url
        self.queue = queue
        self.dlq = f"{queue}.dlq"
        self.queue_type = queue_type
        self.prefetch = 1
        self._conn = pika.BlockingConnection(pika.URLParameters(url))
        self._ch = self._conn.channel()
        self._ch.confirm_delivery()

    def setup(self, max_receive_count: int | None, prefetch: int) -> None:
        self.prefetch = prefetch
        ch = self._ch
        ch.queue_delete(self.queue)
        ch.queue_delete(self.dlq)
        ch.queue_declare(self.dlq, durable=True)
        args: dict[str, Any] = {
            "x-queue-type": self.queue_type,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self.dlq,
        }
        if max_receive_count is not None:
            if self.queue_type != "quorum":
                raise ScenarioError(
                    "max_receive_count needs a quorum queue on RabbitMQ (x-delivery-limit): pass "
                    "queue_type='quorum', or BrokerSetup(max_receive_count=None)."
                )
            args["x-delivery-limit"] = max_receive_count - 1  # RabbitMQ counts returns
        ch.queue_declare(self.queue, durable=True, arguments=args)

    def publish(self, msg: str, key: str, payload: Any) -> bool:
        props = self._pika.BasicProperties(
            message_id=msg, delivery_mode=2, headers={"key": key}, content_type="application/json"
        )
        try:
            self._ch.basic_publish(
                "", self.queue, json.dumps(payload).encode(), props, mandatory=True
            )
        except (self._pika.exceptions.NackError, self._pika.exceptions.UnroutableError):
            return False
        return True

    def connect(self, consumer: str) -> Any:
        pika = self._pika
        conn = pika.BlockingConnection(pika.URLParameters(self.url))
        ch = conn.channel()
        ch.basic_qos(prefetch_count=self.prefetch)
        buffer: deque[Any] = deque()
        ch.basic_consume(
            self.queue,
            lambda _ch, method, props, body: buffer.append((method, props, body)),
            consumer_tag=consumer,
        )
        return (conn, ch, buffer)

    def poll(self, handle: Any) -> tuple[LiveDelivery | None, list[str]]:
        conn, _ch, buffer = handle
        if not buffer:
            conn.process_data_events(time_limit=0)
        if not buffer:
            return None, []
        method, props, body = buffer.popleft()
        headers = _plain(props.headers or {})
        count = headers.get("x-delivery-count")
        return (
            LiveDelivery(
                id=props.message_id,
                payload=json.loads(body),
                key=headers.get("key"),
                redelivered=bool(method.redelivered),
                receive_count=(count + 1) if isinstance(count, int) else 1 + method.redelivered,
                headers=headers,
                tag=method.delivery_tag,
                queue=self.queue,
            ),
            [],
        )

    def ack(self, handle: Any, d: LiveDelivery) -> None:
        handle[1].basic_ack(d.tag)

    def nack(self, handle: Any, d: LiveDelivery, requeue: bool, delay: float = 0.0) -> None:
        if delay:
            raise InvalidArgument(
                "RabbitMQ has no delayed requeue: the consumer holds the delivery for the delay "
                "and nacks it afterwards (run_live does it for ctx.nack(delay=...))."
            )
        handle[1].basic_nack(d.tag, requeue=requeue)

    def crash(self, handle: Any) -> None:
        conn, _ch, buffer = handle
        buffer.clear()
        if conn.is_open:
            conn.close()  # the channel goes, and RabbitMQ requeues every unacked delivery on it

    def in_flight(self, handle: Any) -> int:
        return len(handle[2])

    def dead_letters(self) -> list[tuple[str, str | None, dict[str, Any]]]:
        found = []
        while True:
            method, props, _body = self._ch.basic_get(self.dlq, auto_ack=True)
            if method is None:
                return found
            headers = _plain(props.headers or {})
            found.append((props.message_id, headers.get("key"), headers))

    def close(self) -> None:
        if self._conn.is_open:
            self._conn.close()

    def __repr__(self) -> str:
        return f"RabbitMQ({self.url}, {self.queue_type} queue {self.queue!r})"


class RedisStreams(LiveBroker):
    """A real Redis stream read by a consumer group, through redis-py (see the module
    docstring). ``url``: a ``redis://`` URL, e.g. ``RedisServer.url``. ``claim_after``: how
    long (seconds) an entry must sit unacked before another delivery may claim it."""

    name = "Redis"
    requeues_at_once = False
    delays_on_server = True

    def __init__(self, url: str, *, stream: str = QUEUE, claim_after: float = 0.0) -> None:
        import redis

        self._redis = redis
        self.url = url
        self.stream = stream
        self.dlq = f"{stream}.dlq"
        self.backoff = f"{stream}.backoff"  # entry id -> ms it must sit idle before a claim
        self.group = GROUP
        self.claim_after = claim_after
        self.max_receive_count: int | None = None
        self._r = redis.Redis.from_url(url, decode_responses=True)

    def setup(self, max_receive_count: int | None, prefetch: int) -> None:
        self.max_receive_count = max_receive_count
        self._r.delete(self.stream, self.dlq, self.backoff)
        self._r.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        self._dlq_seen = "0"

    def publish(self, msg: str, key: str, payload: Any) -> bool:
        return bool(
            self._r.xadd(self.stream, {"id": msg, "key": key, "payload": json.dumps(payload)})
        )

    def connect(self, consumer: str) -> Any:
        return (self._redis.Redis.from_url(self.url, decode_responses=True), consumer)

    def _delivery(self, entry_id: str, fields: dict[str, str], count: int) -> LiveDelivery:
        return LiveDelivery(
            id=fields["id"],
            payload=json.loads(fields["payload"]),
            key=fields.get("key"),
            redelivered=count > 1,
            receive_count=count,
            headers={},
            tag=entry_id,
            queue=self.stream,
        )

    def poll(self, handle: Any) -> tuple[LiveDelivery | None, list[str]]:
        r, name = handle
        claimed: list[str] = []
        # 1. take over a pending entry that has waited long enough: claim_after for a crashed
        #    consumer's entry, its backoff for a nacked one. XCLAIM checks the idle time again
        #    on the server, so two consumers never both take the same entry.
        claim_ms = int(self.claim_after * 1000)
        backoff = r.hgetall(self.backoff)
        for p in r.xpending_range(self.stream, self.group, "-", "+", PENDING_SCAN):
            entry_id = p["message_id"]
            wait = max(claim_ms, int(backoff.get(entry_id, 0)))
            if p["time_since_delivered"] < wait:
                continue  # still in its backoff (or its consumer may still be on it)
            entries = r.xclaim(self.stream, self.group, name, wait, [entry_id])
            if not entries:
                continue  # another consumer was first, or the wait is not over after all
            entry_id, fields = entries[0]
            r.hdel(self.backoff, entry_id)
            if fields is None:  # pragma: no cover - trimmed away meanwhile
                r.xack(self.stream, self.group, entry_id)
                continue
            count = self._times_delivered(r, entry_id)
            if self.max_receive_count is not None and count > self.max_receive_count:
                self._dead_letter(r, entry_id, fields, "delivery_limit", count - 1)
                continue
            claimed.append(fields["id"])
            return self._delivery(entry_id, fields, count), claimed
        # 2. a new entry
        got = r.xreadgroup(self.group, name, {self.stream: ">"}, count=1)
        if not got or not got[0][1]:
            return None, claimed
        entry_id, fields = got[0][1][0]
        return self._delivery(entry_id, fields, 1), claimed

    def _times_delivered(self, r: Any, entry_id: str) -> int:
        [pending] = r.xpending_range(self.stream, self.group, entry_id, entry_id, 1)
        return int(pending["times_delivered"])

    def _dead_letter(
        self, r: Any, entry_id: str, fields: dict[str, str], reason: str, count: int
    ) -> None:
        """Copy the entry to the dead-letter stream with its death record, then XACK it."""
        death = {"reason": reason, "stream": self.stream, "count": count, "entry": entry_id,
                 "time": round(time.time(), 3)}  # fmt: skip
        pipe = r.pipeline(transaction=True)  # MULTI/EXEC: both or neither
        pipe.xadd(self.dlq, {**fields, "death": json.dumps(death)})
        pipe.xack(self.stream, self.group, entry_id)
        pipe.execute()

    def ack(self, handle: Any, d: LiveDelivery) -> None:
        handle[0].xack(self.stream, self.group, d.tag)

    def nack(self, handle: Any, d: LiveDelivery, requeue: bool, delay: float = 0.0) -> None:
        r, name = handle
        if not requeue:
            fields = {"id": d.id, "key": d.key or "", "payload": json.dumps(d.payload)}
            self._dead_letter(r, d.tag, fields, "rejected", d.receive_count)
        elif delay:
            # The entry stays pending. Its idle time starts again now (XCLAIM to itself with
            # IDLE 0; JUSTID leaves the delivery counter alone), and the wait is written where
            # every consumer of the group looks before it claims (the hash jobs.backoff).
            pipe = r.pipeline(transaction=True)
            pipe.xclaim(self.stream, self.group, name, 0, [d.tag], idle=0, justid=True)
            pipe.hset(self.backoff, d.tag, math.ceil(delay * 1000))
            pipe.execute()
        # requeue=True and no delay: nothing to send; the entry stays pending until claimed

    def crash(self, handle: Any) -> None:
        handle[0].close()  # its pending entries stay in the group's pending entries list

    def in_flight(self, handle: Any) -> int:
        return 0

    def pending(self) -> list[dict[str, Any]]:
        """The group's pending entries list (``XPENDING``): entry id, consumer, idle ms,
        times delivered."""
        return [
            {**p, "id": self._r.xrange(self.stream, p["message_id"], p["message_id"])[0][1]["id"]}
            for p in self._r.xpending_range(self.stream, self.group, "-", "+", 1000)
        ]

    def dead_letters(self) -> list[tuple[str, str | None, dict[str, Any]]]:
        found = []
        for entry_id, fields in self._r.xrange(
            self.dlq, f"({self._dlq_seen}" if self._dlq_seen != "0" else "-", "+"
        ):
            self._dlq_seen = entry_id
            found.append(
                (fields["id"], fields.get("key") or None, {"death": json.loads(fields["death"])})
            )
        return found

    def close(self) -> None:
        self._r.close()

    def __repr__(self) -> str:
        return f"RedisStreams({self.url}, stream {self.stream!r}, group {self.group!r})"


# --- the run ---------------------------------------------------------------------------------------


@dataclass
class _Consumer:
    name: str
    handle: Any = None


class LiveRun(Run):
    """A :class:`~brokerlab.simulation.Run` recorded on a real broker: the same ``history``,
    ``report``, ``counts``, ``errors``; ``broker`` names the broker, ``dead`` maps each dead
    letter's id to its death history (RabbitMQ's headers with ``x-death``; Redis: the death
    record the adapter wrote)."""

    dead: dict[str, dict[str, Any]]

    def __repr__(self) -> str:
        c = self.counts
        extra = "" if self.stopped == "settled" else f", stopped by {self.stopped}"
        return (
            f"LiveRun({self.broker}, {self.mode}, {c['published']} msgs: {c['lost']} lost, "
            f"{c['duplicated']} duplicated, {c['dead_lettered']} dead-lettered, "
            f"{c['unfinished']} unfinished{extra})"
        )


class _LiveRunner:
    def __init__(self, scenario: Scenario, broker: LiveBroker, handler: Callable[..., Any]):
        self.scenario = scenario
        self.broker = broker
        self.handler = handler
        self.clock = RealClock()
        self.history = History()
        self.store = DedupStore()
        self.errors: list[HandlerError] = []
        self.notes: list[str] = []
        faults = scenario.faults
        for kind in faults.kinds:
            if kind not in LIVE_FAULTS:
                raise ScenarioError(
                    f"fault {kind!r} is not injected on a real broker: a live run injects "
                    f"{', '.join(LIVE_FAULTS)}. (brokerlab.durability and brokerlab.replication "
                    "kill real brokers.)"
                )
        self.planned: dict[str, list[Any]] = {}
        for f in faults.schedule:
            self.planned.setdefault(f.kind, []).append(f)
        self.prob = dict(faults.probabilities)
        self.rng = random.Random(scenario.seed)
        self.deliveries: dict[str, int] = {}
        self.poison: set[str] = set()
        self.settled: set[str] = set()  # acked or dead-lettered
        self.dead: dict[str, dict[str, Any]] = {}
        # deliveries a consumer keeps unacked until their retry delay is over (RabbitMQ):
        # (when, consumer, delivery), soonest first
        self.held: list[tuple[float, _Consumer, LiveDelivery]] = []

    def record(self, actor: str, kind: str, msg: str | None = None, **info: Any) -> None:
        key = info.pop("key", None)
        # real seconds, to 0.1 ms: enough to order a run, short enough to read in a diagram
        self.history.record(round(self.clock.now(), 4), actor, kind, msg, key=key, **info)

    def comes_back(self, d: LiveDelivery) -> bool:
        """Whether the broker puts a returned delivery back at once: RabbitMQ does, unless the
        return passes the quorum queue's delivery limit (then it dead-letters it, and the run
        notices it on the dead-letter queue); Redis waits for a claim."""
        limit = self.scenario.broker.max_receive_count
        return self.broker.requeues_at_once and (limit is None or d.receive_count < limit)

    def hold(self, c: _Consumer, d: LiveDelivery, delay: float) -> None:
        """Keep ``d`` unacked on ``c``'s channel for ``delay`` seconds, then nack it."""
        self.held.append((time.monotonic() + delay, c, d))
        self.held.sort(key=lambda h: h[0])

    def release(self) -> None:
        """Nack (requeue) every held delivery whose delay is over."""
        now = time.monotonic()
        while self.held and self.held[0][0] <= now:
            _when, c, d = self.held.pop(0)
            self.broker.nack(c.handle, d, True)
            if self.comes_back(d):
                self.record("broker", "redeliver", d.id, reason="backoff over")

    def strikes(self, kind: str, msg: str) -> bool:
        planned = self.planned.get(kind)
        if planned:
            n = self.deliveries.get(msg, 0)
            for i, f in enumerate(planned):
                if f.msg == msg and (kind == "poison_message" or f.delivery == n):
                    del planned[i]
                    return True
        p = self.prob.get(kind)
        return p is not None and self.rng.random() < p

    def run(self, timeout: float) -> LiveRun:
        s, b = self.scenario, self.broker
        b.setup(s.broker.max_receive_count, s.broker.prefetch)
        keys = s.producers.keys
        ids = [f"m{i}" for i in range(1, s.messages + 1)]
        for i, msg in enumerate(ids):
            if self.strikes("poison_message", msg):
                self.poison.add(msg)
            key = keys[i % len(keys)]
            self.record("producer-1", "publish", msg, key=key, attempt=1)
            if b.publish(msg, key, i + 1):
                self.record("producer-1", "confirm", msg, attempt=1)
        consumers = [_Consumer(f"consumer-{i}") for i in range(1, s.consumers.count + 1)]
        for c in consumers:
            c.handle = b.connect(c.name)
        deadline = time.monotonic() + timeout
        stopped = "settled"
        while len(self.settled) < len(ids):
            if time.monotonic() > deadline:
                stopped = "duration"
                break
            self.release()
            idle = True
            for c in consumers:
                if c.handle is None:
                    c.handle = b.connect(c.name)
                    self.record(c.name, "restart")
                d, claimed = b.poll(c.handle)
                for msg in claimed:
                    self.record("broker", "redeliver", msg, reason="claimed (XCLAIM)")
                self.notice_dead_letters()
                if d is not None:
                    idle = False
                    self.handle(c, d)
                    self.notice_dead_letters()
            if idle:
                time.sleep(0.005)
        for c in consumers:
            if c.handle is not None:
                b.crash(c.handle)  # closes its connection (nothing is unacked once settled)
        run = LiveRun(
            s,
            self.history,
            end=self.clock.now(),
            stopped=stopped,
            errors=self.errors,
            notes=self.notes,
            broker=b.name,
        )
        run.dead = self.dead
        return run

    def notice_dead_letters(self) -> None:
        for msg, key, death in self.broker.dead_letters():
            if "x-death" in death:
                reason = death["x-death"][0]["reason"]
            else:
                reason = death["death"]["reason"]
            self.dead[msg] = death
            self.settled.add(msg)
            self.record("broker", "dead_letter", msg, key=key, reason=reason)

    def handle(self, c: _Consumer, d: LiveDelivery) -> None:
        self.deliveries[d.id] = self.deliveries.get(d.id, 0) + 1
        info = {"redelivered": True} if d.redelivered else {}
        self.record(c.name, "deliver", d.id, key=d.key, **info)
        ctx = LiveContext(self, c, d)
        when, error = None, None
        try:
            self.handler(d, ctx)
        except _Crash as crash:
            when = crash.when
        except Exception as exc:  # the handler's own failure: the process dies with it
            if ctx._dead is not None:
                when = ctx._dead
            else:
                error = f"{type(exc).__name__}: {exc}"
                self.errors.append(HandlerError(c.name, d.id, self.clock.now(), error))
                when = "handler raised"
        if when is None and ctx._dead is not None:
            when = ctx._dead
        if when is None:
            return
        if when != "ack lost":  # a lost ack drops the connection; the process lives on
            info = {"when": when} if error is None else {"error": error, "when": when}
            self.record(c.name, "crash", d.id, **info)
        unacked = [] if ctx.settled else [d]
        unacked += [h[2] for h in self.held if h[1] is c]  # held for a retry delay
        self.held = [h for h in self.held if h[1] is not c]
        self.broker.crash(c.handle)
        c.handle = None
        for u in unacked:
            if self.comes_back(u):
                self.record("broker", "redeliver", u.id, reason="channel closed")


def run_live(
    scenario: Scenario,
    broker: LiveBroker,
    handler: Callable[..., Any] | None = None,
    *,
    timeout: float = TIMEOUT,
) -> LiveRun:
    """Run ``scenario`` on a real ``broker`` (:class:`RabbitMQ` or :class:`RedisStreams`).

    ``handler`` overrides the scenario's (and that overrides the mode's built-in handler), as
    in :func:`~brokerlab.simulation.simulate`. Returns a :class:`LiveRun`.
    """
    if not isinstance(scenario, Scenario):
        raise ScenarioError(
            f"scenario={scenario!r} is not a Scenario: build one with Scenario(...), e.g. "
            "Scenario(messages=5)."
        )
    if scenario.broker.kind not in ("queue", "sqs"):
        raise ScenarioError(
            f"BrokerSetup(kind={scenario.broker.kind!r}): a live run has one queue (a RabbitMQ "
            "quorum queue, or a Redis stream read by a consumer group). Use kind='queue' (or "
            "'sqs', which runs on the same queue)."
        )
    if handler is not None:
        scenario = replace(scenario, consumers=replace(scenario.consumers, handler=handler))
    chosen = scenario.consumers.handler or builtin_handler(scenario.consumers.mode)
    runner = _LiveRunner(scenario, broker, chosen)
    return runner.run(timeout)


def story(history: History, msg: str | None = None) -> dict[str, tuple[str, ...]]:
    """Each message's events in order, without times or actors' numbers: what to compare
    between the reference broker and a real one (``{"m1": ("publish", "deliver", ...)}``).

    Publishes and confirms are left out (a live producer publishes everything first), and a
    ``nack`` always comes before the dead letter it caused (the reference queue records the
    dead letter inside the nack call; a live run sees it on the dead-letter queue after).
    """
    stories: dict[str, list[str]] = {}
    for e in history:
        if e.msg is None or e.kind in ("publish", "confirm"):
            continue
        if msg is not None and e.msg != msg:
            continue
        word = e.kind
        if e.kind == "deliver" and e.info and e.info.get("redelivered"):
            word = "redeliver-to-consumer"
        if e.kind in ("crash", "dead_letter", "redeliver") and e.info:
            detail = e.info.get("when") or e.info.get("reason")
            if e.kind == "redeliver":
                detail = None
            word = f"{e.kind}({detail})" if detail else e.kind
        events = stories.setdefault(e.msg, [])
        if word == "nack" and events and events[-1].startswith("dead_letter"):
            events.insert(-1, word)  # the reference queue records its dead letter inside the nack
        else:
            events.append(word)
    return {m: tuple(v) for m, v in stories.items()}


def retry_waits(history: History, msg: str) -> list[tuple[float, float]]:
    """For each of ``msg``'s nacks with a ``delay``: ``(delay asked, seconds until the message
    was delivered again or dead-lettered)``. On every broker the second is never less than the
    first (to the millisecond Redis measures idle time in)."""
    events = [e for e in history if e.msg == msg and e.kind in ("nack", "deliver", "dead_letter")]
    waits = []
    for i, e in enumerate(events):
        if e.kind == "nack" and e.info and e.info.get("delay"):
            after = next((n for n in events[i + 1 :] if n.kind != "nack"), None)
            if after is not None:
                waits.append((round(e.info["delay"], 4), round(after.time - e.time, 4)))
    return waits


# --- topic routing, side by side ------------------------------------------------------------------


def _routes_reference(patterns: list[str], keys: list[str]) -> dict[str, list[str]]:
    from .broker import Broker

    b = Broker()
    b.declare_exchange("events", "topic")
    for p in patterns:
        b.declare_queue(p)
        b.bind(p, "events", p)
    return {k: sorted(b.publish("events", k, k)) for k in keys}


def _routes_rabbitmq(url: str, patterns: list[str], keys: list[str]) -> dict[str, list[str]]:
    import pika

    conn = pika.BlockingConnection(pika.URLParameters(url))
    try:
        ch = conn.channel()
        ch.exchange_delete("events")
        ch.exchange_declare("events", "topic")
        queues = {}
        for p in patterns:
            q = ch.queue_declare("", exclusive=True).method.queue  # a server-named queue
            ch.queue_bind(q, "events", p)
            queues[p] = q
        ch.confirm_delivery()
        for k in keys:
            ch.basic_publish("events", k, k.encode())
        got: dict[str, list[str]] = {k: [] for k in keys}
        for p, q in queues.items():
            while True:
                method, _props, body = ch.basic_get(q, auto_ack=True)
                if method is None:
                    break
                got[body.decode()].append(p)
        ch.exchange_delete("events")
        return {k: sorted(v) for k, v in got.items()}
    finally:
        conn.close()


def _routes_redis(url: str, patterns: list[str], keys: list[str]) -> dict[str, list[str]]:
    import redis

    r = redis.Redis.from_url(url, decode_responses=True)
    subscribers = []
    try:
        for p in patterns:
            sub = r.pubsub()
            sub.psubscribe(p)
            sub.get_message(timeout=1)  # the psubscribe confirmation
            subscribers.append((p, sub))
        for k in keys:
            r.publish(k, k)
        got: dict[str, list[str]] = {k: [] for k in keys}
        for p, sub in subscribers:
            while True:
                m = sub.get_message(timeout=0.2)
                if m is None:
                    break
                if m["type"] == "pmessage":
                    got[m["data"]].append(p)
        return {k: sorted(v) for k, v in got.items()}
    finally:
        for _p, sub in subscribers:
            sub.close()
        r.close()


def route_topics(
    patterns: list[str], keys: list[str], *, rabbitmq: str | None = None, redis: str | None = None
) -> dict[str, dict[str, list[str]]]:
    """Which binding patterns each routing key reaches: ``{broker: {key: [patterns]}}``.

    On the reference broker and on RabbitMQ, one queue is bound to a topic exchange with each
    pattern (``*`` one word, ``#`` zero or more). Redis has no exchanges: the nearest thing is
    Pub/Sub's ``PSUBSCRIBE``, whose patterns are *globs* (``*`` any run of characters, dots
    included; ``#`` is an ordinary character), so the same patterns route differently there.
    Pass a server's URL to include it.
    """
    out = {"reference": _routes_reference(patterns, keys)}
    if rabbitmq is not None:
        out["RabbitMQ"] = _routes_rabbitmq(rabbitmq, patterns, keys)
    if redis is not None:
        out["Redis (PSUBSCRIBE)"] = _routes_redis(redis, patterns, keys)
    return out


# --- side by side: the reference broker and the real ones ------------------------------------------


def side_by_side(
    scenario: Scenario,
    handler: Callable[..., Any] | None = None,
    *,
    rabbitmq: Any = None,
    redis: Any = None,
) -> dict[str, Run]:
    """Run ``scenario`` on the reference broker (:func:`~brokerlab.simulation.simulate`) and
    on each real server given (a :class:`~brokerlab.servers.RabbitMQServer` /
    :class:`~brokerlab.servers.RedisServer`, or None to leave it out): ``{name: run}``."""
    from .simulation import simulate

    runs: dict[str, Run] = {"reference": simulate(scenario, handler)}
    if rabbitmq is not None:
        with RabbitMQ(rabbitmq.url) as b:
            runs["RabbitMQ"] = run_live(scenario, b, handler)
    if redis is not None:
        with RedisStreams(redis.url) as b:
            runs["Redis"] = run_live(scenario, b, handler)
    return runs


def table(runs: dict[str, Run]) -> str:
    """One line per broker: its counts, and whether each message's story matches the
    reference broker's (:func:`story`)."""
    ref = story(runs["reference"].history)
    lines = [f"{'broker':<10} {'lost':>4} {'duplicated':>10} {'dead-lettered':>13}  same story"]
    for name, run in runs.items():
        c = run.counts
        same = "-" if name == "reference" else ("yes" if story(run.history) == ref else "NO")
        lines.append(
            f"{name:<10} {c['lost']:>4} {c['duplicated']:>10} {c['dead_lettered']:>13}  {same}"
        )
    return "\n".join(lines)


def who_processed(runs: dict[str, Run]) -> dict[str, dict[str, list[str]]]:
    """``{broker: {consumer: [messages it processed, in order]}}``."""
    out: dict[str, dict[str, list[str]]] = {}
    for name, run in runs.items():
        per: dict[str, list[str]] = {}
        for e in run.history.of_kind("process"):
            per.setdefault(e.actor, []).append(e.msg)  # type: ignore[arg-type]
        out[name] = dict(sorted(per.items()))
    return out


def draw_side_by_side(runs: dict[str, Run], max_events: int = 40) -> Any:
    """One sequence diagram per broker, side by side, each with its checker's anomalies
    marked. Returns the Figure."""
    from matplotlib.figure import Figure

    from .diagram import draw_sequence
    from .plots import DPI

    n = len(runs)
    fig = Figure(figsize=(10, 7), dpi=DPI)
    fig.subplots_adjust(left=0.08, right=0.84, top=0.88, bottom=0.02, wspace=0.7)
    axes = fig.subplots(1, n, squeeze=False)[0]
    for i, (ax, (name, run)) in enumerate(zip(axes, runs.items())):
        draw_sequence(run.history, run.report, ax=ax, max_events=max_events)
        c = run.counts
        ax.set_title(
            f"{name}: {c['duplicated']} duplicated, {c['lost']} lost",
            fontsize=9,
            loc="left",
            pad=24,
        )
        short = [t.get_text().replace("producer-", "P").replace("consumer-", "C") for t in
                 ax.get_xticklabels()]  # fmt: skip
        ax.set_xticks(ax.get_xticks(), short, fontsize=8)  # P1: the producer, C1: consumer-1
        legend = ax.get_legend()
        if legend is not None and i < n - 1:
            legend.remove()  # one key for all, beside the last diagram
    fig.suptitle("The same handler and faults on each broker (time runs down)", fontsize=11)
    return fig
