"""The broker: queues, exchanges and pub/sub topics together, on one clock.

A :class:`Broker` is what a RabbitMQ virtual host is: a namespace of queues and exchanges,
plus (for the pub/sub chapter) SNS-style topics. Everything in it runs on the broker's
clock, so one ``broker.clock.advance(30)`` moves every visibility timeout, TTL and delay.

>>> b = Broker()
>>> q1, q2 = b.declare_queue("Q1"), b.declare_queue("Q2")
>>> _ = b.declare_exchange("animals", "topic")
>>> _ = b.bind("Q1", "animals", "*.orange.*"); _ = b.bind("Q2", "animals", "lazy.#")
>>> b.publish("animals", "lazy.orange.elephant", "hi")
Routed('m1' via 'animals' with key 'lazy.orange.elephant' -> ['Q1', 'Q2'])
>>> b.publish("animals", "quick.brown.fox", "bye", mandatory=True)
Routed('m2' via 'animals' with key 'quick.brown.fox' -> nobody: returned 312 NO_ROUTE)
>>> b.returned
[Returned(message=Message('m2', 'bye', key='quick.brown.fox'), reason='312 NO_ROUTE')]

What it models, with the real rules (RabbitMQ docs and ``rabbit_channel``/``rabbit_amqqueue``):

- **Declaring is asserting.** Declaring a queue or exchange that exists with the same settings
  returns it; with other settings it is refused (406 PRECONDITION_FAILED, here
  :class:`~brokerlab.errors.AlreadyExists`). ``declare_queue("")`` makes a server-named queue
  (``amq.gen-1``, ``amq.gen-2``...; RabbitMQ's names are random). Names starting with
  ``amq.`` are reserved (403 ACCESS_REFUSED); so is declaring the default exchange ``""``.
- **Pre-declared exchanges**: the default exchange ``""`` and ``amq.direct``, ``amq.fanout``,
  ``amq.topic``, ``amq.headers``, ``amq.match`` (AMQP 0-9-1 spec; docs/exchanges).
- **Publishing** to a missing exchange is refused (404 NOT_FOUND). Every queue the exchange
  routes to gets its own copy, with the same message id (``"m1"``, ``"m2"``... per broker).
- **Unroutable** messages (routed to no queue) are dropped and counted, or, with
  ``mandatory=True``, *returned* to the publisher: they land in :attr:`Broker.returned` with
  the reason ``"312 NO_ROUTE"`` (``basic.return``). RabbitMQ's counters are
  ``messages_unroutable_dropped_total`` and ``messages_unroutable_returned_total``.
- **Publisher confirms.** After :meth:`Broker.confirm_delivery` (pika's
  ``channel.confirm_delivery()``, AMQP ``confirm.select``), a mandatory publish that no queue
  takes is still returned and counted, and then raises :class:`~brokerlab.errors.Unroutable`,
  as pika's ``BlockingChannel.basic_publish`` raises ``UnroutableError``: RabbitMQ sends the
  ``basic.return`` before the ``basic.ack`` that confirms the publish, and pika turns that pair
  into the exception (``pika/adapters/blocking_connection.py``). A non-mandatory unroutable
  message is confirmed and dropped without an error, in both modes.
- **Which exchange.** Each queue copy remembers the exchange it came through: it is
  ``Delivery.exchange`` (``basic.deliver``) and the ``exchange`` of the message's ``x-death``
  entry if it dies in that queue. A dead letter routed through a DLX came through the DLX, so
  its next death records the DLX, as RabbitMQ's ``rabbit_dead_letter:publish`` sets the
  message's exchange to the DLX before routing it (https://www.rabbitmq.com/docs/dlx: "this will
  be a dead letter exchange if the message is dead lettered multiple times").
- **Binding** needs the queue and the exchange to exist (404 otherwise). **Unbinding** never
  fails for a missing binding, queue or exchange: RabbitMQ's ``rabbit_binding:remove``
  reports only "absent" (crashed) resources (``absent_errs_only``) and the spec page calls
  queue.unbind "an idempotent assertion that the binding must not exist".
- **Dead-letter exchanges**: ``declare_queue(..., dead_letter_exchange="dlx",
  dead_letter_routing_key=None)`` (``x-dead-letter-exchange``/``-routing-key``) sends the
  queue's dead letters through that exchange, with their original routing key or the
  override, as in https://www.rabbitmq.com/docs/dlx. The exchange need not exist when the queue
  is declared; if it is missing when a message dies, the message is dropped. ``""`` (the default
  exchange) is a valid DLX. A message that would come back to a queue it already died in,
  with no ``rejected`` death on the way, is dropped (RabbitMQ's cycle detection,
  ``rabbit_dead_letter:detect_cycles``). A routing key without a DLX is refused.

**Time** is applied lazily, queue by queue (see :mod:`brokerlab.queue`): a queue applies its
timers when it is used. So that a message that expired in one queue shows up in its
dead-letter queue, every broker call (``publish``, ``queue(...)``, ``stats()``, ``graph()``,
``bind``...) first lets every queue of the broker catch up with the clock. A call made
directly on a DLQ object (``dlq.peek()``) only catches up that queue: go through
``broker.queue("dlq")``, or call ``broker.catch_up()``, after moving the clock.

Deliberate differences: no virtual hosts, connections, channels, transactions, alternate
exchanges or exchange-to-exchange bindings. Confirm mode is therefore set on the whole broker
(RabbitMQ: per channel); a publish is confirmed or raises at once, never nacked (RabbitMQ nacks
only on internal errors; pika would raise ``NackError``).
"""

from __future__ import annotations

import inspect
from typing import Any, NamedTuple

from .clock import Clock, VirtualClock
from .errors import (
    AccessRefused,
    AlreadyExists,
    DeadLetterConfigError,
    InvalidArgument,
    InvalidType,
    UnknownExchange,
    UnknownQueue,
    UnknownTopic,
    Unroutable,
)
from .exchange import Binding, DefaultExchange, Exchange, check_name, make_exchange
from .message import Message, check_payload
from .pubsub import Topic, check_fan_out, copy_message, deliver_copies
from .queue import Queue
from .routing import check_arguments, check_headers, check_routing_key

__all__ = ["PREDECLARED_EXCHANGES", "Broker", "DeadLetterExchange", "Returned", "Routed"]

#: Exchanges every RabbitMQ virtual host has from the start (besides the default one).
PREDECLARED_EXCHANGES = {
    "amq.direct": "direct",
    "amq.fanout": "fanout",
    "amq.topic": "topic",
    "amq.headers": "headers",
    "amq.match": "headers",
}

#: The Queue settings declare_queue passes through, with their defaults.
_QUEUE_DEFAULTS = {
    name: p.default
    for name, p in inspect.signature(Queue.__init__).parameters.items()
    if p.kind is inspect.Parameter.KEYWORD_ONLY and name != "clock"
}
# A RabbitMQ queue keeps a message until it is consumed (or its TTL runs out): no SQS retention
# period unless one is asked for (https://www.rabbitmq.com/docs/ttl: messages without a TTL stay).
_QUEUE_DEFAULTS["retention"] = None


class Returned(NamedTuple):
    """A mandatory message that could not be routed (AMQP ``basic.return``)."""

    message: Message
    reason: str


class Routed(list):
    """What :meth:`Broker.publish` returns: the list of queue names the message went to,
    plus ``message``, ``exchange``, ``routing_key`` and ``returned`` (True if sent back)."""

    def __init__(
        self, queues: list[str], message: Message, exchange: str, routing_key: str, returned: bool
    ) -> None:
        super().__init__(queues)
        self.message = message
        self.exchange = exchange
        self.routing_key = routing_key
        self.returned = returned

    @property
    def queues(self) -> list[str]:
        return list(self)

    def __repr__(self) -> str:
        where = f"{self.message.id!r} via {self.exchange!r} with key {self.routing_key!r}"
        if self:
            return f"Routed({where} -> {list(self)!r})"
        fate = "returned 312 NO_ROUTE" if self.returned else "dropped (unroutable)"
        return f"Routed({where} -> nobody: {fate})"


class DeadLetterExchange:
    """A queue's dead-letter target that routes through a broker exchange (RabbitMQ DLX).

    Implements the :class:`~brokerlab.dead_letter.DeadLetterTarget` protocol. ``name`` is the
    exchange name, so a queue's repr shows ``dlq='dlx'``.
    """

    def __init__(self, broker: Broker, exchange: str, routing_key: str | None) -> None:
        self.broker = broker
        self.name = exchange
        self.routing_key = routing_key

    def receive_dead_letter(self, message: Message) -> None:
        self.broker._route_dead_letter(message, self.name, self.routing_key)

    def __repr__(self) -> str:
        key = f", routing_key={self.routing_key!r}" if self.routing_key is not None else ""
        return f"DeadLetterExchange({self.name!r}{key})"


def _is_death_cycle(queue: str, deaths: list[dict[str, Any]]) -> bool:
    """RabbitMQ's cycle rule (``mc:is_cycle_v2``): the message died in ``queue`` before, and no
    death since then (that one included) was a rejection."""
    for d in deaths:  # newest first
        if d.get("reason") == "rejected":
            return False
        if d.get("queue") == queue:
            return True
    return False


class Broker:
    """Queues, exchanges and topics on one clock (a fresh :class:`VirtualClock` if None)."""

    def __init__(self, clock: Clock | None = None) -> None:
        if clock is None:
            clock = VirtualClock()
        elif not callable(getattr(clock, "now", None)):
            raise InvalidType(f"clock={clock!r} has no now() method: pass a VirtualClock, or None.")
        self.clock = clock
        self._queues: dict[str, Queue] = {}
        self._queue_settings: dict[str, dict[str, Any]] = {}
        self._exchanges: dict[str, Exchange] = {"": DefaultExchange(self._queues)}
        for name, type_ in PREDECLARED_EXCHANGES.items():
            self._exchanges[name] = make_exchange(name, type_)
        self._topics: dict[str, Topic] = {}
        self._ids = 0
        self._generated = 0
        #: Mandatory messages that could not be routed, oldest first.
        self.returned: list[Returned] = []
        self._confirms = False
        self._counts = dict.fromkeys(
            (
                "published",
                "routed",
                "copies",
                "unroutable_dropped",
                "unroutable_returned",
                "dead_letters_routed",
                "dead_letters_dropped",
                "dead_letter_cycles",
            ),
            0,
        )

    def confirm_delivery(self) -> None:
        """Turn on publisher confirms (pika ``channel.confirm_delivery()``, AMQP
        ``confirm.select``).

        From now on a ``mandatory=True`` publish that no queue takes raises
        :class:`~brokerlab.errors.Unroutable` after it has been returned (recorded in
        :attr:`returned`) and counted. As in RabbitMQ, confirm mode cannot be turned off; calling
        this again changes nothing (pika logs an error and carries on).

        >>> b = Broker()
        >>> b.confirm_delivery()
        >>> b.publish("", "nobody", "hi", mandatory=True)
        Traceback (most recent call last):
          ...
        brokerlab.errors.Unroutable: message 'm1' (exchange '', routing key 'nobody', mandatory=True) reached no queue: ...
        >>> b.returned
        [Returned(message=Message('m1', 'hi', key='nobody'), reason='312 NO_ROUTE')]
        """
        self._confirms = True

    @property
    def confirms(self) -> bool:
        """``True`` once :meth:`confirm_delivery` was called."""
        return self._confirms

    def catch_up(self) -> None:
        """Let every queue (and every topic subscription) apply its timers up to now."""
        for q in list(self._queues.values()):
            q.catch_up()
        for t in list(self._topics.values()):
            for q in t.subscriptions.values():
                q.catch_up()

    def _next_id(self) -> str:
        self._ids += 1
        return f"m{self._ids}"

    # --- lookups ------------------------------------------------------------------------------

    def _find(
        self, kind: str, table: dict[str, Any], name: Any, error: type, how: str, note: str = ""
    ) -> Any:
        self.catch_up()
        found = table.get(name) if isinstance(name, str) else None
        if found is None:
            known = ", ".join(repr(n) for n in table) or "none yet"
            raise error(
                f"{kind} name={name!r} does not exist{note} ({kind}s: {known}). "
                f"Declare it first: broker.declare_{kind}({name!r}{how})."
            )
        return found

    def queue(self, name: str) -> Queue:
        """The queue ``name``; :class:`UnknownQueue` lists the queues that exist."""
        return self._find("queue", self._queues, name, UnknownQueue, "")

    def exchange(self, name: str) -> Exchange:
        """The exchange ``name`` (RabbitMQ: 404 NOT_FOUND if missing);
        :class:`UnknownExchange` lists the exchanges that exist."""
        return self._find(
            "exchange",
            self._exchanges,
            name,
            UnknownExchange,
            ", 'topic'",
            " (RabbitMQ: 404 NOT_FOUND)",
        )

    def topic(self, name: str) -> Topic:
        """The pub/sub topic ``name``; :class:`UnknownTopic` lists the topics that exist."""
        return self._find("topic", self._topics, name, UnknownTopic, "")

    @property
    def queues(self) -> dict[str, Queue]:
        """Queue name -> Queue, in declaration order (a copy)."""
        self.catch_up()
        return dict(self._queues)

    @property
    def exchanges(self) -> dict[str, Exchange]:
        """Exchange name -> Exchange, the default and ``amq.*`` ones first (a copy)."""
        return dict(self._exchanges)

    @property
    def topics(self) -> dict[str, Topic]:
        """Topic name -> Topic, in declaration order (a copy)."""
        return dict(self._topics)

    # --- declaring ----------------------------------------------------------------------------

    def declare_queue(
        self,
        name: str,
        *,
        dead_letter_exchange: str | None = None,
        dead_letter_routing_key: str | None = None,
        **queue_kwargs: Any,
    ) -> Queue:
        """Declare a queue: make it, or return the existing one if the settings are the same.

        ``queue_kwargs`` are :class:`~brokerlab.queue.Queue` settings (``queue_type``,
        ``visibility_timeout``, ``message_ttl``, ``max_length``, ``max_receive_count``,
        ``delivery_limit``, ``fifo``...). ``dead_letter``
        may be a Queue or the name of a declared queue (SQS-style DLQ);
        ``dead_letter_exchange`` (with an optional ``dead_letter_routing_key``) sends dead
        letters through an exchange instead (RabbitMQ DLX). ``name=""`` asks the broker for a
        name (``amq.gen-N``). A declared queue keeps its messages until they are consumed, as in
        RabbitMQ (``retention=None``); pass ``retention=`` in seconds for an SQS-style period.
        """
        name = check_name("queue", name)
        unknown = sorted(set(queue_kwargs) - set(_QUEUE_DEFAULTS))
        if unknown:
            raise InvalidArgument(
                f"{', '.join(unknown)} {'is not a queue setting' if len(unknown) == 1 else 'are not queue settings'}: "
                f"use {', '.join(_QUEUE_DEFAULTS)}, dead_letter_exchange, dead_letter_routing_key "
                "(the broker's clock is used for every queue)."
            )
        if dead_letter_exchange is not None:
            check_name("dead_letter_exchange", dead_letter_exchange)
            if queue_kwargs.get("dead_letter") is not None:
                raise DeadLetterConfigError(
                    "dead_letter and dead_letter_exchange were both given: a queue has one "
                    "dead-letter target. Pass a DLQ (dead_letter=...) or a DLX (dead_letter_exchange=...)."
                )
        if dead_letter_routing_key is not None:
            check_routing_key(dead_letter_routing_key, "dead_letter_routing_key")
            if dead_letter_exchange is None:
                raise DeadLetterConfigError(
                    f"dead_letter_routing_key={dead_letter_routing_key!r} without a "
                    "dead_letter_exchange: RabbitMQ refuses it (406 PRECONDITION_FAILED, "
                    "routing_key_but_no_dlx_defined). Add dead_letter_exchange=..., e.g. ''."
                )
        dead_letter = queue_kwargs.get("dead_letter")
        if isinstance(dead_letter, str):
            queue_kwargs["dead_letter"] = dead_letter = self.queue(dead_letter)
        elif (
            isinstance(dead_letter, Queue) and self._queues.get(dead_letter.name) is not dead_letter
        ):
            raise DeadLetterConfigError(
                f"dead_letter={dead_letter!r} is not a queue of this broker: declare it with "
                "broker.declare_queue(...) and pass it (or its name)."
            )

        settings = {**_QUEUE_DEFAULTS, **queue_kwargs}
        settings["dead_letter_exchange"] = dead_letter_exchange
        settings["dead_letter_routing_key"] = dead_letter_routing_key
        existing = self._queues.get(name)
        if existing is not None:
            old = self._queue_settings[name]
            if old == settings:
                return existing
            diff = ", ".join(
                f"{k}={settings[k]!r} (declared with {old[k]!r})"
                for k in settings
                if old[k] != settings[k]
            )
            raise AlreadyExists(
                f"queue {name!r} already exists with other settings: {diff}. RabbitMQ refuses "
                "an inequivalent redeclaration (406 PRECONDITION_FAILED). Use the same "
                "settings, or another name."
            )
        if name.startswith("amq."):
            raise AccessRefused(
                f"queue {name!r} starts with the reserved prefix 'amq.': RabbitMQ answers "
                "403 ACCESS_REFUSED. Pick another name, or '' to get a generated one."
            )
        if name == "":
            name = f"amq.gen-{self._generated + 1}"
        target = None
        if dead_letter_exchange is not None:
            target = DeadLetterExchange(self, dead_letter_exchange, dead_letter_routing_key)
            queue_kwargs["dead_letter"] = target
        queue_kwargs.setdefault("retention", None)
        q = Queue(name, clock=self.clock, **queue_kwargs)  # validates every setting
        if name.startswith("amq.gen-"):
            self._generated += 1
        self._queues[name] = q
        self._queue_settings[name] = settings
        return q

    def declare_exchange(self, name: str, type: str = "direct") -> Exchange:
        """Declare an exchange of ``type`` 'direct' (the default, as in pika), 'fanout',
        'topic' or 'headers'; return the existing one if it has that type."""
        name = check_name("exchange", name)
        existing = self._exchanges.get(name)
        if name == "":
            raise AccessRefused(
                "exchange '' is the default exchange: it always exists and cannot be declared "
                "(RabbitMQ: 403 ACCESS_REFUSED). Use broker.exchange('') to look at it, or "
                "declare a named exchange."
            )
        fresh = make_exchange(name, type)  # validates the type
        if existing is not None:
            if existing.type == type:
                return existing
            raise AlreadyExists(
                f"exchange {name!r} already exists with type {existing.type!r}, not {type!r}: "
                "RabbitMQ refuses it (406 PRECONDITION_FAILED, inequivalent arg 'type'). "
                "Use the same type, or another name."
            )
        if name.startswith("amq."):
            raise AccessRefused(
                f"exchange {name!r} starts with the reserved prefix 'amq.': RabbitMQ answers "
                "403 ACCESS_REFUSED. Pick another name."
            )
        self._exchanges[name] = fresh
        return fresh

    def declare_topic(self, name: str) -> Topic:
        """Declare a pub/sub topic (SNS-style); return the existing one if declared before."""
        name = check_name("topic", name)
        if name in self._topics:
            return self._topics[name]
        topic = Topic(name, clock=self.clock, next_id=self._next_id)
        self._topics[name] = topic
        return topic

    def delete_queue(self, name: str) -> bool:
        """Delete a queue and its bindings (RabbitMQ queue.delete: deleting a missing queue is
        fine). Returns True if it existed. Its messages are gone, not dead-lettered."""
        name = check_name("queue", name)
        if name not in self._queues:
            return False
        for x in self._exchanges.values():
            x.unbind_queue(name)
        del self._queues[name], self._queue_settings[name]
        return True

    def delete_exchange(self, name: str) -> bool:
        """Delete an exchange and its bindings (missing: fine). Returns True if it existed."""
        name = check_name("exchange", name)
        if name == "" or name.startswith("amq."):
            raise AccessRefused(
                f"exchange {name!r} is pre-declared and cannot be deleted (RabbitMQ: 403 ACCESS_REFUSED)."
            )
        x = self._exchanges.pop(name, None)
        if x is None:
            return False
        for b in x.bindings:  # a deleted exchange keeps no bindings (routes nowhere)
            x.unbind(b.queue, b.key, b.arguments)
        return True

    # --- bindings -----------------------------------------------------------------------------

    def bind(
        self,
        queue: str,
        exchange: str,
        routing_key: str = "",
        arguments: dict[str, Any] | None = None,
    ) -> Binding:
        """Bind ``queue`` to ``exchange`` with a binding key (and arguments, for headers)."""
        q = self.queue(getattr(queue, "name", queue))
        return self.exchange(exchange).bind(q.name, routing_key, arguments)

    def unbind(
        self,
        queue: str,
        exchange: str,
        routing_key: str = "",
        arguments: dict[str, Any] | None = None,
    ) -> bool:
        """Remove a binding; True if it existed. Never fails for a missing binding, queue or
        exchange (RabbitMQ: "an idempotent assertion that the binding must not exist")."""
        queue = getattr(queue, "name", queue)
        check_name("queue", queue)
        check_name("exchange", exchange)
        check_routing_key(routing_key)
        check_arguments(arguments)
        x = self._exchanges.get(exchange)
        if x is None or queue not in self._queues:
            return False
        return x.unbind(queue, routing_key, arguments)

    # --- publishing -------------------------------------------------------------------------------

    def publish(
        self,
        exchange: str,
        routing_key: str,
        payload: Any,
        *,
        headers: dict[str, Any] | None = None,
        mandatory: bool = False,
        id: str | None = None,
        ttl: float | None = None,
        delay: float | None = None,
        group: str | None = None,
        dedup_id: str | None = None,
    ) -> Routed:
        """Publish through ``exchange`` (``""`` is the default exchange: key = queue name).

        Returns the queues it went to (a :class:`Routed` list). ``ttl`` is the per-message TTL
        in seconds (RabbitMQ ``expiration``); ``delay``, ``group`` and ``dedup_id`` are passed
        to the queues (SQS features; FIFO queues need ``group``). Everything is checked before
        anything is delivered: a refused publish changes nothing.
        """
        x = self._exchanges.get(exchange) if isinstance(exchange, str) else None
        if x is None:
            x = self.exchange(exchange)  # raises UnknownExchange
        check_routing_key(routing_key)
        payload = check_payload(payload)
        headers = dict(check_headers(headers))
        if not isinstance(mandatory, bool):
            raise InvalidType(f"mandatory={mandatory!r} is not a bool. Pass True or False.")
        if id is not None and (not isinstance(id, str) or not id):
            raise InvalidType(
                f"id={id!r} is not a non-empty str. Pass e.g. id='order-17', or leave it out."
            )
        check_fan_out([], group, dedup_id, delay, ttl)  # the options, before routing
        targets = x._route(routing_key, headers)
        queues = [self._queues[name] for name in targets]
        check_fan_out(queues, group, dedup_id, delay, ttl)

        message = Message(
            self._next_id() if id is None else id,
            payload,
            routing_key,
            headers,
            self.clock.now(),
            group,
            dedup_id,
        )
        deliver_copies(message, queues, delay, ttl, exchange=exchange)
        x.record(targets)
        self._counts["published"] += 1
        returned = False
        if targets:
            self._counts["routed"] += 1
            self._counts["copies"] += len(targets)
        elif mandatory:
            returned = True
            self._counts["unroutable_returned"] += 1
            back = Returned(message, "312 NO_ROUTE")
            self.returned.append(back)
            if self._confirms:
                raise Unroutable(self._unroutable_text(x, message, routing_key), [back])
        else:
            self._counts["unroutable_dropped"] += 1
        return Routed(targets, message, exchange, routing_key, returned)

    def _unroutable_text(self, x: Exchange, message: Message, routing_key: str) -> str:
        name = x.name
        if name == "":
            fix = (
                f"declare a queue named {routing_key!r} (the default exchange routes by queue name)"
            )
        elif x.type == "headers":
            fix = f"bind a queue to {name!r} with arguments that match the message's headers"
        elif x.type == "fanout":
            fix = f"bind a queue to {name!r}"
        else:
            fix = f"bind a queue to {name!r} with a key that matches {routing_key!r}"
        return (
            f"message {message.id!r} (exchange {name!r}, routing key {routing_key!r}, "
            "mandatory=True) reached no queue: the broker returned it (312 NO_ROUTE, now in "
            "broker.returned) and, with publisher confirms on, the publish raises, as pika's "
            f"UnroutableError does. To fix it, {fix} (in RabbitMQ an alternate exchange can also "
            "catch it), or publish with mandatory=False to let the broker drop it."
        )

    def _route_dead_letter(self, message: Message, exchange: str, routing_key: str | None) -> None:
        """Route a dead letter through a DLX (called by :class:`DeadLetterExchange`)."""
        x = self._exchanges.get(exchange)
        if x is None:  # "If it is missing then, the messages are silently dropped" (docs/dlx)
            self._counts["dead_letters_dropped"] += 1
            return
        key = routing_key if routing_key is not None else (message.key or "")
        targets = x.route(key, message.headers)
        deaths = message.deaths
        if deaths and deaths[0].get("reason") != "rejected":
            kept = [t for t in targets if not _is_death_cycle(t, deaths)]
            self._counts["dead_letter_cycles"] += len(targets) - len(kept)
            targets = kept
        x.record(targets)
        if not targets:
            self._counts["dead_letters_dropped"] += 1
            return
        self._counts["dead_letters_routed"] += 1
        for name in targets:
            copy = copy_message(message)
            copy.key = key
            self._queues[name].receive_dead_letter(copy, exchange=exchange)

    # --- state ------------------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Counters: ``published`` messages, ``routed`` (to at least one queue) and the queue
        ``copies`` made, ``unroutable_dropped`` / ``unroutable_returned`` (RabbitMQ's
        ``messages_unroutable_*_total``), ``dead_letters_routed`` / ``dead_letters_dropped``
        through DLXs (missing DLX, no matching binding, or a cycle) and ``dead_letter_cycles``
        (queue copies skipped by cycle detection); plus how many queues, exchanges, topics."""
        self.catch_up()
        return {
            **self._counts,
            "queues": len(self._queues),
            "exchanges": len(self._exchanges),
            "topics": len(self._topics),
        }

    def graph(self, *, include_defaults: bool = False) -> Any:
        """The setup as a ``networkx.DiGraph``, for drawing.

        Nodes are ``"exchange:<name>"``, ``"queue:<name>"``, ``"consumer:<queue>/<name>"``,
        ``"topic:<name>"`` and ``"subscription:<topic>/<name>"``, each with ``kind`` (exchange,
        queue, consumer, topic, subscription) and ``label``; exchanges also have ``type``.
        Edges have ``kind`` (binding, dead_letter, consume, subscription) and ``label``
        (binding keys joined by ``" | "``, headers arguments as ``k=v``). The default
        exchange, and ``amq.*`` exchanges without bindings, are left out unless
        ``include_defaults``.
        """
        self.catch_up()
        import networkx as nx

        g = nx.DiGraph()

        def add_queue(node: str, q: Queue, kind: str, label: str) -> None:
            g.add_node(node, kind=kind, label=label)
            for c in q.consumers:
                cnode = f"consumer:{q.name}/{c.name}"
                g.add_node(cnode, kind="consumer", label=c.name)
                g.add_edge(
                    node,
                    cnode,
                    kind="consume",
                    label=f"prefetch={c.prefetch}" if c.prefetch else "",
                )

        for name, q in self._queues.items():
            add_queue(f"queue:{name}", q, "queue", name)
        for name, x in self._exchanges.items():
            bindings = x.bindings
            if not include_defaults and (
                name == "" or (name in PREDECLARED_EXCHANGES and not bindings)
            ):
                continue
            g.add_node(f"exchange:{name}", kind="exchange", label=name or "(default)", type=x.type)
            for b in bindings:
                if x.type == "headers":
                    label = ", ".join(f"{k}={v}" for k, v in b.arguments.items()) or "(all)"
                else:
                    label = b.key if x.uses_key else ""
                src, dst = f"exchange:{name}", f"queue:{b.queue}"
                if g.has_edge(src, dst):
                    label = g.edges[src, dst]["label"] + " | " + label
                g.add_edge(src, dst, kind="binding", label=label)
        for name, q in self._queues.items():
            target = q.dead_letter
            if isinstance(target, DeadLetterExchange):
                xnode = f"exchange:{target.name}"
                if xnode not in g:
                    x = self._exchanges.get(target.name)
                    xtype = x.type if x is not None else "missing"
                    g.add_node(xnode, kind="exchange", label=target.name or "(default)", type=xtype)
                g.add_edge(
                    f"queue:{name}", xnode, kind="dead_letter", label=target.routing_key or ""
                )
                key = target.routing_key
                if (
                    target.name == "" and key in self._queues
                ):  # the default exchange's implicit binding
                    g.add_edge(xnode, f"queue:{key}", kind="binding", label=key)
            elif isinstance(target, Queue):
                g.add_edge(f"queue:{name}", f"queue:{target.name}", kind="dead_letter", label="")
        for tname, t in self._topics.items():
            g.add_node(f"topic:{tname}", kind="topic", label=tname)
            for sname, q in t.subscriptions.items():
                snode = f"subscription:{tname}/{sname}"
                if sname in self._queues and self._queues[sname] is q:
                    snode = f"queue:{sname}"  # a broker queue subscribed to the topic
                else:
                    add_queue(snode, q, "subscription", sname)
                f = t.filter_of(sname)
                label = ", ".join(f"{k}={v}" for k, v in f.items()) if f else ""
                g.add_edge(f"topic:{tname}", snode, kind="subscription", label=label)
        return g

    def __repr__(self) -> str:
        user_x = [n for n in self._exchanges if n and n not in PREDECLARED_EXCHANGES]
        parts = [
            f"{len(self._queues)} queue{'s' if len(self._queues) != 1 else ''}",
            f"{len(user_x)} exchange{'s' if len(user_x) != 1 else ''}",
        ]
        if self._topics:
            parts.append(f"{len(self._topics)} topic{'s' if len(self._topics) != 1 else ''}")
        return f"Broker({', '.join(parts)}, clock={self.clock!r})"
