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
the next call catches up.

Defaults and limits, with their sources:

=========================== ======================================================================
visibility_timeout          30 s, 0..43200 (SQS SetQueueAttributes ``VisibilityTimeout``; a
                            message can be kept in flight at most 12 h after its receive:
                            ChangeMessageVisibility)
retention                   345600 s = 4 days, 60..1209600 (SQS ``MessageRetentionPeriod``)
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
- **Retention applies to both paths** (RabbitMQ keeps messages until consumed); set
  ``retention=1209600`` for the longest SQS allows.
- **Receipt handles are readable**: ``"<queue>:<message id>:<delivery tag>"``, e.g.
  ``"jobs:m3:7"``, instead of SQS's opaque tokens.
"""

from __future__ import annotations

from collections import deque
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
from .fifo import DEDUP_WINDOW, Deduplicator, check_fifo_fields, dedup_key
from .message import Delivery, Message, check_payload

__all__ = ["Consumer", "Queue"]

# Limits, in seconds unless said otherwise (sources in the module docstring).
VISIBILITY_MAX = 43200
RETENTION_MIN, RETENTION_MAX = 60, 1209600
DELAY_MAX = 900
RECEIVE_MAX = 10
MAX_RECEIVE_COUNT_MAX = 1000
PREFETCH_MAX = 65535
TTL_MAX = RETENTION_MAX  # no message outlives the longest retention anyway

_INF = float("inf")

# Where a message is. Plain ints: the hot path compares them millions of times.
_GONE, _READY, _INFLIGHT, _DELAYED = 0, 1, 2, 3


class _Entry:
    """The queue's bookkeeping for one message (never shown to learners)."""

    __slots__ = (
        "msg",  # the Message
        "seq",  # arrival number in this queue (ties in heaps)
        "pos",  # position among ready messages; kept for requeue to the original position
        "state",  # _READY, _INFLIGHT, _DELAYED or _GONE
        "count",  # receive count so far
        "tag",  # delivery tag of the latest delivery (0: never delivered)
        "consumer",  # the Consumer holding it (push), or None (pull)
        "deadline",  # visibility deadline of the current pull delivery
        "received_at",  # clock time of the current pull delivery (12-hour cap)
        "retain_until",  # retention deadline
        "expires_at",  # TTL deadline, or None
        "ttl",  # the per-message TTL asked for (for x-death original-expiration), or None
        "delivery",  # the current Delivery, or None
    )

    def __init__(self, msg: Message, seq: int) -> None:
        self.msg = msg
        self.seq = seq
        self.pos = -1
        self.state = _GONE
        self.count = 0
        self.tag = 0
        self.consumer: Consumer | None = None
        self.deadline = 0.0
        self.received_at = 0.0
        self.retain_until = _INF
        self.expires_at: float | None = None
        self.ttl: float | None = None
        self.delivery: Delivery | None = None


class Consumer:
    """A push consumer registered with :meth:`Queue.consume` (a RabbitMQ ``basic.consume``).

    The queue pushes deliveries to it round-robin, never more than ``prefetch`` unacked at a
    time (0 = unlimited). ``take()`` returns what arrived since the last call; ``unacked`` is
    everything it holds. ``close()`` and ``crash()`` give every unacked delivery back to the
    queue, at its original position, with ``redelivered=True`` (RabbitMQ requeues a closed
    channel's unacked messages; https://www.rabbitmq.com/docs/confirms).
    """

    __slots__ = ("queue", "name", "prefetch", "_unacked", "_inbox", "_open")

    def __init__(self, queue: Queue, name: str, prefetch: int) -> None:
        self.queue = queue
        self.name = name
        self.prefetch = prefetch
        self._unacked: dict[int, Delivery] = {}
        self._inbox: list[Delivery] = []
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

    def _check_owner(self, delivery: Any) -> None:
        self._check_open()
        q = self.queue
        tag = q._tag_of(delivery)
        if tag in self._unacked:
            return
        e = q._inflight.get(tag) or q._late.get(tag)
        if e is not None:  # live, but not ours
            holder = f"consumer {e.consumer.name!r}" if e.consumer else "a receive() call"
            raise UnknownReceipt(
                f"delivery tag {tag} belongs to {holder}, not to consumer {self.name!r}: "
                "a consumer can only settle its own deliveries (RabbitMQ: unknown delivery "
                "tag on this channel). Settle it through its owner, or with queue.ack()."
            )
        # Otherwise the queue raises the right error (stale, already acked, unknown).

    def ack(self, delivery: Delivery | str | int) -> None:
        """Acknowledge one of this consumer's deliveries (see :meth:`Queue.ack`)."""
        self._check_owner(delivery)
        self.queue.ack(delivery)

    def nack(self, delivery: Delivery | str | int, requeue: bool = True) -> None:
        """Give a delivery back (see :meth:`Queue.nack`)."""
        self._check_owner(delivery)
        self.queue.nack(delivery, requeue)

    def reject(self, delivery: Delivery | str | int, requeue: bool = True) -> None:
        """Reject a delivery (see :meth:`Queue.reject`)."""
        self._check_owner(delivery)
        self.queue.reject(delivery, requeue)

    def close(self) -> None:
        """Stop consuming; unacked deliveries go back to the queue, ``redelivered=True``."""
        self._check_open()
        self.queue._close_consumer(self, "closed")

    def crash(self) -> None:
        """The consumer's channel dies: same effect as :meth:`close` (nothing is acked)."""
        self._check_open()
        self.queue._close_consumer(self, "crashed")

    def _check_open(self) -> None:
        if not self._open:
            raise InvalidArgument(
                f"consumer {self.name!r} is closed: its deliveries went back to queue "
                f"{self.queue.name!r}. Start a new one with queue.consume()."
            )

    def __repr__(self) -> str:
        state = "" if self._open else ", closed"
        limit = f"prefetch={self.prefetch}" if self.prefetch else "prefetch=unlimited"
        return (
            f"Consumer({self.name!r} on {self.queue.name!r}: {limit}, "
            f"{len(self._unacked)} unacked{state})"
        )


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


def _check_optional_str(name: str, value: Any, example: str) -> None:
    if value is not None and value.__class__ is not str and not isinstance(value, str):
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

    def __init__(
        self,
        name: str,
        *,
        clock: Clock | None = None,
        fifo: bool = False,
        visibility_timeout: float = 30,
        retention: float = 345600,
        delay: float = 0,
        message_ttl: float | None = None,
        max_length: int | None = None,
        dead_letter: Queue | DeadLetterTarget | None = None,
        max_receive_count: int | None = None,
        content_based_dedup: bool = False,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidType(
                f"name={name!r} is not a non-empty str: a queue needs a name. Pass e.g. name='jobs'."
            )
        if clock is None:
            clock = VirtualClock()
        elif not callable(getattr(clock, "now", None)):
            raise InvalidType(
                f"clock={clock!r} has no now() method: pass a brokerlab.clock.VirtualClock "
                "(or RealClock), or None for a fresh VirtualClock."
            )
        for flag_name, flag in (("fifo", fifo), ("content_based_dedup", content_based_dedup)):
            if flag.__class__ is not bool:
                raise InvalidType(f"{flag_name}={flag!r} is not a bool. Pass True or False.")
        check_range(
            "visibility_timeout",
            visibility_timeout,
            0,
            VISIBILITY_MAX,
            "seconds (12 hours)",
            who="SQS",
            example=30,
        )
        check_range(
            "retention",
            retention,
            RETENTION_MIN,
            RETENTION_MAX,
            "seconds (1 minute to 14 days)",
            who="SQS",
            example=345600,
        )
        check_range("delay", delay, 0, DELAY_MAX, "seconds (15 minutes)", who="SQS", example=0)
        if message_ttl is not None:
            check_range(
                "message_ttl",
                message_ttl,
                0,
                TTL_MAX,
                "seconds",
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
                "content_based_dedup=True on a standard queue: SQS only deduplicates FIFO queues "
                "(ContentBasedDeduplication is a FIFO attribute). Pass fifo=True, or drop it."
            )
        check_dead_letter_target(name, fifo, dead_letter)

        self.name = name
        self.clock = clock
        self.fifo = fifo
        self.visibility_timeout = float(visibility_timeout)
        self.retention = float(retention)
        self.delay = float(delay)
        self.message_ttl = None if message_ttl is None else float(message_ttl)
        self.max_length = max_length
        self.max_receive_count = max_receive_count
        self.content_based_dedup = content_based_dedup
        self._dead_letter = dead_letter
        self._now = clock.now

        # Ready messages: a heap of positions (lowest first) and a dict position -> entry.
        # A position missing from the dict is stale in the heap and skipped (lazy deletion).
        self._heap: list[int] = []
        self._ready: dict[int, _Entry] = {}
        self._pos = 0
        self._seq = 0
        self._ids = 0
        # In flight: delivery tag -> entry.
        self._inflight: dict[int, _Entry] = {}
        self._next_tag = 1
        # SQS: after a visibility timeout the latest receipt handle stays valid until the next
        # receive. tag -> entry (the entry is ready again).
        self._late: dict[int, _Entry] = {}
        # Tags that can no longer be used, and why (for StaleReceipt messages).
        self._stale: dict[int, str] = {}
        # Deadlines. Visibility and retention deadlines mostly arrive in order, so they go in a
        # deque; the few out of order go in a heap. Stale items are skipped when due, and the
        # deques are compacted when they hold too many stale items.
        self._vis: deque[tuple[float, int, _Entry]] = deque()
        self._vis_late: list[tuple[float, int, _Entry]] = []
        self._vis_last = -_INF
        self._vis_cap = 256
        self._ret: deque[_Entry] = deque()
        self._ret_late: list[tuple[float, int, _Entry]] = []
        self._ret_last = -_INF
        self._ret_cap = 256
        self._delayed: list[tuple[float, int, _Entry]] = []
        self._n_delayed = 0
        self._ttl: list[tuple[float, int, _Entry]] = []
        self._next_due = _INF
        self._busy = False
        # FIFO: group -> number of its messages in flight; deduplication ids.
        self._groups: dict[str, int] = {}
        self._dedup = Deduplicator(DEDUP_WINDOW)
        # Push consumers, served round-robin from index _rr.
        self._consumers: list[Consumer] = []
        self._rr = 0
        self._consumer_ids = 0
        # Queues that dead-letter into this one (for redrive), by name.
        self._sources: dict[str, Queue] = {}
        if isinstance(dead_letter, Queue):
            dead_letter._sources[name] = self
        # Counters.
        self._n_enqueued = 0
        self._n_published = 0
        self._n_dedup = 0
        self._n_delivered = 0
        self._n_redelivered = 0
        self._n_acked = 0
        self._n_requeued = 0
        self._n_dead = 0
        self._n_discarded = 0
        self._n_expired = 0
        self._n_redriven = 0
        self._n_purged = 0
        self._reasons = {"rejected": 0, "expired": 0, "maxlen": 0, "delivery_limit": 0}

    # --- read-only configuration -----------------------------------------------------------

    @property
    def dead_letter(self) -> Queue | DeadLetterTarget | None:
        """Where dead letters go (set when the queue is made, like a RabbitMQ queue argument)."""
        return self._dead_letter

    @property
    def consumers(self) -> list[Consumer]:
        """The open push consumers, in round-robin order."""
        return list(self._consumers)

    # --- producing --------------------------------------------------------------------------

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

        - ``id``: the message id; ``"m1"``, ``"m2"``... (per queue) if not given.
        - ``delay``: seconds (0..900) before it becomes visible; the queue's ``delay`` if None.
          Not allowed per message on FIFO queues (SQS: FIFO queues only take a queue-wide
          delay), which raises :class:`~brokerlab.errors.FifoError`.
        - ``ttl``: seconds it may wait before it expires and is dead-lettered with reason
          ``'expired'``; the lower of ``ttl`` and the queue's ``message_ttl`` applies (RabbitMQ).
        - ``group``, ``dedup_id``: FIFO only (SQS ``MessageGroupId`` and
          ``MessageDeduplicationId``). A FIFO queue needs a group, and a dedup id unless it has
          content-based deduplication. A duplicate within 5 minutes of the first send enqueues
          nothing and returns the ORIGINAL message.
        """
        if payload.__class__ is not bytes and payload.__class__ is not str:
            payload = check_payload(payload)
        if key is not None and key.__class__ is not str:
            _check_optional_str("key", key, "order.created")
        if headers is not None:
            headers = _check_headers(headers)
        if id is not None and (id.__class__ is not str or not id):
            raise InvalidType(
                f"id={id!r} is not a non-empty str. Pass e.g. id='order-17', or leave it out."
            )
        if delay is not None:
            check_range("delay", delay, 0, DELAY_MAX, "seconds (15 minutes)", who="SQS", example=0)
        if ttl is not None:
            check_range("ttl", ttl, 0, TTL_MAX, "seconds", who="the reference queue", example=60)
        if self.fifo:
            check_fifo_fields(group, dedup_id, self.content_based_dedup, self.name)
            if delay is not None:
                raise FifoError(
                    f"delay={delay!r} on FIFO queue {self.name!r}: SQS FIFO queues do not take a "
                    "per-message delay (DelaySeconds is queue-wide there). Leave delay out, or "
                    "create the queue with delay=..."
                )
        else:
            if group is not None:
                _check_optional_str("group", group, "account-17")
            if dedup_id is not None:
                raise FifoError(
                    f"dedup_id={dedup_id!r} on standard queue {self.name!r}: deduplication ids "
                    "are for FIFO queues only (SQS rejects MessageDeduplicationId on standard "
                    "queues). Leave it out, or use a queue made with fifo=True."
                )

        now = self._now()
        if now >= self._next_due:
            self._advance(now)
        if self.fifo:
            key_ = dedup_key(dedup_id, payload, True)
            original = self._dedup.original(key_, now)
            if original is not None:
                self._n_dedup += 1
                return original
        self._ids += 1
        msg = Message(
            f"m{self._ids}" if id is None else id,
            payload,
            key,
            {} if headers is None else headers,
            now,
            group,
            dedup_id,
        )
        if self.fifo:
            self._dedup.remember(key_, msg, now)
        self._n_published += 1
        self._accept(msg, now, delay, ttl, now)
        return msg

    def enqueue(
        self, message: Message, *, delay: float | None = None, ttl: float | None = None
    ) -> Message | None:
        """Put an already-built message on the queue (exchanges route with this).

        Same rules as :meth:`publish` (FIFO group and dedup, delay, TTL). Returns the message,
        or ``None`` when a FIFO queue drops it as a duplicate (nothing is enqueued).
        Retention counts from now.
        """
        if not isinstance(message, Message):
            raise InvalidType(
                f"message={message!r} is a {type(message).__name__}: enqueue() takes a "
                "brokerlab.message.Message. To send a payload, use publish()."
            )
        check_payload(message.payload, "message.payload")
        if delay is not None:
            check_range("delay", delay, 0, DELAY_MAX, "seconds (15 minutes)", who="SQS", example=0)
        if ttl is not None:
            check_range("ttl", ttl, 0, TTL_MAX, "seconds", who="the reference queue", example=60)
        if self.fifo:
            check_fifo_fields(message.group, message.dedup_id, self.content_based_dedup, self.name)
            if delay is not None:
                raise FifoError(
                    f"delay={delay!r} on FIFO queue {self.name!r}: SQS FIFO queues do not take a "
                    "per-message delay. Leave delay out."
                )
        now = self._now()
        if now >= self._next_due:
            self._advance(now)
        if self.fifo:
            key_ = dedup_key(message.dedup_id, message.payload, self.content_based_dedup)
            if self._dedup.original(key_, now) is not None:
                self._n_dedup += 1
                return None
            self._dedup.remember(key_, message, now)
        self._accept(message, now, delay, ttl, now)
        return message

    def receive_dead_letter(self, message: Message) -> None:
        """Take a dead letter from another queue (the :class:`DeadLetterTarget` protocol).

        The message already carries its ``x-death`` history. It goes to the tail, with no delay
        and no deduplication (it is not a new send). On a standard queue retention keeps
        counting from the message's original ``timestamp``, as SQS does for standard DLQs ("the
        expiration of a message is always based on its original enqueue timestamp"); on a FIFO
        queue it restarts now, as SQS does for FIFO DLQs.
        """
        if not isinstance(message, Message):
            raise InvalidType(
                f"message={message!r} is a {type(message).__name__}: receive_dead_letter() takes "
                "a brokerlab.message.Message."
            )
        now = self._now()
        if now >= self._next_due:
            self._advance(now)
        start = now if self.fifo else min(message.timestamp, now)
        self._accept(message, now, 0, None, start)

    def _accept(
        self, msg: Message, now: float, delay: float | None, ttl: float | None, start: float
    ) -> None:
        """Store a new entry for ``msg``: ready, or delayed. ``start`` starts its retention."""
        self._seq += 1
        e = _Entry(msg, self._seq)
        self._n_enqueued += 1
        t = start + self.retention
        e.retain_until = t
        if t >= self._ret_last:
            self._ret.append(e)
            self._ret_last = t
            if len(self._ret) > self._ret_cap:
                self._compact_retention()
        else:
            heappush(self._ret_late, (t, e.seq, e))
        if t < self._next_due:
            self._next_due = t
        queue_ttl = self.message_ttl
        if ttl is not None or queue_ttl is not None:
            life = ttl if queue_ttl is None else queue_ttl if ttl is None else min(ttl, queue_ttl)
            e.ttl = ttl
            e.expires_at = now + life
            heappush(self._ttl, (e.expires_at, e.seq, e))
            if e.expires_at < self._next_due:
                self._next_due = e.expires_at
        if delay is None:
            delay = self.delay
        if delay > 0:
            e.state = _DELAYED
            self._n_delayed += 1
            due = now + delay
            heappush(self._delayed, (due, e.seq, e))
            if due < self._next_due:
                self._next_due = due
            return
        e.state = _READY
        e.pos = pos = self._pos
        self._pos = pos + 1
        self._ready[pos] = e
        heappush(self._heap, pos)
        if self._consumers:
            self._dispatch(now)
        if self.max_length is not None and len(self._ready) > self.max_length:
            self._drop_heads(now)

    # --- pulling (SQS) ------------------------------------------------------------------------

    def receive(
        self, max_messages: int = 1, *, visibility_timeout: float | None = None
    ) -> list[Delivery]:
        """Receive up to ``max_messages`` (1..10) ready messages, oldest first (SQS ReceiveMessage).

        Each becomes in flight for ``visibility_timeout`` seconds (the queue's, 30 s by default,
        if None; 0..43200) and gets a new receipt handle and delivery tag; older handles of the
        same message stop working. On a FIFO queue, a group with a message in flight is skipped,
        but one call may return several messages of the same group, in order (as SQS does).
        Returns ``[]`` when nothing is ready (this queue does not model long polling).
        """
        if max_messages.__class__ is not int or not 1 <= max_messages <= RECEIVE_MAX:
            _check_int(
                "max_messages",
                max_messages,
                1,
                RECEIVE_MAX,
                "messages per receive",
                "SQS ReceiveMessage",
                10,
            )
        if visibility_timeout is None:
            vt = self.visibility_timeout
        else:
            vt = check_range(
                "visibility_timeout",
                visibility_timeout,
                0,
                VISIBILITY_MAX,
                "seconds (12 hours)",
                who="SQS",
                example=30,
            )
        now = self._now()
        if now >= self._next_due:
            self._advance(now)
        ready = self._ready
        if not ready:
            return []
        deadline = now + vt
        if self.fifo:
            return self._receive_fifo(max_messages, now, deadline)
        heap = self._heap
        deliver = self._deliver
        out = []
        while ready and len(out) < max_messages:
            e = ready.pop(heappop(heap), None)
            if e is not None:
                out.append(deliver(e, None, now, deadline))
        return out

    def _receive_fifo(self, n: int, now: float, deadline: float) -> list[Delivery]:
        heap, ready, groups = self._heap, self._ready, self._groups
        out: list[Delivery] = []
        held: list[int] = []
        taken: set[str | None] = set()
        while heap and len(out) < n:
            pos = heappop(heap)
            e = ready.get(pos)
            if e is None:
                continue
            g = e.msg.group
            if g in groups and g not in taken:
                held.append(pos)  # its group is busy: held back, order kept
                continue
            del ready[pos]
            taken.add(g)
            out.append(self._deliver(e, None, now, deadline))
        for pos in held:
            heappush(heap, pos)
        return out

    def _deliver(
        self, e: _Entry, consumer: Consumer | None, now: float, deadline: float
    ) -> Delivery:
        """Hand ``e`` (already taken out of the ready set) to a consumer or a receive call."""
        tag = self._next_tag
        self._next_tag = tag + 1
        old = e.tag
        if old and old in self._late:
            del self._late[old]
            self._stale[old] = f"the message was received again (delivery tag {tag})"
        count = e.count + 1
        e.count = count
        e.tag = tag
        e.state = _INFLIGHT
        self._inflight[tag] = e
        self._n_delivered += 1
        if count > 1:
            self._n_redelivered += 1
        msg = e.msg
        if self.fifo:
            g = msg.group
            self._groups[g] = self._groups.get(g, 0) + 1
        name = self.name
        if consumer is None:
            d = Delivery(msg, name, tag, f"{name}:{msg.id}:{tag}", count, count > 1, None)
            e.deadline = deadline
            e.received_at = now
            if deadline >= self._vis_last:
                self._vis.append((deadline, tag, e))
                self._vis_last = deadline
                if len(self._vis) > self._vis_cap:
                    self._compact_visibility()
            else:
                heappush(self._vis_late, (deadline, tag, e))
            if deadline < self._next_due:
                self._next_due = deadline
        else:
            d = Delivery(msg, name, tag, f"{name}:{msg.id}:{tag}", count, count > 1, consumer.name)
            e.consumer = consumer
            consumer._unacked[tag] = d
            consumer._inbox.append(d)
        e.delivery = d
        return d

    # --- settling -----------------------------------------------------------------------------

    def ack(self, delivery: Delivery | str | int) -> None:
        """Acknowledge (SQS: delete) a delivery: the message is done and leaves the queue.

        ``delivery`` is the :class:`~brokerlab.message.Delivery`, its ``receipt_handle`` or its
        ``delivery_tag``. Raises :class:`~brokerlab.errors.AlreadyAcknowledged` if it was
        settled before (RabbitMQ closes the channel for that), :class:`StaleReceipt` if a newer
        receive replaced it (real SQS would answer success and not delete: a deliberate
        difference), :class:`UnknownReceipt` if this queue never issued it.

        SQS detail kept: after a visibility timeout, the latest handle still deletes the
        message as long as nobody has received it again.
        """
        tag = self._tag_of(delivery)
        now = self._now()
        if now >= self._next_due:
            self._advance(now)
        e = self._inflight.get(tag)
        if e is None or (delivery.__class__ is str and not self._handle_matches(delivery, e)):
            e = self._late_entry(delivery, tag)
            self._remove(e, None)  # ready again after a timeout; the latest handle still deletes
            self._n_acked += 1
            return
        del self._inflight[tag]
        e.state = _GONE
        self._n_acked += 1
        if self.fifo:
            self._release_group(e.msg.group)
        c = e.consumer
        if c is not None:
            del c._unacked[tag]
            e.consumer = None
            if self._ready:
                self._dispatch(now)

    delete = ack

    def nack(self, delivery: Delivery | str | int, requeue: bool = True) -> None:
        """Give a delivery back (RabbitMQ ``basic.nack``).

        ``requeue=True``: the message returns to its ORIGINAL position and its next delivery has
        ``redelivered=True``; past ``max_receive_count`` it is dead-lettered with reason
        ``'delivery_limit'`` instead. ``requeue=False``: it is dead-lettered with reason
        ``'rejected'`` (dropped if the queue has no ``dead_letter``, as RabbitMQ does).
        """
        if requeue.__class__ is not bool:
            raise InvalidType(
                f"requeue={requeue!r} is not a bool. Pass True (put it back) or False (dead-letter it)."
            )
        tag = self._tag_of(delivery)
        now = self._now()
        if now >= self._next_due:
            self._advance(now)
        e = self._inflight.get(tag)
        if e is None or (delivery.__class__ is str and not self._handle_matches(delivery, e)):
            e = self._late_entry(delivery, tag)
            if requeue:  # already visible again: settling the handle is all there is to do
                del self._late[tag]
            else:
                self._remove(e, None)
                self._kill(e, "rejected", now)
            self._after_change(now)
            return
        if requeue:
            self._return(e, now, "nack")
        else:
            self._remove(e, None)
            self._kill(e, "rejected", now)
        self._after_change(now)

    def reject(self, delivery: Delivery | str | int, requeue: bool = True) -> None:
        """Reject a delivery (RabbitMQ ``basic.reject``): the same as :meth:`nack` for one delivery."""
        self.nack(delivery, requeue)

    def change_visibility(self, delivery: Delivery | str | int, timeout: float) -> None:
        """Set a pulled message's visibility timeout to ``timeout`` seconds FROM NOW (0..43200).

        SQS ChangeMessageVisibility: the countdown restarts at the call; 0 makes the message
        visible at once; a message cannot stay in flight more than 12 hours after the receive
        that returned it (a longer request is refused). Only pulled deliveries have a
        visibility timeout; a message that is visible again cannot be changed (SQS:
        MessageNotInflight).
        """
        check_range(
            "timeout",
            timeout,
            0,
            VISIBILITY_MAX,
            "seconds (12 hours)",
            who="SQS ChangeMessageVisibility",
            example=30,
        )
        tag = self._tag_of(delivery)
        now = self._now()
        if now >= self._next_due:
            self._advance(now)
        e = self._inflight.get(tag)
        if e is None or (delivery.__class__ is str and not self._handle_matches(delivery, e)):
            if tag in self._late and (
                delivery.__class__ is not str or self._handle_matches(delivery, self._late[tag])
            ):
                raise StaleReceipt(
                    f"delivery tag {tag} of queue {self.name!r} is not in flight: its visibility "
                    "timeout already ran out and the message is visible again (SQS: "
                    "MessageNotInflight). Receive it again to get a new handle."
                )
            self._raise_unusable(delivery, tag)
        if e.consumer is not None:
            raise InvalidArgument(
                f"delivery tag {tag} was pushed to consumer {e.consumer.name!r}: pushed deliveries "
                "have no visibility timeout (RabbitMQ holds them until ack or channel close). "
                "Use change_visibility() on deliveries from receive()."
            )
        used = now - e.received_at
        if used + timeout > VISIBILITY_MAX:
            raise OutOfRange(
                f"timeout={timeout!r} is out of range for this message: it has been in flight "
                f"{used:g} s since its receive, and SQS caps the total at {VISIBILITY_MAX} seconds "
                f"(12 hours). Pass at most {VISIBILITY_MAX - used:g}."
            )
        deadline = now + timeout
        e.deadline = deadline
        if deadline >= self._vis_last:
            self._vis.append((deadline, tag, e))
            self._vis_last = deadline
        else:
            heappush(self._vis_late, (deadline, tag, e))
        if deadline < self._next_due:
            self._next_due = deadline
        if deadline <= now:
            self._advance(now)

    # --- pushing (RabbitMQ) -------------------------------------------------------------------

    def consume(self, name: str | None = None, *, prefetch: int = 0) -> Consumer:
        """Register a push consumer (RabbitMQ ``basic.consume`` with ``basic.qos(prefetch)``).

        ``name`` defaults to ``"c1"``, ``"c2"``... ``prefetch`` caps its unacked deliveries
        (0 = unlimited, the AMQP default; 0..65535). Ready messages are pushed at once.
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
                "unique per queue. Pick another name, or close the old consumer first."
            )
        now = self._now()
        if now >= self._next_due:
            self._advance(now)
        if name is None:
            taken = {c.name for c in self._consumers}
            while True:
                self._consumer_ids += 1
                name = f"c{self._consumer_ids}"
                if name not in taken:
                    break
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
        if not n:
            return
        heap, ready, groups, fifo = self._heap, self._ready, self._groups, self.fifo
        held: list[int] = []
        rr = self._rr % n
        while ready and heap:
            for i in range(n):
                idx = (rr + i) % n
                c = consumers[idx]
                if not c.prefetch or len(c._unacked) < c.prefetch:
                    break
            else:
                break  # nobody has room
            e = None
            while heap:
                pos = heappop(heap)
                e = ready.get(pos)
                if e is None:
                    continue
                if fifo and e.msg.group in groups:
                    held.append(pos)
                    e = None
                    continue
                break
            if e is None:
                break
            del ready[e.pos]
            self._deliver(e, c, now, 0.0)
            rr = (idx + 1) % n
        for pos in held:
            heappush(heap, pos)
        self._rr = rr

    def _close_consumer(self, c: Consumer, how: str) -> None:
        now = self._now()
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
        if self._consumers:
            self._rr %= len(self._consumers)
        else:
            self._rr = 0
        self._after_change(now)

    def _touch(self) -> None:
        now = self._now()
        if now >= self._next_due:
            self._advance(now)

    # --- state ----------------------------------------------------------------------------------

    def __len__(self) -> int:
        """The number of READY messages (not in flight, not delayed)."""
        self._touch()
        return len(self._ready)

    def peek(self) -> list[Message]:
        """The ready messages in the order they would be delivered (nothing changes)."""
        self._touch()
        ready = self._ready
        return [ready[p].msg for p in sorted(ready)]

    def in_flight(self) -> list[Delivery]:
        """The current deliveries in flight (pulled and pushed), by delivery tag."""
        self._touch()
        return [self._inflight[t].delivery for t in sorted(self._inflight)]  # type: ignore[misc]

    def stats(self) -> dict[str, Any]:
        """Counters. Every message that entered (``enqueued``) is in exactly one of: ``ready``,
        ``in_flight``, ``delayed``, ``acked``, ``dead_lettered``, ``expired``, ``redriven``,
        ``purged``.

        ``expired`` counts messages deleted by the retention period (silently, as SQS does);
        a TTL expiry is a dead-letter reason, counted in ``dead_letter_reasons['expired']``.
        ``discarded`` counts dead letters dropped because the queue has no ``dead_letter``.
        ``published`` counts publish() calls that enqueued; ``deduplicated`` FIFO duplicates.
        """
        self._touch()
        return {
            "ready": len(self._ready),
            "in_flight": len(self._inflight),
            "delayed": self._n_delayed,
            "consumers": len(self._consumers),
            "enqueued": self._n_enqueued,
            "published": self._n_published,
            "deduplicated": self._n_dedup,
            "delivered": self._n_delivered,
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
        """Delete every READY message and return how many (RabbitMQ ``queue.purge``; in-flight
        messages are kept, which SQS PurgeQueue would delete too)."""
        now = self._now()
        if now >= self._next_due:
            self._advance(now)
        entries = list(self._ready.values())
        for e in entries:
            self._remove(e, "the queue was purged")
        self._heap.clear()
        self._n_purged += len(entries)
        return len(entries)

    def redrive(self, max_messages: int | None = None, *, to: Queue | None = None) -> int:
        """Move ready dead letters from this queue (a DLQ) back to the queue each died in.

        Like SQS's DLQ redrive (StartMessageMoveTask): oldest first, up to ``max_messages``
        (all if None), each to its source queue, or all to ``to``. A moved message starts
        fresh there (receive count 0, not redelivered) and keeps its ``x-death`` history. It
        is not checked against the FIFO deduplication window. Returns how many moved. If any
        message has no known source, nothing moves (:class:`DeadLetterConfigError`).
        """
        if max_messages is not None:
            _check_int("max_messages", max_messages, 1, None, "messages", "redrive", 10)
        if to is not None:
            if not isinstance(to, Queue):
                raise InvalidType(
                    f"to={to!r} is not a Queue. Pass the queue to move messages to, or None."
                )
            if to is self:
                raise DeadLetterConfigError(
                    f"to={to!r} is this queue itself: redrive moves messages to another queue."
                )
            if to.fifo != self.fifo:
                raise DeadLetterConfigError(
                    f"to={to.name!r} is {'FIFO' if to.fifo else 'standard'} but {self.name!r} is "
                    f"{'FIFO' if self.fifo else 'standard'}: SQS redrives only between queues of the "
                    "same type. Pick a queue of the same type."
                )
        now = self._now()
        if now >= self._next_due:
            self._advance(now)
        ready = self._ready
        entries = [ready[p] for p in sorted(ready)]
        if max_messages is not None:
            entries = entries[:max_messages]
        plan = plan_redrive([e.msg for e in entries], self._sources, to)
        for e, (msg, target) in zip(entries, plan, strict=True):
            self._remove(e, "the message was redriven to its source queue")
            self._n_redriven += 1
            target._take_redriven(msg)
        return len(plan)

    def _take_redriven(self, msg: Message) -> None:
        now = self._now()
        if now >= self._next_due:
            self._advance(now)
        self._accept(msg, now, 0, None, now)

    # --- time ------------------------------------------------------------------------------------

    def _next_event(self) -> tuple[float, int]:
        """The earliest pending deadline and its kind (1 delay, 2/3 visibility, 4 TTL, 5/6 retention)."""
        best, kind = _INF, 0
        if self._delayed and self._delayed[0][0] < best:
            best, kind = self._delayed[0][0], 1
        if self._vis and self._vis[0][0] < best:
            best, kind = self._vis[0][0], 2
        if self._vis_late and self._vis_late[0][0] < best:
            best, kind = self._vis_late[0][0], 3
        if self._ttl and self._ttl[0][0] < best:
            best, kind = self._ttl[0][0], 4
        if self._ret and self._ret[0].retain_until < best:
            best, kind = self._ret[0].retain_until, 5
        if self._ret_late and self._ret_late[0][0] < best:
            best, kind = self._ret_late[0][0], 6
        return best, kind

    def _advance(self, now: float) -> None:
        """Apply every deadline that has passed, earliest first."""
        if self._busy:
            return
        self._busy = True
        try:
            while True:
                t, kind = self._next_event()
                if t > now:
                    break
                if kind == 1:
                    _, _, e = heappop(self._delayed)
                    if e.state == _DELAYED:
                        self._n_delayed -= 1
                        e.state = _GONE
                        if e.expires_at is not None and e.expires_at <= t:
                            self._kill(e, "expired", e.expires_at)
                        else:
                            self._make_ready(e)
                elif kind == 2 or kind == 3:
                    _, tag, e = self._vis.popleft() if kind == 2 else heappop(self._vis_late)
                    if (
                        e.state == _INFLIGHT
                        and e.tag == tag
                        and e.deadline == t
                        and e.consumer is None
                    ):
                        self._return(e, t, "timeout")
                elif kind == 4:
                    _, _, e = heappop(self._ttl)
                    if e.state == _READY and e.expires_at == t:
                        self._remove(e, "the message expired (TTL) and was dead-lettered")
                        self._kill(e, "expired", t)
                else:
                    e = self._ret.popleft() if kind == 5 else heappop(self._ret_late)[2]
                    if e.state != _GONE and e.retain_until == t:
                        self._remove(e, "the retention period ended and the message was deleted")
                        self._n_expired += 1
        finally:
            self._busy = False
        self._next_due = self._next_event()[0]
        self._after_change(now)

    def _compact_visibility(self) -> None:
        self._vis = deque(
            item
            for item in self._vis
            if item[2].state == _INFLIGHT and item[2].tag == item[1] and item[2].deadline == item[0]
        )
        self._vis_cap = 2 * len(self._vis) + 256

    def _compact_retention(self) -> None:
        self._ret = deque(e for e in self._ret if e.state != _GONE)
        self._ret_cap = 2 * len(self._ret) + 256

    # --- moving entries between states -----------------------------------------------------

    def _make_ready(self, e: _Entry) -> None:
        e.state = _READY
        if e.pos < 0:
            e.pos = self._pos
            self._pos += 1
        self._ready[e.pos] = e
        heappush(self._heap, e.pos)

    def _release_group(self, g: Any) -> None:
        left = self._groups[g] - 1
        if left:
            self._groups[g] = left
        else:
            del self._groups[g]

    def _remove(self, e: _Entry, why: str | None) -> None:
        """Take ``e`` out of wherever it is; if ``why``, its live handle becomes stale for that reason."""
        st = e.state
        tag = e.tag
        if st == _READY:
            del self._ready[e.pos]
            if tag and self._late.pop(tag, None) is not None and why:
                self._stale[tag] = why
        elif st == _INFLIGHT:
            del self._inflight[tag]
            c = e.consumer
            if c is not None:
                del c._unacked[tag]
                e.consumer = None
            if self.fifo:
                self._release_group(e.msg.group)
            if why:
                self._stale[tag] = why
        elif st == _DELAYED:
            self._n_delayed -= 1
        e.state = _GONE

    def _return(self, e: _Entry, t: float, how: str, who: str = "") -> None:
        """An in-flight message comes back: nack with requeue, visibility timeout, consumer closed/crashed."""
        tag = e.tag
        self._remove(e, None)
        limit = self.max_receive_count
        if limit is not None and e.count >= limit:
            self._kill(e, "delivery_limit", t)
            outcome = f"it was dead-lettered (delivery_limit: received {e.count} times, max_receive_count={limit})"
        elif e.expires_at is not None and e.expires_at <= t:
            self._kill(e, "expired", t)
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
        elif how != "nack":
            self._stale[tag] = f"consumer {who!r} {how} before settling it and {outcome}"

    def _kill(self, e: _Entry, reason: str, t: float) -> None:
        """Dead-letter ``e`` (already taken out of every structure)."""
        e.state = _GONE
        self._n_dead += 1
        self._reasons[reason] += 1
        target = self._dead_letter
        if target is None:
            self._n_discarded += 1
            return
        original = e.ttl if reason == "expired" else None
        target.receive_dead_letter(
            record_death(
                e.msg, queue=self.name, reason=reason, time=t, original_expiration=original
            )
        )

    def _drop_heads(self, now: float) -> None:
        """Overflow ``drop-head``: dead-letter the oldest ready messages until within max_length."""
        ready, heap, limit = self._ready, self._heap, self.max_length
        while len(ready) > limit and heap:  # type: ignore[operator]
            pos = heappop(heap)
            e = ready.get(pos)
            if e is not None:
                self._remove(e, "the queue was over max_length and dropped it")
                self._kill(e, "maxlen", now)

    def _after_change(self, now: float) -> None:
        if self._consumers and self._ready:
            self._dispatch(now)
        if self.max_length is not None and len(self._ready) > self.max_length:
            self._drop_heads(now)

    # --- receipts -------------------------------------------------------------------------------

    def _tag_of(self, delivery: Any) -> int:
        """The delivery tag a Delivery / receipt handle / tag stands for (no state is read)."""
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
                    f"receipt handle {delivery!r} was not issued by queue {self.name!r} (its handles "
                    f"look like '{self.name}:<message id>:<tag>'). Pass a handle from this queue's "
                    "receive()."
                )
            return int(tail)
        raise InvalidType(
            f"delivery={delivery!r} is a {type(delivery).__name__}: pass the Delivery, its "
            "receipt_handle (str) or its delivery_tag (int)."
        )

    def _handle_matches(self, handle: str, e: _Entry) -> bool:
        return handle == f"{self.name}:{e.msg.id}:{e.tag}"

    def _late_entry(self, delivery: Any, tag: int) -> _Entry:
        """The ready entry whose latest handle is ``tag`` (after a timeout), or raise."""
        e = self._late.get(tag)
        if e is not None and (delivery.__class__ is not str or self._handle_matches(delivery, e)):
            return e
        self._raise_unusable(delivery, tag)
        raise AssertionError("unreachable")  # pragma: no cover

    def _raise_unusable(self, delivery: Any, tag: int) -> None:
        shown = repr(delivery) if delivery.__class__ is not Delivery else f"delivery tag {tag}"
        why = self._stale.get(tag)
        if why is not None:
            raise StaleReceipt(
                f"{shown} of queue {self.name!r} is stale: {why}. Use the newest receipt (from the "
                "latest receive or delivery). Real SQS would answer success here without deleting "
                "anything; the reference queue raises so the lost delete is visible."
            )
        if 1 <= tag < self._next_tag and delivery.__class__ is not str:
            raise AlreadyAcknowledged(
                f"{shown} of queue {self.name!r} was already acked, nacked or rejected: each "
                "delivery is settled once (RabbitMQ closes the channel with PRECONDITION_FAILED "
                "- unknown delivery tag). Remove the second ack."
            )
        if 1 <= tag < self._next_tag:
            raise AlreadyAcknowledged(
                f"receipt handle {delivery!r} of queue {self.name!r} was already used to delete, "
                "nack or reject its message (or names another message). Settle each delivery once."
            )
        raise UnknownReceipt(
            f"{shown} was never issued by queue {self.name!r} (it has issued delivery tags "
            f"1..{self._next_tag - 1}). Pass a Delivery, receipt handle or tag from this queue."
        )

    # --- display ---------------------------------------------------------------------------------

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
            if k != "dead_letter_reasons"
        )
        reasons = ", ".join(f"{k}: {v}" for k, v in s["dead_letter_reasons"].items() if v)
        if reasons:
            rows += f"<tr><td>dead-letter reasons</td><td>{html.escape(reasons)}</td></tr>"
        head = self.peek()[:5]
        ready = "".join(f"<li><code>{html.escape(repr(m))}</code></li>" for m in head)
        more = f"<li>... {s['ready'] - len(head)} more</li>" if s["ready"] > len(head) else ""
        return (
            f"<div><b>{html.escape(repr(self))}</b><table>{rows}</table>"
            f"<div>next ready:</div><ol>{ready}{more}</ol></div>"
        )
