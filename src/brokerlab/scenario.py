"""Scenarios: everything a simulated run needs, checked before it runs.

A :class:`Scenario` says who produces, what the broker looks like, who consumes and how, what
goes wrong, and which seed drives the random choices. It is a frozen dataclass: it cannot change
after it is made, so a run can always be repeated from its scenario alone.

>>> s = Scenario(consumers=Consumers(mode="at-most-once"), faults={"crash_before_processing": 0.2})
>>> s
Scenario(20 msgs, 1 producer at 10/s, queue, 1 consumer at-most-once, Faults(crash_before_processing=0.2), seed=0)

Every value is validated when the scenario is made, before anything runs. A wrong one raises
:class:`~brokerlab.errors.ScenarioError` naming the field, what is allowed and how to fix it:

>>> Consumers(count=0)
Traceback (most recent call last):
...
brokerlab.errors.ScenarioError: consumers.count=0 is out of range: allowed is 1..100. A run needs at least one consumer to deliver to; pass count=1 or more.

The parts:

- :class:`Producers` - how many, how fast, which keys, and whether they retry after a lost
  confirm (and whether the broker de-duplicates those retries: ``idempotent``);
- :class:`BrokerSetup` - a ``"queue"`` (RabbitMQ-style, pushing to consumers), an
  ``"exchange"`` in front of queues, an ``"sqs"`` queue (consumers pull, a visibility
  timeout hides what they took), or a ``"log"`` (Kafka-style, partitions and a consumer
  group);
- :class:`Consumers` - how many, how long each message takes, and the delivery mode (or your
  own handler function);
- :class:`~brokerlab.faults.Faults` - probabilities and/or an explicit schedule.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import ScenarioError
from .faults import FAULTS, Faults

__all__ = ["MODES", "SETUPS", "BrokerSetup", "Consumers", "Producers", "Scenario"]

MODES: tuple[str, ...] = ("at-most-once", "at-least-once", "exactly-once")
SETUPS: tuple[str, ...] = ("queue", "exchange", "sqs", "log")
EXCHANGE_TYPES: tuple[str, ...] = ("direct", "topic", "fanout", "headers")
#: SQS defaults for the ``"sqs"`` setup (see :class:`BrokerSetup`).
SQS_VISIBILITY_TIMEOUT = 30.0
SQS_RECEIVE_BATCH = 1
SQS_POLL_INTERVAL = 0.1


# --- checks that name the field -------------------------------------------------------------------


def _int(where: str, value: Any, low: int, high: int, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(
            f"{where}={value!r} is a {type(value).__name__}: a whole number {low}..{high} is "
            f"needed. {fix}"
        )
    if not (low <= value <= high):
        raise ScenarioError(f"{where}={value!r} is out of range: allowed is {low}..{high}. {fix}")
    return value


def _num(
    where: str, value: Any, low: float, high: float, fix: str, *, open_low: bool = False
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScenarioError(
            f"{where}={value!r} is a {type(value).__name__}: a number {low}..{high} is needed. {fix}"
        )
    too_low = value <= low if open_low else value < low
    if value != value or too_low or value > high:
        bounds = f"more than {low} and at most {high}" if open_low else f"{low}..{high}"
        raise ScenarioError(f"{where}={value!r} is out of range: allowed is {bounds}. {fix}")
    return float(value)


def _choice(where: str, value: Any, allowed: Sequence[str], fix: str) -> str:
    if value not in allowed:
        raise ScenarioError(
            f"{where}={value!r} is not allowed: use one of {', '.join(map(repr, allowed))}. {fix}"
        )
    return value


def _bool(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ScenarioError(f"{where}={value!r} is not a bool: pass True or False.")
    return value


def _set(obj: Any, name: str, value: Any) -> None:
    """Normalise a field of a frozen dataclass, once, in ``__post_init__``."""
    object.__setattr__(obj, name, value)


# --- the parts --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Producers:
    """Who publishes.

    - ``count``: producers (1..100); messages are handed out round-robin, m1 to producer-1,
      m2 to producer-2, ...;
    - ``rate``: messages per second, per producer (each publishes at a steady pace);
    - ``keys``: the message keys, a number of them (``3`` -> ``k1, k2, k3``) or their names;
      message ``m<i>`` gets them round-robin. Keys choose partitions on a log and routing on
      an exchange, and per-key order is checked on them;
    - ``retries``: how many times a producer publishes a message again when its confirm does
      not arrive within ``confirm_timeout`` seconds. ``None`` (the default) means "what the
      delivery mode needs": 0 for at-most-once (fire and forget: a retry could duplicate),
      5 otherwise (a retry is what stops a lost confirm from losing the message). Kafka's
      producer retries practically forever (``retries`` = 2147483647, bounded by
      ``delivery.timeout.ms`` = 2 minutes);
    - ``idempotent``: the broker drops a retried publish it already has. On a log this is
      Kafka's idempotent producer (sequence numbers per partition, on by default since
      Kafka 3.0); on a queue (``"queue"`` or ``"sqs"``) it needs an SQS FIFO queue (deduplication id = message id, a
      5-minute window), which the simulation then uses. ``None`` (the default) means each
      broker's own default: on for a log (unless the producer never retries: Kafka refuses
      idempotence with ``retries=0``), off for a queue.
    """

    count: int = 1
    rate: float = 10.0
    keys: int | Sequence[str] = 1
    retries: int | None = None
    confirm_timeout: float = 1.0
    idempotent: bool | None = None

    def __post_init__(self) -> None:
        _int("producers.count", self.count, 1, 100, "Pass count=1 or more.")
        _num(
            "producers.rate",
            self.rate,
            0,
            1_000_000,
            "The rate is messages per second per producer; pass e.g. rate=10.",
            open_low=True,
        )
        keys = self.keys
        if isinstance(keys, int) and not isinstance(keys, bool):
            _int("producers.keys", keys, 1, 10_000, "Pass a number of keys, e.g. keys=3.")
            keys = tuple(f"k{i}" for i in range(1, keys + 1))
        elif isinstance(keys, Sequence) and not isinstance(keys, (str, bytes)):
            keys = tuple(keys)
            if not keys or not all(isinstance(k, str) for k in keys):
                raise ScenarioError(
                    f"producers.keys={self.keys!r} is not allowed: pass a number of keys (e.g. 3) "
                    "or a non-empty list of strings (e.g. ['alice', 'bob'])."
                )
        else:
            raise ScenarioError(
                f"producers.keys={self.keys!r} is not allowed: pass a number of keys (e.g. 3) or a "
                "list of strings (e.g. ['alice', 'bob'])."
            )
        _set(self, "keys", keys)
        if self.retries is not None:
            _int(
                "producers.retries",
                self.retries,
                0,
                100,
                "Pass retries=0 (never) up to 100, or None.",
            )
        _num(
            "producers.confirm_timeout",
            self.confirm_timeout,
            0,
            3600,
            "Pass the seconds a producer waits for a confirm, e.g. 1.0.",
            open_low=True,
        )
        if self.idempotent is not None:
            _bool("producers.idempotent", self.idempotent)

    def idempotent_for(self, setup: str, mode: str) -> bool:
        """Whether the producers are idempotent on ``setup`` under ``mode`` (see ``idempotent``).

        Kafka turns idempotence on by default only when nothing conflicts with it (KIP-679):
        a producer that never retries is not idempotent.
        """
        if self.idempotent is not None:
            return self.idempotent
        return setup == "log" and self.retries_for(mode) > 0

    def retries_for(self, mode: str) -> int:
        """The retries actually used under ``mode`` (see ``retries``)."""
        if self.retries is not None:
            return self.retries
        return 0 if mode == "at-most-once" else 5

    def __repr__(self) -> str:
        s = "s" if self.count != 1 else ""
        extra = f", {len(self.keys)} keys" if len(self.keys) > 1 else ""
        if self.retries is not None:
            extra += f", retries={self.retries}"
        if self.idempotent is not None:
            extra += ", idempotent" if self.idempotent else ", not idempotent"
        return f"Producers({self.count} producer{s} at {self.rate:g}/s{extra})"


@dataclass(frozen=True)
class BrokerSetup:
    """The broker between producers and consumers.

    - ``kind``: ``"queue"`` (RabbitMQ-style: the broker pushes to consumers, round-robin,
      up to ``prefetch`` unacked each), ``"exchange"`` (producers publish to an exchange of
      ``exchange_type`` bound to ``queues`` queues, each with its own consumers: ``direct``,
      ``topic``, ``fanout`` or ``headers``), ``"sqs"`` (an SQS standard queue: consumers
      *pull* with ``receive``, a received message stays invisible for
      ``visibility_timeout`` and comes back if it is not deleted in time), or ``"log"``
      (Kafka-style: ``partitions`` partitions, the consumers form one consumer group);
    - ``durable``: whether stored messages survive a broker restart (RabbitMQ: a durable
      queue and persistent messages; a transient queue is emptied by a restart). SQS and
      Kafka always keep what they stored, so ``"sqs"`` and ``"log"`` need ``durable=True``;
    - ``max_receive_count``: after this many deliveries a message is dead-lettered, on every
      kind (SQS ``maxReceiveCount`` 1..1000, no default, counts *receives*). ``None`` = never.
      The default here, 5, keeps runs with poison messages short. On ``"queue"`` and
      ``"exchange"`` this is a deliberate difference from RabbitMQ: a quorum queue's
      ``x-delivery-limit`` = N counts *returns*, so it delivers N + 1 times (default 20 since
      4.0), and a classic queue has no limit. The simulation counts deliveries the same way on
      every kind so that runs compare; ``Queue(queue_type="quorum", delivery_limit=N)`` shows
      RabbitMQ's own rule;
    - ``prefetch``: unacked deliveries per consumer (RabbitMQ ``basic.qos``; 0 = unlimited);
    - ``latency``: one-way network latency in seconds, for every message on the wire.

    ``"sqs"`` only (``None`` means SQS's default; any value on another kind is refused):

    - ``visibility_timeout``: seconds a received message stays hidden from other receivers
      (SQS ``VisibilityTimeout``: default 30, 0..43200 = 12 hours);
    - ``receive_batch``: messages per receive (SQS ReceiveMessage ``MaxNumberOfMessages``:
      default 1, 1..10);
    - ``poll_interval``: seconds a consumer waits after an empty receive before it asks again
      (default 0.1; a consumer that got messages asks again as soon as it has handled them).
      SQS long polling (``WaitTimeSeconds``) is not modelled: a short poll on a timer.

    On ``"sqs"``, ``producers.idempotent=True`` makes it an SQS FIFO queue (group id = the
    message key, deduplication id = the message id), as on ``"queue"``; ``prefetch`` does not
    apply (nothing is pushed).

    >>> BrokerSetup(kind="sqs", visibility_timeout=5, receive_batch=10)
    BrokerSetup(sqs, visibility 5s, receive 10, poll 0.1s)
    """

    kind: str = "queue"
    partitions: int = 1
    durable: bool = True
    max_receive_count: int | None = 5
    prefetch: int = 1
    exchange_type: str = "direct"
    queues: int = 1
    latency: float = 0.001
    visibility_timeout: float | None = None
    receive_batch: int | None = None
    poll_interval: float | None = None

    def __post_init__(self) -> None:
        _choice(
            "broker.kind",
            self.kind,
            SETUPS,
            "A 'queue' hands each message to one consumer (pushed; 'sqs': pulled); a 'log' "
            "keeps them in partitions.",
        )
        _int("broker.partitions", self.partitions, 1, 1000, "Pass partitions=1 or more.")
        _bool("broker.durable", self.durable)
        if self.max_receive_count is not None:
            _int(
                "broker.max_receive_count",
                self.max_receive_count,
                1,
                1000,
                "SQS allows 1..1000; pass e.g. 5, or None to never dead-letter.",
            )
        _int("broker.prefetch", self.prefetch, 0, 65535, "Pass 1 (one at a time) or 0 (unlimited).")
        _choice(
            "broker.exchange_type",
            self.exchange_type,
            EXCHANGE_TYPES,
            "The exchange type decides which bound queues get a message.",
        )
        _int("broker.queues", self.queues, 1, 20, "Pass queues=1 or more.")
        if self.kind != "exchange" and self.queues != 1:
            raise ScenarioError(
                f"broker.queues={self.queues!r} needs kind='exchange': only an exchange can fan "
                "messages out to several queues. Pass kind='exchange' or queues=1."
            )
        if self.kind != "log" and self.partitions != 1:
            raise ScenarioError(
                f"broker.partitions={self.partitions!r} needs kind='log': only a log has "
                "partitions. Pass kind='log' or partitions=1."
            )
        _num("broker.latency", self.latency, 0, 60, "Pass seconds, e.g. 0.001.")
        self._check_sqs()

    def _check_sqs(self) -> None:
        """The SQS settings: checked on ``"sqs"`` (``None`` -> SQS's default), refused elsewhere."""
        given = [
            (name, value)
            for name, value in (
                ("visibility_timeout", self.visibility_timeout),
                ("receive_batch", self.receive_batch),
                ("poll_interval", self.poll_interval),
            )
            if value is not None
        ]
        if self.kind != "sqs":
            if given:
                name, value = given[0]
                raise ScenarioError(
                    f"broker.{name}={value!r} needs kind='sqs': only SQS consumers pull messages "
                    f"and hide them for a visibility timeout (kind={self.kind!r} pushes them or "
                    f"reads a log). Pass kind='sqs', or leave {name} out."
                )
            return
        vt = _num(
            "broker.visibility_timeout",
            SQS_VISIBILITY_TIMEOUT if self.visibility_timeout is None else self.visibility_timeout,
            0,
            43200,
            "SQS allows 0..43200 seconds (12 hours); pass e.g. 30.",
        )
        batch = _int(
            "broker.receive_batch",
            SQS_RECEIVE_BATCH if self.receive_batch is None else self.receive_batch,
            1,
            10,
            "SQS ReceiveMessage returns 1..10 messages; pass e.g. 1 or 10.",
        )
        poll = _num(
            "broker.poll_interval",
            SQS_POLL_INTERVAL if self.poll_interval is None else self.poll_interval,
            0,
            3600,
            "Pass the seconds between empty receives, e.g. 1.0.",
            open_low=True,
        )
        if not self.durable:
            raise ScenarioError(
                "broker.durable=False needs kind='queue' or 'exchange': SQS stores every message "
                "redundantly and has no transient queues. Pass durable=True for 'sqs'."
            )
        if self.prefetch != 1:
            raise ScenarioError(
                f"broker.prefetch={self.prefetch!r} does not apply to kind='sqs': nothing is "
                "pushed, consumers pull receive_batch messages at a time. Pass receive_batch "
                "(1..10) instead, and leave prefetch out."
            )
        _set(self, "visibility_timeout", vt)
        _set(self, "receive_batch", batch)
        _set(self, "poll_interval", poll)

    def __repr__(self) -> str:
        if self.kind == "sqs":
            text = (
                f"sqs, visibility {self.visibility_timeout:g}s, receive {self.receive_batch}, "
                f"poll {self.poll_interval:g}s"
            )
        elif self.kind == "log":
            s = "s" if self.partitions != 1 else ""
            text = f"log, {self.partitions} partition{s}"
        elif self.kind == "exchange":
            s = "s" if self.queues != 1 else ""
            text = f"{self.exchange_type} exchange -> {self.queues} queue{s}"
        else:
            text = "queue"
        if not self.durable:
            text += ", not durable"
        return f"BrokerSetup({text})"


Handler = Callable[[Any, Any], Any]


def _check_handler(handler: Any) -> None:
    if handler is None:
        return
    if not callable(handler):
        raise ScenarioError(
            f"consumers.handler={handler!r} is not a function: pass a function "
            "handle(delivery, ctx), or None to use the delivery mode's own handler."
        )
    try:
        inspect.signature(handler).bind(None, None)
    except TypeError:
        raise ScenarioError(
            f"consumers.handler={getattr(handler, '__name__', handler)!r} cannot be called as "
            "handler(delivery, ctx): define it with exactly those two parameters, e.g. "
            "def handle(delivery, ctx): ..."
        ) from None
    except ValueError:  # no signature (a builtin): let the run find out
        pass


@dataclass(frozen=True)
class Consumers:
    """Who consumes, and how.

    - ``count``: consumers (1..100); on a log they form one consumer group;
    - ``processing_time``: seconds each message takes before the handler's calls take effect;
    - ``mode``: the delivery guarantee the consumers aim for, and so which built-in handler
      runs (see :mod:`brokerlab.simulation`): ``"at-most-once"`` acks/commits before
      processing, ``"at-least-once"`` processes, then acks/commits, ``"exactly-once"`` is an
      idempotent consumer with a dedup store (queue) or a transaction around effect and
      commit (log);
    - ``handler``: your own ``handler(delivery, ctx)``, run instead of the built-in one; the
      ``mode`` then says which guarantee it is checked against;
    - ``batch``: records per poll on a log (Kafka's ``max.poll.records``, default 500);
    - ``restart_delay``: seconds a crashed consumer takes to come back;
    - ``max_steps``: how many steps (bytecode instructions) of its own code a handler may run
      for one delivery before it is stopped
      (a handler that loops forever must not hang the notebook).
    """

    count: int = 1
    processing_time: float = 0.01
    mode: str = "at-least-once"
    handler: Handler | None = field(default=None, compare=False)
    batch: int = 5
    restart_delay: float = 0.5
    max_steps: int = 100_000

    def __post_init__(self) -> None:
        _int(
            "consumers.count",
            self.count,
            1,
            100,
            "A run needs at least one consumer to deliver to; pass count=1 or more.",
        )
        _num(
            "consumers.processing_time",
            self.processing_time,
            0,
            3600,
            "Pass seconds per message, e.g. 0.01.",
        )
        _choice(
            "consumers.mode",
            self.mode,
            MODES,
            "The mode is the delivery guarantee the consumers aim for.",
        )
        _check_handler(self.handler)
        _int(
            "consumers.batch",
            self.batch,
            1,
            500,
            "Kafka's max.poll.records is 500 by default; pass e.g. 5.",
        )
        _num("consumers.restart_delay", self.restart_delay, 0, 3600, "Pass seconds, e.g. 0.5.")
        _int("consumers.max_steps", self.max_steps, 100, 100_000_000, "Pass e.g. 100000.")

    def __repr__(self) -> str:
        s = "s" if self.count != 1 else ""
        how = f"handler={getattr(self.handler, '__name__', 'handler')}, " if self.handler else ""
        return (
            f"Consumers({self.count} consumer{s}, {how}{self.mode}, {self.processing_time:g}s each)"
        )


@dataclass(frozen=True)
class Scenario:
    """A whole run: producers, broker, consumers, faults, seed, and how much to do.

    - ``messages``: how many messages the producers publish in all (1..100000);
    - ``duration``: stop the run at this virtual time (seconds); ``None`` runs until every
      message is settled (acked, committed or dead-lettered) and nothing is left to happen;
    - ``seed``: drives every random choice (fault draws, delays), so the same scenario gives
      the same history, byte for byte.

    ``faults`` also accepts a dict of probabilities or a list of :class:`~brokerlab.faults.Fault`.
    """

    producers: Producers = field(default_factory=Producers)
    broker: BrokerSetup = field(default_factory=BrokerSetup)
    consumers: Consumers = field(default_factory=Consumers)
    faults: Faults = field(default_factory=Faults)
    seed: int = 0
    messages: int = 20
    duration: float | None = None

    def __post_init__(self) -> None:
        for name, cls in (
            ("producers", Producers),
            ("broker", BrokerSetup),
            ("consumers", Consumers),
        ):
            value = getattr(self, name)
            if isinstance(value, str) and cls is BrokerSetup:
                _set(self, name, BrokerSetup(kind=value))  # broker="log" is a handy shortcut
            elif not isinstance(value, cls):
                raise ScenarioError(
                    f"{name}={value!r} is not a {cls.__name__}: build it with {cls.__name__}(...)."
                )
        _set(self, "faults", Faults.coerce(self.faults))
        _int("seed", self.seed, 0, 2**63 - 1, "Pass a whole number >= 0, e.g. seed=1.")
        _int("messages", self.messages, 1, 100_000, "Pass how many messages to publish, e.g. 20.")
        if self.duration is not None:
            _num(
                "duration",
                self.duration,
                0,
                10**7,
                "Pass virtual seconds, e.g. 60, or None.",
                open_low=True,
            )
        self._check_combination()

    def _check_combination(self) -> None:
        kind = self.broker.kind
        for f in sorted(self.faults.kinds):
            if kind not in FAULTS[f].setups:
                where = ", ".join(FAULTS[f].setups)
                raise ScenarioError(
                    f"faults: {f!r} cannot happen with broker.kind={kind!r}: it applies to "
                    f"{where} only. Remove it, or pick a broker it applies to."
                )
        for fault in self.faults.schedule:
            if fault.group is not None:
                queues = [f"q{i}" for i in range(1, self.broker.queues + 1)]
                if kind != "exchange" or fault.group not in queues:
                    raise ScenarioError(
                        f"faults: {fault!r} names group={fault.group!r}, but "
                        + (
                            f"this exchange's queues are {', '.join(queues)}. Name one of those."
                            if kind == "exchange"
                            else f"broker.kind={kind!r} has one group of consumers. Leave "
                            "group out."
                        )
                    )
            if fault.msg is not None:
                number = fault.msg[1:] if fault.msg.startswith("m") else ""
                if not number.isdigit() or not (1 <= int(number) <= self.messages):
                    raise ScenarioError(
                        f"faults: {fault!r} names msg={fault.msg!r}, but this run publishes "
                        f"m1..m{self.messages}. Name one of those."
                    )
        if (
            self.producers.idempotent
            and kind in ("queue", "sqs")
            and "duplicate_delivery" in self.faults.kinds
        ):
            raise ScenarioError(
                f"faults: 'duplicate_delivery' cannot happen with producers.idempotent=True on "
                f"kind={kind!r}: that queue is an SQS FIFO queue, which never stores a message twice. "
                "Remove the fault, or pass idempotent=False."
            )
        if (
            kind == "log"
            and self.producers.idempotent
            and self.producers.retries_for(self.consumers.mode) == 0
        ):
            raise ScenarioError(
                "producers.idempotent=True with retries=0 (at-most-once producers never retry): "
                "Kafka refuses enable.idempotence=true with retries=0 (ConfigException). Pass "
                "retries=1 or more, or idempotent=False."
            )
        if kind == "log" and not self.broker.durable:
            raise ScenarioError(
                "broker.durable=False needs kind='queue' or 'exchange': a Kafka log keeps its "
                "records on disk across a restart. Pass durable=True for a log."
            )
        if self.producers.idempotent and kind == "exchange":
            raise ScenarioError(
                "producers.idempotent=True needs broker.kind='log' (Kafka's idempotent producer) "
                "or 'queue'/'sqs' (an SQS FIFO queue de-duplicates): an AMQP exchange cannot drop a "
                "retried publish. Pass idempotent=False, or another broker kind."
            )

    # --- conveniences -----------------------------------------------------------------------------

    def replace(self, **changes: Any) -> Scenario:
        """A copy with some fields changed (validated again), e.g. ``s.replace(seed=2)``."""
        return replace(self, **changes)

    def with_mode(self, mode: str) -> Scenario:
        """The same scenario with consumers in another delivery mode."""
        return replace(self, consumers=replace(self.consumers, mode=mode))

    def __repr__(self) -> str:
        p, c = self.producers, self.consumers
        ps = "s" if p.count != 1 else ""
        cs = "s" if c.count != 1 else ""
        who = f" handler={getattr(c.handler, '__name__', 'handler')}" if c.handler else ""
        broker = repr(self.broker)[len("BrokerSetup(") : -1]
        parts = [
            f"{self.messages} msgs",
            f"{p.count} producer{ps} at {p.rate:g}/s",
            broker,
            f"{c.count} consumer{cs} {c.mode}{who}",
        ]
        if self.faults:
            parts.append(repr(self.faults))
        parts.append(f"seed={self.seed}")
        if self.duration is not None:
            parts.append(f"duration={self.duration:g}s")
        return f"Scenario({', '.join(parts)})"
