"""Queue types: where RabbitMQ's queues and Amazon SQS follow different rules.

A :class:`~brokerlab.queue.Queue` is made with a *queue type* (RabbitMQ's word: the
``x-queue-type`` argument). Each type is one row of the table below; the queue's code reads
its rules from the row, so a learner can see every difference in one place.

============================ ================== ====================== =========================
rule                         ``"classic"``      ``"quorum"``           ``"sqs"`` (the default)
============================ ================== ====================== =========================
a message given back goes    to its original    a plain nack with no   to its original position
                             position           delivery limit: to the (SQS: best-effort order)
                                                back; any other return
                                                (a limit set, a closed
                                                channel): to the
                                                *returns* list, served
                                                before the rest
a pulled message             stays unacked      stays unacked until    is hidden for the
                             until ack, nack or ack, nack or channel   visibility timeout, then
                             channel close      close (``basic.get``)  visible again
                             (``basic.get``)
delivery limit               none               ``delivery_limit=N``:  ``max_receive_count=N``:
                                                counts *returns*; a    counts *receives*; a
                                                message is delivered   message is delivered N
                                                N+1 times              times
``x-delivery-count`` header  no                 yes, from the first    no
                                                return
retention                    none (kept until   none                   4 days (60 s .. 14 days)
                             consumed)
per-message delay            no                 no                     0..900 s
send limits                  none modelled      none modelled          body <= 1 MiB, XML
                                                                       characters only; group
                                                                       and dedup ids <= 128
                                                                       characters
============================ ================== ====================== =========================

Sources: RabbitMQ's consumer acknowledgement guide (https://www.rabbitmq.com/docs/confirms:
requeued messages go back "to their original position in the queue" where possible), its
quorum queue guide (https://www.rabbitmq.com/docs/quorum-queues, "Poison Message Handling") and
``rabbit_fifo:return_one/8`` (the message is dead-lettered with reason ``delivery_limit`` once
its delivery count is *greater than* the limit); the SQS Developer Guide (visibility timeout,
dead-letter queues: "when the ReceiveCount for a message exceeds the maxReceiveCount") and the
SQS message quotas page.

**Which RabbitMQ version.** The quorum row follows RabbitMQ 3.10 to 3.13, as observed on a real
3.10 broker (``tests/test_differential_queues.py`` compares the two): no default delivery limit;
a plain nack with requeue and no delivery limit re-enqueues the message at the back, while every
other return (a nack or reject when ``x-delivery-limit`` is set, the unacked messages of a
closed channel) goes to ``rabbit_fifo``'s *returns* list, served before the rest of the queue
(rabbitmq-server#6804). A quorum consumer that has used its last unit of prefetch leaves the
rotation at once, so consumers are served in the order they got room again. RabbitMQ 4.0 gave
quorum queues a default delivery limit of 20 (release notes 4.0.1, "Quorum Queues Now Have a
Default Redelivery Limit"; ``-1`` turns it off) and sends every return to the returns list.
Pass ``delivery_limit=20`` to get 4.0's limit; 4.0's requeue of a plain nack is not modelled (a
deliberate difference, named in the handbook).

**The SQS row with RabbitMQ's extras.** The default type is SQS, the queue the course starts
with. So that one queue can show both systems, it also accepts push consumers (SQS has none:
``consume()`` behaves as RabbitMQ's ``basic.consume``), ``nack`` (SQS's nearest call is
ChangeMessageVisibility to 0), a ``message_ttl`` and a ``max_length``. Each is named where it
happens in :mod:`brokerlab.queue`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import InvalidArgument, InvalidType, OutOfRange
from .message import body_size


@dataclass(frozen=True)
class QueueType:
    """The rules of one queue type (one column of the table in the module docstring)."""

    name: str
    system: str
    quorum_returns: bool  # rabbit_fifo's rules for a message given back (see the table); else
    # it keeps its original place
    pull_has_visibility_timeout: bool  # SQS ReceiveMessage; RabbitMQ basic.get has none
    limit_counts: str | None  # what the delivery limit counts: "receives", "returns" or None
    has_retention: bool  # SQS deletes old messages; RabbitMQ keeps them until consumed
    has_delay: bool  # SQS DelaySeconds
    sqs_send_limits: bool  # SQS's message size, body characters and id rules


CLASSIC = QueueType("classic", "RabbitMQ", False, False, None, False, False, False)
QUORUM = QueueType("quorum", "RabbitMQ", True, False, "returns", False, False, False)
SQS = QueueType("sqs", "Amazon SQS", False, True, "receives", True, True, True)

QUEUE_TYPES = {t.name: t for t in (CLASSIC, QUORUM, SQS)}


def queue_type(name: Any) -> QueueType:
    """The :class:`QueueType` called ``name``, or a clear error."""
    if not isinstance(name, str):
        raise InvalidType(
            f"queue_type={name!r} is a {type(name).__name__}: pass one of "
            f"{', '.join(repr(n) for n in QUEUE_TYPES)}."
        )
    if name not in QUEUE_TYPES:
        raise InvalidArgument(
            f"queue_type={name!r} is not a queue type: pass 'classic' or 'quorum' (RabbitMQ's "
            "x-queue-type) or 'sqs' (Amazon SQS, the default)."
        )
    return QUEUE_TYPES[name]


# --- SQS's send limits ------------------------------------------------------------------------

#: The largest message SQS takes: 1 MiB since August 2025 (it was 256 KiB). SQS message quotas;
#: the queue attribute MaximumMessageSize ranges 1,024 .. 1,048,576 bytes.
SQS_MAX_MESSAGE_SIZE = 1_048_576

#: The characters a message body may contain (SQS SendMessage; the XML 1.0 Char production).
_BAD_BODY_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

#: MessageGroupId and MessageDeduplicationId: 1..128 characters, alphanumeric or punctuation.
SQS_ID_MAX = 128
_ID_CHARS = re.compile(r"[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]+")


def check_sqs_body(payload: Any, queue: str) -> None:
    """Refuse a body SQS would refuse: over 1 MiB, or with a character outside XML's set.

    Real SQS now replaces a bad character with U+FFFD instead of refusing the message (the
    SendMessage API reference says so, while the quotas page still says "rejected"); the
    reference queue refuses it, so that the changed body does not pass unnoticed.
    """
    if isinstance(payload, str):  # JSON payloads are sent as ASCII text, bytes as they are
        bad = _BAD_BODY_CHAR.search(payload)
        if bad is not None:
            raise InvalidArgument(
                f"payload has the character {bad.group()!r} (U+{ord(bad.group()):04X}) at index "
                f"{bad.start()}: SQS bodies may hold only tab, newline, carriage return and the "
                "characters from U+0020 up (no other control characters, no lone surrogates). "
                "Remove it, or encode the body, e.g. with base64."
            )
    size = body_size(payload)
    if size > SQS_MAX_MESSAGE_SIZE:
        raise OutOfRange(
            f"payload is {size:,} bytes: SQS takes at most {SQS_MAX_MESSAGE_SIZE:,} bytes "
            f"(1 MiB) per message, on queue {queue!r}. Store the body elsewhere (e.g. S3) and "
            "send its address."
        )


def check_sqs_id(name: str, value: str, field: str) -> None:
    """A MessageGroupId or MessageDeduplicationId: 1..128 alphanumeric or punctuation characters."""
    if len(value) > SQS_ID_MAX:
        raise OutOfRange(
            f"{name} is {len(value)} characters long: SQS allows at most {SQS_ID_MAX} for a "
            f"{field}. Pass a shorter one, e.g. a hash of it."
        )
    if not _ID_CHARS.fullmatch(value):
        bad = next(ch for ch in value if not _ID_CHARS.fullmatch(ch))
        raise InvalidArgument(
            f"{name}={value!r} has the character {bad!r}: a {field} may hold only letters, "
            "digits and ASCII punctuation (SQS). Replace it, e.g. spaces with '-'."
        )
