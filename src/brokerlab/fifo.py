"""FIFO: message groups and deduplication, as in SQS FIFO queues.

A FIFO queue keeps order *per message group* (SQS ``MessageGroupId``): messages of one group
come out in the order they went in, and while any message of a group is in flight the rest of
that group waits. Different groups do not wait for each other, so groups are the unit of both
order and parallelism.

A FIFO queue also drops duplicate sends. Each send has a *deduplication id*: the
``MessageDeduplicationId`` the producer gives, or, with content-based deduplication, the SHA-256
of the body. A second send with the same id within **5 minutes** of the first is accepted but
not enqueued, even if the first message was already received and deleted (SQS Developer Guide,
"Exactly-once processing in Amazon SQS"; API reference, SendMessage). The window is measured from
the *first* send; duplicates do not extend it.

The queue (:mod:`brokerlab.queue`) calls :func:`dedup_key` and keeps a :class:`Deduplicator`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .errors import FifoError, InvalidArgument, InvalidType, check_range
from .message import Message, body_bytes

#: SQS's deduplication interval: 5 minutes, in seconds.
DEDUP_WINDOW = 300.0


def check_fifo_fields(group: Any, dedup_id: Any, content_based_dedup: bool, queue: str) -> None:
    """Refuse a FIFO send without a group, or without a way to deduplicate it.

    SQS: ``MessageGroupId`` is required on FIFO queues; ``MessageDeduplicationId`` is required
    unless the queue has ``ContentBasedDeduplication`` (SendMessage API reference). Both are
    strings of up to 128 characters there, which the queue checks
    (:func:`brokerlab.queue_types.check_sqs_id`).
    """
    if group is None:
        raise FifoError(
            f"group=None on FIFO queue {queue!r}: a FIFO queue needs a message group id "
            "(SQS MessageGroupId). Pass group='...', e.g. the customer or account id whose "
            "messages must stay in order."
        )
    if not isinstance(group, str) or not group:
        raise InvalidType(
            f"group={group!r} is not a non-empty str: a message group id is a string "
            "(SQS allows 1..128 characters). Pass e.g. group='account-17'."
        )
    if dedup_id is None:
        if not content_based_dedup:
            raise FifoError(
                f"dedup_id=None on FIFO queue {queue!r}, which has no content-based "
                "deduplication: SQS requires a MessageDeduplicationId. Pass dedup_id='...' "
                "(unique per logical send), or create the queue with content_based_dedup=True."
            )
    elif not isinstance(dedup_id, str) or not dedup_id:
        raise InvalidType(
            f"dedup_id={dedup_id!r} is not a non-empty str: a deduplication id is a string "
            "(SQS allows 1..128 characters). Pass e.g. dedup_id='order-17-v1'."
        )


def dedup_key(dedup_id: str | None, payload: Any, content_based_dedup: bool) -> str:
    """The id a FIFO queue deduplicates a send on.

    The explicit ``dedup_id`` wins (as in SQS, where an explicit MessageDeduplicationId
    overrides the content hash); otherwise the SHA-256 hex digest of the body
    (:func:`brokerlab.message.body_bytes`) when content-based deduplication is on.

    >>> dedup_key(None, "hello", True)[:16]
    '2cf24dba5fb0a30e'
    """
    if dedup_id is not None:
        if not isinstance(dedup_id, str):
            raise InvalidType(
                f"dedup_id={dedup_id!r} is a {type(dedup_id).__name__}: a deduplication id is a "
                "str, e.g. dedup_id='order-17'."
            )
        return dedup_id
    if content_based_dedup:
        return hashlib.sha256(body_bytes(payload)).hexdigest()
    raise FifoError(
        "dedup_id=None and the queue has no content-based deduplication: SQS requires a "
        "MessageDeduplicationId. Set dedup_id, or use content_based_dedup=True."
    )


class Deduplicator:
    """Remembers each deduplication id for ``window`` seconds from its first send.

    Entries are kept in send order, so forgetting the expired ones is a walk from the front.
    """

    __slots__ = ("window", "_seen")

    def __init__(self, window: float = DEDUP_WINDOW) -> None:
        check_range("window", window, 0, 10**9, "seconds", example=DEDUP_WINDOW)
        if window == 0:
            raise InvalidArgument(
                f"window=0 is not allowed: a deduplication window lasts some time (SQS: "
                f"{DEDUP_WINDOW:g} seconds). Pass a positive number of seconds."
            )
        self.window = window
        self._seen: dict[str, tuple[float, Message]] = {}

    def _forget(self, now: float) -> None:
        seen = self._seen
        while seen:
            key = next(iter(seen))
            if seen[key][0] > now:
                break
            del seen[key]

    def original(self, key: str, now: float) -> Message | None:
        """The message first sent with ``key`` if that was less than ``window`` ago, else None."""
        self._forget(now)
        hit = self._seen.get(key)
        return hit[1] if hit is not None else None

    def remember(self, key: str, message: Message, now: float) -> None:
        self._seen[key] = (now + self.window, message)

    def __len__(self) -> int:
        return len(self._seen)

    def __repr__(self) -> str:
        return f"Deduplicator({len(self._seen)} ids, window={self.window:g}s)"
