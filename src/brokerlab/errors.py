"""Errors: one hierarchy for everything the reference broker can refuse.

Every error a learner can trigger is a subclass of :class:`BrokerError`. Where Python has a
habit (a value out of range is a ``ValueError``, a wrong type is a ``TypeError``), the error is
*also* a subclass of that built-in, so ``except ValueError`` keeps working.

Messages follow one pattern, so they teach rather than just refuse::

    <parameter>=<value> is <what is wrong>: <what is allowed>. <how to fix it>.

for example::

    visibility_timeout=-5 is out of range: SQS allows 0..43200 seconds (12 hours).
    Pass a value in that range, e.g. 30 (the default).

A call that raises changes nothing: the broker validates first and mutates after.

Modules may add their own subclasses here (at the end of the file), so that a learner can find
every error the course can raise in one place.
"""

from __future__ import annotations

from typing import Any


class BrokerError(Exception):
    """Base class of every error the reference broker raises on purpose."""


# --- bad arguments ------------------------------------------------------------------------------


class InvalidArgument(BrokerError, ValueError):
    """An argument has the right type but a value the broker does not allow."""


class OutOfRange(InvalidArgument):
    """A number outside the range the modelled broker accepts."""


class InvalidType(BrokerError, TypeError):
    """An argument of the wrong type (for example a payload that is not bytes or str)."""


def out_of_range(
    name: str,
    value: Any,
    low: Any,
    high: Any,
    unit: str = "",
    *,
    who: str = "",
    example: Any = None,
) -> OutOfRange:
    """Build the standard 'out of range' error.

    >>> str(out_of_range("visibility_timeout", -5, 0, 43200, "seconds", who="SQS", example=30))
    'visibility_timeout=-5 is out of range: SQS allows 0..43200 seconds. Pass a value in that range, e.g. 30.'
    """
    allowed = (
        f"{who + ' allows' if who else 'allowed is'} {low}..{high}{' ' + unit if unit else ''}"
    )
    fix = (
        "Pass a value in that range" + (f", e.g. {example!r}" if example is not None else "") + "."
    )
    return OutOfRange(f"{name}={value!r} is out of range: {allowed}. {fix}")


def check_range(
    name: str,
    value: Any,
    low: Any,
    high: Any,
    unit: str = "",
    *,
    who: str = "",
    example: Any = None,
) -> Any:
    """Return ``value`` if it is a real number in ``low..high`` (inclusive), else raise.

    Booleans are refused even though Python treats them as ints: ``delay=True`` is a bug.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidType(
            f"{name}={value!r} is a {type(value).__name__}: a number is needed "
            f"({low}..{high}{' ' + unit if unit else ''}). Pass an int or float."
        )
    if value != value or not (low <= value <= high):  # value != value catches NaN
        raise out_of_range(name, value, low, high, unit, who=who, example=example)
    return value


def check_whole(name: str, value: Any, low: int, high: int, unit: str = "", *, example: int) -> int:
    """Return ``value`` if it is a whole number (an int, not a bool) in ``low..high``, else raise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidType(
            f"{name}={value!r} must be a whole number{' of ' + unit if unit else ''}, "
            f"e.g. {name}={example}."
        )
    return check_range(name, value, low, high, unit, example=example)


def check_choice(name: str, value: Any, allowed: tuple[Any, ...] | list[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise :class:`InvalidArgument`."""
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise InvalidArgument(f"{name}={value!r} is not allowed: use one of {choices}.")
    return value


# --- things that do not exist ---------------------------------------------------------------------


class NotFound(BrokerError, KeyError):
    """A name (queue, exchange, topic, consumer, group...) that is not declared.

    ``KeyError`` quotes its message when printed; this class prints it plainly.
    """

    def __str__(self) -> str:  # KeyError would add quotes around the message
        return str(self.args[0]) if self.args else ""


class UnknownQueue(NotFound):
    pass


class UnknownExchange(NotFound):
    pass


class UnknownTopic(NotFound):
    pass


class UnknownConsumer(NotFound):
    pass


class AlreadyExists(BrokerError):
    """Declaring a name again with different settings (RabbitMQ: PRECONDITION_FAILED)."""


# --- acknowledgements and receipts ------------------------------------------------------------------


class ReceiptError(BrokerError):
    """Base class of errors about acknowledging a delivery."""


class UnknownReceipt(ReceiptError, KeyError):
    """A receipt handle or delivery tag the queue never issued (RabbitMQ: PRECONDITION_FAILED -
    unknown delivery tag; SQS: ReceiptHandleIsInvalid)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class StaleReceipt(ReceiptError):
    """A receipt handle that was valid once but has been replaced by a newer receive (SQS), or
    a delivery that was already acknowledged (acking twice is an error in RabbitMQ)."""


class AlreadyAcknowledged(StaleReceipt):
    """The delivery was acked, nacked or rejected before."""


# --- queue and FIFO rules --------------------------------------------------------------------------


class FifoError(BrokerError, ValueError):
    """A FIFO rule was broken: no group id, no dedup id without content-based dedup, a per-message
    delay on a FIFO queue."""


class DeadLetterConfigError(InvalidArgument):
    """A dead-letter queue that cannot be used (for example a FIFO DLQ for a standard queue)."""


# --- routing -------------------------------------------------------------------------------------------


class RoutingError(BrokerError):
    """Base class of routing errors (bad binding arguments, bad patterns)."""


class InvalidBinding(RoutingError, ValueError):
    """A binding the exchange type cannot accept (for example an unknown x-match value)."""


class Unroutable(RoutingError):
    """A ``mandatory=True`` publish that no queue took, on a broker with publisher confirms on
    (:meth:`brokerlab.broker.Broker.confirm_delivery`).

    This is pika's ``UnroutableError``: with ``channel.confirm_delivery()``,
    ``BlockingChannel.basic_publish(..., mandatory=True)`` raises it when the broker sent the
    message back (``basic.return``, 312 NO_ROUTE) before confirming it. ``messages`` holds the
    returned message(s), as pika's ``UnroutableError.messages`` does (here
    :class:`brokerlab.broker.Returned` items); the broker has also recorded them in
    ``broker.returned``. Without confirms nothing is raised: the return is only recorded.
    """

    def __init__(self, text: str, messages: list[Any] | None = None) -> None:
        super().__init__(text)
        self.messages: list[Any] = list(messages or [])


# --- the log ---------------------------------------------------------------------------------------------


class LogError(BrokerError):
    """Base class of errors from the Kafka-style partitioned log."""


# --- simulation and history ---------------------------------------------------------------------------


class ScenarioError(InvalidArgument):
    """A scenario with impossible values, rejected before anything runs."""


class HistoryFormatError(BrokerError, ValueError):
    """A history file that cannot be read; the message gives the line number and the reason."""


# --- exchanges and the broker (brokerlab.exchange, brokerlab.broker) -----------------------------


class AccessRefused(InvalidArgument):
    """An operation RabbitMQ refuses with 403 ACCESS_REFUSED: binding to the default exchange,
    declaring a queue or exchange whose name starts with the reserved prefix ``amq.``."""


# --- the partitioned log (brokerlab.log, producer, transactions, consumer_group) ------------------


class UnknownGroup(NotFound):
    """A consumer group that has never had a member or a committed offset."""


class OutOfOrderSequence(LogError):
    """An idempotent producer's batch whose first sequence number is not last + 1 for that
    producer and partition (Kafka: ``OutOfOrderSequenceException``): a batch in between is
    missing."""


class ProducerFenced(LogError):
    """A producer whose epoch is stale: a newer producer with the same ``transactional_id``
    called ``init_transactions()``, or the coordinator aborted its transaction on timeout
    (Kafka: ``ProducerFencedException``)."""


class TransactionStateError(LogError):
    """A transactional call in the wrong state, e.g. ``send`` before ``begin_transaction()``
    (Kafka: ``IllegalStateException`` from the transaction manager)."""


class NoOffsetForPartition(LogError):
    """``auto_offset_reset='none'`` and the group has no committed offset for a partition
    (Kafka: ``NoOffsetForPartitionException``)."""


class OffsetOutOfRange(LogError):
    """``auto_offset_reset='none'`` and the position is outside the retained log
    (Kafka: ``OffsetOutOfRangeException``)."""


class CommitFailed(LogError):
    """A commit from a member that is no longer in its group, e.g. after it exceeded
    ``max_poll_interval_ms`` (Kafka: ``CommitFailedException``)."""


class NotAssigned(LogError, ValueError):
    """A seek, commit or position call for a partition this consumer is not assigned."""


class InconsistentGroupProtocol(LogError, ValueError):
    """A member joining a group with an assignor the group's members do not use
    (Kafka: ``InconsistentGroupProtocolException``)."""


class ConsumerClosed(LogError):
    """A call on a consumer or producer that was closed or crashed."""


# --- the simulation ----------------------------------------------------------------------------------


class PoisonMessage(BrokerError):
    """Raised by ``ctx.effect()`` in a simulated run for a *poison message*: one whose processing
    always fails (the ``poison_message`` fault). Catch it to reject the message
    (``ctx.nack(requeue=False)`` dead-letters it), or let it escape and the consumer crashes."""
