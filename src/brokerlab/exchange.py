"""Exchanges: RabbitMQ's routing tables between publishers and queues.

A publisher never writes to a queue directly. It publishes to an **exchange** with a *routing
key* (and maybe headers); the exchange looks at its **bindings** - rules of the form "queue Q
wants messages whose key/headers look like this" - and hands a copy to every queue with at
least one matching binding (one copy per queue, however many of its bindings match). The
exchange *type* decides what "matches" means:

============ ========================================================================================
``direct``   binding key == routing key
``fanout``   every bound queue; the key is ignored
``topic``    binding key is a pattern over dot-separated words (``*`` one word, ``#`` zero or more)
``headers``  binding arguments compared with the message headers (``x-match`` all/any/...)
default      the exchange named ``""``: a direct exchange where every queue is bound under its own
             name, implicitly; nobody can bind to it or unbind from it
============ ========================================================================================

An exchange here is only the routing table (as in RabbitMQ, where "an initially declared
exchange is an empty named routing table", docs/exchanges): it knows queue *names* and answers
:meth:`Exchange.route`. The :class:`~brokerlab.broker.Broker` puts the copies into the queues.

>>> x = TopicExchange("animals")
>>> _ = x.bind("Q1", "*.orange.*"); _ = x.bind("Q2", "*.*.rabbit"); _ = x.bind("Q2", "lazy.#")
>>> x.route("quick.orange.rabbit"), x.route("lazy.pink.rabbit"), x.route("quick.brown.fox")
(['Q1', 'Q2'], ['Q2'], [])

Binding rules, as RabbitMQ has them (https://www.rabbitmq.com/docs/specification, queue.bind and
queue.unbind rows):

- a binding is the triple (queue, key, arguments); binding the same triple again changes
  nothing, and bindings that differ only in their arguments are different bindings;
- ``unbind`` is "an idempotent assertion that the binding must not exist": removing a binding
  that is not there succeeds and changes nothing (here it returns ``False``);
- a headers binding with an ``x-match`` other than all/any/all-with-x/any-with-x is refused.

Deliberate differences: no exchange-to-exchange bindings, no alternate exchanges, no
durability or auto-delete; keys are ``str`` (RabbitMQ: binaries).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from .errors import AccessRefused, InvalidArgument, InvalidType, OutOfRange
from .routing import (
    MAX_KEY_BYTES,
    check_arguments,
    check_headers,
    check_routing_key,
    headers_match,
    topic_matches,
    x_match_mode,
)

__all__ = [
    "EXCHANGE_TYPES",
    "Binding",
    "DefaultExchange",
    "DirectExchange",
    "Exchange",
    "FanoutExchange",
    "HeadersExchange",
    "TopicExchange",
    "check_exchange",
    "check_name",
    "make_exchange",
]


def _freeze(value: Any) -> Any:
    """A hashable stand-in for binding arguments, keeping types apart (1, 1.0, True, '1')."""
    if isinstance(value, Mapping):
        return ("table", tuple(sorted((k, _freeze(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return ("array", tuple(_freeze(v) for v in value))
    try:
        hash(value)
    except TypeError:
        return ("repr", repr(value))
    return (type(value).__name__, value)


class Binding:
    """One rule of an exchange: route to ``queue`` what matches ``key`` / ``arguments``.

    Two bindings are the same binding when exchange, queue, key and arguments are all equal.
    """

    __slots__ = ("exchange", "queue", "key", "arguments", "_identity")

    def __init__(self, exchange: str, queue: str, key: str = "", arguments: Mapping | None = None):
        self.exchange = exchange
        self.queue = queue
        self.key = key
        self.arguments: dict[str, Any] = copy.deepcopy(dict(arguments or {}))
        self._identity = (exchange, queue, key, _freeze(self.arguments))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Binding) and self._identity == other._identity

    def __hash__(self) -> int:
        return hash(self._identity)

    def __repr__(self) -> str:
        args = f", arguments={self.arguments!r}" if self.arguments else ""
        return f"Binding({self.exchange!r} -> {self.queue!r}, key={self.key!r}{args})"


def check_name(kind: str, name: Any) -> str:
    """Return ``name`` if it can name a queue/exchange/topic: a str of at most 255 UTF-8 bytes
    (AMQP ``shortstr``)."""
    if not isinstance(name, str):
        raise InvalidType(
            f"{kind}={name!r} is a {type(name).__name__}: a {kind} name is a str, e.g. 'jobs'."
        )
    if len(name.encode("utf-8")) > MAX_KEY_BYTES:
        raise OutOfRange(
            f"{kind} name is {len(name.encode('utf-8'))} bytes long: RabbitMQ names are at most "
            f"{MAX_KEY_BYTES} bytes. Use a shorter name."
        )
    return name


def check_exchange(exchange: Any) -> str:
    """Return ``exchange`` if it can name the exchange a message came through: a str of at most
    255 UTF-8 bytes, ``""`` being the default exchange (see :meth:`brokerlab.queue.Queue.enqueue`)."""
    if not isinstance(exchange, str):
        raise InvalidType(
            f"exchange={exchange!r} is a {type(exchange).__name__}: it names the exchange the "
            "message came through, a str ('' for the default exchange). Pass e.g. "
            "exchange='orders', or leave it out."
        )
    return check_name("exchange", exchange)


def _queue_name(queue: Any, name: str = "queue") -> str:
    """Accept a queue name or anything with a ``name`` (a Queue)."""
    value = getattr(queue, "name", queue)
    if not isinstance(value, str) or not value:
        raise InvalidType(
            f"{name}={queue!r} is not a queue: pass a queue name (a non-empty str) or a Queue."
        )
    return value


class Exchange:
    """The routing table every exchange type shares. Subclasses say what a match is."""

    #: RabbitMQ's name for the type: 'direct', 'fanout', 'topic' or 'headers'.
    type: ClassVar[str] = ""
    #: Does this type look at the routing key when routing? (fanout and headers do not.)
    uses_key: ClassVar[bool] = True

    def __init__(self, name: str) -> None:
        self.name = check_name("exchange", name)
        self._bindings: dict[Binding, None] = {}  # insertion-ordered set
        self._published = 0
        self._routed = 0
        self._unroutable = 0

    # --- bindings --------------------------------------------------------------------------

    @property
    def bindings(self) -> list[Binding]:
        """The bindings, in the order they were made."""
        return list(self._bindings)

    def _binding(self, queue: Any, key: Any, arguments: Any) -> Binding:
        """Validate a bind/unbind request and build its Binding (nothing is changed)."""
        queue_name = _queue_name(queue)
        key = check_routing_key(key, "routing_key")
        arguments = check_arguments(arguments)
        return Binding(self.name, queue_name, key, arguments)

    def bind(self, queue: Any, routing_key: str = "", arguments: Mapping | None = None) -> Binding:
        """Add a binding (``queue.bind``). Binding the same thing twice changes nothing.

        ``queue`` is a queue name or a Queue. Returns the :class:`Binding`.
        """
        binding = self._binding(queue, routing_key, arguments)
        self.check_binding(binding)
        if binding not in self._bindings:
            self._bindings[binding] = None
        return binding

    def unbind(self, queue: Any, routing_key: str = "", arguments: Mapping | None = None) -> bool:
        """Remove a binding (``queue.unbind``). Returns ``True`` if it existed.

        Removing a binding that does not exist is not an error: RabbitMQ made ``queue.unbind``
        "an idempotent assertion that the binding must not exist" (docs/specification).
        """
        binding = self._binding(queue, routing_key, arguments)
        if binding not in self._bindings:
            return False
        del self._bindings[binding]
        return True

    def unbind_queue(self, queue: Any) -> int:
        """Remove every binding to ``queue`` (what deleting a queue does). Returns how many."""
        name = _queue_name(queue)
        gone = [b for b in self._bindings if b.queue == name]
        for b in gone:
            del self._bindings[b]
        return len(gone)

    def check_binding(self, binding: Binding) -> None:
        """Raise if this exchange type refuses ``binding`` (only headers exchanges refuse any)."""

    # --- routing ---------------------------------------------------------------------------

    def matches(self, binding: Binding, routing_key: str, headers: Mapping[str, Any]) -> bool:
        """Does this one binding match? (Each exchange type's rule, in one line.)"""
        raise NotImplementedError  # pragma: no cover - every type overrides it

    def route(self, routing_key: str = "", headers: Mapping[str, Any] | None = None) -> list[str]:
        """The queues a message with this key and these headers goes to: each queue once, in
        the order of its first matching binding. Only looks; changes nothing."""
        return self._route(check_routing_key(routing_key), check_headers(headers))

    def _route(self, routing_key: str, headers: Mapping[str, Any]) -> list[str]:
        """``route`` without the argument checks (the broker has checked them already): every
        binding is tried, in binding order. (RabbitMQ indexes its bindings, a trie of words for
        topic exchanges; the course's exchanges hold a handful, so a plain loop is enough.)"""
        targets: dict[str, None] = {}
        for b in self._bindings:
            if b.queue not in targets and self.matches(b, routing_key, headers):
                targets[b.queue] = None
        return list(targets)

    def record(self, targets: list[str]) -> None:
        """Count one published message that was routed to ``targets`` (called by the broker)."""
        self._published += 1
        if targets:
            self._routed += 1
        else:
            self._unroutable += 1

    def stats(self) -> dict[str, int]:
        """Counters: messages ``published`` to this exchange, ``routed`` (to at least one queue),
        ``unroutable`` (to none: dropped or returned), and the number of ``bindings``."""
        return {
            "published": self._published,
            "routed": self._routed,
            "unroutable": self._unroutable,
            "bindings": len(self._bindings),
        }

    # --- display ---------------------------------------------------------------------------

    def _describe(self, b: Binding) -> str:
        return f"{b.key!r} -> {b.queue}"

    def __repr__(self) -> str:
        rules = [self._describe(b) for b in self._bindings]
        shown = ", ".join(rules[:6]) + (f", ... ({len(rules) - 6} more)" if len(rules) > 6 else "")
        count = f"{len(rules)} binding{'s' if len(rules) != 1 else ''}"
        return f"{type(self).__name__}({self.name!r}: {count}{': ' + shown if rules else ''})"


class DirectExchange(Exchange):
    """Routes to the queues whose binding key equals the routing key exactly."""

    type = "direct"

    def matches(self, binding: Binding, routing_key: str, headers: Mapping[str, Any]) -> bool:
        return binding.key == routing_key


class FanoutExchange(Exchange):
    """Routes a copy to every bound queue; the routing key is ignored."""

    type = "fanout"
    uses_key = False

    def matches(self, binding: Binding, routing_key: str, headers: Mapping[str, Any]) -> bool:
        return True

    def _describe(self, b: Binding) -> str:
        return f"-> {b.queue}"


class TopicExchange(Exchange):
    """Routes by pattern: see :func:`brokerlab.routing.topic_matches`."""

    type = "topic"

    def matches(self, binding: Binding, routing_key: str, headers: Mapping[str, Any]) -> bool:
        return topic_matches(binding.key, routing_key)


class HeadersExchange(Exchange):
    """Routes by message headers: see :func:`brokerlab.routing.headers_match`. Key ignored."""

    type = "headers"
    uses_key = False

    def check_binding(self, binding: Binding) -> None:
        x_match_mode(binding.arguments)  # RabbitMQ refuses a bad x-match when binding

    def matches(self, binding: Binding, routing_key: str, headers: Mapping[str, Any]) -> bool:
        return headers_match(binding.arguments, headers)

    def _describe(self, b: Binding) -> str:
        return f"{b.arguments!r} -> {b.queue}"


class DefaultExchange(DirectExchange):
    """The exchange named ``""``: every queue is bound to it under its own name.

    Those bindings are implicit: ``bind`` and ``unbind`` are refused, as RabbitMQ refuses them
    with 403 ACCESS_REFUSED "operation not permitted on the default exchange"
    (``rabbit_channel:prohibit_default_exchange``). ``queues`` is a live view of the broker's
    queue names (a dict, a set, or a function returning names).
    """

    def __init__(
        self, queues: Mapping[str, Any] | Iterable[str] | Callable[[], Iterable[str]] = ()
    ):
        super().__init__("")
        self._queues = queues

    def _names(self) -> Iterable[str]:
        return self._queues() if callable(self._queues) else self._queues

    @property
    def bindings(self) -> list[Binding]:
        return [Binding("", q, q) for q in self._names()]

    def _refuse(self, what: str) -> AccessRefused:
        return AccessRefused(
            f"{what} the default exchange '' is refused: RabbitMQ answers 403 ACCESS_REFUSED "
            "(operation not permitted on the default exchange). Every queue is already bound to it "
            "under its own name; declare your own exchange to bind with other keys."
        )

    def bind(self, queue: Any, routing_key: str = "", arguments: Mapping | None = None) -> Binding:
        raise self._refuse("Binding to")

    def unbind(self, queue: Any, routing_key: str = "", arguments: Mapping | None = None) -> bool:
        raise self._refuse("Unbinding from")

    def unbind_queue(self, queue: Any) -> int:
        return 0  # the implicit binding goes away with the queue itself

    def _route(self, routing_key: str, headers: Mapping[str, Any]) -> list[str]:
        return [routing_key] if routing_key in self._names() else []

    def stats(self) -> dict[str, int]:
        return {**super().stats(), "bindings": len(self.bindings)}

    def __repr__(self) -> str:
        names = list(self._names())
        shown = ", ".join(repr(n) for n in names[:6]) + (", ..." if len(names) > 6 else "")
        return f"DefaultExchange('': every queue under its own name{': ' + shown if names else ''})"


#: Exchange types by RabbitMQ's name for them.
EXCHANGE_TYPES: dict[str, type[Exchange]] = {
    "direct": DirectExchange,
    "fanout": FanoutExchange,
    "topic": TopicExchange,
    "headers": HeadersExchange,
}


def make_exchange(name: str, type: str = "direct") -> Exchange:
    """Build an exchange of RabbitMQ type ``type`` ('direct' by default, as in pika)."""
    if not isinstance(type, str) or type not in EXCHANGE_TYPES:
        allowed = ", ".join(repr(t) for t in EXCHANGE_TYPES)
        raise InvalidArgument(
            f"type={type!r} is not an exchange type: use one of {allowed} (RabbitMQ answers "
            "503 COMMAND_INVALID 'invalid exchange type' otherwise), e.g. type='topic'."
        )
    return EXCHANGE_TYPES[type](name)
