"""Pub/sub: a topic whose every subscription gets its own copy of every message.

A point-to-point :class:`~brokerlab.queue.Queue` gives each message to *one* of its consumers:
more consumers share the work. A :class:`Topic` gives each message to *every* subscription:
more subscriptions mean more copies, and each subscriber works at its own pace. This is the
SNS + SQS pattern (an SNS topic fanning out to SQS queues, one per subscriber) and what a
RabbitMQ fanout exchange with one queue per subscriber gives:

>>> orders = Topic("orders")
>>> billing, shipping = orders.subscribe("billing"), orders.subscribe("shipping")
>>> orders.publish({"order": 17})
Message('m1', {'order': 17})
>>> len(billing), len(shipping)
(1, 1)

Each subscription *is* a queue, so it keeps what arrived until its subscriber takes it, and
it can have many competing consumers of its own (pub/sub between teams, work-sharing inside
one team). What a topic does **not** do is keep messages for subscribers that are not there
yet: a message published before a subscription exists never reaches it, and a message
published to a topic with no subscriptions is gone (counted in ``stats()["unheard"]``). A log
(Kafka) keeps them and lets a newcomer read from the start; that is the difference the course
shows next.

A subscription can have a **filter**: a dict of header conditions read with the headers
exchange's rules (:func:`brokerlab.routing.headers_match`, ``x-match`` all by default), like an
SNS subscription filter policy on message attributes. Deliberate difference: SNS filter
policies have a richer syntax (prefixes, numeric ranges, anything-but); here a filter is a
headers-exchange binding.

A topic plays the part of a fanout exchange: each subscription queue records the topic's name as
the exchange its copy came through (``Delivery.exchange``, and the ``exchange`` of an
``x-death`` entry if the copy dies there). SNS has no such field; RabbitMQ would name the fanout
exchange.

:func:`fan_out` - one message copied into several queues, each copy independent - is shared with
the broker, which uses it to deliver what an exchange routed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .clock import Clock, VirtualClock
from .errors import (
    AlreadyExists,
    InvalidArgument,
    InvalidType,
    UnknownQueue,
)
from .exchange import check_exchange
from .message import Message, check_payload
from .queue import Queue, check_delay_and_ttl
from .routing import check_arguments, check_headers, check_routing_key, headers_match, x_match_mode

__all__ = ["Topic", "check_fan_out", "copy_message", "deliver_copies", "fan_out"]


def copy_message(message: Message) -> Message:
    """An independent copy: same id, key and timestamp; headers (and a dict/list payload)
    copied, so one queue's consumer cannot change another queue's copy."""
    return Message(
        message.id,
        copy.deepcopy(message.payload),
        message.key,
        copy.deepcopy(message.headers),
        message.timestamp,
        message.group,
        message.dedup_id,
    )


def check_fan_out(
    queues: Iterable[Queue],
    group: str | None = None,
    dedup_id: str | None = None,
    delay: float | None = None,
    ttl: float | None = None,
) -> None:
    """Raise if any of ``queues`` would refuse a message with these FIFO fields, delay and
    ttl, so that a fan-out either reaches every queue or changes nothing."""
    check_delay_and_ttl(delay, ttl)  # checked even when no queue matches
    for q in queues:
        q.check_send_options(delay, ttl, group, dedup_id)


def deliver_copies(
    message: Message,
    queues: list[Queue],
    delay: float | None = None,
    ttl: float | None = None,
    *,
    exchange: str = "",
) -> list[str]:
    """Put an independent copy of ``message`` (same id) in each queue; return their names.
    ``exchange`` is what the copies came through (see :meth:`Queue.enqueue`). Call
    :func:`check_fan_out` first (or use :func:`fan_out`, which does both)."""
    for q in queues:
        q.enqueue(copy_message(message), delay=delay, ttl=ttl, exchange=exchange)
    return [q.name for q in queues]


def fan_out(
    message: Message,
    queues: Iterable[Queue],
    delay: float | None = None,
    ttl: float | None = None,
    *,
    exchange: str = "",
) -> list[str]:
    """Put an independent copy of ``message`` (same id) in each queue; return their names.

    Everything is checked first (:func:`check_fan_out`): either every queue gets its copy or
    the call raises and no queue has changed. A FIFO queue may still drop its copy as a
    duplicate within its deduplication window (SQS), which is counted in its own stats.
    ``exchange`` names what the copies came through (``""``: the default exchange).
    """
    queues = list(queues)
    check_exchange(exchange)
    check_fan_out(queues, message.group, message.dedup_id, delay, ttl)
    return deliver_copies(message, queues, delay, ttl, exchange=exchange)


class _Subscription:
    __slots__ = ("queue", "filter")

    def __init__(self, queue: Queue, filter: dict[str, Any] | None) -> None:
        self.queue = queue
        self.filter = filter


class Topic:
    """A pub/sub topic: every subscription (a :class:`Queue`) gets a copy of every message.

    ``clock`` is shared with the subscription queues (a fresh VirtualClock if None).
    ``next_id`` gives message ids; by default ``"m1"``, ``"m2"``... counted by this topic (a
    :class:`~brokerlab.broker.Broker` passes its own counter, so ids are unique in the broker).
    """

    def __init__(
        self, name: str, *, clock: Clock | None = None, next_id: Callable[[], str] | None = None
    ) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidType(
                f"name={name!r} is not a non-empty str: a topic needs a name, e.g. 'orders'."
            )
        self.name = name
        self.clock = VirtualClock() if clock is None else clock
        self._subs: dict[str, _Subscription] = {}
        self._ids = 0
        self._next_id = next_id if next_id is not None else self._own_id
        self._published = 0
        self._delivered = 0
        self._filtered = 0
        self._unheard = 0

    def _own_id(self) -> str:
        self._ids += 1
        return f"m{self._ids}"

    # --- subscriptions -----------------------------------------------------------------------

    def subscribe(
        self,
        subscription: str | Queue,
        *,
        filter: Mapping[str, Any] | None = None,
        **queue_kwargs: Any,
    ) -> Queue:
        """Add a subscription and return its queue.

        ``subscription`` is a name (a new :class:`Queue` is made on the topic's clock with
        ``queue_kwargs``, e.g. ``visibility_timeout=60`` or ``dead_letter=dlq``) or an existing
        Queue (SNS subscribing an existing SQS queue). ``filter`` is a dict of header
        conditions (headers-exchange rules; ``{"x-match": "any", ...}`` allowed).
        Subscribing a name that already exists raises
        :class:`~brokerlab.errors.AlreadyExists` unless it is the same queue with the same filter.
        """
        if filter is not None:
            filter = copy.deepcopy(dict(check_arguments(filter, "filter")))
            x_match_mode(filter)
        if isinstance(subscription, Queue):
            if queue_kwargs:
                raise InvalidType(
                    f"queue settings {sorted(queue_kwargs)} were given with an existing queue "
                    f"{subscription.name!r}: settings are for making a new queue. Pass a name instead."
                )
            if subscription.clock is not self.clock:
                raise InvalidArgument(
                    f"queue {subscription.name!r} runs on another clock than topic {self.name!r}: "
                    "one clock must drive both. Make the queue with clock=topic.clock."
                )
            queue, name = subscription, subscription.name
        elif isinstance(subscription, str) and subscription:
            name, queue = subscription, None
        else:
            raise InvalidType(
                f"subscription={subscription!r} is not a name or a Queue: pass e.g. 'billing'."
            )
        existing = self._subs.get(name)
        if existing is not None:
            if (
                (queue is None or queue is existing.queue)
                and existing.filter == filter
                and not queue_kwargs
            ):
                return existing.queue
            raise AlreadyExists(
                f"subscription {name!r} already exists on topic {self.name!r} with other settings "
                f"(filter={existing.filter!r}). Unsubscribe it first, or use another name."
            )
        if queue is None:
            if "clock" in queue_kwargs:
                raise InvalidType(
                    "clock=... is not a queue setting here: subscriptions use the topic's clock."
                )
            queue = Queue(name, clock=self.clock, **queue_kwargs)
        self._subs[name] = _Subscription(queue, filter)
        return queue

    def unsubscribe(self, name: str) -> Queue:
        """Remove a subscription and return its queue (which keeps what it already holds)."""
        return self._subs.pop(self._sub_name(name)).queue

    def _sub_name(self, name: Any) -> str:
        name = getattr(name, "name", name)
        if not isinstance(name, str) or name not in self._subs:
            known = ", ".join(repr(n) for n in self._subs) or "none"
            raise UnknownQueue(
                f"subscription {name!r} does not exist on topic {self.name!r} (subscriptions: "
                f"{known}). Subscribe first: topic.subscribe({name!r})."
            )
        return name

    def subscription(self, name: str) -> Queue:
        """The queue of subscription ``name``."""
        return self._subs[self._sub_name(name)].queue

    @property
    def subscriptions(self) -> dict[str, Queue]:
        """Subscription name -> queue, in the order they subscribed."""
        return {n: s.queue for n, s in self._subs.items()}

    def filter_of(self, name: str) -> dict[str, Any] | None:
        """The filter of subscription ``name`` (None: gets everything)."""
        return copy.deepcopy(self._subs[self._sub_name(name)].filter)

    # --- publishing -----------------------------------------------------------------------------

    def publish(
        self,
        payload: Any,
        key: str | None = None,
        headers: Mapping[str, Any] | None = None,
        *,
        id: str | None = None,
        group: str | None = None,
        dedup_id: str | None = None,
    ) -> Message:
        """Publish to every subscription whose filter matches; return the message.

        Each subscription queue gets its own copy with the same id. ``group``/``dedup_id``
        are needed only if a subscription is a FIFO queue (SNS FIFO topics). Checked before
        anything is delivered: a bad call changes nothing.
        """
        payload = check_payload(payload)
        if key is not None:
            check_routing_key(key, "key")
        headers = dict(check_headers(headers))
        if id is not None and (not isinstance(id, str) or not id):
            raise InvalidType(
                f"id={id!r} is not a non-empty str. Pass e.g. id='order-17', or leave it out."
            )
        matching = [
            s.queue
            for s in self._subs.values()
            if s.filter is None or headers_match(s.filter, headers)
        ]
        check_fan_out(matching, group, dedup_id)
        message = Message(
            self._next_id() if id is None else id,
            payload,
            key,
            headers,
            self.clock.now(),
            group,
            dedup_id,
        )
        deliver_copies(message, matching, exchange=self.name)
        self._published += 1
        self._delivered += len(matching)
        self._filtered += len(self._subs) - len(matching)
        if not self._subs:
            self._unheard += 1
        return message

    def stats(self) -> dict[str, int]:
        """``published`` messages, ``delivered`` copies, copies ``filtered`` out by a
        subscription's filter, messages ``unheard`` (no subscription at all), ``subscriptions``."""
        return {
            "published": self._published,
            "delivered": self._delivered,
            "filtered": self._filtered,
            "unheard": self._unheard,
            "subscriptions": len(self._subs),
        }

    def __repr__(self) -> str:
        subs = [n + (f" (filter {s.filter!r})" if s.filter else "") for n, s in self._subs.items()]
        count = f"{len(subs)} subscription{'s' if len(subs) != 1 else ''}"
        return f"Topic({self.name!r}: {count}{': ' + ', '.join(subs) if subs else ''})"
