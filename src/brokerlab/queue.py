"""The queue: point-to-point messaging, with RabbitMQ's consumers and SQS's visibility timeout.

A :class:`Queue` holds messages until someone takes them. Each message goes to *one* taker
(that is what makes it point-to-point, as opposed to pub/sub). There are two ways to take:

**Pull (SQS).** ``q.receive(max_messages)`` hands out up to 10 messages. Each one is then *in
flight*: hidden from other receivers for the visibility timeout (30 s by default). Delete it
with ``q.ack(delivery)`` (alias ``q.delete``) before the timeout ends, or it becomes visible again
and someone else receives it: that is at-least-once delivery.

**Push (RabbitMQ).** ``c = q.consume("worker-1", prefetch=2)`` registers a consumer. The queue
hands messages to its consumers round-robin as soon as they are ready and a consumer has room
under its prefetch limit (0 = no limit); ``c.take()`` returns what was pushed since the last
call. A pushed delivery stays in flight until it is acked, nacked or rejected, or until the
consumer closes or crashes, which puts it back *at its original position* with
``redelivered=True``. Pushed deliveries have no visibility timeout (RabbitMQ has none).

Both paths share one in-flight table, one delivery-tag counter and one receive count per
message. The rule when both are used on one queue is simple: consumers are served first,
whenever a message becomes ready; ``receive()`` gets what the consumers had no room for. Each
in-flight delivery belongs to exactly one path, and any delivery can be acked through
``q.ack(...)``; ``c.ack(...)`` accepts only that consumer's deliveries.

Time. Every time-based rule (visibility timeouts, delays, TTLs, retention, the FIFO dedup
window) is applied lazily, from ``q.clock``, at the start of every public call, in the order the
deadlines fall. Nothing happens between calls: move a :class:`~brokerlab.clock.VirtualClock` and
the next call catches up. A dead-letter queue first brings the queues that feed it up to date,
so the dead letters they owe by now are there when you look. The cost of all this is one
comparison per call when nothing is due: the queue keeps its next deadline.

Defaults and limits, with their sources:

=========================== ======================================================================
visibility_timeout          30 s, 0..43200 (SQS SetQueueAttributes ``VisibilityTimeout``; a
                            message can be kept in flight at most 12 h after its receive:
                            ChangeMessageVisibility)
retention                   345600 s = 4 days, 60..1209600 (SQS ``MessageRetentionPeriod``);
                            ``None``: kept until consumed (RabbitMQ; the broker's default)
delay                       0 s, 0..900 (SQS ``DelaySeconds``; per message on standard queues
                            only, SendMessage)
max_messages                1..10 per receive (SQS ReceiveMessage ``MaxNumberOfMessages``)
max_receive_count           None, 1..1000 (SQS redrive policy ``maxReceiveCount``; RabbitMQ quorum
                            queues' ``x-delivery-limit`` defaults to 20 since 4.0, but here None
                            means unlimited unless you set it)
message_ttl / ttl           None (RabbitMQ ``x-message-ttl`` and the per-message ``expiration``,
                            in milliseconds there, in seconds here)
max_length                  None (RabbitMQ ``x-max-length``, overflow ``drop-head``: counts ready
                            messages only)
prefetch                    0 = unlimited, 0..65535 (AMQP ``basic.qos`` ``prefetch_count``)
FIFO dedup window           300 s (SQS)
=========================== ======================================================================

Deliberate differences from the real brokers (each one named where it happens):

- **Stale receipts raise.** Deleting with an out-of-date receipt handle raises
  :class:`~brokerlab.errors.StaleReceipt`; real SQS returns success and does not delete the
  message, a silent no-op that is exactly the bug a learner should see.
- **Per-message TTL expires anywhere.** RabbitMQ only expires per-message TTLs when the message
  reaches the head of the queue; here a message expires at its deadline wherever it is.
  Queue-wide TTLs behave the same in both.
- **The delivery limit is checked when a message comes back** (nack with requeue, timeout,
  consumer close), as RabbitMQ quorum queues do. SQS moves the message to the DLQ on the
  *next* receive attempt instead; the counts are the same, the DLQ just fills a little earlier.
- **Delivery tags are per queue**, not per channel, so one number names a delivery everywhere.
- **Retention applies to both paths** when it is set: a queue made directly keeps SQS's 4 days;
  ``retention=None`` keeps messages until consumed, as RabbitMQ does (and as a
  :class:`~brokerlab.broker.Broker` declares its queues by default); ``retention=1209600`` is the
  longest SQS allows.
- **Receipt handles are readable**: ``"<queue>:<message id>:<delivery tag>"``, e.g.
  ``"jobs:m3:7"``, instead of SQS's opaque tokens.
- **FIFO with push consumers** (which SQS does not have) keeps one delivery per group in flight;
  a pull ``receive()`` may take several of one group at once, as SQS does.
- ``purge()`` deletes ready messages only (RabbitMQ); SQS PurgeQueue deletes in-flight ones too.
- Not modelled: long polling, priorities, ``x-max-length-bytes``, overflow modes other than
  ``drop-head``, RabbitMQ's dead-letter cycle detection (dead-letter targets are fixed when a
  queue is made, so queues cannot form a cycle).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

from .clock import Clock, VirtualClock
from .dead_letter import DeadLetterTarget, check_dead_letter_target, plan_redrive, record_death
from .errors import (
    AlreadyAcknowledged,
    AlreadyExists,
    DeadLetterConfigError,
    FifoError,
    InvalidArgument,
    InvalidType,
    OutOfRange,
    StaleReceipt,
    UnknownReceipt,
    check_range,
)
from .exchange import check_exchange
from .fifo import DEDUP_WINDOW, Deduplicator, check_fifo_fields, dedup_key
from .message import Delivery, Message, check_payload, new_delivery, numbered_message

__all__ = ["Consumer", "Queue"]

# Limits, in seconds unless said otherwise (sources in the module docstring).
VISIBILITY_DEFAULT, VISIBILITY_MAX = 30, 43200
RETENTION_DEFAULT, RETENTION_MIN, RETENTION_MAX = 345600, 60, 1209600
DELAY_MAX = 900
RECEIVE_MAX = 10
MAX_RECEIVE_COUNT_MAX = 1000
PREFETCH_MAX = 65535
TTL_MAX = RETENTION_MAX  # no message outlives the longest retention anyway

_INF = float("inf")

# Where a message is.
_GONE, _READY, _INFLIGHT, _DELAYED = 0, 1, 2, 3

# The queue's record of one message is a small list, because publish() makes one per message
# and a list is built several times faster than an object. Its fields, by index:
_MSG = 0  # the Message
_POS = 1  # arrival number: its place among ready messages, kept for requeue to that place
_STATE = 2  # _READY, _INFLIGHT, _DELAYED or _GONE
_COUNT = 3  # how many times it was delivered (receive count)
_TAG = 4  # delivery tag of its latest delivery (0: never delivered)
_CONSUMER = 5  # the Consumer holding it (push), or None
_DEADLINE = 6  # visibility deadline of the current pulled delivery
_RECEIVED = 7  # clock time of the current pulled delivery (for the 12-hour cap)
_RETAIN = 8  # retention deadline
_EXPIRES = 9  # TTL deadline, or None
_TTL = 10  # the per-message ttl asked for (x-death "original-expiration"), or None
_EXCHANGE = 11  # the exchange it came through ("": the default exchange, or put on directly)


class Consumer:
    """A push consumer registered with :meth:`Queue.consume` (a RabbitMQ ``basic.consume``).

    The queue pushes deliveries to it round-robin, never more than ``prefetch`` unacked at a
    time (0 = unlimited). ``take()`` returns what arrived since the last call; ``unacked`` is
    everything it holds. ``close()`` and ``crash()`` give every unacked delivery back to the
    queue, at its original position, with ``redelivered=True`` on its next delivery (RabbitMQ
    requeues a closed channel's unacked messages: https://www.rabbitmq.com/docs/confirms).
    """

    __slots__ = ("queue", "name", "prefetch", "_unacked", "_inbox", "_open")

    def __init__(self, queue: Queue, name: str, prefetch: int) -> None:
        self.queue = queue
        self.name = name
        self.prefetch = prefetch
        self._unacked: dict[int, Delivery] = {}  # delivery tag -> delivery, in delivery order
        self._inbox: list[Delivery] = []  # pushed but not yet taken
        self._open = True

    @property
    def is_open(self) -> bool:
        return self._open

    def take(self) -> list[Delivery]:
        """The deliveries pushed to this consumer since the last ``take()``, oldest first."""
        self.queue._touch()
        out, self._inbox = self._inbox, []
        return out

    @property
    def unacked(self) -> list[Delivery]:
        """Every delivery this consumer holds and has not settled, in delivery order."""
        self.queue._touch()
        return list(self._unacked.values())

    def ack(self, delivery: Delivery | str | int) -> None:
        """Acknowledge one of this consumer's deliveries (see :meth:`Queue.ack`)."""
        self._check_owner(delivery)
        self.queue.ack(delivery)

    def nack(self, delivery: Delivery | str | int, requeue: bool = True) -> None:
        """Give one of this consumer's deliveries back (see :meth:`Queue.nack`)."""
        self._check_owner(delivery)
        self.queue.nack(delivery, requeue)

    def reject(self, delivery: Delivery | str | int, requeue: bool = True) -> None:
        """Reject one of this consumer's deliveries (see :meth:`Queue.reject`)."""
        self._check_owner(delivery)
        self.queue.reject(delivery, requeue)

    def close(self) -> None:
        """Stop consuming; unacked deliveries go back to the queue at their original position."""
        self._check_open()
        self.queue._close_consumer(self, "closed")

    def crash(self) -> None:
        """The consumer's channel dies: the same effect as :meth:`close` (nothing is acked)."""
        self._check_open()
        self.queue._close_consumer(self, "crashed")

    def _check_open(self) -> None:
        if not self._open:
            raise InvalidArgument(
                f"consumer {self.name!r} is closed: its deliveries went back to queue "
                f"{self.queue.name!r}. Start a new one with queue.consume()."
            )

    def _check_owner(self, delivery: Any) -> None:
        self._check_open()
        q = self.queue
        tag = q._tag_of(delivery)
        if tag in self._unacked:
            return
        e = q._inflight.get(tag) or q._late.get(tag)
        if e is not None:  # a live delivery, but not this consumer's
            holder = f"consumer {e[_CONSUMER].name!r}" if e[_CONSUMER] else "a receive() call"
            raise UnknownReceipt(
                f"delivery tag {tag} belongs to {holder}, not to consumer {self.name!r}: a "
                "consumer settles only its own deliveries (RabbitMQ: unknown delivery tag on "
                "this channel). Settle it through its owner, or with queue.ack()."
            )
        # Otherwise the queue raises the right error (stale, already settled, unknown).

    def __repr__(self) -> str:
        limit = f"prefetch={self.prefetch}" if self.prefetch else "prefetch=unlimited"
        closed = "" if self._open else ", closed"
        return (
            f"Consumer({self.name!r} on {self.queue.name!r}: {limit}, "
            f"{len(self._unacked)} unacked{closed})"
        )


def check_visibility(name: str, value: Any, *, who: str = "SQS") -> float:
    """A visibility timeout: 0..43200 seconds (12 hours), SQS's range; 30 is the default."""
    return check_range(
        name, value, 0, VISIBILITY_MAX, "seconds (12 hours)", who=who, example=VISIBILITY_DEFAULT
    )


def check_delay_and_ttl(delay: Any = None, ttl: Any = None) -> None:
    """A per-message ``delay`` (SQS: 0..900 s) and ``ttl`` (0..TTL_MAX s), each optional."""
    if delay is not None:
        check_range("delay", delay, 0, DELAY_MAX, "seconds (15 minutes)", who="SQS", example=0)
    if ttl is not None:
        check_range("ttl", ttl, 0, TTL_MAX, "seconds", who="the reference queue", example=60)


def _check_int(
    name: str, value: Any, low: int, high: int | None, unit: str, who: str, example: Any
) -> int:
    if value.__class__ is not int:
        allowed = f"{low}..{high}" if high is not None else f"{low} or more"
        raise InvalidType(
            f"{name}={value!r} is a {type(value).__name__}: a whole number is needed "
            f"({allowed}{' ' + unit if unit else ''}). Pass an int, e.g. {example!r}."
        )
    if value < low or (high is not None and value > high):
        if high is None:
            raise OutOfRange(
                f"{name}={value!r} is out of range: {who} allows {low} or more {unit}. "
                f"Pass a value in that range, e.g. {example!r}."
            )
        raise OutOfRange(
            f"{name}={value!r} is out of range: {who} allows {low}..{high} {unit}. "
            f"Pass a value in that range, e.g. {example!r}."
        )
    return value


def _check_str(name: str, value: Any, example: str) -> None:
    if not isinstance(value, str):
        raise InvalidType(
            f"{name}={value!r} is a {type(value).__name__}: a str or None is needed. "
            f"Pass e.g. {name}={example!r}."
        )


def _check_headers(headers: Any) -> dict[str, Any]:
    if not isinstance(headers, dict):
        raise InvalidType(
            f"headers={headers!r} is a {type(headers).__name__}: headers are a dict with str "
            "keys. Pass e.g. headers={'trace': 'abc'}."
        )
    for k in headers:
        if not isinstance(k, str):
            raise InvalidType(
                f"headers has the key {k!r} ({type(k).__name__}): header names are str. "
                f"Use e.g. {str(k)!r}."
            )
    check_payload(headers, "headers")
    return dict(headers)


class Queue:
    """A point-to-point queue with RabbitMQ and SQS semantics (see the module docstring).

    >>> q = Queue("jobs")
    >>> q.publish({"order": 17})
    Message('m1', {'order': 17})
    >>> [d] = q.receive()
    >>> d.receipt_handle, d.receive_count
    ('jobs:m1:1', 1)
    >>> q
    Queue('jobs': 0 ready, 1 in flight)
    >>> q.ack(d)
    >>> q.stats()["acked"]
    1
    """

    # Slots rather than a __dict__: a queue has about fifty fields, more than CPython 3.11
    # keeps in a shared-key dict, and the hot paths read a dozen of them per call.
    __slots__ = (
        "name",
        "clock",
        "fifo",
        "visibility_timeout",
        "retention",
        "delay",
        "message_ttl",
        "max_length",
        "max_receive_count",
        "content_based_dedup",
        "_dead_letter",
        "_plain",
        "_heap",
        "_ready",
        "_pos",
        "_inflight",
        "_next_tag",
        "_late",
        "_stale",
        "_vis",
        "_vis_late",
        "_vis_last",
        "_vis_cap",
        "_ret",
        "_ret_bound",
        "_delayed",
        "_n_delayed",
        "_ttl",
        "_next_due",
        "_busy",
        "_groups",
        "_dedup",
        "_consumers",
        "_rr",
        "_consumer_ids",
        "_sources",
        "_n_published",
        "_n_dedup",
        "_n_redelivered",
        "_n_acked",
        "_n_requeued",
        "_n_dead",
        "_n_discarded",
        "_n_expired",
        "_n_redriven",
        "_n_purged",
        "_reasons",
        "on_discard",
    )

    def __init__(
        self,
        name: str,
        *,
        clock: Clock | None = None,
        fifo: bool = False,
        visibility_timeout: float = VISIBILITY_DEFAULT,
        retention: float | None = RETENTION_DEFAULT,
        delay: float = 0,
        message_ttl: float | None = None,
        max_length: int | None = None,
        dead_letter: Queue | DeadLetterTarget | None = None,
        max_receive_count: int | None = None,
        content_based_dedup: bool = False,
        on_discard: Callable[[Message, str], None] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidType(
                f"name={name!r} is not a non-empty str: a queue needs a name. Pass e.g. name='jobs'."
            )
        if clock is None:
            clock = VirtualClock()
        elif not callable(getattr(clock, "now", None)):
            raise InvalidType(
                f"clock={clock!r} has no now() method. Pass a brokerlab.clock.VirtualClock "
                "(or RealClock), or None for a fresh VirtualClock."
            )
        for flag_name, flag in (("fifo", fifo), ("content_based_dedup", content_based_dedup)):
            if flag.__class__ is not bool:
                raise InvalidType(f"{flag_name}={flag!r} is not a bool. Pass True or False.")
        check_visibility("visibility_timeout", visibility_timeout)
        if retention is not None:  # None: kept until consumed, as in RabbitMQ
            check_range(
                "retention",
                retention,
                RETENTION_MIN,
                RETENTION_MAX,
                "seconds (1 minute to 14 days), or None to keep messages until consumed",
                who="SQS",
                example=RETENTION_DEFAULT,
            )
        check_range("delay", delay, 0, DELAY_MAX, "seconds (15 minutes)", who="SQS", example=0)
        if message_ttl is not None:
            check_range(
                "message_ttl",
                message_ttl,
                0,
                TTL_MAX,
                "seconds (the longest retention)",
                who="the reference queue",
                example=60,
            )
        if max_length is not None:
            _check_int(
                "max_length", max_length, 0, None, "ready messages", "RabbitMQ x-max-length", 1000
            )
        if max_receive_count is not None:
            _check_int(
                "max_receive_count",
                max_receive_count,
                1,
                MAX_RECEIVE_COUNT_MAX,
                "receives",
                "SQS maxReceiveCount",
                5,
            )
        if content_based_dedup and not fifo:
            raise InvalidArgument(
                "content_based_dedup=True on a standard queue: SQS deduplicates only FIFO queues "
                "(ContentBasedDeduplication is a FIFO attribute). Pass fifo=True, or leave it out."
            )
        check_dead_letter_target(name, fifo, dead_letter)
        if on_discard is not None and not callable(on_discard):
            raise InvalidType(
                f"on_discard={on_discard!r} is not callable: pass a function "
                "f(message, reason) or None."
            )

        self.name = name
        # Called once for each message that leaves without being delivered or dead-lettered,
        # with the reason: "expired", "retention", "maxlen" or "purged" (for a history).
        self.on_discard = on_discard
        self.clock = clock
        self.fifo = fifo
        self.visibility_timeout = float(visibility_timeout)
        self.retention = _INF if retention is None else float(retention)
        self.delay = float(delay)
        self.message_ttl = None if message_ttl is None else float(message_ttl)
        self.max_length = max_length
        self.max_receive_count = max_receive_count
        self.content_based_dedup = content_based_dedup
        self._dead_letter = dead_letter
        # publish() can skip _accept() when nothing but "ready now" can happen to a message.
        self._plain = not fifo and self.delay == 0 and self.message_ttl is None

        # Ready messages: a heap of positions (lowest first) and a dict position -> record. A
        # position missing from the dict is stale in the heap and skipped (lazy deletion).
        self._heap: list[int] = []
        self._ready: dict[int, list[Any]] = {}
        self._pos = 0  # arrival counter: positions, and the number of messages that entered
        self._inflight: dict[int, list[Any]] = {}  # delivery tag -> record
        self._next_tag = 1  # also counts deliveries: tags 1.._next_tag-1 were handed out
        # SQS: after a visibility timeout the latest receipt handle stays valid until the
        # message is received again. tag -> record (which is ready again).
        self._late: dict[int, list[Any]] = {}
        self._stale: dict[int, str] = {}  # tags that can no longer be used -> why
        # Deadlines. Visibility and retention deadlines nearly always arrive in time order, so
        # they go in a deque; the few that do not go in a heap. Stale items are skipped when they
        # fall due, and a deque is compacted when it holds many more items than live messages.
        # A visibility item covers one receive call: (deadline, first tag, last tag).
        self._vis: deque[tuple[float, int, int]] = deque()
        self._vis_late: list[tuple[float, int, int]] = []
        self._vis_last = -_INF
        self._vis_cap = 256
        # Retention deadlines cost nothing per message: _ret_bound is a lower bound of the
        # deadlines not yet sorted, and only when the clock reaches it are the live records
        # sorted by deadline into _ret (so the queue keeps no reference to settled messages).
        self._ret: deque[list[Any]] = deque()
        self._ret_bound = _INF
        self._delayed: list[tuple[float, int, list[Any]]] = []
        self._n_delayed = 0
        self._ttl: list[tuple[float, int, list[Any]]] = []
        self._next_due = _INF  # the earliest deadline anywhere: one comparison per call
        self._busy = False
        # FIFO: group -> number of its messages in flight; deduplication ids.
        self._groups: dict[Any, int] = {}
        self._dedup = Deduplicator(DEDUP_WINDOW)
        # Push consumers, served round-robin starting at index _rr.
        self._consumers: list[Consumer] = []
        self._rr = 0
        self._consumer_ids = 0
        # Queues that dead-letter into this one, by name (redrive sends messages back there).
        self._sources: dict[str, Queue] = {}
        if isinstance(dead_letter, Queue):
            dead_letter._add_source(self)
        # Counters (see stats()).
        self._n_published = 0  # also names messages: m1, m2, ...
        self._n_dedup = 0
        self._n_redelivered = 0
        self._n_acked = 0
        self._n_requeued = 0
        self._n_dead = 0
        self._n_discarded = 0
        self._n_expired = 0
        self._n_redriven = 0
        self._n_purged = 0
        self._reasons = {"rejected": 0, "expired": 0, "maxlen": 0, "delivery_limit": 0}

    def _add_source(self, source: Queue) -> None:
        """``source`` dead-letters into this queue. From now on every call on this queue first
        brings ``source`` up to date, so that the dead letters it owes by now have arrived
        (time is lazy: without this, a DLQ would look empty until its source was touched)."""
        self._sources[source.name] = source
        self._next_due = -_INF

    @property
    def dead_letter(self) -> Queue | DeadLetterTarget | None:
        """Where dead letters go. Fixed when the queue is made (like a RabbitMQ queue argument),
        so dead-letter queues cannot form a cycle."""
        return self._dead_letter

    @property
    def consumers(self) -> list[Consumer]:
        """The open push consumers, in round-robin order."""
        return list(self._consumers)

    # --- producing -------------------------------------------------------------------------------

    def publish(
        self,
        payload: Any,
        *,
        key: str | None = None,
        headers: dict[str, Any] | None = None,
        id: str | None = None,
        delay: float | None = None,
        ttl: float | None = None,
        group: str | None = None,
        dedup_id: str | None = None,
    ) -> Message:
        """Put a new message on the queue and return it.

        - ``payload``: bytes, str or JSON data (:func:`brokerlab.message.check_payload`).
        - ``id``: the message id; ``"m1"``, ``"m2"``... (counted per queue) if not given.
        - ``delay``: seconds (0..900) before it becomes visible; the queue's ``delay`` if None.
          Not allowed per message on FIFO queues (SQS: a FIFO queue takes only a queue-wide
          delay), which raises :class:`~brokerlab.errors.FifoError`.
        - ``ttl``: seconds it may wait before it expires and is dead-lettered with reason
          ``'expired'``; the lower of ``ttl`` and the queue's ``message_ttl`` applies (RabbitMQ).
        - ``group``, ``dedup_id``: FIFO (SQS ``MessageGroupId``, ``MessageDeduplicationId``).
          A FIFO queue needs a group, and a dedup id unless it has content-based
          deduplication. A duplicate within 5 minutes of the first send enqueues nothing and
          returns the ORIGINAL message.
        """
        if payload.__class__ is not bytes and payload.__class__ is not str:
            payload = check_payload(payload)
        if (
            key is not None
            or headers is not None
            or id is not None
            or delay is not None
            or ttl is not None
            or group is not None
            or dedup_id is not None
            or not self._plain
        ):
            return self._publish(payload, key, headers, id, delay, ttl, group, dedup_id)
        # The common case, written out for speed: a bare message, ready at once.
        now = self.clock.now()
        if now >= self._next_due:
            self._advance(now)
        self._n_published = n = self._n_published + 1
        msg = numbered_message(n, payload, now)  # Message(f"m{n}", payload, timestamp=now)
        self._pos = pos = self._pos + 1
        retain = now + self.retention
        if retain < self._ret_bound:
            self._ret_bound = retain
            if retain < self._next_due:
                self._next_due = retain
        self._ready[pos] = [msg, pos, _READY, 0, 0, None, 0.0, 0.0, retain, None, None, ""]
        heappush(self._heap, pos)
        if self._consumers or self.max_length is not None:
            self._after_change(now)
        return msg

    def check_send_options(
        self, delay: Any = None, ttl: Any = None, group: Any = None, dedup_id: Any = None
    ) -> None:
        """Raise if this queue would refuse a message sent with these options; change nothing.

        ``delay`` 0..900 s (SQS), ``ttl`` 0..TTL_MAX s; on a FIFO queue a group is required, a
        dedup id unless content-based deduplication is on, and no per-message delay. Used by
        :meth:`publish`, :meth:`enqueue` and by fan-outs that must check every queue first.
        """
        check_delay_and_ttl(delay, ttl)
        if self.fifo:
            check_fifo_fields(group, dedup_id, self.content_based_dedup, self.name)
            if delay is not None:
                raise FifoError(
                    f"delay={delay!r} on FIFO queue {self.name!r}: SQS FIFO queues take no "
                    "per-message delay (DelaySeconds is queue-wide there). Leave delay out, or "
                    "make the queue with delay=..."
                )

    def _publish(
        self,
        payload: Any,
        key: Any,
        headers: Any,
        id: Any,
        delay: Any,
        ttl: Any,
        group: Any,
        dedup_id: Any,
    ) -> Message:
        """publish() with options: check them all, then enqueue through _accept()."""
        if key is not None and key.__class__ is not str:
            _check_str("key", key, "order.created")
        if headers is not None:
            headers = _check_headers(headers)
        if id is not None and (id.__class__ is not str or not id):
            raise InvalidType(
                f"id={id!r} is not a non-empty str. Pass e.g. id='order-17', or leave it out."
            )
        self.check_send_options(delay, ttl, group, dedup_id)
        if not self.fifo:
            if group is not None and group.__class__ is not str:
                _check_str("group", group, "account-17")
            if dedup_id is not None:
                raise FifoError(
                    f"dedup_id={dedup_id!r} on standard queue {self.name!r}: deduplication ids "
                    "are for FIFO queues only (SQS rejects MessageDeduplicationId on standard "
                    "queues). Leave it out, or use a queue made with fifo=True."
                )
        now = self.clock.now()
        if now >= self._next_due:
            self._advance(now)
        dedup = None
        if self.fifo:
            dedup = dedup_key(dedup_id, payload, True)
            original = self._dedup.original(dedup, now)
            if original is not None:
                self._n_dedup += 1
                return original
        self._n_published = n = self._n_published + 1
        msg = Message(
            f"m{n}" if id is None else id,
            payload,
            key,
            {} if headers is None else headers,
            now,
            group,
            dedup_id,
        )
        if dedup is not None:
            self._dedup.remember(dedup, msg, now)
        self._accept(msg, now, delay, ttl, now, "")
        return msg

    def enqueue(
        self,
        message: Message,
        *,
        delay: float | None = None,
        ttl: float | None = None,
        exchange: str = "",
    ) -> Message | None:
        """Put an already-built message on the queue (exchanges route with this).

        The same rules as :meth:`publish` (FIFO group and deduplication, delay, TTL); retention
        counts from now. ``exchange`` names the exchange the message came through (``""``, the
        default exchange, if none): it travels with the message in this queue, shows as
        ``Delivery.exchange`` (AMQP ``basic.deliver``) and becomes the ``exchange`` of the
        ``x-death`` entry if the message dies here. Returns the message, or ``None`` when a FIFO
        queue drops it as a duplicate (then nothing is enqueued).
        """
        if not isinstance(message, Message):
            raise InvalidType(
                f"message={message!r} is a {type(message).__name__}: enqueue() takes a "
                "brokerlab.message.Message. To send a payload, use publish()."
            )
        check_payload(message.payload, "message.payload")
        check_exchange(exchange)
        self.check_send_options(delay, ttl, message.group, message.dedup_id)
        now = self.clock.now()
        if now >= self._next_due:
            self._advance(now)
        if self.fifo:
            dedup = dedup_key(message.dedup_id, message.payload, self.content_based_dedup)
            if self._dedup.original(dedup, now) is not None:
                self._n_dedup += 1
                return None
            self._dedup.remember(dedup, message, now)
        self._accept(message, now, delay, ttl, now, exchange)
        return message

    def receive_dead_letter(self, message: Message, *, exchange: str = "") -> None:
        """Take a dead letter from another queue (the :class:`DeadLetterTarget` protocol).

        The message already carries its ``x-death`` history. It joins the tail, with no delay
        and no deduplication (it is not a new send). On a standard queue its retention keeps
        counting from the message's original ``timestamp``, as SQS does for standard DLQs ("the
        expiration of a message is always based on its original enqueue timestamp"); on a FIFO
        queue it restarts now, as SQS does for FIFO DLQs (SQS Developer Guide, dead-letter
        queues).

        ``exchange`` is the dead-letter exchange it came through (a broker's DLX passes its
        name); ``""`` when a queue dead-letters straight into this one (SQS-style DLQ). If the
        message dies again here, that is the ``exchange`` of its new ``x-death`` entry, as in
        RabbitMQ, where "this will be a dead letter exchange if the message is dead lettered
        multiple times" (https://www.rabbitmq.com/docs/dlx).
        """
        if not isinstance(message, Message):
            raise InvalidType(
                f"message={message!r} is a {type(message).__name__}: receive_dead_letter() takes "
                "a brokerlab.message.Message."
            )
        check_exchange(exchange)
        now = self.clock.now()
        if now >= self._next_due:
            self._advance(now)
        start = now if self.fifo else min(message.timestamp, now)
        self._accept(message, now, 0, None, start, exchange)

    def _accept(
        self,
        msg: Message,
        now: float,
        delay: float | None,
        ttl: float | None,
        start: float,
        exchange: str,
    ) -> None:
        """Store a record for ``msg``: ready or delayed. Its retention counts from ``start``;
        ``exchange`` is the exchange it came through."""
        self._pos = pos = self._pos + 1
        retain = start + self.retention
        e = [msg, pos, _READY, 0, 0, None, 0.0, 0.0, retain, None, None, exchange]
        if retain < self._ret_bound:
            self._ret_bound = retain
            self._due(retain)
        queue_ttl = self.message_ttl
        if ttl is not None or queue_ttl is not None:
            life = ttl if queue_ttl is None else queue_ttl if ttl is None else min(ttl, queue_ttl)
            e[_TTL] = ttl
            e[_EXPIRES] = now + life
            heappush(self._ttl, (now + life, pos, e))
            self._due(now + life)
        if delay is None:
            delay = self.delay
        if delay > 0:
            e[_STATE] = _DELAYED
            self._n_delayed += 1
            heappush(self._delayed, (now + delay, pos, e))
            self._due(now + delay)
            return
        self._ready[pos] = e
        heappush(self._heap, pos)
        self._after_change(now)

    def _due(self, t: float) -> None:
        if t < self._next_due:
            self._next_due = t

    # --- pulling (SQS) -------------------------------------------------------------------------

    def receive(
        self, max_messages: int = 1, *, visibility_timeout: float | None = None
    ) -> list[Delivery]:
        """Receive up to ``max_messages`` (1..10) ready messages, oldest first (SQS ReceiveMessage).

        Each becomes in flight for ``visibility_timeout`` seconds (0..43200; the queue's, 30 s
        by default, if None) and gets a new receipt handle and delivery tag; the message's older
        handles stop working. On a FIFO queue, a group with a message in flight is held back,
        but one call may return several messages of one group, in order, as SQS does. Returns
        ``[]`` when nothing is ready (long polling is not modelled: move the clock instead).
        """
        if max_messages.__class__ is not int or not 1 <= max_messages <= RECEIVE_MAX:
            _check_int(
                "max_messages",
                max_messages,
                1,
                RECEIVE_MAX,
                "messages per receive",
                "SQS ReceiveMessage",
                RECEIVE_MAX,
            )
        if visibility_timeout is None:
            vt = self.visibility_timeout
        else:
            vt = check_visibility("visibility_timeout", visibility_timeout)
        now = self.clock.now()
        if now >= self._next_due:
            self._advance(now)
        ready = self._ready
        if not ready:
            return []
        if self.fifo:
            return self._receive_fifo(max_messages, now, vt)
        deadline = now + vt
        heap, inflight, name = self._heap, self._inflight, self.name
        first = tag = self._next_tag
        last = first + max_messages
        out: list[Delivery] = []
        again = 0  # how many of these are redeliveries
        while heap:
            e = ready.pop(heappop(heap), None)
            if e is None:  # a stale heap entry (lazy deletion): the message left the queue
                continue
            count = e[_COUNT] + 1
            if count > 1:  # delivered before, so e[_TAG] is its latest delivery tag
                again += 1
                if e[_TAG] in self._late:  # that receipt still worked: it is stale now
                    self._supersede(e[_TAG], tag)
            e[_STATE] = _INFLIGHT  # pulled: e[_CONSUMER] stays None
            e[_COUNT] = count
            e[_TAG] = tag
            e[_DEADLINE] = deadline
            e[_RECEIVED] = now
            inflight[tag] = e
            out.append(new_delivery(e[_MSG], name, tag, count, None, e[_EXCHANGE]))
            tag += 1
            if tag == last:
                break
        if out:
            self._next_tag = tag
            if again:
                self._n_redelivered += again
            if len(inflight) == tag - first:
                # Fast path of _watch_visibility(deadline, first, tag - 1): only this call's
                # deliveries are in flight, so every visibility item filed before is void and
                # this one is the whole list.
                vis = self._vis
                vis.clear()
                vis.append((deadline, first, tag - 1))
                self._vis_last = deadline
                if deadline < self._next_due:
                    self._next_due = deadline
            else:
                self._watch_visibility(deadline, first, tag - 1)
        return out

    def _receive_fifo(self, max_messages: int, now: float, vt: float) -> list[Delivery]:
        """receive() on a FIFO queue: a group with a message in flight is held back, in place."""
        ready, heap, inflight, name = self._ready, self._heap, self._inflight, self.name
        groups = self._groups
        taken: set[Any] = set()  # the groups this call takes messages of
        held: list[int] = []  # positions skipped because their group is busy
        deadline = now + vt
        first = tag = self._next_tag
        last = first + max_messages
        out: list[Delivery] = []
        again = 0
        while heap:
            pos = heappop(heap)
            e = ready.pop(pos, None)
            if e is None:
                continue
            msg = e[_MSG]
            g = msg.group
            if g in groups and g not in taken:  # its group is busy: held back, in place
                ready[pos] = e
                held.append(pos)
                continue
            taken.add(g)
            groups[g] = groups.get(g, 0) + 1
            old = e[_TAG]
            if old and old in self._late:
                self._supersede(old, tag)
            e[_COUNT] = count = e[_COUNT] + 1
            if count > 1:
                again += 1
            e[_TAG] = tag
            e[_STATE] = _INFLIGHT
            e[_DEADLINE] = deadline
            e[_RECEIVED] = now
            inflight[tag] = e
            out.append(new_delivery(msg, name, tag, count, None, e[_EXCHANGE]))
            tag += 1
            if tag == last:
                break
        for pos in held:
            heappush(heap, pos)
        if out:
            self._next_tag = tag
            self._n_redelivered += again
            self._watch_visibility(deadline, first, tag - 1)
        return out

    def _watch_visibility(self, deadline: float, first: int, last: int) -> None:
        """Remember that tags first..last (in flight) become visible again at ``deadline``."""
        vis = self._vis
        if deadline >= self._vis_last:
            if vis and len(self._inflight) == last - first + 1:
                # Only these tags are in flight, so every item filed before is void. Dropping
                # them keeps the deque short when messages are acked soon after they arrive,
                # whether or not the clock moves (the heap of late items empties as it falls due).
                vis.clear()
            vis.append((deadline, first, last))
            self._vis_last = deadline
            if len(vis) > self._vis_cap:
                self._compact_visibility()
        else:
            heappush(self._vis_late, (deadline, first, last))
        if deadline < self._next_due:
            self._next_due = deadline

    def _supersede(self, old: int, tag: int) -> None:
        del self._late[old]
        self._stale[old] = f"the message was received again (delivery tag {tag})"

    # --- settling ------------------------------------------------------------------------------

    def ack(self, delivery: Delivery | str | int) -> None:
        """Acknowledge (SQS: delete) a delivery: the message is done and leaves the queue.

        ``delivery`` is the :class:`~brokerlab.message.Delivery`, its ``receipt_handle`` or its
        ``delivery_tag``. Raises :class:`~brokerlab.errors.AlreadyAcknowledged` if it was settled
        before (RabbitMQ closes the channel for that); :class:`~brokerlab.errors.StaleReceipt` if
        a newer receive replaced it (real SQS answers success and does not delete: a deliberate,
        teaching difference); :class:`~brokerlab.errors.UnknownReceipt` if this queue never
        issued it.

        An SQS detail kept: after a visibility timeout, the latest handle still deletes the
        message, as long as nobody has received it again.
        """
        cls = delivery.__class__
        if cls is Delivery and delivery.queue == self.name:
            tag = delivery.delivery_tag
        else:
            tag = self._tag_of(delivery)
        now = self.clock.now()
        if now >= self._next_due:
            self._advance(now)
        e = self._inflight.pop(tag, None)
        if e is None or (cls is str and not self._handle_matches(delivery, e)):
            if e is not None:  # the tag is live but the handle names another message
                self._inflight[tag] = e
            self._remove(self._late_record(delivery, tag), None)
            self._n_acked += 1
            return
        e[_STATE] = _GONE
        self._n_acked += 1
        if self.fifo:
            self._release_group(e[_MSG].group)
        c = e[_CONSUMER]
        if c is not None:
            del c._unacked[tag]
            e[_CONSUMER] = None
            if self._ready:
                self._dispatch(now)

    delete = ack

    def nack(self, delivery: Delivery | str | int, requeue: bool = True) -> None:
        """Give a delivery back (RabbitMQ ``basic.nack``).

        ``requeue=True``: the message returns to its ORIGINAL position and its next delivery
        has ``redelivered=True``; if it has been delivered ``max_receive_count`` times it is
        dead-lettered with reason ``'delivery_limit'`` instead. ``requeue=False``: it is
        dead-lettered with reason ``'rejected'`` (dropped if the queue has no ``dead_letter``,
        as RabbitMQ does).
        """
        if requeue.__class__ is not bool:
            raise InvalidType(
                f"requeue={requeue!r} is not a bool. Pass True (put it back) or False (dead-letter it)."
            )
        tag = self._tag_of(delivery)
        now = self.clock.now()
        if now >= self._next_due:
            self._advance(now)
        e = self._inflight.get(tag)
        late = e is None or (delivery.__class__ is str and not self._handle_matches(delivery, e))
        if late:
            e = self._late_record(delivery, tag)
        if requeue and late:  # visible again already: settling the handle is all there is to do
            del self._late[tag]
        elif requeue:
            self._return(e, now, "nack")
        else:
            self._remove(e, None)
            self._kill(e, "rejected", now)
        self._after_change(now)

    def reject(self, delivery: Delivery | str | int, requeue: bool = True) -> None:
        """Reject a delivery (RabbitMQ ``basic.reject``): :meth:`nack` for one delivery."""
        self.nack(delivery, requeue)

    def change_visibility(self, delivery: Delivery | str | int, timeout: float) -> None:
        """Make a received message visible again ``timeout`` seconds FROM NOW (0..43200).

        SQS ChangeMessageVisibility: the countdown restarts at the call; 0 makes the message
        visible at once; a message cannot stay in flight more than 12 hours after the receive
        that returned it (a longer request is refused). Only pulled deliveries have a visibility
        timeout. A message that is visible again cannot be changed (SQS: MessageNotInflight).
        """
        check_visibility("timeout", timeout, who="SQS ChangeMessageVisibility")
        tag = self._tag_of(delivery)
        now = self.clock.now()
        if now >= self._next_due:
            self._advance(now)
        e = self._inflight.get(tag)
        if e is None or (delivery.__class__ is str and not self._handle_matches(delivery, e)):
            self._late_record(delivery, tag)  # raises if the receipt is not the latest
            raise StaleReceipt(
                f"delivery tag {tag} of queue {self.name!r} is not in flight: its visibility "
                "timeout ran out and the message is visible again (SQS: MessageNotInflight). "
                "Receive it again to get a new receipt."
            )
        if e[_CONSUMER] is not None:
            raise InvalidArgument(
                f"delivery tag {tag} was pushed to consumer {e[_CONSUMER].name!r}: pushed "
                "deliveries have no visibility timeout (RabbitMQ holds them until ack or channel "
                "close). Use change_visibility() on deliveries from receive()."
            )
        used = now - e[_RECEIVED]
        if used + timeout > VISIBILITY_MAX:
            raise OutOfRange(
                f"timeout={timeout!r} is out of range for this message: it has been in flight "
                f"{used:g} s since it was received, and SQS allows at most {VISIBILITY_MAX} "
                f"seconds (12 hours) in all. Pass at most {VISIBILITY_MAX - used:g}."
            )
        e[_DEADLINE] = now + timeout
        self._watch_visibility(now + timeout, tag, tag)
        if timeout == 0:
            self._advance(now)

    # --- pushing (RabbitMQ) --------------------------------------------------------------------

    def consume(self, name: str | None = None, *, prefetch: int = 0) -> Consumer:
        """Register a push consumer (RabbitMQ ``basic.consume`` after ``basic.qos(prefetch)``).

        ``name`` defaults to ``"c1"``, ``"c2"``... and is unique per queue. ``prefetch`` caps
        its unacked deliveries (0 = unlimited, the AMQP default; 0..65535). Ready messages are
        pushed to it at once.
        """
        if name is not None and (name.__class__ is not str or not name):
            raise InvalidType(
                f"name={name!r} is not a non-empty str. Pass e.g. name='worker-1', or leave it out."
            )
        _check_int(
            "prefetch",
            prefetch,
            0,
            PREFETCH_MAX,
            "unacked deliveries (0 = unlimited)",
            "AMQP basic.qos",
            10,
        )
        if name is not None and any(c.name == name for c in self._consumers):
            raise AlreadyExists(
                f"name={name!r} is already a consumer of queue {self.name!r}: consumer names are "
                "unique per queue. Pick another name, or close that consumer first."
            )
        now = self.clock.now()
        if now >= self._next_due:
            self._advance(now)
        if name is None:
            names = {c.name for c in self._consumers}
            while name is None or name in names:
                self._consumer_ids += 1
                name = f"c{self._consumer_ids}"
        c = Consumer(self, name, prefetch)
        self._consumers.append(c)
        self._after_change(now)
        return c

    def _dispatch(self, now: float) -> None:
        """Push ready messages to consumers with room, round-robin, oldest message first.

        On a FIFO queue a group with a message in flight is held back, so each group has at
        most one pushed delivery in flight.
        """
        consumers = self._consumers
        n = len(consumers)
        heap, ready, groups, fifo, name = (
            self._heap,
            self._ready,
            self._groups,
            self.fifo,
            self.name,
        )
        held: list[int] = []
        rr = self._rr % n
        while ready and heap:
            for i in range(n):  # the next consumer, in turn, with room under its prefetch
                idx = (rr + i) % n
                c = consumers[idx]
                if not c.prefetch or len(c._unacked) < c.prefetch:
                    break
            else:
                break
            e = None
            while heap:  # the oldest ready message whose group is free
                pos = heappop(heap)
                e = ready.get(pos)
                if e is not None and fifo and e[_MSG].group in groups:
                    held.append(pos)
                    e = None
                elif e is not None:
                    break
            if e is None:
                break
            del ready[e[_POS]]
            tag = self._next_tag
            self._next_tag = tag + 1
            old = e[_TAG]
            if old and old in self._late:
                self._supersede(old, tag)
            msg = e[_MSG]
            count = e[_COUNT] = e[_COUNT] + 1
            e[_TAG] = tag
            e[_STATE] = _INFLIGHT
            e[_CONSUMER] = c
            self._inflight[tag] = e
            if fifo:
                groups[msg.group] = groups.get(msg.group, 0) + 1
            d = new_delivery(msg, name, tag, count, c.name, e[_EXCHANGE])
            c._unacked[tag] = d
            c._inbox.append(d)
            self._n_redelivered += count > 1
            rr = (idx + 1) % n
        for pos in held:
            heappush(heap, pos)
        self._rr = rr

    def _close_consumer(self, c: Consumer, how: str) -> None:
        now = self.clock.now()
        if now >= self._next_due:
            self._advance(now)
        for tag in list(c._unacked):
            self._return(self._inflight[tag], now, how, c.name)
        c._inbox.clear()
        c._open = False
        idx = self._consumers.index(c)
        del self._consumers[idx]
        if idx < self._rr:
            self._rr -= 1
        self._rr = self._rr % len(self._consumers) if self._consumers else 0
        self._after_change(now)

    def _touch(self) -> None:
        now = self.clock.now()
        if now >= self._next_due:
            self._advance(now)

    # --- looking ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        """The number of READY messages (not in flight, not delayed)."""
        self._touch()
        return len(self._ready)

    def peek(self) -> list[Message]:
        """The ready messages in the order they will be delivered. Changes nothing."""
        self._touch()
        ready = self._ready
        return [ready[p][_MSG] for p in sorted(ready)]

    def in_flight(self) -> list[Delivery]:
        """The deliveries in flight now (pulled and pushed), by delivery tag."""
        self._touch()
        out = []
        for tag in sorted(self._inflight):
            e = self._inflight[tag]
            c = e[_CONSUMER]
            if c is not None:
                out.append(c._unacked[tag])
            else:
                count = e[_COUNT]
                out.append(
                    Delivery(e[_MSG], self.name, tag, None, count, count > 1, None, e[_EXCHANGE])
                )
        return out

    def stats(self) -> dict[str, Any]:
        """Counters. Every message that entered (``enqueued``) is in exactly one of ``ready``,
        ``in_flight``, ``delayed``, ``acked``, ``dead_lettered``, ``expired``, ``redriven`` and
        ``purged``.

        ``expired`` counts messages deleted at the end of the retention period (silently, as
        SQS does); a TTL expiry is a dead-letter reason, counted in
        ``dead_letter_reasons['expired']``. ``discarded`` counts dead letters dropped because the
        queue has no ``dead_letter``. ``published`` counts messages enqueued by publish();
        ``deduplicated`` counts FIFO duplicates dropped.
        """
        self._touch()
        return {
            "ready": len(self._ready),
            "in_flight": len(self._inflight),
            "delayed": self._n_delayed,
            "consumers": len(self._consumers),
            "enqueued": self._pos,
            "published": self._n_published,
            "deduplicated": self._n_dedup,
            "delivered": self._next_tag - 1,  # every delivery takes the next tag
            "redelivered": self._n_redelivered,
            "acked": self._n_acked,
            "requeued": self._n_requeued,
            "dead_lettered": self._n_dead,
            "dead_letter_reasons": dict(self._reasons),
            "discarded": self._n_discarded,
            "expired": self._n_expired,
            "redriven": self._n_redriven,
            "purged": self._n_purged,
        }

    def purge(self) -> int:
        """Delete every READY message; return how many (RabbitMQ ``queue.purge``). In-flight
        messages stay, which differs from SQS PurgeQueue, which deletes them too."""
        self._touch()
        records = list(self._ready.values())
        for e in records:
            self._remove(e, "the queue was purged")
            self._discarded(e, "purged")
        self._heap.clear()
        self._n_purged += len(records)
        return len(records)

    # --- redrive ----------------------------------------------------------------------------------

    def redrive(self, max_messages: int | None = None, *, to: Queue | None = None) -> int:
        """Move ready dead letters from this queue (a DLQ) back to the queue each one died in.

        Like SQS's dead-letter queue redrive (StartMessageMoveTask): oldest first, up to
        ``max_messages`` (all if None), each to its source queue, or all to ``to``. A moved
        message starts afresh there (receive count 0, not redelivered) and keeps its
        ``x-death`` history; it is not checked against the FIFO deduplication window. Returns
        how many moved. If a message's source is unknown nothing moves
        (:class:`~brokerlab.errors.DeadLetterConfigError`).
        """
        if max_messages is not None:
            _check_int("max_messages", max_messages, 1, None, "messages", "redrive", 10)
        if to is not None:
            if not isinstance(to, Queue):
                raise InvalidType(
                    f"to={to!r} is not a Queue. Pass the queue to move the messages to, or None."
                )
            if to is self:
                raise DeadLetterConfigError(
                    f"to={to.name!r} is this queue itself: redrive moves messages to another queue."
                )
            if to.fifo != self.fifo:
                raise DeadLetterConfigError(
                    f"to={to.name!r} is {'FIFO' if to.fifo else 'standard'} but {self.name!r} is "
                    f"{'FIFO' if self.fifo else 'standard'}: SQS moves messages only between queues "
                    "of the same type. Pick a queue of the same type."
                )
        self._touch()
        ready = self._ready
        records = [ready[p] for p in sorted(ready)][:max_messages]
        plan = plan_redrive([e[_MSG] for e in records], self._sources, to)
        for e, (msg, target) in zip(records, plan, strict=True):
            self._remove(e, "the message was redriven to its source queue")
            self._n_redriven += 1
            target._take_redriven(msg)
        return len(plan)

    def _take_redriven(self, msg: Message) -> None:
        now = self.clock.now()
        if now >= self._next_due:
            self._advance(now)
        self._accept(msg, now, 0, None, now, "")

    # --- time --------------------------------------------------------------------------------------

    def _next_event(self) -> tuple[float, int]:
        """The earliest pending deadline and its kind: 1 delay, 2-3 visibility, 4 TTL, 5-6 retention
        (6: records not yet sorted by retention deadline).

        At equal times the lower kind goes first, so the order never depends on luck.
        """
        best, kind = _INF, 0
        if self._delayed and self._delayed[0][0] < best:
            best, kind = self._delayed[0][0], 1
        if self._vis and self._vis[0][0] < best:
            best, kind = self._vis[0][0], 2
        if self._vis_late and self._vis_late[0][0] < best:
            best, kind = self._vis_late[0][0], 3
        if self._ttl and self._ttl[0][0] < best:
            best, kind = self._ttl[0][0], 4
        if self._ret and self._ret[0][_RETAIN] < best:
            best, kind = self._ret[0][_RETAIN], 5
        if self._ret_bound < best:
            best, kind = self._ret_bound, 6
        return best, kind

    def _advance(self, now: float) -> None:
        """Apply every deadline that has passed, earliest first, then push and trim."""
        if self._busy:
            return
        for source in self._sources.values():  # a DLQ: first collect what its sources owe
            source._touch()
        self._busy = True
        try:
            while True:
                t, kind = self._next_event()
                if t > now:
                    break
                if kind == 1:  # a delay ends
                    e = heappop(self._delayed)[2]
                    if e[_STATE] == _DELAYED:
                        self._n_delayed -= 1
                        if e[_EXPIRES] is not None and e[_EXPIRES] <= t:
                            self._kill(e, "expired", e[_EXPIRES])
                        else:
                            self._make_ready(e)
                elif kind <= 3:  # a visibility timeout ends
                    _, first, last = self._vis.popleft() if kind == 2 else heappop(self._vis_late)
                    for tag in range(first, last + 1):
                        e = self._inflight.get(tag)
                        if e is not None and e[_DEADLINE] == t and e[_CONSUMER] is None:
                            self._return(e, t, "timeout")
                elif kind == 4:  # a TTL ends (only a waiting message expires; see _return)
                    e = heappop(self._ttl)[2]
                    if e[_STATE] == _READY and e[_EXPIRES] == t:
                        self._remove(e, "the message expired (TTL) and was dead-lettered")
                        self._kill(e, "expired", t)
                elif kind == 6:  # sort the live records by retention deadline
                    self._sort_retention()
                else:  # a retention period ends
                    e = self._ret.popleft()
                    if e[_STATE] != _GONE and e[_RETAIN] == t:
                        self._remove(e, "its retention period ended and it was deleted")
                        self._n_expired += 1
                        self._discarded(e, "retention")
        finally:
            self._busy = False
        self._next_due = -_INF if self._sources else self._next_event()[0]
        self._after_change(now)

    def _compact_visibility(self) -> None:
        """Drop the visibility items whose tags are all settled or re-timed (a frozen clock never
        pops them). Runs when the deque doubles, so it costs O(1) per item on average."""
        inflight, kept = self._inflight, deque()
        for item in self._vis:
            t, first, last = item
            for tag in range(first, last + 1):
                e = inflight.get(tag)
                if e is not None and e[_DEADLINE] == t:
                    kept.append(item)
                    break
        self._vis = kept
        self._vis_cap = 2 * len(kept) + 256

    def _sort_retention(self) -> None:
        live = [*self._ready.values(), *self._inflight.values()]
        live += [e for _, _, e in self._delayed if e[_STATE] == _DELAYED]
        live.sort(key=lambda e: (e[_RETAIN], e[_POS]))
        self._ret = deque(live)
        self._ret_bound = _INF

    # --- moving records between states ---------------------------------------------------------

    def _make_ready(self, e: list[Any]) -> None:
        e[_STATE] = _READY
        self._ready[e[_POS]] = e
        heappush(self._heap, e[_POS])

    def _release_group(self, g: Any) -> None:
        left = self._groups[g] - 1
        if left:
            self._groups[g] = left
        else:
            del self._groups[g]

    def _remove(self, e: list[Any], why: str | None) -> None:
        """Take ``e`` out of wherever it is. With ``why``, its live receipt becomes stale for that reason."""
        state, tag = e[_STATE], e[_TAG]
        if state == _READY:
            del self._ready[e[_POS]]
            if tag and self._late.pop(tag, None) is not None and why:
                self._stale[tag] = why
        elif state == _INFLIGHT:
            del self._inflight[tag]
            c = e[_CONSUMER]
            if c is not None:
                del c._unacked[tag]
                e[_CONSUMER] = None
            if self.fifo:
                self._release_group(e[_MSG].group)
            if why:
                self._stale[tag] = why
        elif state == _DELAYED:
            self._n_delayed -= 1
        e[_STATE] = _GONE

    def _return(self, e: list[Any], t: float, how: str, who: str = "") -> None:
        """An in-flight message comes back: ``how`` is "nack", "timeout", "closed" or "crashed"."""
        tag = e[_TAG]
        self._remove(e, None)
        limit = self.max_receive_count
        if limit is not None and e[_COUNT] >= limit:
            self._kill(e, "delivery_limit", t)
            outcome = (
                f"it was dead-lettered (delivery_limit: delivered {e[_COUNT]} times, "
                f"max_receive_count={limit})"
            )
        elif e[_EXPIRES] is not None and e[_EXPIRES] <= t:
            self._kill(e, "expired", t)  # RabbitMQ: a requeued message past its TTL expires
            outcome = "it was dead-lettered (expired)"
        else:
            self._make_ready(e)
            self._n_requeued += 1
            if how == "timeout":
                self._late[tag] = e  # SQS: the latest handle stays valid until the next receive
                return
            outcome = "it was requeued"
        if how == "timeout":
            self._stale[tag] = f"its visibility timeout ran out and {outcome}"
        elif how != "nack":  # a nacked tag is settled: using it again is AlreadyAcknowledged
            self._stale[tag] = f"consumer {who!r} {how} before settling it and {outcome}"

    def _kill(self, e: list[Any], reason: str, t: float) -> None:
        """Dead-letter ``e``, which is already out of every structure."""
        e[_STATE] = _GONE
        self._n_dead += 1
        self._reasons[reason] += 1
        target = self._dead_letter
        if target is None:
            self._n_discarded += 1
            if reason in ("expired", "maxlen"):
                self._discarded(e, reason)
            return
        expiration = e[_TTL] if reason == "expired" else None
        dead = record_death(
            e[_MSG],
            queue=self.name,
            reason=reason,
            time=t,
            exchange=e[_EXCHANGE],
            original_expiration=expiration,
        )
        target.receive_dead_letter(dead)

    def _discarded(self, e: list[Any], reason: str) -> None:
        if self.on_discard is not None:
            self.on_discard(e[_MSG], reason)

    def _drop_heads(self, now: float) -> None:
        """Overflow ``drop-head``: dead-letter the oldest ready messages until within max_length."""
        ready, heap, limit = self._ready, self._heap, self.max_length
        while heap and len(ready) > limit:  # type: ignore[operator]
            e = ready.get(heappop(heap))
            if e is not None:
                self._remove(e, "the queue was over max_length and dropped it")
                self._kill(e, "maxlen", now)

    def _after_change(self, now: float) -> None:
        if self._consumers and self._ready:
            self._dispatch(now)
        if self.max_length is not None and len(self._ready) > self.max_length:
            self._drop_heads(now)

    # --- receipts ---------------------------------------------------------------------------------

    def _tag_of(self, delivery: Any) -> int:
        """The delivery tag that a Delivery, receipt handle or tag stands for. Reads no state."""
        cls = delivery.__class__
        if cls is Delivery or isinstance(delivery, Delivery):
            if delivery.queue != self.name:
                raise UnknownReceipt(
                    f"delivery {delivery!r} came from queue {delivery.queue!r}, not {self.name!r}. "
                    f"Settle it on queue {delivery.queue!r}."
                )
            return delivery.delivery_tag
        if cls is int:
            return delivery
        if cls is str:
            prefix, _, tail = delivery.rpartition(":")
            if not prefix.startswith(self.name + ":") or not tail.isdigit():
                raise UnknownReceipt(
                    f"receipt handle {delivery!r} was not issued by queue {self.name!r} (its "
                    f"handles look like '{self.name}:<message id>:<delivery tag>'). Pass a handle "
                    "from this queue's receive()."
                )
            return int(tail)
        raise InvalidType(
            f"delivery={delivery!r} is a {type(delivery).__name__}: pass the Delivery, its "
            "receipt_handle (str) or its delivery_tag (int)."
        )

    def _handle_matches(self, handle: str, e: list[Any]) -> bool:
        return handle == f"{self.name}:{e[_MSG].id}:{e[_TAG]}"

    def _late_record(self, delivery: Any, tag: int) -> list[Any]:
        """The ready record whose latest receipt is ``tag`` (after a visibility timeout), or raise."""
        e = self._late.get(tag)
        if e is not None and (delivery.__class__ is not str or self._handle_matches(delivery, e)):
            return e
        shown = f"delivery tag {tag}" if delivery.__class__ is not str else f"receipt {delivery!r}"
        if (
            e is not None or tag in self._inflight
        ):  # a live tag, but the handle names another message
            raise UnknownReceipt(
                f"{shown} was never issued by queue {self.name!r}: delivery tag {tag} belongs to "
                "another message. Pass the receipt handle exactly as receive() returned it."
            )
        why = self._stale.get(tag)
        if why is not None:
            raise StaleReceipt(
                f"{shown} of queue {self.name!r} is stale: {why}. Use the newest receipt (from "
                "the latest receive or delivery). Real SQS would answer success here without "
                "deleting anything; the reference queue raises so that the lost delete shows."
            )
        if 1 <= tag < self._next_tag:
            raise AlreadyAcknowledged(
                f"{shown} of queue {self.name!r} was already acked, nacked or rejected: a "
                "delivery is settled once (RabbitMQ closes the channel with PRECONDITION_FAILED - "
                "unknown delivery tag). Remove the second ack."
            )
        raise UnknownReceipt(
            f"{shown} was never issued by queue {self.name!r} (it has issued delivery tags "
            f"1..{self._next_tag - 1}). Pass a Delivery, receipt handle or tag from this queue."
        )

    # --- display --------------------------------------------------------------------------------

    def __repr__(self) -> str:
        self._touch()
        parts = [f"{len(self._ready)} ready", f"{len(self._inflight)} in flight"]
        if self._n_delayed:
            parts.append(f"{self._n_delayed} delayed")
        if self.fifo:
            parts.append("fifo")
        if self._dead_letter is not None:
            parts.append(f"dlq={getattr(self._dead_letter, 'name', self._dead_letter)!r}")
        return f"Queue({self.name!r}: {', '.join(parts)})"

    def _repr_html_(self) -> str:
        import html

        s = self.stats()
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
            for k, v in s.items()
            if k != "dead_letter_reasons" and v
        )
        reasons = ", ".join(f"{k}: {v}" for k, v in s["dead_letter_reasons"].items() if v)
        if reasons:
            rows += f"<tr><td>dead-letter reasons</td><td>{html.escape(reasons)}</td></tr>"
        head = self.peek()[:5]
        items = "".join(f"<li><code>{html.escape(repr(m))}</code></li>" for m in head)
        if s["ready"] > len(head):
            items += f"<li>... and {s['ready'] - len(head)} more</li>"
        return (
            f"<div><b>{html.escape(repr(self))}</b><table>{rows}</table>"
            f"<div>ready, in delivery order:</div><ol>{items}</ol></div>"
        )
