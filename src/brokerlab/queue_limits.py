"""The queue's limits, and the checks that hold every argument to them.

Each limit is the real system's (sources in :mod:`brokerlab.queue`'s docstring). Every check
raises an error that names the parameter, what is allowed and how to fix it, before the queue
changes anything (:mod:`brokerlab.errors`).
"""

from __future__ import annotations

from typing import Any

from .errors import InvalidArgument, InvalidType, OutOfRange, check_range
from .message import check_payload
from .queue_types import SQS, QueueType, queue_type

# Limits, in seconds unless said otherwise (sources in brokerlab.queue's docstring).
VISIBILITY_DEFAULT, VISIBILITY_MAX = 30, 43200
RETENTION_DEFAULT, RETENTION_MIN, RETENTION_MAX = 345600, 60, 1209600
DELAY_MAX = 900
RECEIVE_MAX = 10
MAX_RECEIVE_COUNT_MAX = 1000
DELIVERY_LIMIT_MAX = 1000
PREFETCH_MAX = 65535
TTL_MAX = RETENTION_MAX  # no message outlives the longest retention anyway


# --- the checks ---------------------------------------------------------------------------


def check_visibility(name: str, value: Any, *, who: str = "SQS") -> float:
    """A visibility timeout: 0..43200 seconds (12 hours), SQS's range; 30 is the default."""
    return check_range(
        name, value, 0, VISIBILITY_MAX, "seconds (12 hours)", who=who, example=VISIBILITY_DEFAULT
    )


def check_nack(requeue: Any, delay: Any = 0.0) -> None:
    """The arguments of a handler's ``ctx.nack(requeue, delay)``, the same on every broker:
    ``requeue`` a bool; ``delay`` (a retry's backoff) 0..43200 seconds, the longest SQS
    visibility timeout, and only with ``requeue=True``."""
    if not isinstance(requeue, bool):
        raise InvalidArgument(f"requeue={requeue!r} is not a bool: pass True or False.")
    check_range("delay", delay, 0, VISIBILITY_MAX, "seconds", example=1.0)
    if delay and not requeue:
        raise InvalidArgument(
            f"delay={delay!r} with requeue=False: a dead-lettered message is not retried. "
            "Pass requeue=True with a delay, or no delay."
        )


def check_delay_and_ttl(delay: Any = None, ttl: Any = None) -> None:
    """A per-message ``delay`` (SQS: 0..900 s) and ``ttl`` (0..TTL_MAX s), each optional."""
    if delay is not None:
        check_range("delay", delay, 0, DELAY_MAX, "seconds (15 minutes)", who="SQS", example=0)
    if ttl is not None:
        check_range("ttl", ttl, 0, TTL_MAX, "seconds", who="the reference queue", example=60)


def check_queue_settings(
    *,
    name: Any,
    clock: Any,
    kind_name: Any,
    fifo: Any,
    visibility_timeout: Any,
    retention: Any,
    delay: Any,
    message_ttl: Any,
    max_length: Any,
    max_receive_count: Any,
    delivery_limit: Any,
    content_based_dedup: Any,
    seed: Any,
    on_discard: Any,
) -> QueueType:
    """Check every setting of a new :class:`~brokerlab.queue.Queue`; return its
    :class:`~brokerlab.queue_types.QueueType`. Settings that belong to one system are refused
    on a queue of the other (a visibility timeout on a RabbitMQ queue, a delivery limit on an
    SQS one), with the name of the setting that system uses instead."""
    if not isinstance(name, str) or not name:
        raise InvalidType(
            f"name={name!r} is not a non-empty str: a queue needs a name. Pass e.g. name='jobs'."
        )
    if clock is not None and not callable(getattr(clock, "now", None)):
        raise InvalidType(
            f"clock={clock!r} has no now() method. Pass a brokerlab.clock.VirtualClock "
            "(or RealClock), or None for a fresh VirtualClock."
        )
    kind = queue_type(kind_name)
    for flag_name, flag in (("fifo", fifo), ("content_based_dedup", content_based_dedup)):
        if not isinstance(flag, bool):
            raise InvalidType(f"{flag_name}={flag!r} is not a bool. Pass True or False.")
    if kind is not SQS:  # settings only SQS has: left at their defaults, or refused
        sqs_only = {  # setting -> (value, given?)
            "visibility_timeout": (visibility_timeout, visibility_timeout != VISIBILITY_DEFAULT),
            "retention": (retention, retention not in (None, RETENTION_DEFAULT)),
            "max_receive_count": (max_receive_count, max_receive_count is not None),
            "seed": (seed, seed is not None),
        }
        for setting, (value, given) in sqs_only.items():
            if given:
                raise InvalidArgument(
                    f"{setting}={value!r} on a {kind.name} queue: that is an SQS setting "
                    f"(RabbitMQ has no {setting.replace('_', ' ')}). Leave it out, or use "
                    "queue_type='sqs'."
                )
    if fifo and kind is not SQS:
        raise InvalidArgument(
            f"fifo=True on a {kind.name} queue: FIFO queues are SQS's (RabbitMQ queues are "
            "ordered anyway). Use queue_type='sqs', or leave fifo out."
        )
    if delivery_limit is not None and kind.limit_counts != "returns":
        raise InvalidArgument(
            f"delivery_limit={delivery_limit!r} on a {kind.name} queue: x-delivery-limit is a "
            "quorum queue setting. Use queue_type='quorum'"
            + (", or max_receive_count on an SQS queue." if kind is SQS else ".")
        )
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
    if delay and not kind.has_delay:
        raise InvalidArgument(
            f"delay={delay!r} on a {kind.name} queue: RabbitMQ has no delay (a plugin adds "
            "one). Leave it out, or use queue_type='sqs'."
        )
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
        check_int(
            "max_length", max_length, 0, None, "ready messages", "RabbitMQ x-max-length", 1000
        )
    if max_receive_count is not None:
        check_int(
            "max_receive_count",
            max_receive_count,
            1,
            MAX_RECEIVE_COUNT_MAX,
            "receives",
            "SQS maxReceiveCount",
            5,
        )
    if delivery_limit is not None:
        check_int(
            "delivery_limit",
            delivery_limit,
            0,
            DELIVERY_LIMIT_MAX,
            "returns",
            "the reference quorum queue",
            20,
        )
    if content_based_dedup and not fifo:
        raise InvalidArgument(
            "content_based_dedup=True on a standard queue: SQS deduplicates only FIFO queues "
            "(ContentBasedDeduplication is a FIFO attribute). Pass fifo=True, or leave it out."
        )
    if seed is not None:
        if type(seed) is not int:
            raise InvalidType(f"seed={seed!r} is not an int. Pass e.g. seed=7, or None.")
        if fifo:
            raise InvalidArgument(
                "seed on a FIFO queue: only SQS standard queues reorder and duplicate "
                "(a FIFO queue keeps order and delivers once). Leave seed out, or fifo=False."
            )
    if on_discard is not None and not callable(on_discard):
        raise InvalidType(
            f"on_discard={on_discard!r} is not callable. Pass a function "
            "on_discard(message, reason), or None."
        )
    return kind


def check_int(
    name: str, value: Any, low: int, high: int | None, unit: str, who: str, example: Any
) -> int:
    if type(value) is not int:
        allowed = f"{low}..{high}" if high is not None else f"{low} or more"
        raise InvalidType(
            f"{name}={value!r} is a {type(value).__name__}: a whole number is needed "
            f"({allowed}{' ' + unit if unit else ''}). Pass an int, e.g. {example!r}."
        )
    if value < low or (high is not None and value > high):
        allowed = f"{low} or more" if high is None else f"{low}..{high}"
        raise OutOfRange(
            f"{name}={value!r} is out of range: {who} allows {allowed} {unit}. "
            f"Pass a value in that range, e.g. {example!r}."
        )
    return value


def check_str(name: str, value: Any, example: str) -> None:
    if not isinstance(value, str):
        raise InvalidType(
            f"{name}={value!r} is a {type(value).__name__}: a str or None is needed. "
            f"Pass e.g. {name}={example!r}."
        )


def check_headers(headers: Any) -> dict[str, Any]:
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
