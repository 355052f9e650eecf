"""Dead letters: where a queue puts the messages it cannot deliver, and how they come back.

A queue *dead-letters* a message when it gives up on it. The four reasons are RabbitMQ's
(https://www.rabbitmq.com/docs/dlx), and the reference queue uses the same words:

================= ==============================================================================
``rejected``      a consumer rejected or nacked it with ``requeue=False``
``expired``       its time-to-live ran out (per-message ``ttl`` or the queue's ``message_ttl``)
``maxlen``        the queue was longer than ``max_length`` and dropped its head
``delivery_limit`` it passed the queue's delivery limit: received ``max_receive_count``
                  times (SQS ``maxReceiveCount`` in the redrive policy), or returned more
                  than ``delivery_limit`` times (RabbitMQ quorum queues' ``x-delivery-limit``)
================= ==============================================================================

Every dead-lettered message carries its **death history** in ``headers["x-death"]``: a list of
dicts, newest first, one per ``(queue, reason)`` pair, each with ``queue``, ``reason``,
``count``, ``time``, ``exchange`` and ``routing-keys`` (and ``original-expiration`` when the
message was sent with a per-message TTL, whatever it died of, as ``mc:record_death`` keeps it). Dying again in the same queue for the same reason does not add an
entry: it adds one to that entry's ``count`` and moves it to the front. The merged entry keeps
the ``time``, ``exchange`` and ``routing-keys`` of the *first* death for that pair (RabbitMQ's
``mc:record_death`` updates only the count and the last time; ``mc_amqpl`` reports the first
time as ``time``).

``exchange`` is the exchange the message was published to before it died in that queue, and
``routing-keys`` the routing keys it was published with (RabbitMQ docs, "Dead Letter Exchanges",
section "Dead-Lettered Messages", https://www.rabbitmq.com/docs/dlx: "exchange - the exchange
the message was published to (note that this will be a dead letter exchange if the message is
dead lettered multiple times)"; "routing-keys - the routing keys (including CC keys but excluding
BCC ones) the message was published with"). The queue passes the exchange each message came
through (:meth:`brokerlab.queue.Queue.enqueue`); a dead letter that a DLX routed on came through
the DLX, under the DLX routing key if the queue set one, so its next death records those, as
``rabbit_dead_letter:publish`` sets the message's exchange and routing keys before routing it.

The top-level headers ``x-first-death-queue/-reason/-exchange`` (set at the first death only) and
``x-last-death-queue/-reason/-exchange`` (set at every death, RabbitMQ 3.13+) are written from
the same values, as ``mc:record_death`` writes them, so the source of the latest death is one
lookup away.

A dead-letter target is anything with a ``name`` and a ``receive_dead_letter(message)`` method
(:class:`DeadLetterTarget`): a :class:`~brokerlab.queue.Queue` (SQS: a dead-letter queue) or an
exchange (RabbitMQ: a dead-letter exchange, which routes the message on).

*Redrive* moves messages from a dead-letter queue back to the queue they died in, once the bug
that killed them is fixed (SQS ``StartMessageMoveTask``; RabbitMQ has no built-in redrive, the
shovel plugin is used). The helpers here decide where each message goes;
:meth:`brokerlab.queue.Queue.redrive` does the moving.

Deliberate differences:

- ``time`` is the broker clock's seconds (virtual by default), not a wall-clock timestamp.
- A message put on a queue directly (``Queue.publish``, ``enqueue`` without ``exchange``, an
  SQS-style DLQ that another queue feeds, a redrive) records the exchange ``""``, as if it had
  been published to RabbitMQ's default exchange; its ``routing-keys`` are its ``key``
  (``[]`` if it has none), where RabbitMQ's default exchange would record the queue name.
- There are no CC/BCC headers, so ``routing-keys`` has at most the one key.
- The copy that is dead-lettered keeps its message ``id``; RabbitMQ gives it a new internal id
  but keeps the ``message_id`` property, which is what ``Message.id`` models.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from .errors import DeadLetterConfigError, InvalidArgument, InvalidType
from .exchange import check_exchange
from .message import Message

#: The dead-letter reasons, in RabbitMQ's words.
REASONS = ("rejected", "expired", "maxlen", "delivery_limit")


@runtime_checkable
class DeadLetterTarget(Protocol):
    """Where dead letters go: a queue (SQS DLQ) or an exchange (RabbitMQ DLX).

    ``receive_dead_letter`` gets a message whose ``x-death`` header is already updated. It
    must accept the message (or drop it knowingly); it must not raise for a valid message.
    """

    name: str

    def receive_dead_letter(self, message: Message) -> None: ...


def record_death(
    message: Message,
    *,
    queue: str,
    reason: str,
    time: float,
    exchange: str = "",
    original_expiration: float | None = None,
) -> Message:
    """Return a copy of ``message`` whose headers record one more death in ``queue``.

    The original message is not changed (an exchange may have routed the same object to other
    queues). ``exchange`` is the exchange the message came through into ``queue``; the routing
    keys are the message's ``key``. ``x-death`` is merged per ``(queue, reason)`` as RabbitMQ
    does: a repeat death adds one to that entry's ``count`` and moves it to the front, keeping
    the first ``time``, ``exchange`` and ``routing-keys``.

    >>> m = Message("m1", "hi", key="resize")
    >>> m1 = record_death(m, queue="jobs", reason="rejected", time=5.0, exchange="images")
    >>> m2 = record_death(m1, queue="jobs", reason="rejected", time=9.0, exchange="retry")
    >>> [(d["queue"], d["reason"], d["count"], d["time"], d["exchange"]) for d in m2.deaths]
    [('jobs', 'rejected', 2, 5.0, 'images')]
    >>> m2.headers["x-first-death-exchange"], m2.headers["x-last-death-exchange"]
    ('images', 'retry')
    >>> m.headers
    {}
    """
    if reason not in REASONS:
        raise InvalidArgument(
            f"reason={reason!r} is not a dead-letter reason: use one of "
            f"{', '.join(repr(r) for r in REASONS)}."
        )
    check_exchange(exchange)
    headers = dict(message.headers)
    old = headers.get("x-death")
    deaths: list[dict[str, Any]] = [dict(d) for d in old] if isinstance(old, (list, tuple)) else []
    for i, d in enumerate(deaths):
        if d.get("queue") == queue and d.get("reason") == reason:
            entry = deaths.pop(i)
            entry["count"] = int(entry.get("count", 1)) + 1
            break
    else:
        entry = {
            "queue": queue,
            "reason": reason,
            "count": 1,
            "time": time,
            "exchange": exchange,
            "routing-keys": [message.key] if message.key is not None else [],
        }
        if original_expiration is not None:
            entry["original-expiration"] = original_expiration
    deaths.insert(0, entry)
    headers["x-death"] = deaths
    if "x-first-death-queue" not in headers:
        headers["x-first-death-queue"] = queue
        headers["x-first-death-reason"] = reason
        headers["x-first-death-exchange"] = exchange
    headers["x-last-death-queue"] = queue
    headers["x-last-death-reason"] = reason
    headers["x-last-death-exchange"] = exchange
    return Message(
        message.id,
        message.payload,
        message.key,
        headers,
        message.timestamp,
        message.group,
        message.dedup_id,
    )


def death_count(message: Message, *, queue: str | None = None, reason: str | None = None) -> int:
    """How many times ``message`` died (optionally only in ``queue`` and/or for ``reason``)."""
    if not isinstance(message, Message):
        raise InvalidType(
            f"message={message!r} is a {type(message).__name__}: pass a Message, e.g. one taken "
            "from a dead-letter queue."
        )
    return sum(
        int(d.get("count", 1))
        for d in message.deaths
        if (queue is None or d.get("queue") == queue)
        and (reason is None or d.get("reason") == reason)
    )


def source_queue(message: Message) -> str | None:
    """The queue a dead letter last died in (where redrive sends it back), or ``None``."""
    last = message.headers.get("x-last-death-queue")
    if isinstance(last, str):
        return last
    deaths = message.deaths
    return deaths[0].get("queue") if deaths else None


def check_dead_letter_target(source: str, fifo: bool, target: Any) -> None:
    """Refuse a dead-letter target the source queue cannot use.

    - it must be ``None`` or have ``receive_dead_letter`` (InvalidType otherwise);
    - if it says whether it is FIFO, that must match the source: SQS requires "the dead-letter
      queue of a FIFO queue must also be a FIFO queue. Similarly, the dead-letter queue of a
      standard queue must also be a standard queue" (SQS Developer Guide, dead-letter queues).
    """
    if target is None:
        return
    if not callable(getattr(target, "receive_dead_letter", None)):
        raise InvalidType(
            f"dead_letter={target!r} cannot take dead letters. Pass a Queue, an object with a "
            "receive_dead_letter(message) method (for example an exchange), or None."
        )
    target_fifo = getattr(target, "fifo", None)
    if target_fifo is not None and bool(target_fifo) != bool(fifo):
        kind = "FIFO" if fifo else "standard"
        other = "FIFO" if target_fifo else "standard"
        raise DeadLetterConfigError(
            f"dead_letter={getattr(target, 'name', target)!r} is a {other} queue but {source!r} is "
            f"{kind}: SQS requires a dead-letter queue of the same type as its source. "
            f"Use a {kind} queue as the dead-letter queue."
        )


def plan_redrive(
    messages: list[Message], sources: dict[str, Any], to: Any = None
) -> list[tuple[Message, Any]]:
    """Decide where each dead letter goes back to, or raise before anything moves.

    ``sources`` maps queue names to the queues that dead-letter into this one. With ``to``,
    every message goes there (SQS: a custom destination). Otherwise each goes to the queue it
    last died in; a message whose source is unknown stops the whole redrive with
    :class:`DeadLetterConfigError`, so nothing is moved half-way.
    """
    plan: list[tuple[Message, Any]] = []
    for m in messages:
        if to is not None:
            plan.append((m, to))
            continue
        name = source_queue(m)
        target = sources.get(name) if name is not None else None
        if target is None:
            known = ", ".join(repr(n) for n in sorted(sources)) or "none"
            raise DeadLetterConfigError(
                f"message {m.id!r} came from queue {name!r}, which does not dead-letter into this "
                f"queue (known sources: {known}). Pass to=<queue> to choose where it goes."
            )
        plan.append((m, target))
    return plan
