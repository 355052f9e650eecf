"""Messages and deliveries.

A :class:`Message` is what a producer publishes: an id, a payload, an optional key (the routing
key for exchanges, the partition key for the log), headers, and the time it was published.

A :class:`Delivery` is one handing-over of a message to a consumer. The same message can be
delivered many times (after a crash, a visibility timeout, a nack), and every delivery says so:

- ``receive_count``: how many times this message has been handed out, this time included
  (SQS's ``ApproximateReceiveCount``; RabbitMQ quorum queues' ``x-delivery-count`` + 1);
- ``redelivered``: ``True`` if it was handed out before (RabbitMQ's ``redelivered`` flag);
- ``receipt_handle``: the token you need to delete/ack it (SQS). Every receive issues a new
  one and only the newest is valid;
- ``delivery_tag``: the number a RabbitMQ channel gives each delivery, used to ack it;
- ``exchange``: the exchange the message came through into the queue, as AMQP's
  ``basic.deliver`` carries it (``""``: the default exchange, or put on the queue directly; a
  dead letter names its dead-letter exchange). Its routing key is ``key``.

Payloads may be ``bytes``, ``str``, or JSON data (``dict``, ``list``, numbers, booleans,
``None``), because notebooks are easier to read with ``{"order": 17}`` than with bytes. The
broker hashes and measures a payload through :func:`body_bytes`, which is how SQS content-based
deduplication (SHA-256 of the body) is modelled.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import InvalidType

_JSON_SCALARS = (str, int, float, bool, type(None))


def check_payload(payload: Any, name: str = "payload") -> Any:
    """Return ``payload`` if the broker can carry it, else raise :class:`InvalidType`.

    Allowed: bytes, str, and JSON data (dict with str keys, list, tuple, numbers, bool, None).
    """
    if isinstance(payload, (bytes, bytearray)):
        return bytes(payload)
    if isinstance(payload, _JSON_SCALARS):
        return payload
    try:
        json.dumps(payload, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidType(
            f"{name} of type {type(payload).__name__} cannot be sent: a message carries bytes, "
            f"str, or JSON data (dict, list, numbers, bool, None). Convert it first, e.g. with "
            f"json.dumps() or by passing a dict. ({exc})"
        ) from None
    return payload


def body_bytes(payload: Any) -> bytes:
    """The bytes a payload stands for: itself, its UTF-8 text, or its canonical JSON."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")


_UNWRITTEN: Any = object()  # the id of a numbered message whose text is not written yet


class _Record:
    """Equality, copy and pickle from the fields (``_fields()``), as a dataclass has them.

    Message and Delivery are hand-written slot classes rather than dataclasses because a queue
    builds one of each per message, and :func:`numbered_message` and :func:`new_delivery` can
    then build them without an ``__init__`` call, which is about half the cost.
    """

    __slots__ = ()

    def _fields(self) -> tuple[Any, ...]:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # mutable, so not hashable

    def __reduce__(self) -> tuple[Any, ...]:  # for copy and pickle
        return (self.__class__, self._fields())


class Message(_Record):
    """One published message.

    ``timestamp`` is the clock time (seconds) at which it was published. ``group`` and
    ``dedup_id`` are used only by FIFO queues (SQS ``MessageGroupId`` and
    ``MessageDeduplicationId``). Two messages are equal when all seven fields are.

    A queue names the messages it makes ``"m1"``, ``"m2"``...; it stores just the number and
    the ``id`` text is written the first time someone reads it (most messages are never
    looked at by id, and formatting a number costs about as much as a dict lookup).
    """

    __slots__ = ("_id", "_n", "payload", "key", "headers", "timestamp", "group", "dedup_id")
    __match_args__ = ("id", "payload", "key", "headers", "timestamp", "group", "dedup_id")

    def __init__(
        self,
        id: str,
        payload: Any,
        key: str | None = None,
        headers: dict[str, Any] | None = None,
        timestamp: float = 0.0,
        group: str | None = None,
        dedup_id: str | None = None,
    ) -> None:
        self._id = id
        self._n = 0
        self.payload = payload
        self.key = key
        self.headers: dict[str, Any] = {} if headers is None else headers
        self.timestamp = timestamp
        self.group = group
        self.dedup_id = dedup_id

    @property
    def id(self) -> str:
        """The message id (``"m3"``, ``"order-17"``...)."""
        i = self._id
        if i is _UNWRITTEN:
            i = self._id = f"m{self._n}"
        return i

    @id.setter
    def id(self, value: str) -> None:
        self._id = value

    def _fields(self) -> tuple[Any, ...]:
        return (
            self.id,
            self.payload,
            self.key,
            self.headers,
            self.timestamp,
            self.group,
            self.dedup_id,
        )

    def __repr__(self) -> str:
        extra = ""
        if self.key is not None:
            extra += f", key={self.key!r}"
        if self.group is not None:
            extra += f", group={self.group!r}"
        if self.headers:
            extra += f", headers={self.headers!r}"
        return f"Message({self.id!r}, {self.payload!r}{extra})"

    @property
    def deaths(self) -> list[dict[str, Any]]:
        """The death history (RabbitMQ's ``x-death`` header), newest first; [] if never dead-lettered."""
        return list(self.headers.get("x-death", ()))


_new = object.__new__


def numbered_message(number: int, payload: Any, timestamp: float) -> Message:
    """``Message(f"m{number}", payload, timestamp=timestamp)``, built the fast way.

    For :meth:`brokerlab.queue.Queue.publish`, which makes one per call: it skips the
    ``__init__`` call (about half the cost of a Message) and leaves the id text to be written
    on first read. ``payload`` must already be checked.
    """
    m = _new(Message)
    m._id = _UNWRITTEN
    m._n = number
    m.payload = payload
    m.key = None
    m.headers = {}
    m.timestamp = timestamp
    m.group = None
    m.dedup_id = None
    return m


class Delivery(_Record):
    """One delivery of a message to a consumer (or to a ``receive`` call).

    ``receipt_handle`` may be given as ``None``: it is then the queue's standard handle
    ``"<queue>:<message id>:<delivery tag>"``, written when first read (a queue hands out many
    deliveries whose handle nobody reads: the delivery or its tag is enough to ack them).
    ``exchange`` is the exchange the message came through (AMQP ``basic.deliver``'s
    ``exchange``; ``""`` for the default exchange). Two deliveries are equal when all eight
    fields are.
    """

    __slots__ = (
        "message",
        "queue",
        "delivery_tag",
        "_handle",
        "receive_count",
        "redelivered",
        "consumer",
        "exchange",
    )
    __match_args__ = (
        "message",
        "queue",
        "delivery_tag",
        "receipt_handle",
        "receive_count",
        "redelivered",
        "consumer",
        "exchange",
    )

    def __init__(
        self,
        message: Message,
        queue: str,
        delivery_tag: int,
        receipt_handle: str | None,
        receive_count: int = 1,
        redelivered: bool = False,
        consumer: str | None = None,
        exchange: str = "",
    ) -> None:
        self.message = message
        self.queue = queue
        self.delivery_tag = delivery_tag
        self._handle = receipt_handle
        self.receive_count = receive_count
        self.redelivered = redelivered
        self.consumer = consumer
        self.exchange = exchange

    @property
    def receipt_handle(self) -> str:
        """The token to delete/ack this delivery with (SQS ``ReceiptHandle``)."""
        handle = self._handle
        if handle is None:
            handle = self._handle = f"{self.queue}:{self.message.id}:{self.delivery_tag}"
        return handle

    @receipt_handle.setter
    def receipt_handle(self, value: str) -> None:
        self._handle = value

    # Shortcuts so a notebook can write d.payload rather than d.message.payload.
    @property
    def id(self) -> str:
        return self.message.id

    @property
    def payload(self) -> Any:
        return self.message.payload

    @property
    def key(self) -> str | None:
        return self.message.key

    @property
    def headers(self) -> dict[str, Any]:
        return self.message.headers

    def _fields(self) -> tuple[Any, ...]:
        return (
            self.message,
            self.queue,
            self.delivery_tag,
            self.receipt_handle,
            self.receive_count,
            self.redelivered,
            self.consumer,
            self.exchange,
        )

    def __repr__(self) -> str:
        who = f", consumer={self.consumer!r}" if self.consumer else ""
        again = ", redelivered" if self.redelivered else ""
        return (
            f"Delivery({self.message.id!r}, {self.message.payload!r}, tag={self.delivery_tag}, "
            f"receive_count={self.receive_count}{again}{who})"
        )


def new_delivery(
    message: Message,
    queue: str,
    tag: int,
    count: int,
    consumer: str | None,
    exchange: str = "",
) -> Delivery:
    """``Delivery(message, queue, tag, None, count, count > 1, consumer, exchange)``, built the
    fast way (without the ``__init__`` call), for the queue, which makes one per delivery."""
    d = _new(Delivery)
    d.message = message
    d.queue = queue
    d.delivery_tag = tag
    d._handle = None
    d.receive_count = count
    d.redelivered = count > 1
    d.consumer = consumer
    d.exchange = exchange
    return d
