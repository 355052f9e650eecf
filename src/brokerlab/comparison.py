"""Kafka, RabbitMQ and SQS side by side, measured on the reference models, never typed in.

Every field of a :class:`Profile` is the outcome of a small experiment (a *probe*) run on the
model that stands for the system:

==============  ===========================================================================
system          model
==============  ===========================================================================
Kafka           :class:`brokerlab.log.Log`: a topic of 3 partitions, consumer groups
RabbitMQ        :class:`brokerlab.broker.Broker`: exchanges, bindings, declared queues
SQS standard    :class:`brokerlab.queue.Queue` with SQS's defaults
SQS FIFO        :class:`brokerlab.queue.Queue` with ``fifo=True`` and message groups
==============  ===========================================================================

The probes, one per field (each docstring says exactly what it does):

- **ordering**: six messages over two keys (Kafka keys, FIFO message groups); a consumer
  takes the first and crashes, a second one carries on. Is the order the second one gets kept
  overall, per unit the message carries (partition, message group), or not at all?
- **replay**: consume and acknowledge a message, then try the system's way of reading it again.
- **keeps_after_consume**: after the acknowledgement, does the broker still hold the message?
- **retention**: publish, consume nothing, move the clock a day at a time; then try the
  longest retention the model accepts, and a size limit.
- **content_routing**: do two messages that differ only in routing key or headers reach
  different consumers?
- **fan_out**: do two independent consumers (groups, bound queues) both get one message?
- **delivery**: a consumer takes a message and crashes before acknowledging it: does the message
  come back (at-least-once) or is it gone (at-most-once)?
- **deduplication**: the producer sends the same message twice (as a retry after a timeout
  does, with the same deduplication id where the system has one): how many are stored?

Because the answers are measured, a change to a model changes the table, and the notebook that
prints it fails until someone looks. ``tests/test_comparison.py`` checks each probe against the
real system's documentation and shows that breaking a model flips the field.

Sources for what the real systems do are in :data:`FIDELITY` and in the tests.
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, fields
from typing import Any

from .errors import BrokerError, InvalidArgument

__all__ = [
    "FIDELITY",
    "SYSTEMS",
    "ComparisonTable",
    "Profile",
    "comparison_table",
    "fidelity_notes",
    "probe",
    "profiles",
]

SYSTEMS = ("Kafka", "RabbitMQ", "SQS standard", "SQS FIFO")
DAY = 24 * 3600  # seconds
_HORIZON_DAYS = 30  # the retention probe watches an unconsumed message this long


@dataclass(frozen=True)
class Profile:
    """What a messaging system does, as measured on its model (see the module docstring)."""

    system: str  # "Kafka", "RabbitMQ", "SQS standard", "SQS FIFO"
    ordering: str  # "per partition" | "per queue" | "best effort" | "per message group"
    replay: bool  # a consumer can read again what was already consumed and acknowledged
    keeps_after_consume: bool  # a message stays stored after it was consumed
    retention: str  # e.g. "by time or size (7 days by default)", "until consumed"
    content_routing: bool  # routes by pattern or headers (topic/headers exchanges)
    fan_out: bool  # one message can reach several independent consumers/groups
    delivery: str  # "at-least-once" etc. as the model shows it by default
    deduplication: bool  # the broker itself drops duplicate sends


# --- one harness per model: the same few verbs on each ------------------------------------------


class _Kafka:
    """The log: a topic ``probe`` of 3 partitions; consumers in groups."""

    system = "Kafka"

    def __init__(self, **topic: Any) -> None:
        from .clock import VirtualClock
        from .log import Log

        self.clock = VirtualClock()
        self.log = Log(self.clock)
        self.log.create_topic("probe", 3, **topic)
        self.producer = self.log.producer()
        self._n = 0
        self._batches: dict[str, list] = {}

    def send(self, body: str, key: str | None = None, dedup_id: str | None = None) -> None:
        self.producer.send("probe", body, key=key)

    def consumer(self, group: str = "probe") -> Any:
        self._n += 1
        c = self.log.consumer(
            group=group,
            name=f"{group}-{self._n}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        c.subscribe(["probe"])
        return c

    def take(self, c: Any) -> tuple[str, str, Any] | None:
        """One message: (body, the unit it came through, a token to acknowledge it). Records
        come from an ordinary poll (up to 500), handed out one at a time."""
        batch = self._batches.setdefault(c.name, [])
        if not batch:
            batch.extend(c.poll())
        if not batch:
            return None
        r = batch.pop(0)
        return r.value, f"partition {r.partition}", r

    def done(self, c: Any, token: Any) -> None:
        c.commit({(token.topic, token.partition): token.offset + 1})

    def crash(self, c: Any) -> None:
        c.crash()
        self.clock.advance(c.session_timeout_ms / 1000)  # the group notices and rebalances

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def stored(self) -> int:
        topic = self.log.topic("probe")
        return sum(p.log_end_offset - p.log_start_offset for p in topic.partitions)

    def holds(self, body: str) -> bool:
        topic = self.log.topic("probe")  # applies retention up to now
        return any(r.value == body for p in topic.partitions for r in p.records())

    def read_again(self, c: Any) -> list[str]:
        """Kafka's replay: seek back to the start of what is retained and poll."""
        c.seek_to_beginning()
        return list(c.poll().values())

    def independent_readers(self) -> list[Any]:
        return [self.consumer("billing"), self.consumer("shipping")]

    @staticmethod
    def settings_for_retention(days: float) -> dict[str, Any]:
        return {"retention_ms": int(days * DAY * 1000)}

    def size_limited(self) -> bool:
        """Does a size limit delete old messages? (Kafka's ``retention.bytes``)"""
        k = _Kafka(retention_bytes=1000)
        for _ in range(3):
            k.producer.send("probe", "x" * 600, partition=0)
        k.advance(1)  # retention is applied when time moves
        return k.log.topic("probe").partition(0).log_start_offset > 0


class _RabbitMQ:
    """A broker: a direct exchange ``probe`` with one queue bound to it, push consumers."""

    system = "RabbitMQ"

    def __init__(self, **queue: Any) -> None:
        from .broker import Broker

        self.broker = Broker()
        self.clock = self.broker.clock
        self.broker.declare_exchange("probe", "direct")
        self.queue = self.broker.declare_queue("work", **queue)
        self.broker.bind("work", "probe", "work")
        self._n = 0

    def send(self, body: str, key: str | None = None, dedup_id: str | None = None) -> None:
        self.broker.publish("probe", "work", body, headers={"key": key} if key else None)

    def consumer(self, queue: str = "work") -> Any:
        self._n += 1
        return self.broker.queue(queue).consume(f"c{self._n}", prefetch=1)

    def take(self, c: Any) -> tuple[str, str, Any] | None:
        got = c.take() or c.unacked
        if not got:
            return None
        d = got[0]
        return d.payload, f"queue {d.queue}", d

    def done(self, c: Any, token: Any) -> None:
        c.ack(token)

    def crash(self, c: Any) -> None:
        c.crash()  # the connection closes: RabbitMQ requeues the unacked deliveries at once

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def stored(self) -> int:
        q = self.broker.queue("work")
        return len(q) + len(q.in_flight())

    def holds(self, body: str) -> bool:
        q = self.broker.queue("work")
        return any(m.payload == body for m in q.peek()) or any(
            d.payload == body for d in q.in_flight()
        )

    def read_again(self, c: Any) -> list[str]:
        """RabbitMQ has no seek: a new consumer on the queue gets what is still there."""
        again = self.consumer()
        return [d.payload for d in again.take()]

    def independent_readers(self) -> list[Any]:
        """Two queues bound to a fanout exchange: RabbitMQ's publish/subscribe."""
        b = self.broker
        b.declare_exchange("events", "fanout")
        for name in ("billing", "shipping"):
            b.declare_queue(name)
            b.bind(name, "events")
        return [self.consumer("billing"), self.consumer("shipping")]

    def send_to_readers(self, body: str) -> None:
        self.broker.publish("events", "", body)

    @staticmethod
    def settings_for_retention(days: float) -> dict[str, Any]:
        return {"retention": days * DAY}

    def size_limited(self) -> bool:
        return False  # probed only for systems that delete by time


class _SQS:
    """An SQS queue (standard or FIFO), pulled with receive and delete."""

    def __init__(self, fifo: bool = False, **queue: Any) -> None:
        from .clock import VirtualClock
        from .queue import Queue

        self.fifo = fifo
        self.system = "SQS FIFO" if fifo else "SQS standard"
        self.clock = VirtualClock()
        self.queue = Queue("work.fifo" if fifo else "work", clock=self.clock, fifo=fifo, **queue)
        self._n = 0

    def send(self, body: str, key: str | None = None, dedup_id: str | None = None) -> None:
        if self.fifo:
            self.queue.publish(body, group=key or "g", dedup_id=dedup_id or body)
        else:
            self.queue.publish(body, headers={"key": key} if key else None)

    def consumer(self) -> Any:
        self._n += 1
        return f"c{self._n}"  # SQS consumers are just callers of ReceiveMessage

    def take(self, c: Any) -> tuple[str, str, Any] | None:
        got = self.queue.receive(1)
        if not got:
            return None
        d = got[0]
        unit = f"group {d.message.group}" if self.fifo else f"queue {d.queue}"
        return d.payload, unit, d

    def done(self, c: Any, token: Any) -> None:
        self.queue.ack(token)

    def crash(self, c: Any) -> None:
        pass  # SQS cannot see a crash: the message comes back when its visibility timeout ends

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def stored(self) -> int:
        return len(self.queue) + len(self.queue.in_flight())

    def holds(self, body: str) -> bool:
        q = self.queue
        return any(m.payload == body for m in q.peek()) or any(
            d.payload == body for d in q.in_flight()
        )

    def read_again(self, c: Any) -> list[str]:
        """SQS has no seek: receive again and see what comes."""
        return [d.payload for d in self.queue.receive(10)]

    def independent_readers(self) -> list[Any]:
        return [self.consumer(), self.consumer()]

    @staticmethod
    def settings_for_retention(days: float) -> dict[str, Any]:
        return {"retention": days * DAY}

    def size_limited(self) -> bool:
        return False


def _harness(system: str, **settings: Any) -> Any:
    if system == "Kafka":
        return _Kafka(**settings)
    if system == "RabbitMQ":
        return _RabbitMQ(**settings)
    if system == "SQS standard":
        return _SQS(fifo=False, **settings)
    if system == "SQS FIFO":
        return _SQS(fifo=True, **settings)
    raise InvalidArgument(
        f"system={system!r} is not one of the compared systems: pick one of "
        f"{', '.join(map(repr, SYSTEMS))}."
    )


# --- the probes --------------------------------------------------------------------------------

# Two keys that land in different partitions of 3 (murmur2: 'a' -> 1, 'b' -> 2); on a FIFO
# queue they are the message groups.
_KEYS = ("a", "b")


def probe_ordering(system: str) -> tuple[str, str]:
    """Send m1..m6, alternating two keys; consumer A takes m1 and crashes; consumer B then takes
    and acknowledges everything. Order kept overall: "per queue"; kept only within the unit the
    messages came through (a partition, a message group): "per <unit>"; else "best effort"."""
    h = _harness(system)
    sent = [f"m{i}" for i in range(1, 7)]
    for i, body in enumerate(sent):
        h.send(body, key=_KEYS[i % 2])
    a = h.consumer()
    first = h.take(a)
    h.crash(a)
    b = h.consumer()
    got: list[tuple[str, str]] = []
    for _ in range(40):  # enough turns for every visibility timeout to run out
        taken = h.take(b)
        if taken is None:
            h.advance(10)
            continue
        body, unit, token = taken
        got.append((body, unit))
        h.done(b, token)
        if len(got) == len(sent):
            break
    order = [body for body, _ in got]
    units = {u for _, u in got}
    per_unit = all(_in_order([body for body, u in got if u == unit], sent) for unit in units)
    evidence = f"A took {first[0]} and crashed; B got {', '.join(order)}"
    if sorted(order, key=sent.index) != sorted(sent, key=sent.index):
        return "best effort", evidence + " (a message never came back)"
    if order == sent:
        return "per queue", evidence + ": publish order"
    if per_unit and len(units) > 1:
        kind = next(iter(units)).split()[0]
        name = {"partition": "partition", "group": "message group"}.get(kind, kind)
        return f"per {name}", evidence + f": in order within each {name}, not overall"
    return "best effort", evidence + ": out of publish order"


def _in_order(seen: list[str], sent: list[str]) -> bool:
    return [sent.index(b) for b in seen] == sorted(sent.index(b) for b in seen)


def _consume_one(h: Any) -> tuple[Any, str]:
    h.send("m1", key=_KEYS[0])
    c = h.consumer()
    body, _, token = h.take(c)
    h.done(c, token)
    return c, body


def probe_replay(system: str) -> tuple[bool, str]:
    """Consume and acknowledge m1, then use the system's way to read it again."""
    h = _harness(system)
    c, body = _consume_one(h)
    again = h.read_again(c)
    return body in again, f"after the ack, reading again returned {again or 'nothing'}"


def probe_keeps_after_consume(system: str) -> tuple[bool, str]:
    """Consume and acknowledge m1: how many messages does the broker still hold?"""
    h = _harness(system)
    _consume_one(h)
    n = h.stored()
    return n > 0, f"{n} message{'s' if n != 1 else ''} stored after the ack"


def _gone_after_days(system: str, **settings: Any) -> int | None:
    """Publish one message, consume nothing, move the clock an hour at a time: after how many
    days (rounded) is it gone? ``None`` if it is still there after the horizon."""
    h = _harness(system, **settings)
    h.send("m1", key=_KEYS[0])
    for hour in range(1, 24 * _HORIZON_DAYS + 1):
        h.advance(3600)
        if not h.holds("m1"):
            return round(hour / 24)
    return None


def _longest_accepted_days(system: str) -> int | None:
    """The most whole days of retention the model accepts when asked for 1, 2, 3... days; None
    if it accepts every length up to the probe's horizon (no upper limit found)."""
    settings = type(_harness(system)).settings_for_retention
    longest = 0
    for days in range(1, _HORIZON_DAYS + 1):
        try:
            _harness(system, **settings(days))
        except BrokerError:
            return longest
        longest = days
    return None


def probe_retention(system: str) -> tuple[str, str]:
    """How long an unconsumed message stays by default, the longest the system lets you ask
    for, whether a size limit deletes too; or, if it stays, whether consuming ends its life."""
    default = _gone_after_days(system)
    if default is None:
        h = _harness(system)
        _consume_one(h)
        if h.stored() == 0:
            return "until consumed", (
                f"unconsumed, still there after {_HORIZON_DAYS} days; gone once acknowledged"
            )
        return "for ever", f"still there after {_HORIZON_DAYS} days, consumed or not"
    longest = _longest_accepted_days(system)
    size = _harness(system).size_limited()
    if longest is None:
        how = "by time or size" if size else "by time"
        return f"{how} ({default} days by default)", (
            f"gone after {default} days unconsumed; every setting up to {_HORIZON_DAYS} days accepted"
            + ("; a size limit also deletes the oldest" if size else "")
        )
    return f"up to {longest} days ({default} by default)", (
        f"gone after {default} days unconsumed; {longest + 1} days is refused"
    )


def probe_content_routing(system: str) -> tuple[bool, str]:
    """Two messages that differ only in their key/headers ('eu.order', 'us.order'): do they
    reach different consumers? RabbitMQ is given the topic exchange it offers for this; the
    others have nothing but their topic or queue."""
    if system == "RabbitMQ":
        from .broker import Broker

        b = Broker()
        b.declare_exchange("orders", "topic")
        for queue, pattern in (("eu-team", "eu.#"), ("us-team", "us.#")):
            b.declare_queue(queue)
            b.bind(queue, "orders", pattern)
        reached = [tuple(b.publish("orders", key, key)) for key in ("eu.order", "us.order")]
    else:
        h = _harness(system)
        readers = h.independent_readers()
        for key in ("eu.order", "us.order"):
            h.send(key, key=key)
        got: dict[str, set[int]] = {}
        for i, r in enumerate(readers):
            while (taken := h.take(r)) is not None:
                got.setdefault(taken[0], set()).add(i)
                h.done(r, taken[2])
        reached = [tuple(sorted(got.get(key, ()))) for key in ("eu.order", "us.order")]
        reached = [tuple(f"reader {i + 1}" for i in r) for r in reached]
    differs = reached[0] != reached[1]
    return differs, f"eu.order -> {list(reached[0])}, us.order -> {list(reached[1])}"


def probe_fan_out(system: str) -> tuple[bool, str]:
    """Two independent readers (Kafka: two groups; RabbitMQ: two queues on a fanout exchange;
    SQS: two consumers of the queue); one message: how many readers get it?"""
    h = _harness(system)
    readers = h.independent_readers()
    if system == "RabbitMQ":
        h.send_to_readers("m1")
    else:
        h.send("m1", key=_KEYS[0])
    n = 0
    for r in readers:
        taken = h.take(r)
        if taken is not None:
            n += 1
            h.done(r, taken[2])
    return n > 1, f"{n} of 2 independent readers got m1"


def probe_delivery(system: str) -> tuple[str, str]:
    """A consumer takes m1 and crashes before acknowledging: does m1 come back?"""
    h = _harness(system)
    h.send("m1", key=_KEYS[0])
    a = h.consumer()
    h.take(a)
    h.crash(a)
    b = h.consumer()
    for _ in range(10):
        taken = h.take(b)
        if taken is not None:
            return "at-least-once", "m1 came back to another consumer: it may be processed twice"
        h.advance(10)
    return "at-most-once", "m1 never came back: lost with the consumer"


def probe_deduplication(system: str) -> tuple[bool, str]:
    """The producer sends 'order-17' twice (a retry after a timeout, with the same
    deduplication id where the system has one): how many does the broker store?"""
    h = _harness(system)
    for _ in range(2):
        h.send("order-17", key=_KEYS[0], dedup_id="order-17")
    n = h.stored()
    return n == 1, f"sent twice, stored {n}"


_PROBES = {
    "ordering": probe_ordering,
    "replay": probe_replay,
    "keeps_after_consume": probe_keeps_after_consume,
    "retention": probe_retention,
    "content_routing": probe_content_routing,
    "fan_out": probe_fan_out,
    "delivery": probe_delivery,
    "deduplication": probe_deduplication,
}


def probe(system: str) -> tuple[Profile, dict[str, str]]:
    """Run every probe on ``system``'s model: its :class:`Profile` and, per field, what was seen."""
    if system not in SYSTEMS:
        _harness(system)  # raises with the list of systems
    values: dict[str, Any] = {"system": system}
    evidence: dict[str, str] = {}
    for name, run in _PROBES.items():
        values[name], evidence[name] = run(system)
    return Profile(**values), evidence


def profiles() -> dict[str, Profile]:
    """Every system's :class:`Profile`, keyed by system name, each field measured by a probe."""
    return {system: probe(system)[0] for system in SYSTEMS}


# --- where each model follows its system, and where it differs on purpose ----------------------

#: system -> (what the model follows, where it differs on purpose). Sources in the handbook.
FIDELITY: dict[str, tuple[str, str]] = {
    "Kafka": (
        "order per partition; murmur2 key partitioner; consumer groups and assignors; "
        "retention.ms 7 days; seek and replay; idempotent producer; transactions",
        "one broker, one replica; retention deletes record by record, not whole segments; "
        "a rebalance completes at once; no compaction",
    ),
    "RabbitMQ": (
        "direct, topic, fanout and headers exchanges with RabbitMQ's matching rules; "
        "round-robin push with prefetch; requeue at the original position; kept until consumed",
        "no channels or connections; per-message TTL expires anywhere in the queue, "
        "not only at its head; delivery tags are per queue",
    ),
    "SQS standard": (
        "visibility timeout 30 s (0..12 h); receive count; retention 4 days (1 min..14 days); "
        "1..10 messages per receive; at-least-once",
        "delivers in publish order unless a receive fails (real SQS may reorder or duplicate "
        "at any time); a stale receipt raises instead of silently doing nothing",
    ),
    "SQS FIFO": (
        "message group id required; order within a group, groups in parallel; a group waits "
        "while one of its messages is in flight; 5-minute deduplication, by id or SHA-256",
        "no throughput limits (300 or 3000 messages/s in SQS); no high-throughput mode; a stale "
        "receipt raises",
    ),
}


# --- the table the notebook shows --------------------------------------------------------------

_FIELD_TITLES = {
    "ordering": "ordering",
    "replay": "replay",
    "keeps_after_consume": "kept after consume",
    "retention": "retention",
    "content_routing": "content routing",
    "fan_out": "fan-out",
    "delivery": "delivery",
    "deduplication": "deduplication",
}


@dataclass(frozen=True)
class ComparisonTable:
    """The measured profiles as a table: one row per field, one column per system.

    Its ``repr`` is plain text (what nbval compares); in a notebook it shows as HTML.
    ``evidence[system][field]`` says what each probe saw.
    """

    profiles: dict[str, Profile]
    evidence: dict[str, dict[str, str]]

    def rows(self) -> list[list[str]]:
        header = ["", *self.profiles]
        body = [
            [title, *(_cell(getattr(p, name)) for p in self.profiles.values())]
            for name, title in _FIELD_TITLES.items()
        ]
        return [header, *body]

    def __repr__(self) -> str:
        rows = self.rows()
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = self.rows()
        head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:]
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """system -> field -> value (a plain dict, e.g. for a DataFrame)."""
        return {s: asdict(p) for s, p in self.profiles.items()}

    def why(self, system: str) -> str:
        """What each probe saw for ``system``, one line per field."""
        if system not in self.evidence:
            raise InvalidArgument(
                f"system={system!r} is not in the table: pick one of {', '.join(self.evidence)}."
            )
        return "\n".join(
            f"{_FIELD_TITLES[f]}: {_cell(getattr(self.profiles[system], f))} ({e})"
            for f, e in self.evidence[system].items()
        )


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def comparison_table(systems: tuple[str, ...] | list[str] = SYSTEMS) -> ComparisonTable:
    """Probe ``systems`` (all four by default) and return the :class:`ComparisonTable`."""
    measured = {s: probe(s) for s in systems}
    return ComparisonTable(
        {s: p for s, (p, _) in measured.items()}, {s: e for s, (_, e) in measured.items()}
    )


assert [f.name for f in fields(Profile)][1:] == list(_PROBES)  # one probe per field


def fidelity_notes(systems: tuple[str, ...] | list[str] = SYSTEMS) -> str:
    """:data:`FIDELITY` as text: per system, what its model follows and where it differs."""
    import textwrap

    out = []
    for system in systems:
        follows, differs = FIDELITY[system]
        out.append(system)
        out += textwrap.wrap(follows, 92, initial_indent="  follows: ", subsequent_indent=" " * 11)
        out += textwrap.wrap(differs, 92, initial_indent="  differs: ", subsequent_indent=" " * 11)
    return "\n".join(out)
