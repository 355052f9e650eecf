"""The queue: point-to-point messaging, as RabbitMQ and Amazon SQS do it.

A :class:`Queue` holds messages until someone takes them. Each message goes to *one* taker
(that is what makes it point-to-point, as opposed to pub/sub). The queue's *type* says whose
rules it follows: ``"sqs"`` (the default), or RabbitMQ's ``"classic"`` and ``"quorum"``. Every
rule that differs between them is one field of :class:`~brokerlab.queue_types.QueueType`; the
table in :mod:`brokerlab.queue_types` lists them side by side.

**One message's life.** Read the methods in this order:

1. :meth:`Queue.publish` (or :meth:`~Queue.enqueue`, for a message an exchange routed) builds a
   :class:`Record` for the message and puts it in the *ready* set, or keeps it *delayed*.
2. It is taken in one of two ways. **Pull**: :meth:`Queue.receive` (SQS ReceiveMessage; on a
   RabbitMQ queue, ``basic.get``). **Push**: :meth:`Queue.consume` registers a
   :class:`Consumer` (RabbitMQ ``basic.consume``); :meth:`Queue._dispatch` hands it messages
   while it has room under its prefetch limit. Either way :meth:`Queue._deliver` makes the
   record *in flight* and returns a :class:`~brokerlab.message.Delivery`.
3. The taker settles it: :meth:`Queue.ack` (SQS DeleteMessage) and the message is done, or
   :meth:`Queue.nack` / :meth:`~Queue.reject`, which give it back or dead-letter it. A message
   also comes back when its SQS visibility timeout runs out, or when the consumer holding it
   closes or crashes: :meth:`Queue._give_back` handles every return in one place, with the
   delivery limit.
4. A message the queue gives up on is dead-lettered by :meth:`Queue._dead_letter`, with one of
   RabbitMQ's reasons (``rejected``, ``expired``, ``maxlen``, ``delivery_limit``).

**Time.** Every time rule (a delay ends, a visibility timeout ends, a TTL runs out, retention
ends) is an entry in ONE schedule, a heap ordered by time. Nothing happens between calls: at the
start of every public call, :meth:`Queue.catch_up` applies every entry that is due by the
clock's time, earliest first (:meth:`Queue._apply`). Move a
:class:`~brokerlab.clock.VirtualClock` and the next call catches up. A dead-letter queue first
lets the queues that feed it catch up, so the dead letters they owe by now are there when you
look.

Defaults and limits, with their sources:

=========================== ======================================================================
visibility_timeout          30 s, 0..43200 (SQS SetQueueAttributes ``VisibilityTimeout``; a
                            message can be kept in flight at most 12 h after its receive:
                            ChangeMessageVisibility). SQS only.
retention                   345600 s = 4 days, 60..1209600 (SQS ``MessageRetentionPeriod``);
                            ``None``: kept until consumed, as RabbitMQ keeps every message (and
                            as a :class:`~brokerlab.broker.Broker` declares its queues)
delay                       0 s, 0..900 (SQS ``DelaySeconds``; per message on standard queues
                            only, SendMessage). SQS only.
max_messages                1..10 per receive (SQS ReceiveMessage ``MaxNumberOfMessages``)
max_receive_count           None, 1..1000 (SQS redrive policy ``maxReceiveCount``: counts
                            receives). SQS only.
delivery_limit              None, 0..1000 (RabbitMQ quorum queues' ``x-delivery-limit``: counts
                            returns; RabbitMQ 4.0 made 20 the default). Quorum only.
message_ttl / ttl           None (RabbitMQ ``x-message-ttl`` and the per-message ``expiration``,
                            in milliseconds there, in seconds here)
max_length                  None (RabbitMQ ``x-max-length``, overflow ``drop-head``: counts ready
                            messages only)
prefetch                    0 = unlimited, 0..65535 (AMQP ``basic.qos`` ``prefetch_count``)
FIFO dedup window           300 s (SQS)
SQS send limits             body at most 1 MiB and XML characters only; group and dedup ids
                            1..128 letters, digits or punctuation (SQS message quotas)
=========================== ======================================================================

Deliberate differences from the real brokers (each one named where it happens):

- **Stale receipts raise.** Deleting with an out-of-date receipt handle raises
  :class:`~brokerlab.errors.StaleReceipt`; real SQS returns success and does not delete the
  message, a silent no-op that is exactly the bug a learner should see.
- **Per-message TTL expires anywhere.** RabbitMQ only expires per-message TTLs when the message
  reaches the head of the queue; here a message expires at its deadline wherever it is.
  Queue-wide TTLs behave the same in both.
- **SQS's delivery limit is checked when a message comes back** (nack, timeout, consumer
  close); SQS moves the message to the DLQ on the *next* receive attempt instead. The counts
  are the same: a message is received ``max_receive_count`` times; the DLQ just fills a little
  earlier.
- **The SQS type accepts RabbitMQ's extras** (push consumers, ``nack``, ``message_ttl``,
  ``max_length``), so one queue can show both systems (see :mod:`brokerlab.queue_types`).
- **Quorum queues follow RabbitMQ 3.10-3.13**: a returned message goes to the back. RabbitMQ
  4.0 serves returned messages first (see :mod:`brokerlab.queue_types`).
- **Delivery tags are per queue**, not per channel, so one number names a delivery everywhere.
- **Receipt handles are readable**: ``"<queue>:<message id>:<delivery tag>"``, e.g.
  ``"jobs:m3:7"``, instead of SQS's opaque tokens.
- **FIFO with push consumers** (which SQS does not have) keeps one delivery per group in flight.
- ``purge()`` deletes ready messages only (RabbitMQ); SQS PurgeQueue deletes in-flight ones too.
- Not modelled: long polling, priorities, ``x-max-length-bytes``, overflow modes other than
  ``drop-head``, RabbitMQ's dead-letter cycle detection (dead-letter targets are fixed when a
  queue is made, so queues cannot form a cycle).
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from heapq import heapify, heappop, heappush
from typing import Any

from .clock import Clock, VirtualClock
from .dead_letter import (
    REASONS,
    DeadLetterTarget,
    check_dead_letter_target,
    plan_redrive,
    record_death,
)
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
)
from .exchange import check_exchange
from .fifo import DEDUP_WINDOW, Deduplicator, check_fifo_fields, dedup_key
from .message import Delivery, Message, check_payload
from .queue_limits import (
    PREFETCH_MAX,
    RECEIVE_MAX,
    RETENTION_DEFAULT,
    VISIBILITY_DEFAULT,
    VISIBILITY_MAX,
    check_delay_and_ttl,
    check_headers,
    check_int,
    check_queue_settings,
    check_str,
    check_visibility,
)
from .queue_types import SQS, QueueType, check_sqs_body, check_sqs_id

__all__ = ["Consumer", "Queue", "Record"]

#: The reasons :class:`Queue`'s ``on_discard`` hook is called with.
DISCARD_REASONS = ("expired", "retention", "maxlen", "purged")

# A best-effort SQS standard queue (``seed=...``): a receive takes one of the oldest few ready
# messages, and now and then a send is stored twice. The rates are the model's, not AWS's (AWS
# publishes none).
REORDER_WINDOW = 3
DUPLICATE_RATE = 0.05

NEVER = float("inf")

# Where a message is.
READY, DELAYED, IN_FLIGHT, GONE = "ready", "delayed", "in flight", "gone"

# The time rules, in the order they apply when they fall due at the same moment.
DELAY_ENDS, VISIBILITY_ENDS, TTL_ENDS, RETENTION_ENDS = 0, 1, 2, 3


@dataclass(slots=True, eq=False)
class Record:
    """The queue's record of one message: where it is and what has happened to it."""

    message: Message
    position: int  # its place in the ready order (arrival number; quorum requeue: a new one)
    exchange: str = ""  # the exchange it came through ("": the default exchange, or none)
    state: str = READY
    receives: int = 0  # deliveries so far (SQS ApproximateReceiveCount)
    returns: int = 0  # times it came back unacked (quorum queues' x-delivery-count)
    tag: int = 0  # the delivery tag of its latest delivery (0: never delivered)
    holder: Consumer | None = None  # the consumer holding it (push or basic.get), if any
    delivery: Delivery | None = None  # its latest delivery
    visible_at: float = NEVER  # SQS: when its visibility timeout ends, while pulled
    received_at: float = 0.0  # SQS: when it was last received (the 12-hour cap)
    retain_until: float = NEVER  # SQS: when retention deletes it
    expires_at: float = NEVER  # when its TTL runs out
    ttl: float | None = None  # the per-message TTL it was sent with (x-death)


class Consumer:
    """A push consumer registered with :meth:`Queue.consume` (a RabbitMQ ``basic.consume``).

    The queue pushes deliveries to it, never more than ``prefetch`` unacked at a time
    (0 = unlimited). ``take()`` returns what arrived since the last call; ``unacked`` is
    everything it holds. ``get()`` pulls a message on the consumer's channel (``basic.get``).
    ``close()`` and ``crash()`` give every unacked delivery back to the queue, with
    ``redelivered=True`` on its next delivery (RabbitMQ requeues a closed channel's unacked
    messages: https://www.rabbitmq.com/docs/confirms).
    """

    def __init__(self, queue: Queue, name: str, prefetch: int) -> None:
        self.queue = queue
        self.name = name
        self.prefetch = prefetch
        self._unacked: dict[int, Delivery] = {}  # delivery tag -> delivery, in delivery order
        self._got: set[int] = set()  # tags it pulled with get(): prefetch does not count them
        self._inbox: list[Delivery] = []  # pushed but not yet taken
        self._open = True
        self._in_rotation = False  # waiting in the queue's rotation for its next message

    @property
    def is_open(self) -> bool:
        return self._open

    def has_room(self) -> bool:
        """Whether its prefetch limit lets the queue push it another message."""
        pushed = len(self._unacked) - len(self._got)
        return self._open and (self.prefetch == 0 or pushed < self.prefetch)

    def take(self) -> list[Delivery]:
        """The deliveries pushed to this consumer since the last ``take()``, oldest first."""
        self.queue.catch_up()
        out, self._inbox = self._inbox, []
        return out

    def get(self, max_messages: int = 1) -> list[Delivery]:
        """Pull ready messages on this consumer's channel (RabbitMQ ``basic.get``).

        Only on a RabbitMQ queue. A pulled message stays unacked, without a visibility
        timeout, until it is acked or nacked or this consumer closes. The prefetch limit does
        not apply to it (``basic.qos`` limits consumers, not ``basic.get``).
        """
        self._check_open()
        return self.queue._pull(max_messages, None, self)

    @property
    def unacked(self) -> list[Delivery]:
        """Every delivery this consumer holds and has not settled, in delivery order."""
        self.queue.catch_up()
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
        """Stop consuming; unacked deliveries go back to the queue."""
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
        record = q._in_flight.get(tag) or q._visible_again.get(tag)
        if record is not None:  # a live delivery, but not this consumer's
            holder = f"consumer {record.holder.name!r}" if record.holder else "a receive() call"
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


class Queue:
    """A point-to-point queue with RabbitMQ or SQS rules (see the module docstring).

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

    ``on_discard(message, reason)``, if given, is called once for every message that the queue
    deletes on its own: one that leaves neither by an ack nor into a dead-letter target.
    ``reason`` is ``"expired"`` (its TTL ran out and the queue has no ``dead_letter``),
    ``"retention"`` (SQS's retention period ended, whether it was ready, delayed or in flight),
    ``"maxlen"`` (dropped from the head by ``max_length`` with no ``dead_letter``) or
    ``"purged"`` (:meth:`purge`). A history uses it to record losses that no consumer saw.
    Messages a consumer rejects, or that pass the delivery limit, with no ``dead_letter`` are
    not reported: a consumer's nack or a delivery caused them.
    """

    # Slots rather than an instance __dict__: a queue has more fields than CPython 3.11 keeps
    # in a shared-key dict, and without slots every ``self.x`` would be a dict lookup.
    __slots__ = (
        *("name", "clock", "type", "fifo", "visibility_timeout", "retention", "delay"),
        *("message_ttl", "max_length", "max_receive_count", "delivery_limit"),
        *("content_based_dedup", "seed", "_dead_letter_target", "_on_discard", "_random"),
        *(
            "_ready",
            "_order",
            "_positions",
            "_positions_returned",
            "_delayed",
            "_in_flight",
            "_tags",
        ),
        *("_visible_again", "_retired", "_schedule", "_sequence", "_tidy_at", "_next_due"),
        "_catching_up",
        *("_groups_in_flight", "_dedup", "_consumers", "_rotation", "_consumer_names"),
        *("_sources", "_counts", "_reasons"),
    )

    def __init__(
        self,
        name: str,
        *,
        clock: Clock | None = None,
        queue_type: str = "sqs",
        fifo: bool = False,
        visibility_timeout: float = VISIBILITY_DEFAULT,
        retention: float | None = RETENTION_DEFAULT,
        delay: float = 0,
        message_ttl: float | None = None,
        max_length: int | None = None,
        dead_letter: Queue | DeadLetterTarget | None = None,
        max_receive_count: int | None = None,
        delivery_limit: int | None = None,
        content_based_dedup: bool = False,
        seed: int | None = None,
        on_discard: Callable[[Message, str], None] | None = None,
    ) -> None:
        kind = check_queue_settings(
            name=name,
            clock=clock,
            kind_name=queue_type,
            fifo=fifo,
            visibility_timeout=visibility_timeout,
            retention=retention,
            delay=delay,
            message_ttl=message_ttl,
            max_length=max_length,
            max_receive_count=max_receive_count,
            delivery_limit=delivery_limit,
            content_based_dedup=content_based_dedup,
            seed=seed,
            on_discard=on_discard,
        )
        check_dead_letter_target(name, fifo, dead_letter)

        self.name = name
        self.clock = clock if clock is not None else VirtualClock()
        self.type: QueueType = kind
        self.fifo = fifo
        # SQS's visibility timeout and retention period; a RabbitMQ queue has neither (its
        # retention is NEVER). retention=None keeps messages until consumed, as RabbitMQ does.
        sqs = kind.pull_has_visibility_timeout
        self.visibility_timeout: float | None = float(visibility_timeout) if sqs else None
        keeps = retention is None or not kind.has_retention
        self.retention = NEVER if keeps else float(retention)
        self.delay = float(delay)
        self.message_ttl = None if message_ttl is None else float(message_ttl)
        self.max_length = max_length
        self.max_receive_count = max_receive_count
        self.delivery_limit = delivery_limit
        self.content_based_dedup = content_based_dedup
        self.seed = seed
        self._dead_letter_target = dead_letter
        self._on_discard = on_discard
        self._random = random.Random(seed) if seed is not None else None

        # Ready messages, in delivery order: position -> record, and a heap of the positions
        # (the smallest is delivered next). A position whose record left the ready set stays
        # in the heap until it reaches the top, and is skipped there.
        self._ready: dict[int, Record] = {}
        self._order: list[int] = []
        self._positions = 0  # the last position handed out
        self._positions_returned = 0  # quorum: the last place handed out in the returns list
        self._delayed = 0  # how many records are delayed
        self._in_flight: dict[int, Record] = {}  # delivery tag -> record
        self._tags = 0  # the last delivery tag handed out
        # SQS: after a visibility timeout, the latest receipt still deletes the message until
        # it is received again. Those receipts: tag -> record (ready again).
        self._visible_again: dict[int, Record] = {}
        self._retired: dict[int, str] = {}  # receipts that no longer work -> why
        # The schedule: (time, rule, sequence number, record), earliest first.
        self._schedule: list[tuple[float, int, int, Record]] = []
        self._sequence = itertools.count()  # breaks ties between entries due at one time
        self._tidy_at = 256  # tidy the schedule when it grows this long (see _tidy_schedule)
        self._next_due = NEVER  # no later than the schedule's first entry: see catch_up()
        self._catching_up = False
        # FIFO: group -> how many of its messages are in flight; deduplication ids.
        self._groups_in_flight: dict[Any, int] = {}
        self._dedup = Deduplicator(DEDUP_WINDOW)
        # Push consumers; the rotation is the line of those not blocked, next to serve first.
        self._consumers: list[Consumer] = []
        self._rotation: deque[Consumer] = deque()
        self._consumer_names = 0
        # Queues that dead-letter into this one, by name (redrive sends messages back there).
        self._sources: dict[str, Queue] = {}
        if isinstance(dead_letter, Queue):
            dead_letter._sources[name] = self
            dead_letter._next_due = -NEVER  # a DLQ lets its sources catch up at every call
        counters = ("enqueued", "published", "deduplicated", "redelivered", "acked", "requeued")
        counters += ("dead_lettered", "discarded", "expired", "redriven", "purged")
        self._counts = dict.fromkeys(counters, 0)  # see stats()
        self._reasons = dict.fromkeys(REASONS, 0)  # dead letters by reason

    @property
    def queue_type(self) -> str:
        """``"classic"``, ``"quorum"`` or ``"sqs"`` (see :mod:`brokerlab.queue_types`)."""
        return self.type.name

    @property
    def dead_letter(self) -> Queue | DeadLetterTarget | None:
        """Where dead letters go. Fixed when the queue is made (like a RabbitMQ queue argument),
        so dead-letter queues cannot form a cycle."""
        return self._dead_letter_target

    @property
    def consumers(self) -> list[Consumer]:
        """The open push consumers, in the order they registered."""
        return list(self._consumers)

    # --- 1. a message arrives ----------------------------------------------------------------

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

        - ``payload``: bytes, str or JSON data (:func:`brokerlab.message.check_payload`); on an
          SQS queue at most 1 MiB, in XML's characters.
        - ``id``: the message id; ``"m1"``, ``"m2"``... (counted per queue) if not given.
        - ``delay``: seconds (0..900) before it becomes visible; the queue's ``delay`` if None.
          SQS only, and not per message on FIFO queues (SQS: a FIFO queue takes only a
          queue-wide delay), which raises :class:`~brokerlab.errors.FifoError`.
        - ``ttl``: seconds it may wait before it expires and is dead-lettered with reason
          ``'expired'``; the lower of ``ttl`` and the queue's ``message_ttl`` applies (RabbitMQ).
        - ``group``, ``dedup_id``: FIFO (SQS ``MessageGroupId``, ``MessageDeduplicationId``).
          A FIFO queue needs a group, and a dedup id unless it has content-based
          deduplication. A duplicate within 5 minutes of the first send enqueues nothing and
          returns the ORIGINAL message.
        """
        payload = check_payload(payload)
        if key is not None:
            check_str("key", key, "order.created")
        if headers is not None:
            headers = check_headers(headers)
        if id is not None and (not isinstance(id, str) or not id):
            raise InvalidType(
                f"id={id!r} is not a non-empty str. Pass e.g. id='order-17', or leave it out."
            )
        if self.fifo or not (delay is None and ttl is None and group is None and dedup_id is None):
            self.check_send_options(delay, ttl, group, dedup_id)  # (a FIFO queue needs some)
        if dedup_id is not None and not self.fifo:
            raise FifoError(
                f"dedup_id={dedup_id!r} on standard queue {self.name!r}: deduplication ids "
                "are for FIFO queues only (SQS rejects MessageDeduplicationId on standard "
                "queues). Leave it out, or use a queue made with fifo=True."
            )
        if self.type.sqs_send_limits:
            check_sqs_body(payload, self.name)
        now = self.catch_up()
        if self.fifo:
            original = self._original_send(dedup_id, payload, now)
            if original is not None:
                return original
        self._counts["published"] += 1
        number = self._counts["published"]
        message = Message(
            f"m{number}" if id is None else id,
            payload,
            key,
            {} if headers is None else headers,
            now,
            group,
            dedup_id,
        )
        if self.fifo:
            self._remember_send(message, now)
        self._accept(message, now, delay, ttl, now, "")
        return message

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
        if self.type.sqs_send_limits:
            check_sqs_body(message.payload, self.name)
        now = self.catch_up()
        if self.fifo:
            if self._original_send(message.dedup_id, message.payload, now) is not None:
                return None
            self._remember_send(message, now)
        self._accept(message, now, delay, ttl, now, exchange)
        return message

    def _original_send(self, dedup_id: str | None, payload: Any, now: float) -> Message | None:
        """FIFO deduplication: the message first sent with this deduplication id less than 5
        minutes ago, if there is one (this send is then a duplicate: counted, not enqueued)."""
        key = dedup_key(dedup_id, payload, self.content_based_dedup)
        original = self._dedup.original(key, now)
        if original is not None:
            self._counts["deduplicated"] += 1
        return original

    def _remember_send(self, message: Message, now: float) -> None:
        """FIFO: start the 5-minute deduplication window of ``message``'s id."""
        key = dedup_key(message.dedup_id, message.payload, self.content_based_dedup)
        self._dedup.remember(key, message, now)

    def check_send_options(
        self, delay: Any = None, ttl: Any = None, group: Any = None, dedup_id: Any = None
    ) -> None:
        """Raise if this queue would refuse a message sent with these options; change nothing.

        ``delay`` 0..900 s (SQS only), ``ttl`` 0..TTL_MAX s; on a FIFO queue a group is
        required, a dedup id unless content-based deduplication is on, and no per-message
        delay; on an SQS queue group and dedup ids follow SQS's rules (1..128 letters, digits
        or punctuation). Used by :meth:`publish`, :meth:`enqueue` and by fan-outs that must
        check every queue first.
        """
        check_delay_and_ttl(delay, ttl)
        if delay is not None and not self.type.has_delay:
            raise InvalidArgument(
                f"delay={delay!r} on {self.type.system} {self.queue_type} queue {self.name!r}: "
                "RabbitMQ has no per-message delay (a plugin adds one). Leave delay out, or use "
                "an SQS queue (queue_type='sqs')."
            )
        if self.fifo:
            check_fifo_fields(group, dedup_id, self.content_based_dedup, self.name)
            if delay is not None:
                raise FifoError(
                    f"delay={delay!r} on FIFO queue {self.name!r}: SQS FIFO queues take no "
                    "per-message delay (DelaySeconds is queue-wide there). Leave delay out, or "
                    "make the queue with delay=..."
                )
        elif group is not None:
            check_str("group", group, "account-17")
        if self.type.sqs_send_limits:
            if group is not None:
                check_sqs_id("group", group, "MessageGroupId")
            if dedup_id is not None and self.fifo:
                check_sqs_id("dedup_id", dedup_id, "MessageDeduplicationId")

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
        now = self.catch_up()
        start = now if self.fifo else min(message.timestamp, now)
        self._accept(message, now, 0, None, start, exchange)

    def _accept(
        self,
        message: Message,
        now: float,
        delay: float | None,
        ttl: float | None,
        retained_from: float,
        exchange: str,
    ) -> None:
        """Make a record for ``message``: ready now, or delayed; and schedule its deadlines.
        Its retention counts from ``retained_from``; ``exchange`` is the one it came through."""
        self._counts["enqueued"] += 1
        self._positions += 1  # it joins the back of the ready order
        record = Record(message, self._positions, exchange)
        if self.retention != NEVER:
            record.retain_until = retained_from + self.retention
            self._schedule_rule(record.retain_until, RETENTION_ENDS, record)
        if ttl is not None or self.message_ttl is not None:
            lives = min(t for t in (ttl, self.message_ttl) if t is not None)
            record.ttl = ttl
            record.expires_at = now + lives
            self._schedule_rule(record.expires_at, TTL_ENDS, record)
        if delay is None:
            delay = self.delay
        if delay > 0:
            record.state = DELAYED
            self._delayed += 1
            self._schedule_rule(now + delay, DELAY_ENDS, record)
            return
        self._make_ready(record)
        if self._random is not None and self._random.random() < DUPLICATE_RATE:
            self._store_twice(record)
        self._after_change(now)

    def _store_twice(self, record: Record) -> None:
        """A best-effort SQS standard queue keeps a second copy of a message, as SQS may when
        a server holding a copy is unavailable (SQS Developer Guide, "at-least-once
        delivery"). Each copy is delivered and deleted on its own."""
        self._counts["enqueued"] += 1
        twin = Record(record.message, self._next_position(), record.exchange)
        twin.retain_until = record.retain_until
        twin.expires_at = record.expires_at
        twin.ttl = record.ttl
        if twin.retain_until != NEVER:
            self._schedule_rule(twin.retain_until, RETENTION_ENDS, twin)
        if twin.expires_at != NEVER:
            self._schedule_rule(twin.expires_at, TTL_ENDS, twin)
        self._make_ready(twin)

    def _next_position(self) -> int:
        self._positions += 1
        return self._positions

    def _make_ready(self, record: Record) -> None:
        record.state = READY
        self._ready[record.position] = record
        heappush(self._order, record.position)

    # --- 2a. pull: receive ---------------------------------------------------------------------

    def receive(
        self, max_messages: int = 1, *, visibility_timeout: float | None = None
    ) -> list[Delivery]:
        """Receive up to ``max_messages`` (1..10) ready messages, oldest first.

        On an SQS queue this is ReceiveMessage: each message becomes in flight for
        ``visibility_timeout`` seconds (0..43200; the queue's, 30 s by default, if None) and
        gets a new receipt handle and delivery tag; the message's older handles stop working.
        On a FIFO queue a group with a message in flight is held back, and a call returns
        the messages of one group together, as many as it can, before the next group's (SQS
        ReceiveMessage: "for each MessageGroupId, the messages are sorted by time sent"; SQS
        Developer Guide, FIFO delivery logic: "returns as many messages with the same message
        group ID as possible").

        On a RabbitMQ queue it is ``basic.get``, once per message: a pulled message has no
        visibility timeout and stays unacked until it is acked or nacked (use
        :meth:`Consumer.get` to pull on a channel that can close).

        Returns ``[]`` when nothing is ready (long polling is not modelled: move the clock).
        """
        return self._pull(max_messages, visibility_timeout, None)

    def _pull(
        self, max_messages: Any, visibility_timeout: Any, channel: Consumer | None
    ) -> list[Delivery]:
        if type(max_messages) is not int or not 1 <= max_messages <= RECEIVE_MAX:
            check_int(  # raises, naming what is allowed
                "max_messages",
                max_messages,
                1,
                RECEIVE_MAX,
                "messages per receive",
                "SQS ReceiveMessage",
                RECEIVE_MAX,
            )
        if self.type.pull_has_visibility_timeout:
            if channel is not None:
                raise InvalidArgument(
                    f"get() on SQS queue {self.name!r}: basic.get is RabbitMQ's. Use "
                    "queue.receive(), which hides the message for the visibility timeout."
                )
            if visibility_timeout is None:
                visibility_timeout = self.visibility_timeout
            else:
                check_visibility("visibility_timeout", visibility_timeout)
        elif visibility_timeout is not None:
            raise InvalidArgument(
                f"visibility_timeout={visibility_timeout!r} on {self.queue_type} queue "
                f"{self.name!r}: RabbitMQ's basic.get has no visibility timeout (a pulled "
                "message stays unacked until ack, nack or channel close). Leave it out."
            )
        now = self.catch_up()
        deliveries = []
        if self.fifo:
            for record in self._oldest_groups(max_messages):
                deliveries.append(self._deliver(record, now, channel, visibility_timeout))
        else:
            while self._ready and len(deliveries) < max_messages:
                record = self._take_oldest()
                deliveries.append(self._deliver(record, now, channel, visibility_timeout))
        return deliveries

    def _take_oldest(self) -> Record:
        """Take the oldest ready message out of the ready set (a best-effort SQS standard queue
        takes one of the oldest few, at random)."""
        if self._random is None:
            while True:  # the heap's top, skipping positions whose record left the ready set
                record = self._ready.pop(heappop(self._order), None)
                if record is not None:
                    return record
        window = []
        while len(window) < REORDER_WINDOW and len(window) < len(self._ready):
            window.append(self._pop_position())
        chosen = window.pop(self._random.randrange(len(window)))
        for position in window:
            heappush(self._order, position)
        return self._ready.pop(chosen)

    def _pop_position(self) -> int:
        """The smallest position of a ready message, off the heap (stale ones are dropped)."""
        while True:
            position = heappop(self._order)
            if position in self._ready:
                return position

    def _oldest_groups(self, max_messages: int) -> list[Record]:
        """FIFO pull: the ready messages of free groups, group by group, oldest group first."""
        by_group: dict[Any, list[Record]] = {}
        for position in sorted(self._ready):
            record = self._ready[position]
            group = record.message.group
            if group not in self._groups_in_flight:
                by_group.setdefault(group, []).append(record)
        taken = [r for records in by_group.values() for r in records][:max_messages]
        for record in taken:
            del self._ready[record.position]
        return taken

    # --- 2b. push: consume ---------------------------------------------------------------------

    def consume(self, name: str | None = None, *, prefetch: int = 0) -> Consumer:
        """Register a push consumer (RabbitMQ ``basic.consume`` after ``basic.qos(prefetch)``).

        ``name`` defaults to ``"c1"``, ``"c2"``... and is unique per queue. ``prefetch`` caps
        its unacked deliveries (0 = unlimited, the AMQP default; 0..65535). Ready messages are
        pushed to it at once. SQS has no push consumers: on an SQS queue this is a deliberate
        extra that behaves as RabbitMQ does.
        """
        if name is not None and (not isinstance(name, str) or not name):
            raise InvalidType(
                f"name={name!r} is not a non-empty str. Pass e.g. name='worker-1', or leave it out."
            )
        check_int(
            "prefetch",
            prefetch,
            0,
            PREFETCH_MAX,
            "unacked deliveries (0 = unlimited)",
            "AMQP basic.qos",
            10,
        )
        taken = {c.name for c in self._consumers}
        if name in taken:
            raise AlreadyExists(
                f"name={name!r} is already a consumer of queue {self.name!r}: consumer names are "
                "unique per queue. Pick another name, or close that consumer first."
            )
        now = self.catch_up()
        while name is None or name in taken:
            self._consumer_names += 1
            name = f"c{self._consumer_names}"
        consumer = Consumer(self, name, prefetch)
        self._consumers.append(consumer)
        self._rejoin(consumer)  # a new consumer joins the back of the rotation
        self._after_change(now)
        return consumer

    def _dispatch(self, now: float) -> None:
        """Push ready messages, oldest first, to the consumer at the front of the rotation.

        This is RabbitMQ's rotation (``rabbit_queue_consumers:deliver``): the consumer at the
        front gets the next message and goes to the back. A consumer found at the front with
        no room under its prefetch limit is *blocked*: it leaves the rotation, and rejoins at
        the back when an ack gives it room (``unblock``). So among consumers that were
        waiting for room, the one that freed up first is served first. On a FIFO queue a group
        with a message in flight is held back.
        """
        while self._rotation and self._ready:
            consumer = self._rotation.popleft()
            if not consumer.has_room():  # blocked until an ack frees room (see _rejoin)
                consumer._in_rotation = False
                continue
            record = self._oldest_free_message()
            if record is None:  # FIFO: every ready message's group is busy
                self._rotation.appendleft(consumer)
                return
            self._deliver(record, now, consumer, None, pushed=True)
            if self.type.quorum_returns and not consumer.has_room():
                # Quorum: a consumer that just used its last room leaves the line at once, and
                # rejoins at the back when an ack frees room, so consumers are served in the
                # order they got room (rabbit_fifo; a classic queue keeps its turn).
                consumer._in_rotation = False
            else:
                self._rotation.append(consumer)

    def _oldest_free_message(self) -> Record | None:
        """Take the oldest ready message out of the ready set; on a FIFO queue, the oldest whose
        group has nothing in flight. None if there is none."""
        if not self.fifo:
            return self._take_oldest()
        held = []
        found = None
        while self._order:
            position = heappop(self._order)
            record = self._ready.get(position)
            if record is None:
                continue
            if record.message.group in self._groups_in_flight:
                held.append(position)
                continue
            found = self._ready.pop(position)
            break
        for position in held:
            heappush(self._order, position)
        return found

    def _rejoin(self, consumer: Consumer) -> None:
        """Put ``consumer`` at the back of the rotation, if it has room and is not in it."""
        if not consumer._in_rotation and consumer.has_room():
            consumer._in_rotation = True
            self._rotation.append(consumer)

    def _close_consumer(self, consumer: Consumer, how: str) -> None:
        now = self.catch_up()
        consumer._open = False
        self._consumers.remove(consumer)
        if consumer._in_rotation:
            self._rotation.remove(consumer)
            consumer._in_rotation = False
        for tag in list(consumer._unacked):
            self._give_back(self._in_flight[tag], now, how)
        consumer._inbox.clear()
        self._after_change(now)

    # --- 2c. a delivery, pulled or pushed --------------------------------------------------------

    def _deliver(
        self,
        record: Record,
        now: float,
        holder: Consumer | None,
        visibility_timeout: float | None,
        *,
        pushed: bool = False,
    ) -> Delivery:
        """Hand ``record`` (already out of the ready set) to a taker: it is in flight now."""
        self._tags += 1
        tag = self._tags
        if record.tag in self._visible_again:  # its last receipt stops working now
            del self._visible_again[record.tag]
            self._retired[record.tag] = f"the message was received again (delivery tag {tag})"
        record.state = IN_FLIGHT
        record.receives += 1
        record.tag = tag
        record.holder = holder
        self._in_flight[tag] = record
        if self.fifo:
            group = record.message.group
            self._groups_in_flight[group] = self._groups_in_flight.get(group, 0) + 1
        if visibility_timeout is not None:  # SQS: hidden until the timeout ends
            record.received_at = now
            record.visible_at = now + visibility_timeout
            self._schedule_rule(record.visible_at, VISIBILITY_ENDS, record)
        else:
            record.visible_at = NEVER
        message = record.message
        if record.returns and self.type.limit_counts == "returns":
            # A quorum queue tells a consumer how often the message came back.
            message = replace(
                message, headers={**message.headers, "x-delivery-count": record.returns}
            )
        delivery = Delivery(
            message,
            self.name,
            tag,
            None,
            record.receives,
            record.receives > 1,
            None if holder is None else holder.name,
            record.exchange,
        )
        record.delivery = delivery
        if record.receives > 1:
            self._counts["redelivered"] += 1
        if holder is not None:
            holder._unacked[tag] = delivery
            if pushed:
                holder._inbox.append(delivery)
            else:
                holder._got.add(tag)
        return delivery

    # --- 3. settling: ack, nack, visibility --------------------------------------------------------

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
        tag = self._tag_of(delivery)
        now = self.catch_up()
        record = self._find(delivery, tag)
        self._take_out(record)
        self._counts["acked"] += 1
        self._after_change(now)

    delete = ack

    def nack(self, delivery: Delivery | str | int, requeue: bool = True) -> None:
        """Give a delivery back (RabbitMQ ``basic.nack``).

        ``requeue=True``: the message returns to the ready set (to its original position, or
        to the back on a quorum queue) and its next delivery has ``redelivered=True``; past the
        delivery limit it is dead-lettered with reason ``'delivery_limit'`` instead (see
        :meth:`_give_back`). ``requeue=False``: it is dead-lettered with reason ``'rejected'``
        (dropped if the queue has no ``dead_letter``, as RabbitMQ does).

        SQS has no nack; its nearest call is ChangeMessageVisibility with timeout 0.
        """
        if not isinstance(requeue, bool):
            raise InvalidType(
                f"requeue={requeue!r} is not a bool. Pass True (put it back) or False (dead-letter it)."
            )
        tag = self._tag_of(delivery)
        now = self.catch_up()
        record = self._find(delivery, tag)
        if record.state == IN_FLIGHT and requeue:
            self._give_back(record, now, "nack")
        elif requeue:  # visible again already: settling its receipt is all there is to do
            del self._visible_again[tag]
        else:
            self._take_out(record)
            self._dead_letter(record, "rejected", now)
        self._after_change(now)

    def reject(self, delivery: Delivery | str | int, requeue: bool = True) -> None:
        """Reject a delivery (RabbitMQ ``basic.reject``): :meth:`nack` for one delivery."""
        self.nack(delivery, requeue)

    def change_visibility(self, delivery: Delivery | str | int, timeout: float) -> None:
        """Make a received message visible again ``timeout`` seconds FROM NOW (0..43200).

        SQS ChangeMessageVisibility: the countdown restarts at the call; 0 makes the message
        visible at once; a message cannot stay in flight more than 12 hours after the receive
        that returned it (a longer request is refused). Only pulled deliveries on an SQS queue
        have a visibility timeout. A message that is visible again cannot be changed (SQS:
        MessageNotInflight).
        """
        check_visibility("timeout", timeout, who="SQS ChangeMessageVisibility")
        tag = self._tag_of(delivery)
        now = self.catch_up()
        record = self._find(delivery, tag)
        if record.state != IN_FLIGHT:
            raise StaleReceipt(
                f"delivery tag {tag} of queue {self.name!r} is not in flight: its visibility "
                "timeout ran out and the message is visible again (SQS: MessageNotInflight). "
                "Receive it again to get a new receipt."
            )
        if record.holder is not None and tag not in record.holder._got:
            raise InvalidArgument(
                f"delivery tag {tag} was pushed to consumer {record.holder.name!r}: pushed "
                "deliveries have no visibility timeout (RabbitMQ holds them until ack or channel "
                "close). Use change_visibility() on deliveries from receive()."
            )
        if record.visible_at == NEVER:
            raise InvalidArgument(
                f"delivery tag {tag} came from basic.get on {self.queue_type} queue "
                f"{self.name!r}: RabbitMQ has no visibility timeout. Ack or nack it instead."
            )
        used = now - record.received_at
        if used + timeout > VISIBILITY_MAX:
            raise OutOfRange(
                f"timeout={timeout!r} is out of range for this message: it has been in flight "
                f"{used:g} s since it was received, and SQS allows at most {VISIBILITY_MAX} "
                f"seconds (12 hours) in all. Pass at most {VISIBILITY_MAX - used:g}."
            )
        record.visible_at = now + timeout
        self._schedule_rule(record.visible_at, VISIBILITY_ENDS, record)
        if timeout == 0:
            self.catch_up()

    # --- 3b. a message comes back ----------------------------------------------------------------

    def _give_back(self, record: Record, now: float, how: str) -> None:
        """An in-flight message comes back unacked: ``how`` is "nack", "timeout", "closed" or
        "crashed". This is where the delivery limit applies.

        - SQS ``max_receive_count=N`` counts *receives*: a message received N times is
          dead-lettered when it comes back (SQS: "when the ReceiveCount for a message exceeds
          the maxReceiveCount", checked by SQS at the next receive; see the module docstring).
        - A quorum queue's ``delivery_limit=N`` counts *returns* (``x-delivery-count``): the
          message is dead-lettered when it comes back for the (N+1)-th time, so it was
          delivered N+1 times (``rabbit_fifo:return_one/8``: ``DeliveryCount > DeliveryLimit``).
        - A classic queue has no delivery limit.

        Otherwise a message past its TTL expires (RabbitMQ), or it is ready again: at its
        original position, or at the back on a quorum queue.
        """
        tag = record.tag
        holder = record.holder.name if record.holder is not None else ""
        self._take_out(record)
        record.returns += 1
        if self._past_delivery_limit(record):
            self._dead_letter(record, "delivery_limit", now)
            limit = self.max_receive_count if self.delivery_limit is None else self.delivery_limit
            outcome = (
                f"it was dead-lettered (delivery_limit: delivered {record.receives} times, "
                f"limit {limit})"
            )
        elif record.expires_at <= now:
            self._dead_letter(record, "expired", now)
            outcome = "it was dead-lettered (expired)"
        else:
            self._requeue_position(record, how)
            self._make_ready(record)
            self._counts["requeued"] += 1
            if how == "timeout":  # SQS: the latest receipt works until the next receive
                self._visible_again[tag] = record
                return
            outcome = "it was requeued"
        if how == "timeout":
            self._retired[tag] = f"its visibility timeout ran out and {outcome}"
        elif how != "nack":  # a nacked tag is settled: using it again is AlreadyAcknowledged
            self._retired[tag] = f"consumer {holder!r} {how} before settling it and {outcome}"

    def _requeue_position(self, record: Record, how: str) -> None:
        """Where a message given back waits, as RabbitMQ 3.10 does it (checked against a live
        broker in ``tests/test_differential_queues.py``).

        Classic queues and SQS: at its original place, ahead of everything published after it.
        Quorum queues (``rabbit_fifo``): a plain nack with no delivery limit re-enqueues the
        message at the back; every other return (a nack or reject when ``x-delivery-limit`` is
        set, the unacked messages of a closed channel) goes to rabbit_fifo's *returns* list,
        which is served before the rest of the queue, in the order the messages came back.
        """
        if not self.type.quorum_returns:
            return  # the position it had
        if how == "nack" and self.delivery_limit is None:
            record.position = self._next_position()  # the back of the queue
        else:  # the returns list: below every ordinary position, in the order of return
            self._positions_returned += 1
            record.position = self._positions_returned - (1 << 62)

    def _past_delivery_limit(self, record: Record) -> bool:
        counts = self.type.limit_counts
        if counts == "receives" and self.max_receive_count is not None:
            return record.receives >= self.max_receive_count
        if counts == "returns" and self.delivery_limit is not None:
            return record.returns > self.delivery_limit
        return False

    def _take_out(self, record: Record, why: str | None = None) -> None:
        """Take ``record`` out of wherever it is (ready, delayed or in flight): it is gone.

        ``why``, if given, is kept as the reason its live receipt no longer works."""
        tag = record.tag
        state = record.state
        if state == READY:
            del self._ready[record.position]  # its heap entry is skipped when it comes up
            if self._visible_again.pop(tag, None) is not None and why:
                self._retired[tag] = why
        elif state == IN_FLIGHT:
            del self._in_flight[tag]
            holder = record.holder
            if holder is not None:
                del holder._unacked[tag]
                holder._got.discard(tag)
                record.holder = None
                self._rejoin(holder)
            if self.fifo:
                group = record.message.group
                self._groups_in_flight[group] -= 1
                if not self._groups_in_flight[group]:
                    del self._groups_in_flight[group]
            if why:
                self._retired[tag] = why
        elif state == DELAYED:
            self._delayed -= 1
        record.state = GONE

    # --- 4. dead letters and discards ------------------------------------------------------------

    def _dead_letter(self, record: Record, reason: str, time: float) -> None:
        """Dead-letter ``record`` (already taken out) with one of RabbitMQ's reasons.

        Its ``x-death`` entry gets ``original-expiration`` whenever it was sent with a
        per-message TTL, whatever the reason (``mc:record_death`` in rabbitmq-server keeps
        the expiration for every death). With no ``dead_letter`` target the message is
        dropped, as RabbitMQ does; an expired or overflowing one is reported to ``on_discard``.
        """
        self._counts["dead_lettered"] += 1
        self._reasons[reason] += 1
        if self._dead_letter_target is None:
            self._counts["discarded"] += 1
            if reason in ("expired", "maxlen"):
                self._discarded(record, reason)
            return
        dead = record_death(
            record.message,
            queue=self.name,
            reason=reason,
            time=time,
            exchange=record.exchange,
            original_expiration=record.ttl,
        )
        self._dead_letter_target.receive_dead_letter(dead)

    def _discarded(self, record: Record, reason: str) -> None:
        if self._on_discard is not None:
            self._on_discard(record.message, reason)

    def _after_change(self, now: float) -> None:
        """After anything that may free a consumer or fill the queue: push, then trim."""
        if self._rotation and self._ready:
            self._dispatch(now)
        if self.max_length is not None:
            while len(self._ready) > self.max_length:  # overflow "drop-head"
                record = self._ready[self._pop_position()]
                self._take_out(record, "the queue was over max_length and dropped it")
                self._dead_letter(record, "maxlen", now)

    # --- time: one schedule -----------------------------------------------------------------------

    def _schedule_rule(self, time: float, rule: int, record: Record) -> None:
        """Note that ``rule`` may fall due for ``record`` at ``time``. An entry that no longer
        holds when it comes up (the message was acked, re-timed...) is skipped then."""
        heappush(self._schedule, (time, rule, next(self._sequence), record))
        if time < self._next_due:
            self._next_due = time
        if len(self._schedule) > self._tidy_at:
            self._tidy_schedule()

    def catch_up(self) -> float:
        """Apply every time rule that is due by now, earliest first; return the clock's time.

        Every public call starts here. A dead-letter queue first lets its source queues catch
        up, so the dead letters they owe by now have arrived.
        """
        now = self.clock.now()
        if now >= self._next_due:  # one comparison when nothing is due
            self._apply_due(now)
        return now

    def _apply_due(self, now: float) -> None:
        if self._catching_up:  # a dead letter from a source arrived while this queue caught up
            return
        self._catching_up = True
        try:
            for source in self._sources.values():
                source.catch_up()
            changed = False
            while self._schedule and self._schedule[0][0] <= now:
                time, rule, _, record = heappop(self._schedule)
                changed = self._apply(rule, time, record) or changed
        finally:
            self._catching_up = False
        if self._sources:
            self._next_due = -NEVER
        else:
            self._next_due = self._schedule[0][0] if self._schedule else NEVER
        if changed:
            self._after_change(now)

    def _apply(self, rule: int, time: float, record: Record) -> bool:
        """Apply one time rule that fell due at ``time``; return whether anything changed."""
        if not self._still_due(rule, time, record):
            return False
        if rule == DELAY_ENDS:
            self._delayed -= 1
            if record.expires_at <= time:  # its TTL ran out while it was delayed
                record.state = GONE
                self._dead_letter(record, "expired", record.expires_at)
            else:
                self._make_ready(record)
        elif rule == VISIBILITY_ENDS:
            self._give_back(record, time, "timeout")
        elif rule == TTL_ENDS:  # only a waiting message expires; a returning one: _give_back
            self._take_out(record, "the message expired (TTL) and was dead-lettered")
            self._dead_letter(record, "expired", time)
        elif rule == RETENTION_ENDS:
            self._take_out(record, "its retention period ended and it was deleted")
            self._counts["expired"] += 1
            self._discarded(record, "retention")
        return True

    @staticmethod
    def _still_due(rule: int, time: float, record: Record) -> bool:
        if rule == DELAY_ENDS:
            return record.state == DELAYED
        if rule == VISIBILITY_ENDS:
            return record.state == IN_FLIGHT and record.visible_at == time
        if rule == TTL_ENDS:
            return record.state == READY and record.expires_at == time
        return record.state != GONE and record.retain_until == time

    def _tidy_schedule(self) -> None:
        """Drop the entries of messages that are gone (acked long before their deadline), so
        that the schedule stays about as long as the queue is."""
        self._schedule = [entry for entry in self._schedule if entry[3].state != GONE]
        heapify(self._schedule)
        self._tidy_at = 2 * len(self._schedule) + 256  # so tidying costs O(1) per entry

    # --- looking ----------------------------------------------------------------------------------

    def __len__(self) -> int:
        """The number of READY messages (not in flight, not delayed)."""
        self.catch_up()
        return len(self._ready)

    def peek(self) -> list[Message]:
        """The ready messages in the order they will be delivered. Changes nothing."""
        self.catch_up()
        return [self._ready[p].message for p in sorted(self._ready)]

    def in_flight(self) -> list[Delivery]:
        """The deliveries in flight now (pulled and pushed), by delivery tag."""
        self.catch_up()
        return [self._in_flight[tag].delivery for tag in sorted(self._in_flight)]

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
        self.catch_up()
        c = self._counts
        return {
            "ready": len(self._ready),
            "in_flight": len(self._in_flight),
            "delayed": self._delayed,
            "consumers": len(self._consumers),
            "enqueued": c["enqueued"],
            "published": c["published"],
            "deduplicated": c["deduplicated"],
            "delivered": self._tags,  # every delivery takes the next tag
            "redelivered": c["redelivered"],
            "acked": c["acked"],
            "requeued": c["requeued"],
            "dead_lettered": c["dead_lettered"],
            "dead_letter_reasons": dict(self._reasons),
            "discarded": c["discarded"],
            "expired": c["expired"],
            "redriven": c["redriven"],
            "purged": c["purged"],
        }

    def purge(self) -> int:
        """Delete every READY message; return how many (RabbitMQ ``queue.purge``). In-flight
        messages stay, which differs from SQS PurgeQueue, which deletes them too."""
        self.catch_up()
        records = [self._ready[p] for p in sorted(self._ready)]
        for record in records:
            self._take_out(record, "the queue was purged")
            self._discarded(record, "purged")
        self._order.clear()
        self._counts["purged"] += len(records)
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
            check_int("max_messages", max_messages, 1, None, "messages", "redrive", 10)
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
        self.catch_up()
        records = [self._ready[p] for p in sorted(self._ready)][:max_messages]
        plan = plan_redrive([r.message for r in records], self._sources, to)
        for record, (message, target) in zip(records, plan, strict=True):
            self._take_out(record, "the message was redriven to its source queue")
            self._counts["redriven"] += 1
            target._take_redriven(message)
        return len(plan)

    def _take_redriven(self, message: Message) -> None:
        now = self.catch_up()
        self._accept(message, now, 0, None, now, "")

    # --- receipts ---------------------------------------------------------------------------------

    def _tag_of(self, delivery: Any) -> int:
        """The delivery tag that a Delivery, receipt handle or tag stands for. Reads no state."""
        if isinstance(delivery, Delivery):
            if delivery.queue != self.name:
                raise UnknownReceipt(
                    f"delivery {delivery!r} came from queue {delivery.queue!r}, not {self.name!r}. "
                    f"Settle it on queue {delivery.queue!r}."
                )
            return delivery.delivery_tag
        if type(delivery) is int:
            return delivery
        if isinstance(delivery, str):
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

    def _find(self, delivery: Any, tag: int) -> Record:
        """The record a live receipt names: in flight, or (SQS) visible again with this as its
        latest receipt. Otherwise raise the error that says why the receipt does not work."""
        record = self._in_flight.get(tag) or self._visible_again.get(tag)
        if record is not None and (
            not isinstance(delivery, str) or delivery == self._handle(record)
        ):
            return record
        shown = f"receipt {delivery!r}" if isinstance(delivery, str) else f"delivery tag {tag}"
        if record is not None:
            raise UnknownReceipt(
                f"{shown} was never issued by queue {self.name!r}: delivery tag {tag} belongs to "
                "another message. Pass the receipt handle exactly as receive() returned it."
            )
        why = self._retired.get(tag)
        if why is not None:
            raise StaleReceipt(
                f"{shown} of queue {self.name!r} is stale: {why}. Use the newest receipt (from "
                "the latest receive or delivery). Real SQS would answer success here without "
                "deleting anything; the reference queue raises so that the lost delete shows."
            )
        if 1 <= tag <= self._tags:
            raise AlreadyAcknowledged(
                f"{shown} of queue {self.name!r} was already acked, nacked or rejected: a "
                "delivery is settled once (RabbitMQ closes the channel with PRECONDITION_FAILED - "
                "unknown delivery tag). Remove the second ack."
            )
        raise UnknownReceipt(
            f"{shown} was never issued by queue {self.name!r} (it has issued delivery tags "
            f"1..{self._tags}). Pass a Delivery, receipt handle or tag from this queue."
        )

    def _handle(self, record: Record) -> str:
        return f"{self.name}:{record.message.id}:{record.tag}"

    # --- display --------------------------------------------------------------------------------

    def __repr__(self) -> str:
        self.catch_up()
        parts = [f"{len(self._ready)} ready", f"{len(self._in_flight)} in flight"]
        if self._delayed:
            parts.append(f"{self._delayed} delayed")
        if self.type is not SQS:
            parts.append(self.queue_type)
        if self.fifo:
            parts.append("fifo")
        target = self._dead_letter_target
        if target is not None:
            parts.append(f"dlq={getattr(target, 'name', target)!r}")
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
