"""Messages and deliveries.

A :class:`Message` is what a producer publishes: an id, a payload, an optional key (the routing
key for exchanges, the partition key for the log), headers, and the time it was published.

A :class:`Delivery` is one handing-over of a message to a consumer. The same message can be
delivered many times (after a crash, a visibility timeout, a nack), and every delivery says so:

- ``receive_count``: how many times this message has been handed out, this time included
  (SQS's ``ApproximateReceiveCount``). A RabbitMQ quorum queue also tells how often the
  message came back unacked, in the ``x-delivery-count`` header of its redeliveries;
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
from dataclasses import dataclass
from typing import Any

from .errors import InvalidType

_CARRIED_AS_IS = (bytes, str, int, float, bool, type(None))


def check_payload(payload: Any, name: str = "payload") -> Any:
    """Return ``payload`` if the broker can carry it, else raise :class:`InvalidType`.

    Allowed: bytes, str, and JSON data (dict with str keys, list, tuple, numbers, bool, None).
    """
    if isinstance(payload, _CARRIED_AS_IS):
        return payload
    if isinstance(payload, bytearray):
        return bytes(payload)  # a mutable buffer: the message carries a copy
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


def body_size(payload: Any) -> int:
    """``len(body_bytes(payload))``: the size a broker counts. Bytes and ints, the payloads
    most messages carry, are measured without making a copy (an int's JSON is its digits)."""
    if type(payload) is bytes:
        return len(payload)
    if type(payload) is int:
        return len(str(payload))
    return len(body_bytes(payload))


@dataclass(slots=True)
class Message:
    """One published message.

    ``timestamp`` is the clock time (seconds) at which it was published. ``group`` and
    ``dedup_id`` are used only by FIFO queues (SQS ``MessageGroupId`` and
    ``MessageDeduplicationId``). Two messages are equal when all seven fields are. A queue
    names the messages it makes ``"m1"``, ``"m2"``...
    """

    id: str
    payload: Any
    key: str | None = None
    headers: dict[str, Any] = None  # type: ignore[assignment]  # {} after init
    timestamp: float = 0.0
    group: str | None = None
    dedup_id: str | None = None

    def __post_init__(self) -> None:
        if self.headers is None:
            self.headers = {}

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


class Delivery:
    """One delivery of a message to a consumer (or to a ``receive`` call).

    ``receipt_handle`` may be given as ``None``: it is then the queue's standard handle
    ``"<queue>:<message id>:<delivery tag>"``, written when it is first read (most deliveries
    are settled with the Delivery or its tag, and nobody reads their handle). ``exchange`` is
    the exchange the message came through (AMQP ``basic.deliver``'s ``exchange``; ``""`` for
    the default exchange). Two deliveries are equal when all eight fields are.
    """

    __slots__ = (
        *("message", "queue", "delivery_tag", "_receipt_handle", "receive_count"),
        *("redelivered", "consumer", "exchange"),
    )
    __match_args__ = (
        *("message", "queue", "delivery_tag", "receipt_handle", "receive_count"),
        *("redelivered", "consumer", "exchange"),
    )

    def __init__(
        self,
        message: Message,
        queue: str,
        delivery_tag: int,
        receipt_handle: str | None = None,
        receive_count: int = 1,
        redelivered: bool = False,
        consumer: str | None = None,
        exchange: str = "",
    ) -> None:
        self.message = message
        self.queue = queue
        self.delivery_tag = delivery_tag
        self._receipt_handle = receipt_handle
        self.receive_count = receive_count
        self.redelivered = redelivered
        self.consumer = consumer
        self.exchange = exchange

    @property
    def receipt_handle(self) -> str:
        """The token to delete/ack this delivery with (SQS ``ReceiptHandle``)."""
        if self._receipt_handle is None:
            self._receipt_handle = f"{self.queue}:{self.message.id}:{self.delivery_tag}"
        return self._receipt_handle

    @receipt_handle.setter
    def receipt_handle(self, value: str) -> None:
        self._receipt_handle = value

    def _fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__match_args__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not Delivery:
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable, so not hashable

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

    def __repr__(self) -> str:
        who = f", consumer={self.consumer!r}" if self.consumer else ""
        again = ", redelivered" if self.redelivered else ""
        return (
            f"Delivery({self.message.id!r}, {self.message.payload!r}, tag={self.delivery_tag}, "
            f"receive_count={self.receive_count}{again}{who})"
        )
