"""The simulation: run a scenario on the reference broker, under faults, and record its history.

:func:`simulate` takes a :class:`~brokerlab.scenario.Scenario` and returns a :class:`Run`:
the :class:`~brokerlab.history.History` of everything that happened, the checker's
:class:`~brokerlab.checker.Report` on it, and the counts of lost and duplicated messages.

>>> from brokerlab.scenario import Scenario, Consumers
>>> run = simulate(Scenario(messages=10, faults={"crash_after_processing": 0.3}, seed=1))
>>> run.counts["lost"], run.counts["duplicated"] > 0
(0, True)

The broker in the run is the reference broker itself - a :class:`~brokerlab.queue.Queue` (behind
an :mod:`~brokerlab.exchange` for exchange setups, pulled from for ``"sqs"`` setups) or a
:class:`~brokerlab.log.Log` - so what the run shows is what the broker does: round-robin
dispatch, prefetch, requeue on a closed channel, visibility timeouts, the delivery limit, dead
letters. The simulation only adds what is *around* the broker: producers with their confirms
and retries, consumers with their handlers, the network, the virtual time, and the faults.

Time
----
Everything runs on one :class:`~brokerlab.scheduler.Scheduler`. A message is published at a
steady pace per producer, reaches the broker ``latency`` seconds later, is pushed to a consumer
(another ``latency``), waits in the consumer's prefetch buffer, and is handled once the
consumer has spent ``processing_time`` on it. **A handler runs in one instant of virtual time**:
its calls (``ctx.effect``, ``ctx.ack``...) are recorded in the order it makes them, and faults
strike between them. An ack reaches the broker at the moment it is made (no wire time), unless
a ``lost_ack`` fault drops it.

Handlers
--------
A consumer is a plain function ``handle(delivery, ctx)``. ``delivery`` is the broker's
:class:`~brokerlab.message.Delivery` (``.id``, ``.payload``, ``.key``, ``.redelivered``...);
``ctx`` is a :class:`Context`:

- ``ctx.effect(value=None, remember=None)`` - the thing that must happen once (a row written, an
  e-mail sent), recorded as a ``process`` event. With ``remember=some_id`` the effect and
  ``ctx.store.add(some_id)`` happen atomically, as a database transaction writes the row and the
  processed id together;
- ``ctx.ack()``, ``ctx.nack(requeue=True)`` - settle the delivery (``nack(requeue=False)``
  dead-letters it, reason ``rejected``);
- ``ctx.store`` - a :class:`DedupStore` (a set of ids) shared by the consumers, which survives
  their crashes: what an idempotent consumer checks.

The built-in handlers, one per delivery mode, are short enough to read
(:func:`ack_then_process`, :func:`process_then_ack`, :func:`idempotent`). Pass your own with
``Consumers(handler=...)``; the ``mode`` then only says which guarantee it is checked against.

Whatever the handler, faults are injected at its calls to ``ctx``: a crash raises out of
``ctx.effect()`` (before or after the effect), a lost ack out of ``ctx.ack()``. These are not
ordinary exceptions (a handler's ``except Exception`` does not catch them). A handler that
raises is recorded (``Run.errors``, and a ``crash`` event with ``when="handler raised"``): the
consumer dies and its channel closes, as an uncaught exception in a real consumer would. A
handler that runs too long for one delivery (``Consumers.max_steps`` steps of its own code, or
100 calls to ``ctx``) is stopped the same way, with a readable error, so a loop never hangs the
notebook.

End-to-end modes
----------------
A guarantee belongs to the whole pipeline, not to the consumer alone. ``Producers.retries``
defaults to what the mode needs: an at-most-once producer never retries (a retry after a lost
confirm would publish twice); the others retry up to 5 times. And no consumer mode without a
dedup store survives a broker that duplicates on its own (``duplicate_delivery``, as SQS
standard queues may): at-most-once then takes effect twice. See ``handbook/simulation.md``.

Deliberate differences from the real brokers
--------------------------------------------
- A lost ack raises out of ``ctx.ack()`` at once (the connection is gone); in AMQP a client only
  notices later, because ``basic.ack`` has no reply (pika raises ``StreamLostError`` on its next
  use of the dead connection). The broker then closes the channel and requeues its unacked
  deliveries, as RabbitMQ does when a connection drops.
- A handler that returns without settling its delivery keeps it unacked until RabbitMQ's
  ``consumer_timeout`` (30 minutes by default, since 3.8.15) closes the channel.
- A broker restart is instantaneous: every channel closes at once and consumers reconnect
  ``restart_delay`` seconds later; a non-durable queue loses what it held.
- Queue producers send each publish on its own (like SQS's independent requests), so a delayed
  one can be overtaken and each is retried on its own; one AMQP channel would keep them in
  order. Log producers behave like Kafka's: one ordered connection, at most 5 batches in
  flight (``max.in.flight.requests.per.connection``), and a lost response breaks the
  connection, after which every unconfirmed batch is resent in order.

SQS setups
----------
``BrokerSetup(kind="sqs")`` is one SQS standard queue (``"jobs"``) and consumers that *pull*
(:class:`SqsContext` is their ``ctx``). Each consumer loops: ``receive(receive_batch)``, handle
the messages one after another (``processing_time`` each), ask again as soon as the batch is
done; after an empty receive it waits ``poll_interval``. A received message is hidden for
``visibility_timeout`` seconds from the receive; ``ctx.ack()`` deletes it. If no delete arrives
in time it becomes visible again (a ``redeliver`` event, reason ``visibility timeout``, at the
moment the timeout runs out) and the next receive gets it with ``redelivered=True``. When it
comes back after ``max_receive_count`` receives, it goes to the dead-letter queue instead
(``dead_letter``, reason ``delivery_limit``). Nothing ever closes a channel, so the faults act
through the timeout:

- a **crash** (before or after processing, or a handler that raises) kills the process; the
  messages it received, handled or not, stay hidden until their timeouts run out, and it
  comes back after ``restart_delay`` with nothing in hand;
- a **lost ack** is a DeleteMessage that never arrives: that handler stops, the process goes on
  with its next message, and the message comes back when its timeout runs out;
- **processing longer than the timeout** (a long ``processing_time``, or a batch whose last
  message waits too long) lets another consumer receive the message while the first is still
  on it. The late delete uses an out-of-date receipt handle: SQS answers success and deletes
  nothing (recorded as ``ack`` with ``stale=True``, and explained in ``Run.notes``);
- a **broker restart** loses nothing and shows nothing early: SQS keeps messages and their
  visibility state redundantly. It is recorded, and the run goes on;
- ``duplicate_delivery``, ``producer_retry``, ``network_delay`` and ``poison_message`` act as on
  a queue. A standard queue drops no duplicate publish; ``producers.idempotent=True`` makes the
  queue FIFO (group id = key, deduplication id = message id), which does.

The exactly-once mode on ``"sqs"`` runs :func:`idempotent`: a standard queue deduplicates
nothing, so the effect happens once only because the consumer checks and fills its dedup store
atomically with the effect. Deliberate simplifications: the handler's calls happen at the end
of ``processing_time`` (so even an at-most-once delete comes late if the work outlasts the
timeout); empty polls are skipped (a consumer whose receive was empty sleeps until something
becomes visible, then polls at its next poll time, when its timer would have found it); long
polling (``WaitTimeSeconds``) is not modelled.

Log setups
----------
The consumers form one group (``"workers"``) on topic ``"orders"``, with Kafka's defaults except
``auto_offset_reset="earliest"`` (Kafka's ``latest`` would skip records published before the
group's first commit: a loss of its own), ``enable_auto_commit=False`` (the handler commits) and
``session.timeout.ms`` = 10 s (Kafka's default before 3.0; 45 s since). The log handlers are
:func:`commit_then_process`, :func:`process_then_commit` and :func:`transactional`, and their
``ctx`` is a :class:`LogContext`. A crashed member keeps its partitions until its session times
out; a restarted consumer joins as a new member (``consumer-1.1``). A ``rebalance`` fault makes
one record take longer than ``max.poll.interval.ms`` (5 minutes): the group removes the member in
the middle of its batch, and its next commit is refused. A record delivered more than
``max_receive_count`` times goes to the dead-letter topic ``orders.DLT`` (as Spring Kafka's
``DeadLetterPublishingRecoverer`` does; Kafka itself has no dead-letter queue).
"""

from __future__ import annotations

import math
import sys
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from random import Random
from typing import Any

from .checker import Report, check
from .errors import (
    BrokerError,
    CommitFailed,
    InvalidArgument,
    NotAssigned,
    OutOfOrderSequence,
    PoisonMessage,
    ScenarioError,
    StaleReceipt,
)
from .faults import Fault
from .history import History
from .message import Delivery, Message
from .queue import Queue
from .queue_limits import check_nack
from .scenario import MODES, Scenario
from .scheduler import Scheduler

__all__ = [
    "CONSUMER_TIMEOUT",
    "Context",
    "DedupStore",
    "HandlerError",
    "Run",
    "ack_then_process",
    "builtin_handler",
    "compare",
    "idempotent",
    "process_then_ack",
    "simulate",
]

#: RabbitMQ's ``consumer_timeout``: 30 minutes (1800000 ms) by default since 3.8.15; a channel
#: holding a delivery unacked for longer is closed by the broker (``PRECONDITION_FAILED``).
CONSUMER_TIMEOUT = 1800.0
#: At most this many calls to ``ctx`` for one delivery.
MAX_CTX_CALLS = 100
#: A run stops after this many events per message (a safety net; see ``Run.stopped``).
MAX_EVENTS_PER_MESSAGE = 2000

# Log setups: names, and the consumer settings that are not Kafka's defaults (see the docstring).
TOPIC = "orders"
GROUP = "workers"
EFFECTS_TOPIC = "effects"  # where a transactional consumer writes its effects
DEAD_LETTER_TOPIC = "orders.DLT"  # Spring Kafka's naming for a dead-letter topic
#: ``session.timeout.ms`` for the group's members: 10 s, Kafka's default before 3.0 (KIP-735
#: raised it to 45 s); shorter, so a crashed member's partitions stall for less virtual time.
SESSION_TIMEOUT_MS = 10_000
#: ``max.poll.interval.ms``: Kafka's default, 300000 ms (5 minutes).
MAX_POLL_INTERVAL = 300.0
#: Kafka producer ``max.in.flight.requests.per.connection`` (5): unconfirmed batches at a time.
MAX_IN_FLIGHT = 5
#: How often an idle member polls (a real one polls in a loop; once a minute is enough here).
KEEPALIVE = 60.0

_PACKAGE_DIR = str(Path(__file__).resolve().parent)


# --- the built-in handlers: one per delivery mode ----------------------------------------------------


def ack_then_process(delivery: Delivery, ctx: Context) -> None:
    """At-most-once: settle first, then do the work. A crash in between loses the message."""
    ctx.ack()
    ctx.effect()


def process_then_ack(delivery: Delivery, ctx: Context) -> None:
    """At-least-once: do the work, then settle. A crash in between repeats the work."""
    ctx.effect()
    ctx.ack()


def idempotent(delivery: Delivery, ctx: Context) -> None:
    """Exactly-once effect: skip what was done before; do the work and remember it atomically."""
    if delivery.id in ctx.store:
        ctx.ack()
        return
    ctx.effect(remember=delivery.id)
    ctx.ack()


def commit_then_process(record: LogDelivery, ctx: LogContext) -> None:
    """At-most-once on a log: commit past the record, then do the work."""
    ctx.commit(record)
    ctx.effect()


def process_then_commit(record: LogDelivery, ctx: LogContext) -> None:
    """At-least-once on a log: process the whole batch, then commit it."""
    ctx.effect()
    if ctx.last_in_batch:
        ctx.commit()


def transactional(record: LogDelivery, ctx: LogContext) -> None:
    """Exactly-once effect on a log: the effect and this record's offset in one transaction."""
    with ctx.transaction():
        ctx.effect()
        ctx.commit(record)


_BUILTIN = {
    "queue": {
        "at-most-once": ack_then_process,
        "at-least-once": process_then_ack,
        "exactly-once": idempotent,
    },
    "log": {
        "at-most-once": commit_then_process,
        "at-least-once": process_then_commit,
        "exactly-once": transactional,
    },
}


def builtin_handler(mode: str, setup: str = "queue") -> Callable[[Any, Any], Any]:
    """The handler the simulation runs for ``mode`` on ``setup`` when a scenario gives none."""
    if mode not in MODES:
        raise InvalidArgument(f"mode={mode!r} is not allowed: use one of {', '.join(MODES)}.")
    if setup not in ("queue", "exchange", "sqs", "log"):
        raise InvalidArgument(
            f"setup={setup!r} is not allowed: use 'queue', 'exchange', 'sqs' or 'log'."
        )
    return _BUILTIN["log" if setup == "log" else "queue"][mode]


# --- what a handler sees ---------------------------------------------------------------------------


class DedupStore:
    """The ids an idempotent consumer has already processed: a set that survives crashes.

    Think of a table in the consumer's database: ``id in store``, ``store.add(id)``. The
    consumers of one queue share it (they write to the same database); each queue behind a
    fanout exchange has its own (each subscriber has its own database).
    """

    __slots__ = ("_ids",)

    def __init__(self) -> None:
        self._ids: set[Any] = set()

    def __contains__(self, item: object) -> bool:
        return item in self._ids

    def add(self, item: Any) -> None:
        self._ids.add(item)

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[Any]:
        return iter(sorted(self._ids, key=str))

    def __repr__(self) -> str:
        shown = ", ".join(map(str, list(self)[:5]))
        more = ", ..." if len(self._ids) > 5 else ""
        return f"DedupStore({len(self._ids)} ids: {shown}{more})"


class _Interrupt(BaseException):
    """A fault striking inside a handler. A BaseException, so ``except Exception`` lets it pass."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class _Stopped(BaseException):
    """The handler ran too long for one delivery."""


class Context:
    """What a handler can do with its delivery (see the module docstring)."""

    __slots__ = (
        "_sim",
        "_consumer",
        "delivery",
        "store",
        "_calls",
        "settled",
        "_msg",
        "_key",
        "_dead",
    )

    def __init__(self, sim: _Sim, consumer: Any, delivery: Any) -> None:
        self._sim = sim
        self._consumer = consumer
        self.delivery = delivery
        self.store = consumer.store
        self._calls = 0
        self.settled = False
        self._msg: str = delivery.id
        self._key: str | None = delivery.key
        self._dead: str | None = None  # set when a fault struck: the process is gone

    @property
    def _group(self) -> str | None:
        return self._consumer.group

    @property
    def now(self) -> float:
        """The virtual time (seconds)."""
        return self._sim.clock.now()

    @property
    def consumer(self) -> str:
        """This consumer's name, e.g. ``"consumer-1"``."""
        return self._consumer.name

    def _die(self, what: str) -> _Interrupt:
        """A fault strikes here. Any later call raises again: a handler that catches the
        interrupt (a bare ``except:``) cannot act for a process that is gone."""
        self._dead = what
        return _Interrupt(what)

    def _count(self, what: str) -> None:
        if self._dead is not None:
            raise _Interrupt(self._dead)
        self._calls += 1
        if self._calls > MAX_CTX_CALLS:
            raise _Stopped(
                f"the handler called ctx {self._calls} times for one delivery ({what} last); "
                f"at most {MAX_CTX_CALLS} are allowed. Does it loop? Call ctx.effect() once and "
                "settle the delivery once."
            )

    def effect(self, value: Any = None, *, remember: Any = None) -> None:
        """Do the work that must happen once; recorded as a ``process`` event.

        ``remember``: an id added to ``ctx.store`` in the same atomic step as the effect.
        Raises :class:`~brokerlab.errors.PoisonMessage` if the message is poison.
        """
        self._count("effect")
        sim, msg = self._sim, self._msg
        if sim.strikes("crash_before_processing", msg, self.delivery, group=self._group):
            raise self._die("before processing")
        if msg in sim.poison:
            raise PoisonMessage(
                f"{msg} is a poison message: processing it always fails. Catch PoisonMessage and "
                "reject it (ctx.nack(requeue=False)) to dead-letter it at once."
            )
        info = {} if value is None else {"value": value}
        self._did_effect(info, remember)
        if sim.strikes("crash_after_processing", msg, self.delivery, group=self._group):
            raise self._die("after processing")

    def _did_effect(self, info: dict[str, Any], remember: Any) -> None:
        c = self._consumer
        info.update(c.group_info)
        self._sim.record(self._sim.clock.now(), c.name, "process", self._msg, key=self._key, **info)
        if remember is not None:
            self.store.add(remember)

    def ack(self) -> None:
        """Acknowledge the delivery: the broker forgets the message."""
        self._count("ack")
        sim, c, d, msg = self._sim, self._consumer, self.delivery, self._msg
        if sim.strikes("lost_ack", msg, d, group=self._group):
            sim.record(sim.clock.now(), c.name, "lost", msg, what="ack")
            raise self._die("ack lost")
        c.channel.ack(d)  # the broker's own checks: acking twice raises AlreadyAcknowledged
        self.settled = True
        sim.record(sim.clock.now(), c.name, "ack", msg, **c.group_info)
        sim.pump()

    def nack(self, requeue: bool = True, delay: float = 0.0) -> None:
        """Give the delivery back: to the queue (``requeue=True``) or to the dead letters.

        ``delay``: seconds to wait before giving it back (a retry's backoff, 0 to 43200).
        RabbitMQ has no delayed requeue, so the consumer keeps the delivery unacked for
        ``delay`` seconds and then sends ``basic.nack``: the quorum queue's
        ``x-delivery-count`` still counts the return, so the delivery limit still applies (a
        retry queue with a TTL would reset it). :mod:`brokerlab.live` does the same on a real
        RabbitMQ. While held, the delivery takes a prefetch slot; if the channel closes first
        (a crash, or ``consumer_timeout`` for a hold over 30 minutes) it goes back at once.
        The ``nack`` records ``delay``; the ``redeliver`` is recorded when the delay is over.
        """
        self._count("nack")
        check_nack(requeue, delay)
        sim, c, d, msg = self._sim, self._consumer, self.delivery, self._msg
        if delay:
            self.settled = True
            sim.record(
                sim.clock.now(), c.name, "nack", msg, requeue=True, delay=delay, **c.group_info
            )
            sim.sched.after(delay, c.give_back, c.incarnation, d)
            if delay > CONSUMER_TIMEOUT:
                sim.sched.after(CONSUMER_TIMEOUT, c.timeout, c.incarnation, d.delivery_tag)
            return
        sim.dead_now.clear()
        c.channel.nack(d, requeue)
        self.settled = True
        sim.record(sim.clock.now(), c.name, "nack", msg, requeue=requeue, **c.group_info)
        if requeue and msg not in sim.dead_now:
            sim.record(sim.clock.now(), "broker", "redeliver", msg, reason="nack")
        sim.pump()

    def reject(self, requeue: bool = False) -> None:
        """Reject the delivery (``basic.reject``): like :meth:`nack`, but ``requeue`` is False
        by default, so the message is dead-lettered (reason ``rejected``)."""
        self.nack(requeue)

    def commit(self, delivery: Any = None) -> None:
        """Commit offsets: log setups only."""
        raise InvalidArgument(
            "ctx.commit() is for log setups (Kafka commits offsets); on a queue, settle the "
            "delivery with ctx.ack()."
        )

    def transaction(self) -> Any:
        """A Kafka transaction: log setups only."""
        raise InvalidArgument(
            "ctx.transaction() is for log setups (Kafka transactions); on a queue, make the "
            "effect idempotent with ctx.store and ctx.effect(remember=...)."
        )

    def __repr__(self) -> str:
        return f"Context({self._consumer.name}, {self._msg}, t={self.now:g})"


class LogDelivery:
    """One record handed to a log consumer's handler: a Kafka ``ConsumerRecord`` plus the id.

    ``id`` is the message id (``"m3"``), the same for every copy of a message; ``key``,
    ``payload``, ``partition`` and ``offset`` come from the record; ``record`` is the
    :class:`~brokerlab.log.Record` itself.
    """

    __slots__ = ("id", "key", "payload", "partition", "offset", "record")

    def __init__(self, record: Any) -> None:
        self.record = record
        self.payload = record.value
        self.id = f"m{record.value}"
        self.key = None if record.key is None else record.key.decode("utf-8")
        self.partition = record.partition
        self.offset = record.offset

    @property
    def topic(self) -> str:
        return self.record.topic

    def __repr__(self) -> str:
        return f"LogDelivery({self.id!r}, {self.record.topic}-{self.partition}@{self.offset}, key={self.key!r})"


class LogContext(Context):
    """The context of a log consumer's handler: commits offsets instead of acking.

    - ``ctx.commit()`` commits the whole batch the last poll returned (Kafka's ``commitSync()``);
      ``ctx.commit(record)`` commits just past one record (``commitSync({tp: offset + 1})``);
    - ``with ctx.transaction(): ...`` makes the effects and the commits inside it one Kafka
      transaction: they all happen (at the end of the block), or none does;
    - ``ctx.first_in_batch`` / ``ctx.last_in_batch``: where this record is in its batch.

    A commit the group refuses (the member was removed, or the partition moved in a rebalance)
    raises the log's own :class:`~brokerlab.errors.CommitFailed` or
    :class:`~brokerlab.errors.NotAssigned`; if the handler lets it escape, the consumer drops
    the rest of its batch and polls again, as a Kafka poll loop that catches
    ``CommitFailedException`` does.
    """

    __slots__ = ("_index", "_size", "_txn", "_txn_offsets")

    def __init__(
        self, sim: _Sim, consumer: _LogConsumer, delivery: LogDelivery, index: int, size: int
    ) -> None:
        super().__init__(sim, consumer, delivery)
        self._index = index
        self._size = size
        self._txn: list[tuple[dict[str, Any], Any]] | None = None
        self._txn_offsets: dict[Any, int] = {}

    @property
    def first_in_batch(self) -> bool:
        return self._index == 0

    @property
    def last_in_batch(self) -> bool:
        return self._index == self._size - 1

    def _did_effect(self, info: dict[str, Any], remember: Any) -> None:
        if self._txn is None:
            super()._did_effect(info, remember)
            return
        c = self._consumer
        c.txn_producer().send(EFFECTS_TOPIC, self.delivery.payload, key=self._key)
        self._txn.append((info, remember))  # recorded when the transaction commits

    def ack(self) -> None:
        raise InvalidArgument(
            "ctx.ack() is for queues: a log consumer commits offsets instead, with ctx.commit() "
            "(the whole batch) or ctx.commit(record) (up to this record)."
        )

    def nack(self, requeue: bool = True) -> None:
        raise InvalidArgument(
            "ctx.nack() is for queues: a log has no per-message nack. Commit past the record to "
            "skip it (ctx.commit(record)), or let the error escape to have it read again."
        )

    def commit(self, delivery: Any = None) -> None:
        """Commit the batch (no argument) or up to and including ``delivery``."""
        self._count("commit")
        sim, c, msg = self._sim, self._consumer, self._msg
        from .log import TopicPartition

        if delivery is None:
            offsets = dict(c.batch_end)
        elif isinstance(delivery, LogDelivery):
            offsets = {TopicPartition(delivery.topic, delivery.partition): delivery.offset + 1}
        else:
            raise InvalidArgument(
                f"delivery={delivery!r} is not a record of this run: pass the record the handler "
                "got (ctx.commit(record)), or nothing to commit the whole batch."
            )
        if sim.strikes("lost_ack", msg, self.delivery, group=self._group):
            sim.record(sim.clock.now(), c.name, "lost", msg, what="commit")
            raise self._die("commit lost")
        if self._txn is not None:
            c.txn_producer().send_offsets_to_transaction(offsets, c.member)
            self._txn_offsets.update(offsets)
        else:
            done = c.member.commit(offsets)
            c.record_commits(done)
        self.settled = True

    @contextmanager
    def transaction(self) -> Iterator[LogContext]:
        """Kafka's consume-transform-produce transaction around the block (see the class)."""
        self._count("transaction")
        if self._txn is not None:
            raise InvalidArgument("a transaction is already open: Kafka transactions do not nest.")
        sim, c = self._sim, self._consumer
        producer = c.txn_producer()
        producer.begin_transaction()
        self._txn, self._txn_offsets = [], {}
        try:
            yield self
        except (_Interrupt, _Stopped):
            self._txn = None  # the process died: the transaction stays open until it is fenced
            raise
        except BaseException:
            self._txn = None
            with suppress(BrokerError):
                producer.abort_transaction()
            raise
        effects, self._txn = self._txn, None
        producer.commit_transaction()
        now = sim.clock.now()
        for info, remember in effects:
            sim.record(now, c.name, "process", self._msg, key=self._key, **info)
            if remember is not None:
                self.store.add(remember)
        c.record_commits(self._txn_offsets)


class SqsContext(Context):
    """The context of a handler on an ``"sqs"`` setup: settling is SQS's API.

    - ``ctx.ack()`` deletes the message (DeleteMessage with this delivery's receipt handle).
      If the visibility timeout ran out and another consumer has received the message since,
      the handle is out of date: real SQS answers success and deletes nothing, and so does the
      simulation (the ``ack`` is recorded with ``stale=True`` and a note says what happened;
      the reference :class:`~brokerlab.queue.Queue` itself raises ``StaleReceipt`` there);
    - ``ctx.nack()`` makes the message visible again at once (ChangeMessageVisibility with
      timeout 0); ``ctx.nack(requeue=False)`` moves it to the dead-letter queue, reason
      ``rejected``: SQS has no reject, so this stands for a consumer that sends the message to
      the DLQ itself and deletes it.
    """

    __slots__ = ()

    def ack(self) -> None:
        """Delete the message: the queue forgets it (unless the receipt is out of date)."""
        self._count("ack")
        sim, c, d, msg = self._sim, self._consumer, self.delivery, self._msg
        if sim.strikes("lost_ack", msg, d, group=self._group):
            sim.record(sim.clock.now(), c.name, "lost", msg, what="ack")
            raise self._die("ack lost")
        try:
            sim.queues["jobs"].delete(d)
        except StaleReceipt:
            self.settled = True
            sim.notes.append(
                f"t={sim.clock.now():g}: {c.name} deleted {msg} with an out-of-date receipt "
                "handle: its visibility timeout had run out and since then it was received "
                "again (or dead-lettered). SQS answers success and deletes nothing."
            )
            sim.record(sim.clock.now(), c.name, "ack", msg, stale=True)
            return
        sim.unwatch(d.delivery_tag)
        self.settled = True
        sim.record(sim.clock.now(), c.name, "ack", msg)

    def nack(self, requeue: bool = True, delay: float = 0.0) -> None:
        """Make the message visible again now (``requeue=True``), or dead-letter it.

        ``delay``: seconds before it is visible again (a retry's backoff; SQS
        ChangeMessageVisibility with that timeout, 0 to 43200). The ``redeliver`` is recorded
        when the delay runs out, and the ``nack`` records ``delay``.
        """
        self._count("nack")
        check_nack(requeue, delay)
        sim, c, d, msg = self._sim, self._consumer, self.delivery, self._msg
        q = sim.queues["jobs"]
        sim.dead_now.clear()
        if requeue:
            q.change_visibility(d, delay)  # visible again after delay (or the DLQ, at the limit)
        else:
            q.nack(d, requeue=False)  # the consumer moves it to the DLQ itself
        sim.unwatch(d.delivery_tag)
        self.settled = True
        now = sim.clock.now()
        sim.record(now, c.name, "nack", msg, requeue=requeue, **({"delay": delay} if delay else {}))
        if delay:
            sim.watch(d, now, timeout=delay)  # the redeliver is recorded when the delay ends
        elif requeue and msg not in sim.dead_now:
            sim.record(now, "broker", "redeliver", msg, reason="nack")
        sim.pump()


@dataclass(frozen=True)
class HandlerError:
    """A handler that raised (or was stopped): who, on which message, when, and what."""

    consumer: str
    msg: str
    time: float
    error: str
    where: str = ""

    def __repr__(self) -> str:
        return f"HandlerError({self.consumer} on {self.msg} at t={self.time:g}: {self.error})"


# --- the run --------------------------------------------------------------------------------------


class Run:
    """The outcome of :func:`simulate`.

    - ``history``: every event, in order (save it with ``run.history.to_jsonl(path)``);
    - ``report``: the checker's verdicts and anomalies (computed on first use);
    - ``counts``: lost, duplicated, out of order, dead-lettered... as numbers;
    - ``errors``: what the handler raised, if anything; ``notes``: other things worth knowing;
    - ``stopped``: ``"settled"`` (nothing left to happen), ``"duration"`` or ``"max events"``.
    """

    def __init__(
        self,
        scenario: Scenario,
        history: History,
        *,
        end: float,
        stopped: str,
        errors: list[HandlerError],
        notes: list[str],
        broker: Any,
    ) -> None:
        self.scenario = scenario
        self.history = history
        self.end = end
        self.stopped = stopped
        self.errors = errors
        self.notes = notes
        self.broker = broker
        self._report: Report | None = None

    @property
    def report(self) -> Report:
        if self._report is None:
            self._report = check(self.history)
        return self._report

    @property
    def counts(self) -> dict[str, int]:
        r = self.report
        return {
            "published": r.messages,
            "processed": r.processed,
            "lost": len(r.lost),
            "duplicated": len(r.duplicated),
            "out_of_order": len(r.order),
            "dead_lettered": len(r.dead_lettered),
            "unfinished": len(r.unfinished),
        }

    @property
    def mode(self) -> str:
        return self.scenario.consumers.mode

    @property
    def ok(self) -> bool:
        """Whether the run kept the guarantee its consumers aim for (``scenario.consumers.mode``)."""
        return self.report.ok(self.mode)

    def __repr__(self) -> str:
        c = self.counts
        extra = f", {len(self.errors)} handler errors" if self.errors else ""
        if self.stopped != "settled":
            extra += f", stopped by {self.stopped}"
        return (
            f"Run({self.mode}, {c['published']} msgs, seed={self.scenario.seed}: "
            f"{c['lost']} lost, {c['duplicated']} duplicated, {c['dead_lettered']} dead-lettered, "
            f"{c['unfinished']} unfinished | {len(self.history)} events, t={self.end:g}s{extra})"
        )


# --- the broker side ------------------------------------------------------------------------------


class _DeadLetters:
    """The dead-letter target of every queue in a run: records a ``dead_letter`` event."""

    def __init__(self, sim: _Sim, name: str, group_info: dict[str, Any]) -> None:
        self.sim = sim
        self.name = name
        self.group_info = group_info  # {"group": queue} on exchange setups: whose dead letter
        self.messages: list[Message] = []

    def receive_dead_letter(self, message: Message) -> None:
        sim = self.sim
        deaths = message.headers.get("x-death") or [{}]
        reason = deaths[0].get("reason", "unknown")
        self.messages.append(message)
        sim.dead_now.add(message.id)
        sim.record(
            sim.clock.now(),
            "broker",
            "dead_letter",
            message.id,
            key=message.key,
            reason=reason,
            **self.group_info,
        )

    def discarded(self, message: Message, reason: str) -> None:
        """The queue let go of ``message`` without delivering or dead-lettering it (its
        ``on_discard``): retention ended, it expired, an overflow or a purge dropped it."""
        sim = self.sim
        sim.record(
            sim.clock.now(),
            "broker",
            "lost",
            message.id,
            key=message.key,
            what="message",
            reason=reason,
            **self.group_info,
        )

    def __repr__(self) -> str:
        return f"DeadLetters({self.name!r}: {len(self.messages)})"


class _QueueConsumer:
    """One consumer process: a channel on its queue, a prefetch buffer, and its handler."""

    def __init__(self, sim: _Sim, name: str, queue_name: str, group: str | None) -> None:
        self.sim = sim
        self.name = name
        self.queue_name = queue_name
        self.group = group
        self.group_info = {} if group is None else {"group": group}
        self.store = sim.stores.setdefault(group, DedupStore())  # one database per subscriber
        self.channel: Any = None  # the Queue's Consumer while connected
        self.incarnation = 0
        self.buffer: deque[Delivery] = deque()
        self.busy = False

    def connect(self, incarnation: int, restarted: bool) -> None:
        sim = self.sim
        if incarnation != self.incarnation or self.channel is not None:
            return
        if restarted:
            sim.record(sim.clock.now(), self.name, "restart")
        queue = sim.queues[self.queue_name]
        self.channel = queue.consume(self.name, prefetch=sim.scenario.broker.prefetch)
        sim.pump()

    def take(self) -> None:
        channel = self.channel
        if channel is None:
            return
        got = channel.take()
        if got:
            sim = self.sim
            for d in got:
                sim.sched.after(sim.latency, self.arrive, self.incarnation, d)

    def arrive(self, incarnation: int, d: Delivery) -> None:
        if incarnation != self.incarnation:
            return  # the channel this was pushed on has closed; the broker took it back
        sim = self.sim
        info = dict(self.group_info)
        if d.redelivered:
            info["redelivered"] = True
        sim.record_delivery(sim.clock.now(), self.name, d.message, **info)
        self.buffer.append(d)
        if not self.busy:
            self.busy = True
            sim.sched.after(sim.processing_time, self.handle, incarnation)

    def handle(self, incarnation: int) -> None:
        if incarnation != self.incarnation:
            return
        sim = self.sim
        d = self.buffer.popleft()
        ctx = Context(sim, self, d)
        failure = sim.run_handler(self, d, ctx)
        if failure is not None:
            self.fail(*failure, msg=d.message.id)
            return
        if not ctx.settled:
            sim.notes.append(
                f"{self.name} returned from {d.message.id} at t={sim.clock.now():g} without "
                "ack or nack: the broker keeps it unacked until consumer_timeout (30 min) "
                "closes the channel."
            )
            sim.sched.after(CONSUMER_TIMEOUT, self.timeout, self.incarnation, d.delivery_tag)
        if self.buffer:
            sim.sched.after(sim.processing_time, self.handle, incarnation)
        else:
            self.busy = False

    def give_back(self, incarnation: int, d: Delivery) -> None:
        """The delay of a ``ctx.nack(delay=...)`` is over: nack the held delivery now (unless
        its channel closed meanwhile, which gave it back already)."""
        if incarnation != self.incarnation or self.channel is None:
            return
        sim = self.sim
        sim.dead_now.clear()
        self.channel.nack(d, True)
        if d.message.id not in sim.dead_now:
            sim.record(sim.clock.now(), "broker", "redeliver", d.message.id, reason="backoff over")
        sim.pump()

    def timeout(self, incarnation: int, tag: int) -> None:
        if incarnation != self.incarnation or self.channel is None:
            return
        if any(d.delivery_tag == tag for d in self.channel.unacked):
            self.sim.notes.append(
                f"t={self.sim.clock.now():g}: the broker closed {self.name}'s channel: a delivery "
                "stayed unacked longer than consumer_timeout."
            )
            self.disconnect(crashed=False)

    def fail(self, when: str, error: str | None, *, msg: str | None) -> None:
        """The handler was interrupted: a crash, a lost ack, or an error."""
        if when == "ack lost":
            self.disconnect(crashed=False)
            return
        _record_crash(self.sim, self.name, msg, when, error)
        self.disconnect(crashed=True)

    def disconnect(self, crashed: bool) -> None:
        """The channel closes: unacked deliveries go back; reconnect after restart_delay."""
        sim = self.sim
        channel = self.channel
        self.incarnation += 1
        self.buffer.clear()
        self.busy = False
        if channel is not None:
            self.channel = None
            sim.requeue(channel)
        sim.sched.after(
            sim.scenario.consumers.restart_delay,
            self.connect,
            self.incarnation,
            crashed,
        )
        sim.pump()


class _SqsConsumer:
    """One consumer process on an SQS queue: it pulls messages, handles them, deletes them.

    The loop of a real SQS consumer: ``receive(receive_batch)``; handle each message in turn
    (``processing_time`` each); receive again as soon as the batch is done. An empty receive
    makes it wait ``poll_interval`` before the next one. The simulation skips the empty polls:
    a consumer whose receive came back empty sleeps until something becomes visible in the
    queue, then polls at its next poll time (``last_poll + k * poll_interval``), which is
    when its timer would have found the message.
    """

    def __init__(self, sim: _Sim, name: str) -> None:
        self.sim = sim
        self.name = name
        self.group: str | None = None
        self.group_info: dict[str, Any] = {}
        self.store = sim.stores.setdefault(None, DedupStore())
        self.incarnation = 0
        self.alive = False
        self.buffer: deque[Delivery] = deque()
        self.busy = False  # holds received messages (on the wire or waiting to be handled)
        self.sleeping = False  # its last receive came back empty
        self.last_poll = 0.0
        self.timer: Any = None

    def connect(self, incarnation: int, restarted: bool) -> None:
        sim = self.sim
        if incarnation != self.incarnation or self.alive:
            return
        if restarted:
            sim.record(sim.clock.now(), self.name, "restart")
        self.alive = True
        self.poll(incarnation)

    def poll(self, incarnation: int) -> None:
        """ReceiveMessage: the received messages are hidden for the visibility timeout from now."""
        sim = self.sim
        if incarnation != self.incarnation or not self.alive or self.busy:
            return
        self.timer = None
        self.sleeping = False
        now = sim.clock.now()
        self.last_poll = now
        got = sim.queues["jobs"].receive(sim.receive_batch)
        if not got:
            self.sleeping = True
            return
        self.busy = True
        for d in got:
            sim.watch(d, now)
        sim.sched.after(sim.latency, self.arrive, incarnation, got)

    def wake(self) -> None:
        """Something became visible: a sleeping consumer polls at its next poll time."""
        if not self.sleeping or self.timer is not None:
            return
        sim = self.sim
        now, every = sim.clock.now(), sim.poll_interval
        t = self.last_poll + max(1, math.ceil((now - self.last_poll) / every)) * every
        self.timer = sim.sched.at(max(t, now), self.poll, self.incarnation)

    def arrive(self, incarnation: int, got: list[Delivery]) -> None:
        if incarnation != self.incarnation:
            return  # the process died: the messages stay hidden until their timeout runs out
        sim = self.sim
        now = sim.clock.now()
        for d in got:
            again = {"redelivered": True} if d.redelivered else {}
            sim.record_delivery(now, self.name, d.message, **again)
            self.buffer.append(d)
        sim.sched.after(sim.processing_time, self.handle, incarnation)

    def handle(self, incarnation: int) -> None:
        if incarnation != self.incarnation:
            return
        sim = self.sim
        d = self.buffer.popleft()
        ctx = SqsContext(sim, self, d)
        failure = sim.run_handler(self, d, ctx)
        if failure is not None:
            when, error = failure
            if when != "ack lost":  # a lost delete only ends this handler; the process goes on
                _record_crash(sim, self.name, d.message.id, when, error)
                self.disconnect()
                return
        elif not ctx.settled:
            sim.notes.append(
                f"{self.name} returned from {d.message.id} at t={sim.clock.now():g} without "
                "deleting it: it becomes visible again when its visibility timeout runs out."
            )
        if self.buffer:
            sim.sched.after(sim.processing_time, self.handle, incarnation)
        else:
            self.busy = False
            self.poll(incarnation)

    def disconnect(self) -> None:
        """The process dies: what it received stays hidden until its visibility timeout runs
        out (nothing closes a channel on SQS); it comes back after ``restart_delay``."""
        sim = self.sim
        self.incarnation += 1
        self.alive = self.busy = self.sleeping = False
        self.buffer.clear()
        if self.timer is not None:
            sim.sched.cancel(self.timer)
            self.timer = None
        sim.sched.after(sim.scenario.consumers.restart_delay, self.connect, self.incarnation, True)


class _KafkaSender:
    """A Kafka producer's connection to the log, as the simulation tracks it."""

    __slots__ = ("client", "in_flight", "waiting", "broken", "generation", "last_arrival")

    def __init__(self, client: Any) -> None:
        self.client = client  # the log's Producer
        self.in_flight: dict[str, tuple[str, int]] = {}  # msg -> (key, attempt), in send order
        self.waiting: deque[tuple[str, str]] = deque()
        self.broken = False
        self.generation = 0
        self.last_arrival = 0.0


class _LogConsumer:
    """One consumer process of the group: a member of the log's group, polling batches."""

    def __init__(self, sim: _Sim, name: str) -> None:
        self.sim = sim
        self.name = name
        self.group: str | None = None
        self.group_info: dict[str, Any] = {}
        self.store = sim.stores.setdefault(None, DedupStore())
        self.incarnation = 0
        self.member: Any = None  # the log's Consumer (a group member) while alive
        self.txn: Any = None  # this incarnation's transactional producer, made on first use
        self.batch: list[LogDelivery] = []
        self.batch_end: dict[Any, int] = {}
        self.index = 0
        self.busy = False
        self.idle = False
        self.keepalive_timer: Any = None

    # --- membership -----------------------------------------------------------------------------

    def connect(self, incarnation: int, restarted: bool) -> None:
        sim = self.sim
        if incarnation != self.incarnation or self.member is not None:
            return
        if restarted:
            sim.record(sim.clock.now(), self.name, "restart")
        member = self.name if incarnation == 0 else f"{self.name}.{incarnation}"
        self.member = sim.log.consumer(
            group=GROUP,
            name=member,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            max_poll_records=sim.scenario.consumers.batch,
            session_timeout_ms=SESSION_TIMEOUT_MS,
        )
        self.member.subscribe([TOPIC])
        sim.sync_group()
        self.poll(incarnation)

    def txn_producer(self) -> Any:
        """The transactional producer of this incarnation (``transactional_id`` is per consumer
        process, so a restarted process fences the transactions its old self left open)."""
        if self.txn is None:
            self.txn = self.sim.log.producer(
                name=f"{self.member.name}-tx", transactional_id=f"{self.name}-tx"
            )
            self.txn.init_transactions()
        return self.txn

    def record_commits(self, offsets: dict[Any, int]) -> None:
        sim = self.sim
        for tp, offset in sorted(offsets.items()):
            sim.record(sim.clock.now(), self.name, "commit", partition=tp.partition, offset=offset)

    # --- the poll loop --------------------------------------------------------------------------

    def poll(self, incarnation: int) -> None:
        sim = self.sim
        if incarnation != self.incarnation or self.member is None or self.busy:
            return
        self.cancel_keepalive()
        self.idle = False
        records = self.member.poll()
        sim.sync_group()
        if not records:
            self.idle = True
            self.keepalive_timer = sim.sched.after(KEEPALIVE, self.keepalive, incarnation)
            sim.keepalives += 1
            return
        self.busy = True
        batch = [LogDelivery(r) for r in records]
        end: dict[Any, int] = {}
        now = sim.clock.now()
        for r, d in zip(records, batch):
            end[r.tp] = r.offset + 1
            sim.record_delivery(now, self.name, d, partition=d.partition, offset=d.offset)
        sim.sched.after(sim.latency, self.arrive, incarnation, batch, end)

    def cancel_keepalive(self) -> None:
        if self.keepalive_timer is not None:
            self.sim.sched.cancel(self.keepalive_timer)
            self.sim.keepalives -= 1
            self.keepalive_timer = None

    def keepalive(self, incarnation: int) -> None:
        """An idle member polls now and then (a real one polls in a loop), so that it does not
        overstay ``max.poll.interval.ms`` - as long as anything else is still to happen."""
        sim = self.sim
        sim.keepalives -= 1
        self.keepalive_timer = None
        if incarnation == self.incarnation and self.idle and sim.sched.pending() > sim.keepalives:
            self.poll(incarnation)

    def arrive(self, incarnation: int, batch: list[LogDelivery], end: dict[Any, int]) -> None:
        if incarnation != self.incarnation:
            return
        self.batch, self.batch_end, self.index = batch, end, 0
        self.start(incarnation)

    def start(self, incarnation: int) -> None:
        """Begin on batch[index]: dead-letter it if delivered too often, else work on it."""
        sim = self.sim
        d = self.batch[self.index]
        limit = sim.scenario.broker.max_receive_count
        if limit is not None and sim.deliveries[d.id] > limit:
            sim.sched.soon(self.dead_letter, incarnation)
            return
        wait = sim.processing_time
        if sim.strikes("rebalance", d.id, d):
            # This record takes longer than max.poll.interval.ms: the group removes the member
            # in the middle of its batch and hands its partitions to the others.
            wait += MAX_POLL_INTERVAL
            sim.sched.after(MAX_POLL_INTERVAL + 0.001, sim.tick)
        sim.sched.after(wait, self.handle, incarnation)

    def handle(self, incarnation: int) -> None:
        if incarnation != self.incarnation:
            return
        sim = self.sim
        d = self.batch[self.index]
        ctx = LogContext(sim, self, d, self.index, len(self.batch))
        failure = sim.run_handler(self, d, ctx)
        if failure is not None:
            self.fail(*failure, msg=d.id)
            return
        self.next(incarnation)

    def next(self, incarnation: int) -> None:
        self.index += 1
        if self.index < len(self.batch):
            self.start(incarnation)
            return
        self.busy = False
        self.batch, self.batch_end = [], {}
        self.poll(incarnation)

    def dead_letter(self, incarnation: int) -> None:
        """The consumer's error handler gives up on a record (as Spring Kafka's
        DefaultErrorHandler does): it sends it to the dead-letter topic and commits past it."""
        if incarnation != self.incarnation:
            return
        sim = self.sim
        d = self.batch[self.index]
        sim.dlt_producer.send(DEAD_LETTER_TOPIC, d.payload, key=d.key)
        sim.record(
            sim.clock.now(),
            self.name,
            "dead_letter",
            d.id,
            key=d.key,
            partition=d.partition,
            offset=d.offset,
            reason="delivery_limit",
        )
        from .log import TopicPartition

        try:
            done = self.member.commit({TopicPartition(d.topic, d.partition): d.offset + 1})
        except (CommitFailed, NotAssigned):
            self.fail("commit refused", None, msg=d.id)
            return
        self.record_commits(done)
        self.next(incarnation)

    # --- when things go wrong -----------------------------------------------------------------

    def fail(self, when: str, error: str | None, *, msg: str | None) -> None:
        sim = self.sim
        if when == "commit refused":  # drop the batch, poll again (rejoining if removed)
            self.busy = False
            self.batch, self.batch_end = [], {}
            self.poll(self.incarnation)
            return
        if when in ("ack lost", "commit lost"):
            self.disconnect(crashed=False)
            return
        _record_crash(sim, self.name, msg, when, error)
        self.disconnect(crashed=True)

    def disconnect(self, crashed: bool) -> None:
        """The process dies (the group notices after the session timeout) or its connection
        drops (it leaves the group at once); it comes back as a new member later."""
        sim = self.sim
        member = self.member
        self.incarnation += 1
        self.member = None
        self.txn = None
        self.busy = self.idle = False
        self.batch, self.batch_end = [], {}
        self.cancel_keepalive()
        if member is not None and member.state == "open":
            if crashed:
                member.crash()
                sim.sched.after(SESSION_TIMEOUT_MS / 1000 + 0.001, sim.tick)
            else:
                member.close()
            sim.sync_group()
        sim.sched.after(
            sim.scenario.consumers.restart_delay, self.connect, self.incarnation, crashed
        )


# --- the simulation ---------------------------------------------------------------------------------


class _Sim:
    def __init__(self, scenario: Scenario, handler: Callable[..., Any] | None) -> None:
        self.scenario = scenario
        self.sched = Scheduler()
        self.clock = self.sched.clock
        self.history = History()
        # Every event of the run is recorded with this: History.record without the field
        # checks, which check() makes anyway (the fields are all built here).
        self.record = self.history._record_unchecked
        self.stores: dict[str | None, DedupStore] = {}
        self.errors: list[HandlerError] = []
        self.notes: list[str] = []
        s = scenario
        self.mode = s.consumers.mode
        self.latency = s.broker.latency
        self.processing_time = s.consumers.processing_time
        self.retries = s.producers.retries_for(self.mode)
        self.custom = handler is not None
        self.handler = handler if handler is not None else builtin_handler(self.mode, s.broker.kind)
        self.max_steps = s.consumers.max_steps
        # faults: a random stream per fault kind (turning one up does not move the others)
        self.prob = {k: p for k, p in s.faults.probabilities.items() if p > 0}
        self.rng = {k: Random(f"{s.seed}/{k}") for k in self.prob}
        self.planned: dict[str, list[Fault]] = {}
        for f in s.faults.schedule:
            self.planned.setdefault(f.kind, []).append(f)
        self.deliveries: dict[str, int] = {}  # message -> deliveries, across every queue
        self.group_deliveries: dict[tuple[str | None, str], int] = {}  # (queue, msg) -> ...
        self.attempts: dict[str, int] = {}
        self.senders: dict[str, _KafkaSender] = {}  # log setups: each producer's connection
        self.confirmed: set[str] = set()
        self.poison: set[str] = set()
        self.dead_now: set[str] = set()
        self.queues: dict[str, Queue] = {}
        self.dead: dict[str, _DeadLetters] = {}
        self.consumers: list[_QueueConsumer] = []
        self.amqp: Any = None  # the Broker (exchange setups); None: one bare Queue
        self.retry_timers: dict[str, list[Any]] = {}
        self.log: Any = None  # the Log (log setups)
        self.batches: dict[str, Any] = {}  # message -> its producer batch (a retry resends it)
        self.stored_at: dict[tuple[int, int], tuple[str, str]] = {}  # (partition, offset) -> msg
        self.copies: dict[str, int] = {}  # message -> copies stored in the log (retries)
        self.dlt_producer: Any = None
        self.keepalives = 0
        self.rebalances_seen = 0
        b = s.broker
        self.headers = b.kind == "exchange" and b.exchange_type == "headers"
        self.sqs = b.kind == "sqs"
        if self.sqs:  # pull consumers (see _SqsConsumer) and the visibility timeouts they start
            self.visibility_timeout: float = b.visibility_timeout  # type: ignore[assignment]
            self.receive_batch: int = b.receive_batch  # type: ignore[assignment]
            self.poll_interval: float = b.poll_interval  # type: ignore[assignment]
            self.vis_due: dict[float, dict[int, str]] = {}  # deadline -> {delivery tag: msg}
            self.vis_timers: dict[float, Any] = {}  # deadline -> its scheduled visibility_ends
            self.vis_of: dict[int, float] = {}  # delivery tag -> its deadline
            self.pump = self.wake_pullers  # type: ignore[method-assign]  # nothing is pushed
        if b.kind == "log":
            self._build_log()
        else:
            self._build_broker()

    # --- faults -----------------------------------------------------------------------------------

    def strikes(
        self,
        kind: str,
        msg: str,
        d: Delivery | None = None,
        attempt: int = 1,
        group: str | None = None,
    ) -> bool:
        """Whether fault ``kind`` strikes at this opportunity (schedule first, then chance).

        With a delivery ``d`` (of a consumer in ``group``), a scheduled fault counts the
        message's deliveries across every queue, or with its own ``group`` in that queue only.
        """
        planned = self.planned.get(kind)
        if planned:
            now = self.clock.now()
            for i, f in enumerate(planned):
                if d is None:
                    n = attempt
                elif f.group is None:
                    n = self.deliveries.get(msg, 0)
                elif f.group == group:
                    n = self.group_deliveries.get((group, msg), 0)
                else:
                    continue  # aimed at another queue
                if (
                    (f.msg is None or f.msg == msg)
                    and f.delivery == n
                    and (f.at is None or now >= f.at)
                ):
                    del planned[i]
                    return True
        p = self.prob.get(kind)
        return p is not None and self.rng[kind].random() < p

    def _planned_delay(self, msg: str, attempt: int) -> float | None:
        planned = self.planned.get("network_delay")
        if planned:
            for i, f in enumerate(planned):
                if f.msg == msg and f.delivery == attempt:
                    del planned[i]
                    return f.delay
        p = self.prob.get("network_delay")
        if p is not None and self.rng["network_delay"].random() < p:
            return self.rng["network_delay"].uniform(0, self.scenario.faults.max_delay)
        return None

    # --- the broker ---------------------------------------------------------------------------------

    def _queue_settings(self, name: str) -> dict[str, Any]:
        dead = self.dead.get(name)
        if dead is None:
            grouped = self.scenario.broker.kind == "exchange"
            dead = self.dead[name] = _DeadLetters(
                self, name + ".dlq", {"group": name} if grouped else {}
            )
        settings = {
            "fifo": self.scenario.producers.idempotent_for("queue", self.mode),
            # The longest SQS allows; a run longer than that (14 days) loses messages to it,
            # and the history records each one (on_discard).
            "retention": 1209600,
            "dead_letter": dead,
            "max_receive_count": self.scenario.broker.max_receive_count,
            "on_discard": dead.discarded,
        }
        if self.sqs:
            settings["visibility_timeout"] = self.visibility_timeout
        return settings

    def _declare(self, name: str) -> Queue:
        """Make (or, after a restart of a non-durable broker, re-make) queue ``name``."""
        settings = self._queue_settings(name)
        if self.amqp is None:
            return Queue(name, clock=self.clock, **settings)
        q = self.amqp.declare_queue(name, **settings)
        b, keys = self.scenario.broker, self.scenario.producers.keys
        names = list(self.queues) or [name]
        j = names.index(name)
        if b.exchange_type == "fanout":
            self.amqp.bind(name, "events")
        elif b.exchange_type == "headers":  # the producers send the key as a header too
            for key in keys[j :: len(names)]:
                self.amqp.bind(name, "events", arguments={"x-match": "all", "key": key})
        else:
            for key in keys[j :: len(names)]:
                self.amqp.bind(name, "events", key)
        return q

    def _build_broker(self) -> None:
        s = self.scenario
        b = s.broker
        n = s.consumers.count
        if b.kind in ("queue", "sqs"):
            names = ["jobs"]
        else:
            from .broker import Broker

            names = [f"q{i}" for i in range(1, b.queues + 1)]
            self.amqp = Broker(self.clock)
            self.amqp.declare_exchange("events", b.exchange_type)
        for qname in names:
            self.queues[qname] = None  # type: ignore[assignment]  # keeps the order for _declare
        for qname in names:
            self.queues[qname] = self._declare(qname)
        if self.sqs:
            self.consumers = [_SqsConsumer(self, f"consumer-{k}") for k in range(1, n + 1)]  # type: ignore[misc]
            return
        grouped = b.kind == "exchange"
        k = 0
        for qname in names:
            for _ in range(n):
                k += 1
                self.consumers.append(
                    _QueueConsumer(self, f"consumer-{k}", qname, qname if grouped else None)
                )

    def _build_log(self) -> None:
        from .log import Log

        s = self.scenario
        self.log = Log(self.clock)
        self.log.create_topic(TOPIC, partitions=s.broker.partitions)
        self.log.create_topic(EFFECTS_TOPIC, partitions=1)
        self.log.create_topic(DEAD_LETTER_TOPIC, partitions=1)
        for i in range(1, s.producers.count + 1):
            name = f"producer-{i}"
            idempotent = s.producers.idempotent_for("log", self.mode)
            client = self.log.producer(name=name, enable_idempotence=idempotent)
            self.senders[name] = _KafkaSender(client)
        self.dlt_producer = self.log.producer(name="dead-letter-publisher")
        self.log.on_retention = self._retention_deleted
        self.consumers = [  # type: ignore[list-item]
            _LogConsumer(self, f"consumer-{k}") for k in range(1, s.consumers.count + 1)
        ]

    def _retention_deleted(self, tp: Any, first: int, end: int) -> None:
        """The log's retention deleted offsets ``first..end-1`` of ``tp``: record a ``lost``
        message for each message whose last stored copy went before the group committed past
        it (if it was never processed, the checker names the loss)."""
        if tp.topic != TOPIC:
            return
        group = self.log.groups.get(GROUP)
        committed = group.committed.get(tp, 0) if group is not None else 0
        now = self.clock.now()
        for offset in range(first, end):
            stored = self.stored_at.pop((tp.partition, offset), None)
            if stored is None:
                continue
            msg, key = stored
            self.copies[msg] -= 1
            if self.copies[msg] == 0 and offset >= committed:
                self.record(
                    now,
                    "broker",
                    "lost",
                    msg,
                    key=key,
                    partition=tp.partition,
                    offset=offset,
                    what="message",
                    reason="retention",
                )

    def sync_group(self) -> None:
        """Record the group's new rebalances; wake idle members, whose partitions changed."""
        group = self.log.groups.get(GROUP)
        if group is None or len(group.events) == self.rebalances_seen:
            return
        now = self.clock.now()
        for ev in group.events[self.rebalances_seen :]:
            self.record(
                now,
                GROUP,
                "rebalance",
                generation=ev.generation,
                reason=ev.reason,
                assignment={m: [repr(tp) for tp in tps] for m, tps in ev.after.items()},
            )
        self.rebalances_seen = len(group.events)
        self.sched.soon(self.wake)

    def tick(self) -> None:
        """Let the log apply its time rules (session timeouts, max.poll.interval.ms) now."""
        self.log.tick()
        self.sync_group()

    def wake(self) -> None:
        """Idle members poll again (new records, or a new assignment)."""
        for c in self.consumers:
            if c.idle:
                c.poll(c.incarnation)

    def _arrive_log(self, producer: str, msg: str, key: str, attempt: int) -> None:
        from .log import TopicPartition

        k = self.senders[producer]
        batch = self.batches[msg]
        part = self.log.partition(TopicPartition(TOPIC, batch.partition))
        before = part.log_end_offset
        try:
            [meta] = k.client.deliver(batch) if attempt == 1 else k.client.retry(batch)
        except OutOfOrderSequence:  # pragma: no cover - one ordered connection prevents it
            k.in_flight.pop(msg, None)
            self.record(
                self.clock.now(), producer, "lost", msg, what="publish", reason="OutOfOrderSequence"
            )
            self.send_waiting(producer)
            return
        stored = part.log_end_offset != before
        if stored:  # where it landed, so that a deletion by retention can be recorded
            self.stored_at[(meta.partition, meta.offset)] = (msg, key)
            self.copies[msg] = self.copies.get(msg, 0) + 1
        lost = False
        if not k.broken and self.strikes("producer_retry", msg, attempt=attempt):
            # The connection breaks: this confirm, and every response after it, is lost until
            # the producer notices (its request timeout) and reconnects.
            lost = k.broken = True
            self.sched.after(self.scenario.producers.confirm_timeout, self.reconnect, producer)
        self.sched.after(
            self.latency, self.confirm, producer, msg, attempt, lost, stored, meta, k.generation
        )
        if self.strikes("broker_restart", msg, attempt=attempt):
            self.restart_broker()
        self.wake()

    def pump(self) -> None:
        """Collect what the queues pushed to each consumer and send it on the wire."""
        if self.log is not None:
            return
        for c in self.consumers:
            if c.channel is not None:
                c.take()

    # --- sqs: visibility timeouts --------------------------------------------------------------

    def watch(self, d: Delivery, now: float, timeout: float | None = None) -> None:
        """A message was received at ``now`` (or its visibility was changed to ``timeout``
        seconds from ``now``): note when its visibility timeout runs out.

        The queue applies the timeout itself, lazily, at its next call; ``visibility_ends``
        makes that call at the deadline (first among the events then: priority -1), so the
        ``redeliver`` or ``dead_letter`` is recorded when it happens.
        """
        # the same sum the queue makes
        deadline = now + (self.visibility_timeout if timeout is None else timeout)
        due = self.vis_due.get(deadline)
        if due is None:
            due = self.vis_due[deadline] = {}
            self.vis_timers[deadline] = self.sched.at(
                deadline, self.visibility_ends, deadline, priority=-1
            )
        due[d.delivery_tag] = d.message.id
        self.vis_of[d.delivery_tag] = deadline

    def unwatch(self, tag: int) -> None:
        """The delivery was deleted or given back: its timeout no longer matters."""
        deadline = self.vis_of.pop(tag, None)
        if deadline is None:
            return
        due = self.vis_due[deadline]
        del due[tag]
        if not due:
            del self.vis_due[deadline]
            self.sched.cancel(self.vis_timers.pop(deadline))

    def visibility_ends(self, deadline: float) -> None:
        """The visibility timeout of some received messages ran out without a delete: they are
        visible again (``redeliver``), or past ``max_receive_count`` and dead-lettered."""
        due = self.vis_due.pop(deadline)
        del self.vis_timers[deadline]
        self.dead_now.clear()
        len(self.queues["jobs"])  # any call makes the queue apply its time rules up to now
        now = self.clock.now()
        for tag, msg in due.items():
            del self.vis_of[tag]
            if msg in self.dead_now:
                self.dead_now.discard(msg)  # the _DeadLetters recorded it
                continue
            self.record(now, "broker", "redeliver", msg, reason="visibility timeout")
        self.wake_pullers()

    def wake_pullers(self) -> None:
        """Something may have become visible: sleeping SQS consumers poll at their next turn."""
        for c in self.consumers:
            if c.sleeping:
                c.wake()

    def record_delivery(self, now: float, consumer: str, message: Any, **info: Any) -> None:
        """Count one more delivery of ``message`` (anything with ``id`` and ``key``) and record
        it in the history."""
        msg = message.id
        self.deliveries[msg] = self.deliveries.get(msg, 0) + 1
        in_group = (info.get("group"), msg)
        self.group_deliveries[in_group] = self.group_deliveries.get(in_group, 0) + 1
        self.record(now, consumer, "deliver", msg, key=message.key, **info)

    def requeue(self, channel: Any) -> None:
        """A channel closed: record a ``redeliver`` for each delivery the queue takes back."""
        unacked = [d.message.id for d in channel.unacked]
        self.dead_now.clear()
        channel.crash()
        now = self.clock.now()
        for msg in unacked:
            if msg in self.dead_now:
                self.dead_now.discard(msg)  # went to the dead letters instead
                continue
            self.record(now, "broker", "redeliver", msg, reason="channel closed")

    def arrive(self, producer: str, msg: str, key: str, attempt: int) -> None:
        """A publish reaches the broker: store it (maybe twice), confirm it, maybe restart."""
        if self.log is not None:
            self._arrive_log(producer, msg, key, attempt)
            return
        now = self.clock.now()
        payload = int(msg[1:])
        stored = True
        if self.amqp is None:
            q = self.queues["jobs"]
            if self.scenario.producers.idempotent_for(
                "queue", self.mode
            ):  # SQS FIFO drops a duplicate
                before = q.stats()["deduplicated"]
                q.publish(payload, key=key, id=msg, group=key, dedup_id=msg)
                stored = q.stats()["deduplicated"] == before
            else:
                q.publish(payload, key=key, id=msg)
            targets = [q] if stored else []
        else:
            headers = {"key": key} if self.headers else None
            routed = self.amqp.publish("events", key, payload, id=msg, headers=headers)
            targets = [self.queues[name] for name in routed]
            if not targets:
                self.record(
                    now, "broker", "lost", msg, key=key, what="message", reason="unroutable"
                )
        if targets and self.strikes("duplicate_delivery", msg, attempt=attempt):
            exchange = "" if self.amqp is None else "events"  # where the first copy came from
            headers = {"key": key} if self.headers else {}
            for q in targets:  # the broker keeps a second copy (SQS standard may)
                q.enqueue(Message(msg, payload, key, headers, now), exchange=exchange)
        lost_confirm = self.strikes("producer_retry", msg, attempt=attempt)
        self.sched.after(self.latency, self.confirm, producer, msg, attempt, lost_confirm, stored)
        if self.strikes("broker_restart", msg, attempt=attempt):
            self.restart_broker()
        self.pump()

    def restart_broker(self) -> None:
        """Every connection closes: a durable queue requeues its unacked deliveries, a
        non-durable one forgets every message it held."""
        now = self.clock.now()
        self.record(now, "broker", "restart")
        if self.sqs:
            # SQS keeps every message, and the visibility timeout of every one in flight,
            # redundantly across its hosts: a host restart loses nothing and shows nothing
            # early. Consumers carry on; their receipt handles stay valid.
            return
        if self.log is not None:  # the log is on disk; every member's connection drops
            for c in self.consumers:
                if c.member is not None:
                    c.disconnect(crashed=False)
            return
        if self.scenario.broker.durable:
            for c in self.consumers:
                if c.channel is not None or c.busy:
                    c.disconnect(crashed=False)
            return
        for name, q in list(self.queues.items()):
            held = [m.id for m in q.peek()] + [d.message.id for d in q.in_flight()]
            for msg in held:
                self.record(
                    now,
                    "broker",
                    "lost",
                    msg,
                    what="message",
                    reason="restart, not durable",
                    **self.dead[name].group_info,
                )
            if self.amqp is not None:
                self.amqp.delete_queue(name)
            self.queues[name] = self._declare(name)
        for c in self.consumers:
            if c.channel is not None or c.busy:
                c.channel = None  # its queue is gone, and the deliveries with it
                c.disconnect(crashed=False)

    # --- producers -------------------------------------------------------------------------------------

    def publish(self, producer: str, msg: str, key: str, attempt: int) -> None:
        """Send a message (``attempt`` 1) or send it again (``attempt`` > 1).

        On a queue every publish travels on its own, as SQS's independent SendMessage requests
        do, so a delayed one can be overtaken (on one AMQP channel it could not: a deliberate
        simplification), and each is retried on its own when its confirm does not come. On a
        log the producer is Kafka's: see :meth:`send_log`.
        """
        if self.log is not None:
            self.send_log(producer, msg, key, attempt)
            return
        now = self.clock.now()
        if attempt == 1 and self.strikes("poison_message", msg, attempt=1):
            self.poison.add(msg)
        self.attempts[msg] = attempt
        self.record(now, producer, "publish", msg, key=key, attempt=attempt)
        extra = self._planned_delay(msg, attempt) or 0.0
        self.sched.after(self.latency + extra, self.arrive, producer, msg, key, attempt)
        if attempt <= self.retries:
            self.retry_timers[msg] = self.sched.after(
                self.scenario.producers.confirm_timeout, self.retry, producer, msg, key, attempt
            )

    def send_log(self, producer: str, msg: str, key: str, attempt: int) -> None:
        """Kafka's producer: one connection, so requests arrive in the order they were sent (a
        delayed one holds back the ones behind it), and at most ``MAX_IN_FLIGHT`` unconfirmed
        batches; more wait their turn."""
        k = self.senders[producer]
        now = self.clock.now()
        if attempt == 1:
            if k.broken or len(k.in_flight) >= MAX_IN_FLIGHT:
                k.waiting.append((msg, key))
                return
            if self.strikes("poison_message", msg, attempt=1):
                self.poison.add(msg)
            self.batches[msg] = k.client.build_batch(TOPIC, [int(msg[1:])], key=key)
        k.in_flight[msg] = (key, attempt)
        self.attempts[msg] = attempt
        self.record(now, producer, "publish", msg, key=key, attempt=attempt)
        arrival = now + self.latency + (self._planned_delay(msg, attempt) or 0.0)
        arrival = max(arrival, k.last_arrival)
        k.last_arrival = arrival
        self.sched.at(arrival, self.arrive, producer, msg, key, attempt)

    def reconnect(self, producer: str) -> None:
        """The producer notices its broken connection (``request.timeout.ms``), opens a new one,
        and sends every unconfirmed batch again, in order (if it retries at all)."""
        k = self.senders[producer]
        k.broken = False
        k.generation += 1
        for msg, (key, attempt) in list(k.in_flight.items()):
            if attempt <= self.retries:
                self.send_log(producer, msg, key, attempt + 1)
            else:
                del k.in_flight[msg]  # given up: the producer never learns whether it arrived
        self.send_waiting(producer)

    def send_waiting(self, producer: str) -> None:
        k = self.senders[producer]
        while k.waiting and not k.broken and len(k.in_flight) < MAX_IN_FLIGHT:
            msg, key = k.waiting.popleft()
            self.send_log(producer, msg, key, 1)

    def confirm(
        self,
        producer: str,
        msg: str,
        attempt: int,
        lost: bool,
        stored: bool,
        meta: Any = None,
        generation: int = 0,
    ) -> None:
        now = self.clock.now()
        where: dict[str, Any] = {}
        k = self.senders.get(producer)
        if meta is not None:  # a log tells the producer where the record landed
            where = {"partition": meta.partition, "offset": meta.offset}
            lost = lost or k.broken or generation != k.generation  # type: ignore[union-attr]
        if lost:
            self.record(now, producer, "lost", msg, what="confirm", attempt=attempt, **where)
            return
        if stored:
            self.record(now, producer, "confirm", msg, attempt=attempt, **where)
        else:
            self.record(now, producer, "confirm", msg, attempt=attempt, deduplicated=True, **where)
        self.confirmed.add(msg)
        timer = self.retry_timers.pop(msg, None)
        if timer is not None:
            self.sched.cancel(timer)
        if k is not None and k.in_flight.pop(msg, None) is not None:
            self.send_waiting(producer)

    def retry(self, producer: str, msg: str, key: str, attempt: int) -> None:
        if msg not in self.confirmed and self.attempts.get(msg) == attempt:
            self.publish(producer, msg, key, attempt + 1)

    # --- handlers ----------------------------------------------------------------------------------------

    def run_handler(self, c: Any, d: Any, ctx: Context) -> tuple[str, str | None] | None:
        """Run the handler; return None, or (when, error) if it was interrupted."""
        try:
            if self.custom:
                _bounded(self.handler, d, ctx, self.max_steps)
            else:
                self.handler(d, ctx)
        except _Interrupt as stop:
            return stop.what, None
        except _Stopped as stop:
            error = f"HandlerStopped: {stop.args[0]}"
            self.errors.append(HandlerError(c.name, d.id, self.clock.now(), error))
            return "handler stopped", error
        except (CommitFailed, NotAssigned) as exc:
            if self.log is None:
                raise  # pragma: no cover - the queue never raises these
            self.notes.append(
                f"t={self.clock.now():g}: {c.name}'s commit was refused ({type(exc).__name__}): "
                "the group had moved its partitions on. It drops the rest of its batch and polls "
                "again."
            )
            return "commit refused", None
        except (Exception, SystemExit) as exc:  # learner code: recorded, never ends the run
            if ctx._dead is not None:  # it swallowed a fault, then failed: the fault counts
                return ctx._dead, None
            error = f"{type(exc).__name__}: {exc}"
            where = _where(exc)
            self.errors.append(HandlerError(c.name, d.id, self.clock.now(), error, where))
            return "handler raised", error
        if ctx._dead is not None:  # it swallowed a fault (a bare except): the fault counts
            return ctx._dead, None
        return None

    # --- running -------------------------------------------------------------------------------------------

    def run(self) -> Run:
        s = self.scenario
        p = s.producers
        for c in self.consumers:
            self.sched.at(0.0, c.connect, 0, False, priority=-1)
        for f in s.faults.schedule:
            if f.kind == "broker_restart" and f.msg is None:
                self.planned["broker_restart"].remove(f)
                self.sched.at(f.at, self.restart_broker)  # type: ignore[arg-type]
        keys = p.keys
        for i in range(1, s.messages + 1):
            producer = (i - 1) % p.count
            t = ((i - 1) // p.count) / p.rate
            self.sched.at(
                t, self.publish, f"producer-{producer + 1}", f"m{i}", keys[(i - 1) % len(keys)], 1
            )
        budget = MAX_EVENTS_PER_MESSAGE * s.messages + 10_000
        ran = self.sched.run(until=s.duration, max_events=budget)
        if ran >= budget:
            stopped = "max events"
            self.notes.append(f"the run was stopped after {ran} events (t={self.clock.now():g}s).")
        elif self.sched.pending():
            stopped = "duration"
        else:
            stopped = "settled"
        events = self.history.events
        end = self.clock.now() if stopped == "duration" or not events else events[-1].time
        return Run(
            s,
            self.history,
            end=end,
            stopped=stopped,
            errors=self.errors,
            notes=self.notes,
            broker=self.log if self.log is not None else (self.amqp or self.queues["jobs"]),
        )


def _record_crash(sim: _Sim, actor: str, msg: str | None, when: str, error: str | None) -> None:
    info: dict[str, Any] = {"when": when}
    if error is not None:
        info["error"] = error
    sim.record(sim.clock.now(), actor, "crash", msg, **info)


def _where(exc: BaseException) -> str:
    """The last line of the learner's code in the traceback (file:line), if any."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if not frame.filename.startswith(_PACKAGE_DIR):
            return f"{frame.filename}:{frame.lineno}"
    return ""


def _bounded(handler: Callable[..., Any], d: Delivery, ctx: Context, max_steps: int) -> None:
    """Call ``handler(d, ctx)``, stopping it after ``max_steps`` steps of code outside brokerlab.

    A step is one bytecode instruction (``sys.settrace`` with ``f_trace_opcodes``): counting
    lines is not enough, because ``while True: pass`` runs one line forever.
    """
    steps = 0

    def local(frame: Any, event: str, arg: Any) -> Any:
        nonlocal steps
        if event == "opcode":
            steps += 1
            if steps > max_steps:
                raise _Stopped(
                    f"the handler ran more than {max_steps} steps for one delivery (in "
                    f"{frame.f_code.co_name}, line {frame.f_lineno}): it looks like an endless "
                    "loop. Make sure every loop ends; raise Consumers(max_steps=...) if it really "
                    "needs more."
                )
        return local

    def calls(frame: Any, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename.startswith(_PACKAGE_DIR):
            return None  # brokerlab's own code does not count
        frame.f_trace_opcodes = True
        return local

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        handler(d, ctx)
    finally:
        sys.settrace(previous)


# --- the public entry points ----------------------------------------------------------------------


def simulate(scenario: Scenario, handler: Callable[[Any, Context], Any] | None = None) -> Run:
    """Run ``scenario`` and return its :class:`Run`.

    ``handler`` overrides ``scenario.consumers.handler`` (and that overrides the mode's
    built-in handler). The same scenario always gives the same history, byte for byte.
    """
    if not isinstance(scenario, Scenario):
        raise ScenarioError(
            f"scenario={scenario!r} is not a Scenario: build one with Scenario(...), e.g. "
            "Scenario(messages=20, faults={'lost_ack': 0.1})."
        )
    if handler is not None:
        scenario = replace(scenario, consumers=replace(scenario.consumers, handler=handler))
    return _Sim(scenario, scenario.consumers.handler).run()


def compare(scenario: Scenario, modes: tuple[str, ...] = MODES) -> dict[str, Run]:
    """Run the same scenario once per delivery mode (built-in handlers): ``{mode: Run}``."""
    if not isinstance(scenario, Scenario):
        raise ScenarioError(
            f"scenario={scenario!r} is a {type(scenario).__name__}: pass a Scenario, e.g. "
            "compare(Scenario(messages=20))."
        )
    if isinstance(modes, str):
        raise InvalidArgument(
            f"modes={modes!r} is one str: pass a tuple of modes, e.g. modes=({modes!r},)."
        )
    if not isinstance(modes, (tuple, list)) or not modes:
        raise InvalidArgument(
            f"modes={modes!r} is not a non-empty tuple of modes: pass some of "
            f"{', '.join(MODES)}, e.g. modes=('at-least-once',)."
        )
    for m in modes:
        if m not in MODES:
            raise InvalidArgument(
                f"modes={modes!r}: {m!r} is not a mode; use some of {', '.join(MODES)}."
            )
    base = replace(scenario, consumers=replace(scenario.consumers, handler=None))
    return {m: simulate(base.with_mode(m)) for m in modes}
