"""The checker: read a history, name what went wrong, and quote the events that prove it.

The checker looks at a :class:`~brokerlab.history.History` and nothing else, so it works the
same on a simulated run, on a notebook session with the reference broker, and on events recorded
from a real RabbitMQ or Redis. Like the checkers of Jepsen's Maelstrom it speaks in named
anomalies, and every anomaly lists the exact events behind it (their indices and the
:class:`~brokerlab.history.Event` objects).

>>> from brokerlab.history import History
>>> h = History()
>>> _ = h.record(0, "producer", "publish", "m1")
>>> _ = h.record(1, "consumer", "deliver", "m1")
>>> _ = h.record(1, "consumer", "ack", "m1")          # acked *before* processing...
>>> _ = h.record(2, "consumer", "crash", when="before processing")
>>> report = check(h)
>>> report.ok("at-least-once"), report.ok("at-most-once")
(False, True)
>>> report.lost[0]
Anomaly(lost m1: acked by consumer at t=1 (#2) but never processed; consumer crashed at t=2 (#3) [#0 #1 #2 #3])

Definitions
-----------

Every definition is per message id ``msg`` and per *group* (see the conventions in
:mod:`brokerlab.history`: without ``group=`` there is one default group), and each group is
judged on its own. "Effect" means a ``process`` event. The order of events is their order in
the history (their ``index``); times only label them. A message is meant for every group that
handled it (was delivered it, acked it, processed it), every group its events name (a dead
letter in queue ``q1`` names ``group="q1"``) and every group that reads its partition; if none,
for every group. A partition is named by its topic and number (``info["topic"]``, None if not
recorded): partition 0 of topic ``a`` and partition 0 of topic ``b`` are two partitions. A
message that was never published (only possible with ``strict=False``) is judged neither lost
nor unfinished.

``duplicated``
    The message's effect happened more than once in one group: two or more ``process`` events.
    A producer retry re-uses the message id, so a retried publish that is processed twice is a
    duplicate too.

``lost``
    The message was published, its effect never happened in the group, *and the broker no
    longer holds it for the group*. The broker lets go of a message when

    - a consumer of the group **acked** it (an ``ack``, or a ``commit`` that names the message);
    - the group **committed past** it: the group's *last* commit on the message's partition is
      greater than the message's offset (a commit is the next offset to read);
    - the broker **dropped** it: a ``lost`` event with ``what="message"`` (a non-durable queue
      restarted; retention, a TTL or an overflow with nowhere to dead-letter, a purge; a log's
      retention deleted the record before the group read it). A drop that names a group
      (``group=...``) is a drop for that group only; one that names none, for every group;
    - it was **lost on the wire**: every publish attempt has a ``lost`` event with
      ``what="publish"``, and nothing shows that any attempt reached the broker (no confirm,
      delivery, ...).

``unfinished``
    Published, never processed in the group, not dead-lettered, and still held by the broker at
    the end of the history (not acked, not committed past, not dropped). A run that stops early
    has unfinished messages; they are *not* lost, and they break no guarantee.

``dead_lettered``
    Every message with a ``dead_letter`` event, with its reason (``info["reason"]``), once per
    group its dead letters name (``group=...``; None for those that name none). A
    dead-lettered message is set aside on purpose, so if it was never processed it is listed here
    and *not* counted as lost in that group (a dead letter naming no group: in any group). A
    dead letter in queue ``q1`` of a fanout exchange says nothing about the copy in ``q2``.

``order``
    Only each message's *first* effect in a group counts (later ones are duplicates).

    - **per key** (``what="key"``): messages with the same key must take effect in the order of
      their *first* publish. A violation is a first effect of ``m`` after the first effect of a
      message ``n`` with the same key that was first published after ``m``.
    - **per partition** (``what="partition"``): first effects in a partition must follow offset
      order. A violation is a first effect at offset ``o`` after a first effect at a higher offset.

``offsets`` (per group and partition)
    A group's *high water* on a partition is the highest offset delivered to it so far, plus
    one; its *position* is the last offset delivered to it, plus one.

    - ``commit went back``: a commit lower than the group's previous commit on the partition;
    - ``commit skipped``: a commit past the high water over offsets that exist in the history
      (some event names a message there), so they were never delivered to the group;
    - ``delivery skipped``: a delivery past the high water over offsets that exist in the
      history, so the group jumped over messages it was never delivered;
    - ``delivery went back``: a delivery below the position, and not marked ``redelivered`` or
      ``seek`` in its info, with nothing since the group's previous delivery on that partition
      to explain it. Only events of *the same group and partition* explain it: a crash or
      restart of one of the group's consumers, the group's rebalance (recorded by a member, by
      the group itself as actor, or with ``group=``), a nack, redeliver or lost ack/commit of a
      message of that partition in that group, and broker events that name no group (a broker
      restart concerns every group). A producer's crash or another group's events explain
      nothing. After a crash or a rebalance the new owner re-reads from the committed offset:
      that is at-least-once working as designed, not an offsets anomaly.

    The first delivery or commit of a group on a partition sets where it starts: there is
    nothing to compare it with.

Verdicts
--------

:data:`PROPERTIES`, each with a one-line reason (:attr:`Report.verdicts`):

- ``at-most-once``: no duplicated effects;
- ``at-least-once``: no lost messages;
- ``exactly-once``: neither (the *exactly-once effect*: the effect happened once per message);
- ``per-key-order``: no per-key order violations;
- ``per-partition-order``: no per-partition order violations;
- ``offsets``: no offsets anomalies.

Well-formedness
---------------

:func:`problems` lists the ways a history breaks causality (a delivery of a message never
published, an ack by a consumer that was never delivered the message...) and every field of
the wrong type or value (``History.record`` refuses those, but events can be changed after;
such an event is quoted in the problem and left out of the check). :func:`check` refuses
a malformed history with :class:`~brokerlab.errors.HistoryFormatError` naming the first problems,
unless ``strict=False`` (useful for a real-broker history that started recording after some
messages were published); the problems are then kept in :attr:`Report.problems`.

Counterexamples
---------------

:func:`minimal_core` shrinks a failing history to a 1-minimal one that still shows the failure
(greedy delta debugging), for the shortest-counterexample search; :func:`violations` lists the
anomalies that break a property.

How it reads
------------

:func:`check` first builds an *index* of the history (:func:`_index`): one pass that checks
each event's fields and learns each actor's group, then one pass that checks causality and
files every event under its message (:class:`_Message`: its events, its first publish, where
it lives, its effects and acks per group, its dead letters and drops), plus the few views
that span messages (first effects in order, the events offsets are followed on, commits per
group and partition, crashes per actor). Then each property is one small function over that
index: :func:`_lost_and_unfinished`, :func:`_duplicated`, :func:`_order_per_key`,
:func:`_order_per_partition`, :func:`_offsets`, :func:`_dead_lettered`. Each is linear in what
it reads (plus a sort, and a binary search per skipped-offset candidate), so the whole check is
linear in the history. See ``benchmarks/bench_checker.py``.
"""

from __future__ import annotations

import gc
import html
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

from .errors import HistoryFormatError, InvalidArgument, InvalidType
from .history import LOST_WHAT, Event, History, field_problem, show

__all__ = [
    "ANOMALY_KINDS",
    "PROPERTIES",
    "Anomaly",
    "Problem",
    "Report",
    "Verdict",
    "check",
    "core_in",
    "minimal_core",
    "property_name",
    "problems",
    "validate",
    "violations",
    "well_formed",
]

ANOMALY_KINDS = ("lost", "duplicated", "order", "offsets", "dead_lettered", "unfinished")
PROPERTIES = (
    "at-most-once",
    "at-least-once",
    "exactly-once",
    "per-key-order",
    "per-partition-order",
    "offsets",
)
_ALIASES = {
    "at-most-once": "at-most-once",
    "amo": "at-most-once",
    "at-least-once": "at-least-once",
    "alo": "at-least-once",
    "exactly-once": "exactly-once",
    "exactly-once-effect": "exactly-once",
    "effectively-once": "exactly-once",
    "eo": "exactly-once",
    "per-key-order": "per-key-order",
    "key-order": "per-key-order",
    "per-key": "per-key-order",
    "per-partition-order": "per-partition-order",
    "partition-order": "per-partition-order",
    "per-partition": "per-partition-order",
    "offsets": "offsets",
}
# kinds whose message id is required
_NEEDS_MSG = frozenset(
    ("publish", "confirm", "deliver", "process", "ack", "nack", "redeliver", "dead_letter")
)
# events after which a group may legitimately re-read offsets it had already been delivered
_RESETS = frozenset(("crash", "restart", "rebalance", "redeliver", "nack", "lost"))
# kinds done by a group's consumer (they carry, or inherit, the group)
_CONSUMER_SIDE = frozenset(("deliver", "process", "ack", "nack", "commit"))


def property_name(prop: str) -> str:
    """The canonical name of a property (``"exactly_once effect"`` -> ``"exactly-once"``)."""
    if not isinstance(prop, str):
        raise InvalidType(
            f"property={show(prop)} is a {type(prop).__name__}: pass one of "
            f"{', '.join(PROPERTIES)}."
        )
    name = _ALIASES.get(prop.strip().lower().replace("_", "-").replace(" ", "-"))
    if name is None:
        raise InvalidArgument(
            f"property={show(prop)} is not a property: use one of {', '.join(PROPERTIES)}."
        )
    return name


# --- what the checker reports -------------------------------------------------------------------


@dataclass(frozen=True)
class Anomaly:
    """One named anomaly and the events that show it.

    ``kind`` is one of :data:`ANOMALY_KINDS`; ``what`` refines it (for ``lost``: ``"acked"``,
    ``"committed"``, ``"dropped"``, ``"wire"``; for ``order``: ``"key"`` or ``"partition"``; for
    ``offsets``: ``"commit went back"``, ``"commit skipped"``, ``"delivery skipped"``,
    ``"delivery went back"``; for ``dead_lettered``: the reason). ``reason`` is one readable line.
    ``group`` is the group it happened in (None: the default group), ``key``, ``partition`` and
    ``topic`` say where the message lives, when known.
    """

    kind: str
    msg: str | None
    reason: str
    events: tuple[Event, ...]
    what: str = ""
    group: str | None = None
    key: str | None = None
    partition: int | None = None
    topic: str | None = None

    @property
    def indices(self) -> tuple[int, ...]:
        """The history indices of the quoted events, in order."""
        return tuple(e.index for e in self.events)

    def __repr__(self) -> str:
        quoted = " ".join(f"#{i}" for i in self.indices)
        about = f"{self.kind} {self.msg}" if self.msg is not None else self.kind
        return f"Anomaly({about}: {self.reason} [{quoted}])"


class Verdict(NamedTuple):
    """Whether a property holds, and why, in one line a learner can read."""

    property: str
    ok: bool
    reason: str

    def __repr__(self) -> str:
        return f"Verdict({self.property}: {'ok' if self.ok else 'FAIL'} - {self.reason})"


class Problem(NamedTuple):
    """A way in which a history is not well-formed, at one event."""

    index: int
    event: Event
    reason: str

    def __str__(self) -> str:
        quoted = repr(self.event) if isinstance(self.event, Event) else show(self.event)
        return f"event #{self.index} {quoted}: {self.reason}"


class Report:
    """What :func:`check` found: anomalies by kind, verdicts by property.

    - ``report.lost``, ``.duplicated``, ``.order``, ``.offsets``, ``.dead_lettered``,
      ``.unfinished``: lists of :class:`Anomaly`, each quoting its events;
    - ``report.verdicts[prop]``: a :class:`Verdict` with a one-line reason;
      ``report.ok(prop)`` is its ``ok``;
    - ``report.problems``: well-formedness problems (only with ``check(..., strict=False)``);
    - ``report.messages`` (published), ``report.processed`` (took effect, per group),
      ``report.events``.
    """

    def __init__(
        self,
        *,
        events: int,
        messages: int,
        processed: int,
        anomalies: dict[str, list[Anomaly]],
        problems: list[Problem],
    ) -> None:
        self.events = events
        self.messages = messages
        self.processed = processed
        self.lost: list[Anomaly] = anomalies["lost"]
        self.duplicated: list[Anomaly] = anomalies["duplicated"]
        self.order: list[Anomaly] = anomalies["order"]
        self.offsets: list[Anomaly] = anomalies["offsets"]
        self.dead_lettered: list[Anomaly] = anomalies["dead_lettered"]
        self.unfinished: list[Anomaly] = anomalies["unfinished"]
        self.problems = problems
        self.verdicts: dict[str, Verdict] = _verdicts(self)

    def ok(self, property: str) -> bool:  # noqa: A002 - the word learners use
        """Whether ``property`` (one of :data:`PROPERTIES`, aliases accepted) holds."""
        return self.verdicts[property_name(property)].ok

    def anomalies(self, kind: str | None = None) -> list[Anomaly]:
        """Every anomaly (or those of one kind), lost first, in a fixed order."""
        if kind is not None:
            if not isinstance(kind, str) or kind not in ANOMALY_KINDS:
                raise InvalidArgument(
                    f"kind={show(kind)} is not an anomaly kind: use one of "
                    f"{', '.join(ANOMALY_KINDS)}."
                )
            return list(getattr(self, kind))
        return [a for k in ANOMALY_KINDS for a in getattr(self, k)]

    def counts(self) -> dict[str, int]:
        """How many anomalies of each kind."""
        return {k: len(getattr(self, k)) for k in ANOMALY_KINDS}

    def __repr__(self) -> str:
        counts = " ".join(f"{k}={v}" for k, v in self.counts().items())
        verdicts = " ".join(f"{p}={'ok' if v.ok else 'FAIL'}" for p, v in self.verdicts.items())
        extra = f", {len(self.problems)} problems" if self.problems else ""
        return (
            f"Report({_n(self.events, 'event')}, {_n(self.messages, 'message')}{extra}: "
            f"{counts} | {verdicts})"
        )

    def summary(self, limit: int = 3) -> str:
        """A few lines of plain text: each verdict with its reason, then the first anomalies."""
        _check_limit(limit)
        lines = [
            f"{_n(self.events, 'event')}, {_n(self.messages, 'message')}, {self.processed} processed"
        ]
        for v in self.verdicts.values():
            lines.append(f"  {'ok  ' if v.ok else 'FAIL'} {v.property}: {v.reason}")
        for kind in ANOMALY_KINDS:
            found = getattr(self, kind)
            for a in found[:limit]:
                lines.append(
                    f"  {kind}: {a.msg + ' ' if a.msg else ''}{a.reason} [{' '.join(f'#{i}' for i in a.indices)}]"
                )
            if len(found) > limit:
                lines.append(f"  ... and {len(found) - limit} more {kind}")
        for p in self.problems[:limit]:
            lines.append(f"  problem: {p}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        rows = "".join(
            f"<tr><td>{esc(v.property)}</td>"
            f"<td style='color:{'#009E73' if v.ok else '#D55E00'}'><b>{'ok' if v.ok else 'FAIL'}</b></td>"
            f"<td>{esc(v.reason)}</td></tr>"
            for v in self.verdicts.values()
        )
        counts = ", ".join(f"{k}: {v}" for k, v in self.counts().items())
        first = self.anomalies()[:5]
        items = "".join(
            f"<li><b>{esc(a.kind)}</b> {esc(a.msg or '')}: {esc(a.reason)} "
            f"<code>{esc(' '.join(f'#{i}' for i in a.indices))}</code></li>"
            for a in first
        )
        problems = (
            f"<p>{len(self.problems)} well-formedness problem(s), e.g. {esc(str(self.problems[0]))}</p>"
            if self.problems
            else ""
        )
        return (
            f"<div><p>{_n(self.events, 'event')}, {_n(self.messages, 'message')}, "
            f"{self.processed} processed"
            f" &mdash; {esc(counts)}</p>"
            f"<table><tr><th>property</th><th>verdict</th><th>why</th></tr>{rows}</table>"
            f"{'<ul>' + items + '</ul>' if items else ''}{problems}</div>"
        )


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _example(anomalies: list[Anomaly]) -> str:
    a = anomalies[0]
    return f"e.g. {a.msg + ': ' if a.msg else ''}{a.reason}"


def _verdicts(r: Report) -> dict[str, Verdict]:
    n_lost, n_dup = len(r.lost), len(r.duplicated)
    unfinished = (
        f" ({len(r.unfinished)} still held by the broker at the end)" if r.unfinished else ""
    )
    amo = (
        Verdict("at-most-once", True, "no message's effect happened more than once")
        if not n_dup
        else Verdict(
            "at-most-once",
            False,
            f"{n_dup} message(s) took effect more than once, {_example(r.duplicated)}",
        )
    )
    alo = (
        Verdict(
            "at-least-once",
            True,
            "every message the broker let go of had taken effect" + unfinished,
        )
        if not n_lost
        else Verdict("at-least-once", False, f"{n_lost} message(s) lost, {_example(r.lost)}")
    )
    if n_lost or n_dup:
        worst = r.lost if n_lost else r.duplicated
        eo = Verdict(
            "exactly-once",
            False,
            " and ".join(
                f"{n} {word}" for n, word in ((n_lost, "lost"), (n_dup, "duplicated")) if n
            )
            + f", {_example(worst)}",
        )
    else:
        eo = Verdict(
            "exactly-once", True, "no message lost and none took effect twice" + unfinished
        )
    key_v = [a for a in r.order if a.what == "key"]
    part_v = [a for a in r.order if a.what == "partition"]
    ko = (
        Verdict("per-key-order", True, "for every key, effects happened in publish order")
        if not key_v
        else Verdict(
            "per-key-order", False, f"{len(key_v)} effect(s) out of key order, {_example(key_v)}"
        )
    )
    po = (
        Verdict("per-partition-order", True, "in every partition, effects happened in offset order")
        if not part_v
        else Verdict(
            "per-partition-order",
            False,
            f"{len(part_v)} effect(s) out of offset order, {_example(part_v)}",
        )
    )
    off = (
        Verdict("offsets", True, "no commit or delivery skipped or went back")
        if not r.offsets
        else Verdict("offsets", False, f"{len(r.offsets)} offsets anomalies, {_example(r.offsets)}")
    )
    return {v.property: v for v in (amo, alo, eo, ko, po, off)}


# --- well-formedness ------------------------------------------------------------------------------


def problems(history: History) -> list[Problem]:
    """Every way ``history`` breaks causality or the recording conventions (empty: well-formed).

    Checked: every field has a usable type and value (see
    :func:`~brokerlab.history.field_problem`), and each event sits at its own index; time never
    goes backwards; kinds about a message name one (``msg``); a ``lost`` event says what was
    lost; a ``commit`` names a partition and offset (or a message); nothing is confirmed,
    delivered, redelivered, dead-lettered or dropped before it is published; a consumer
    processes, acks or nacks only what was delivered to it, and never settles (acks/nacks) one
    delivery twice; an actor belongs to one group.
    """
    _check_history(history)
    with _gc_paused():
        return _index(history).problems


def well_formed(history: History) -> bool:
    """``True`` if :func:`problems` finds nothing."""
    return not problems(history)


def validate(history: History, limit: int = 5) -> None:
    """Raise :class:`HistoryFormatError` naming the first ``limit`` problems, if any."""
    _check_limit(limit)
    found = problems(history)
    if found:
        raise _malformed(found, limit)


def _malformed(found: list[Problem], limit: int = 5) -> HistoryFormatError:
    lines = [f"the history is not well-formed: {len(found)} problem(s)."]
    lines += [f"  {p}" for p in found[:limit]]
    if len(found) > limit:
        lines.append(
            f"  ... and {len(found) - limit} more (see brokerlab.checker.problems(history))."
        )
    lines.append("Fix the recording, or pass strict=False to check it anyway.")
    return HistoryFormatError("\n".join(lines))


def _check_history(history: Any) -> None:
    if not isinstance(history, History):
        raise InvalidType(
            f"history is a {type(history).__name__}: a brokerlab.history.History is needed. "
            "Load one with History.from_jsonl(path), or build one with History().record(...)."
        )


def _check_limit(limit: Any) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise InvalidArgument(
            f"limit={show(limit)} is not a whole number >= 0: pass how many to show, e.g. 5."
        )


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the length of one check.

    A check makes a few small objects per message. With the collector on, every few hundred
    new objects trigger a collection that walks the (large, long-lived) history again and
    again: that alone made the check 2-3 times slower on a million events. Nothing the check
    makes is cyclic garbage, so nothing is lost by waiting; the collector's state is restored.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --- the index: one pass over the events, read by every property ---------------------------------
#
# A location is (topic, partition, offset); a topic partition ("tp") is (topic, partition). The
# topic is info["topic"] (None when not recorded), so partition 0 of topics a and b are two
# partitions.


class _All:
    """The group of an event that concerns every group (a broker event that names none)."""

    def __repr__(self) -> str:
        return "ALL"


ALL = _All()

# kinds whose message id is required
_NEEDS_MSG = frozenset(
    ("publish", "confirm", "deliver", "process", "ack", "nack", "redeliver", "dead_letter")
)
# kinds done by a group's consumer: their group is the consumer's
_CONSUMER_SIDE = frozenset(("deliver", "process", "ack", "nack", "commit"))
# kinds whose group=... makes the actor (for a deliver: the consumer) a member of that group
_JOINS = frozenset(("deliver", "process", "ack", "nack", "commit", "crash", "restart", "rebalance"))
# events after which a group may legitimately read offsets again that it had been delivered
_RESETS = frozenset(("crash", "restart", "rebalance", "redeliver", "nack", "lost"))


class _Message:
    """What the index knows about one message id."""

    __slots__ = (
        "id",
        "events",
        "publish",
        "publishes",
        "wire_losses",
        "where",
        "delivered",
        "settled",
        "effects",
        "released",
        "groups",
        "dead_letters",
        "drops",
    )

    def __init__(self, msg: str) -> None:
        self.id = msg
        self.events: list[Event] = []  # all its events, in history order (to quote them)
        self.publish: Event | None = None  # its first publish: publish order is their order
        self.publishes = 0  # publish attempts
        self.wire_losses = 0  # lost(what="publish") events
        self.where: tuple[Any, int, int] | None = None  # its first (topic, partition, offset)
        self.delivered: dict[str, int] = {}  # consumer -> deliveries to it
        self.settled: dict[str, int] = {}  # consumer -> its acks and nacks
        self.effects: dict[Any, list[Event]] = {}  # group -> its process events in that group
        self.released: dict[Any, Event] = {}  # group -> first ack (or commit naming it) there
        self.groups: set[Any] = set()  # groups that handled it or that its events name
        self.dead_letters: list[Event] = []
        self.drops: list[Event] = []  # lost(what="message"): the broker let go of it

    @property
    def tp(self) -> tuple[Any, int] | None:
        return None if self.where is None else self.where[:2]


class _Index:
    """The views the properties read, built by :func:`_index` (two passes over the events)."""

    def __init__(self, events: list[Event]) -> None:
        self.events = events
        self.problems: list[Problem] = []
        self.group_of_actor: dict[str, Any] = {}  # an actor's group (learnt from group=...)
        self.messages: dict[str, _Message] = {}
        self.consumers: set[str] = set()  # actors of consumer-side events
        self.producers: set[str] = set()  # actors that published or were confirmed
        self.groups: set[Any] = set()  # every group that consumed or that an event names
        # each (message, group)'s first effect, in history order: (event, group, message)
        self.first_effects: list[tuple[Event, Any, _Message]] = []
        # the events the offsets are followed on, in history order: located deliveries,
        # offset commits, and everything that may explain a re-read (crash, nack, ...)
        self.reading: list[Event] = []
        self.readers: dict[tuple[Any, int], set[Any]] = {}  # tp -> groups reading it
        self.commits: dict[tuple[Any, tuple[Any, int]], list[Event]] = {}  # (group, tp) -> commits
        self.crashes: dict[str, list[Event]] = {}  # actor -> its crashes

    def group_of(self, actor: str) -> Any:
        """An actor's group (None: the default group)."""
        return self.group_of_actor.get(actor)

    def group_of_event(self, e: Event) -> Any:
        """The group an event concerns: its consumer's for consumer-side events, else the
        group it names, else :data:`ALL` (a broker event about every group)."""
        if e.kind in _CONSUMER_SIDE:
            return self.group_of(_consumer(e))
        if e.kind == "lost" and e.actor in self.consumers:  # a consumer's lost ack or commit
            return self.group_of(e.actor)
        named = e.get("group")
        return ALL if named is None else named

    def concerns(self, e: Event, group: Any) -> bool:
        found = self.group_of_event(e)
        return found is ALL or found == group

    def all_groups(self) -> list[Any]:
        return sorted(self.groups, key=repr) if self.groups else [None]


def _consumer(e: Event) -> str:
    """Who a consumer-side event is about: the actor, or for a delivery recorded at the broker,
    ``info["to"]``."""
    if e.kind == "deliver" and e.info and "to" in e.info:
        return e.info["to"]
    return e.actor


def _where(e: Event, m: _Message | None) -> tuple[Any, int, int] | None:
    """Where event ``e`` says its message is, else where its message was first seen."""
    if e.partition is not None and e.offset is not None:
        return (e.get("topic"), e.partition, e.offset)
    return None if m is None else m.where


def _index(history: History) -> _Index:
    """Build the :class:`_Index` of ``history``: first each event on its own (fields, groups),
    then the events together (time order, causality, and the views)."""
    ix = _Index(history.events)
    usable = _read_fields(ix)
    last_time = -math.inf
    for e in usable:
        if e.time < last_time:
            ix.problems.append(
                Problem(
                    e.index,
                    e,
                    f"time goes backwards: t={e.time:g} after t={last_time:g}. "
                    "Record events in the order they happen.",
                )
            )
        last_time = e.time
        _add(ix, e)
    ix.problems.sort(key=lambda p: p.index)  # (stable: an event's own problems stay in order)
    return ix


def _read_fields(ix: _Index) -> list[Event]:
    """Check each event's fields and learn each actor's group; return the usable events."""
    usable = []
    joined_at: dict[str, int] = {}
    for i, e in enumerate(ix.events):
        if not isinstance(e, Event):
            ix.problems.append(
                Problem(i, e, f"{show(e)} is not an Event: build histories with record().")
            )
            continue
        why = field_problem(e.time, e.actor, e.kind, e.msg, e.key, e.partition, e.offset, e.info)
        if why is None and e.index != i:
            why = f"index={show(e.index)} is not its position {i}: build histories with record()."
        if why is not None:
            ix.problems.append(Problem(i, e, why))
            continue
        usable.append(e)
        group = e.get("group")
        if group is None or e.kind not in _JOINS:
            continue
        member = _consumer(e)
        known = ix.group_of_actor.setdefault(member, group)
        joined_at.setdefault(member, i)
        if known != group:
            ix.problems.append(
                Problem(
                    i,
                    e,
                    f"{member} is in group {group!r} here but in group {known!r} at "
                    f"#{joined_at[member]}: an actor belongs to one group. Give each group's "
                    "consumers their own names.",
                )
            )
    return usable


def _add(ix: _Index, e: Event) -> None:
    """Add one (usable) event to the index, noting any causality problem."""
    kind = e.kind
    if kind == "commit" and (e.partition is not None or e.msg is None):
        _add_offset_commit(ix, e)
        return
    if kind in _RESETS:
        ix.reading.append(e)
        if kind == "crash":
            ix.crashes.setdefault(e.actor, []).append(e)
    if e.msg is None:
        _check_no_message(ix, e)
        return
    m = ix.messages.get(e.msg)
    if m is None:
        m = ix.messages[e.msg] = _Message(e.msg)
    m.events.append(e)
    if m.where is None and e.partition is not None and e.offset is not None:
        m.where = (e.get("topic"), e.partition, e.offset)
    if kind in _CONSUMER_SIDE:
        consumer = _consumer(e)
        group = ix.group_of(consumer)
        ix.consumers.add(consumer)
    else:
        group = e.get("group")  # a broker event may name the group it concerns
    if kind in _CONSUMER_SIDE or group is not None:
        ix.groups.add(group)
        m.groups.add(group)
    _ADD_MESSAGE_EVENT[kind](ix, e, m)


def _bad(ix: _Index, e: Event, reason: str) -> None:
    ix.problems.append(Problem(e.index, e, reason))


def _add_offset_commit(ix: _Index, e: Event) -> None:
    if e.partition is None or e.offset is None:
        _bad(
            ix,
            e,
            "a commit needs partition=... and offset=... (the next offset to read), or msg=...",
        )
        return
    group = ix.group_of(e.actor)
    tp = (e.get("topic"), e.partition)
    ix.consumers.add(e.actor)
    ix.groups.add(group)
    ix.readers.setdefault(tp, set()).add(group)
    ix.commits.setdefault((group, tp), []).append(e)
    ix.reading.append(e)


def _check_no_message(ix: _Index, e: Event) -> None:
    if e.kind in _NEEDS_MSG:
        _bad(ix, e, f"a {e.kind} event must name its message (msg=...).")
    elif e.kind == "lost":
        what = e.get("what")
        if what not in LOST_WHAT:
            _bad(ix, e, _what_reason(what))
        elif what in ("publish", "message", "deliver", "confirm"):
            _bad(ix, e, f"a lost {what} must name its message (msg=...).")
    if e.kind == "rebalance" and e.get("group") is not None:
        ix.groups.add(e.get("group"))


def _needs_publish(ix: _Index, e: Event, m: _Message, what: str | None = None) -> None:
    if m.publish is None:
        what = what or e.kind
        _bad(
            ix,
            e,
            f"{what} of {m.id}, but {m.id} was never published before it. Record its publish "
            "first, or check the id.",
        )


def _add_publish(ix: _Index, e: Event, m: _Message) -> None:
    ix.producers.add(e.actor)
    m.publishes += 1
    if m.publish is None:
        m.publish = e


def _add_confirm(ix: _Index, e: Event, m: _Message) -> None:
    ix.producers.add(e.actor)
    _needs_publish(ix, e, m)


def _add_deliver(ix: _Index, e: Event, m: _Message) -> None:
    _needs_publish(ix, e, m)
    consumer = _consumer(e)
    m.delivered[consumer] = m.delivered.get(consumer, 0) + 1
    where = _where(e, m)
    if where is not None:
        ix.readers.setdefault(where[:2], set()).add(ix.group_of(consumer))
        ix.reading.append(e)


def _add_process(ix: _Index, e: Event, m: _Message) -> None:
    if e.actor not in m.delivered:
        _bad(
            ix,
            e,
            f"{e.actor} processed {m.id}, but {m.id} was never delivered to {e.actor} before. "
            "Record the deliver first, or check the actor.",
        )
    group = ix.group_of(e.actor)
    effects = m.effects.setdefault(group, [])
    effects.append(e)
    if len(effects) == 1:
        ix.first_effects.append((e, group, m))


def _add_settle(ix: _Index, e: Event, m: _Message) -> None:
    """An ack, a nack, or a commit that names its message (acks it, in effect)."""
    a, k = e.actor, e.kind
    deliveries = m.delivered.get(a, 0)
    if deliveries == 0:
        _bad(
            ix,
            e,
            f"{a} {k}s {m.id}, but {m.id} was never delivered to {a}. Record the deliver "
            "first, or check the actor.",
        )
    elif m.settled.get(a, 0) >= deliveries:
        _bad(
            ix,
            e,
            f"{a} {k}s {m.id} again, but each delivery can be settled only once (acking twice "
            "is an error).",
        )
    else:
        m.settled[a] = m.settled.get(a, 0) + 1
    if k != "nack":
        m.released.setdefault(ix.group_of(a), e)


def _add_broker_event(ix: _Index, e: Event, m: _Message) -> None:
    """A redeliver or a dead_letter."""
    _needs_publish(ix, e, m)
    if e.kind == "dead_letter":
        m.dead_letters.append(e)


def _add_lost(ix: _Index, e: Event, m: _Message) -> None:
    what = e.get("what")
    if what not in LOST_WHAT:
        _bad(ix, e, _what_reason(what))
    elif what == "publish":
        ix.producers.add(e.actor)
        m.wire_losses += 1
    else:
        _needs_publish(ix, e, m, f"lost {what}")
        if what == "message" and m.publish is not None:
            m.drops.append(e)


def _add_other(ix: _Index, e: Event, m: _Message) -> None:
    """A crash, restart or rebalance that happens to name a message: nothing more to note."""


_ADD_MESSAGE_EVENT = {
    "publish": _add_publish,
    "confirm": _add_confirm,
    "deliver": _add_deliver,
    "process": _add_process,
    "ack": _add_settle,
    "nack": _add_settle,
    "commit": _add_settle,
    "redeliver": _add_broker_event,
    "dead_letter": _add_broker_event,
    "lost": _add_lost,
    "crash": _add_other,
    "restart": _add_other,
    "rebalance": _add_other,
}


def _what_reason(what: Any) -> str:
    return f"a lost event needs info what= one of {', '.join(LOST_WHAT)}; got {show(what)}."


# --- the check -------------------------------------------------------------------------------------


def check(history: History, *, strict: bool = True) -> Report:
    """Check ``history`` and return a :class:`Report` (see the module docstring for definitions).

    With ``strict=True`` (the default) a history that is not well-formed (see :func:`problems`)
    raises :class:`HistoryFormatError`; with ``strict=False`` it is checked anyway and the
    problems are listed in :attr:`Report.problems` (an event with an unusable field is left
    out of the check).
    """
    _check_history(history)
    if not isinstance(strict, bool):
        raise InvalidType(f"strict={show(strict)} is not a bool: pass True or False.")
    with _gc_paused():
        ix = _index(history)
        if ix.problems and strict:
            raise _malformed(ix.problems)
        lost, unfinished = _lost_and_unfinished(ix)
        anomalies = {
            "lost": lost,
            "duplicated": _duplicated(ix),
            "order": _by_last_event(_order_per_key(ix) + _order_per_partition(ix)),
            "offsets": _offsets(ix),
            "dead_lettered": _dead_lettered(ix),
            "unfinished": unfinished,
        }
        published = [m for m in ix.messages.values() if m.publish is not None]
        return Report(
            events=len(ix.events),
            messages=len(published),
            processed=sum(len(m.effects) for m in published),
            anomalies=anomalies,
            problems=ix.problems,
        )


def _by_first_event(found: list[Anomaly]) -> list[Anomaly]:
    return sorted(found, key=lambda a: a.events[0].index if a.events else -1)


def _by_last_event(found: list[Anomaly]) -> list[Anomaly]:
    return sorted(found, key=lambda a: a.events[-1].index if a.events else -1)


def _mine(ix: _Index, m: _Message, group: Any) -> tuple[Event, ...]:
    """The events of ``m`` that concern ``group`` (and those that concern every group)."""
    return tuple(e for e in m.events if ix.concerns(e, group))


def _meant_for(ix: _Index, m: _Message) -> list[Any]:
    """The groups ``m`` is meant for: those that handled it or that its events name, and those
    that read its partition; if none, every group."""
    groups = set(m.groups)
    if m.tp is not None:
        groups |= ix.readers.get(m.tp, set())
    return sorted(groups, key=repr) if groups else ix.all_groups()


def _for_group(events: list[Event], group: Any) -> list[Event]:
    """The broker events (dead letters, drops) that apply to ``group``: those naming it, and
    those naming no group."""
    return [e for e in events if e.get("group") is None or e.get("group") == group]


# --- lost and unfinished ------------------------------------------------------------------------


def _lost_and_unfinished(ix: _Index) -> tuple[list[Anomaly], list[Anomaly]]:
    """Every (message, group) that never took effect and was not dead-lettered there: lost if
    the broker let go of it for that group, else unfinished."""
    lost: list[Anomaly] = []
    unfinished: list[Anomaly] = []
    for m in ix.messages.values():
        if m.publish is None:
            continue  # never published (a malformed history): neither lost nor unfinished
        for group in _meant_for(ix, m):
            if group in m.effects or _for_group(m.dead_letters, group):
                continue
            why = _let_go(ix, m, group)
            if why is not None:
                lost.append(why)
            else:
                unfinished.append(
                    Anomaly(
                        "unfinished",
                        m.id,
                        f"never took effect{_in_group(group)}, and the broker still holds it "
                        "at the end",
                        _mine(ix, m, group),
                        "",
                        group,
                        m.events[0].key,
                        *_partition_fields(m),
                    )
                )
    return _by_first_event(lost), _by_first_event(unfinished)


def _partition_fields(m: _Message) -> tuple[int | None, Any]:
    """``(partition, topic)`` of an anomaly about ``m``."""
    return (None, None) if m.where is None else (m.where[1], m.where[0])


def _let_go(ix: _Index, m: _Message, group: Any) -> Anomaly | None:
    """The ``lost`` anomaly if the broker let go of unprocessed ``m`` for ``group``, else None.

    The reasons, in the order they are looked for: acked (or committed by id) by a consumer of
    the group; committed past by the group; dropped by the broker (``lost`` what="message":
    a restart, an overflow, retention or TTL); every publish lost on the wire.
    """
    mine = _mine(ix, m, group)
    key = m.events[0].key
    place = _partition_fields(m)
    released = m.released.get(group)
    if released is not None:
        crash = _crash_after(ix, released)
        verb = "acked" if released.kind == "ack" else "committed"
        return Anomaly(
            "lost",
            m.id,
            f"{verb} by {released.actor} at t={released.time:g} (#{released.index}) but never "
            f"processed{_in_group(group)}{_crashed(crash)}",
            _sorted(*mine, crash),
            "acked",
            group,
            key,
            *place,
        )
    past = _commit_past(ix, m, group)
    if past is not None:
        crash = _crash_after(ix, past)
        topic, p, o = m.where  # type: ignore[misc]
        return Anomaly(
            "lost",
            m.id,
            f"{_place(group, topic, p)}: committed past offset {o} ({past.actor} committed "
            f"{past.offset} at t={past.time:g}, #{past.index}) but never processed"
            f"{_crashed(crash)}",
            _sorted(*mine, past, crash),
            "committed",
            group,
            key,
            *place,
        )
    drops = _for_group(m.drops, group)
    if drops:
        drop = drops[0]
        why = drop.get("reason")
        return Anomaly(
            "lost",
            m.id,
            f"dropped by {drop.actor} at t={drop.time:g} (#{drop.index}) before it was processed"
            + _in_group(group)
            + (f" ({_plain(why)})" if why else ""),
            mine,
            "dropped",
            group,
            key,
            *place,
        )
    reached = any(
        e.kind != "publish" and not (e.kind == "lost" and e.get("what") == "publish")
        for e in m.events
    )
    if m.wire_losses and m.wire_losses >= m.publishes and not reached:
        return Anomaly(
            "lost",
            m.id,
            f"all {m.publishes} publish attempt(s) were lost on the wire and none reached the "
            "broker",
            tuple(m.events),
            "wire",
            group,
            key,
            *place,
        )
    return None


def _commit_past(ix: _Index, m: _Message, group: Any) -> Event | None:
    """If the group's last commit on ``m``'s partition is past ``m``: the first commit that
    went past it (the one that let it go), else None."""
    if m.where is None:
        return None
    topic, p, o = m.where
    commits = ix.commits.get((group, (topic, p)))
    if not commits or commits[-1].offset <= o:
        return None
    return next(c for c in commits if c.offset > o)


def _crash_after(ix: _Index, e: Event) -> Event | None:
    """The first crash of ``e``'s actor after ``e`` (quoted: it explains why nothing happened)."""
    crashes = ix.crashes.get(e.actor, [])
    i = bisect_right(crashes, e.index, key=lambda c: c.index)
    return crashes[i] if i < len(crashes) else None


def _crashed(crash: Event | None) -> str:
    return "" if crash is None else f"; {crash.actor} crashed at t={crash.time:g} (#{crash.index})"


# --- duplicated -----------------------------------------------------------------------------------


def _duplicated(ix: _Index) -> list[Anomaly]:
    """Every (message, group) whose effect happened more than once."""
    found = []
    for m in ix.messages.values():
        for group, effects in m.effects.items():
            if len(effects) > 1:
                found.append(_duplicate(ix, m, group, effects))
    return _by_first_event(found)


def _duplicate(ix: _Index, m: _Message, group: Any, effects: list[Event]) -> Anomaly:
    mine = _mine(ix, m, group)
    again = [
        e for e in mine if e.kind == "redeliver" or (e.kind == "deliver" and e.get("redelivered"))
    ]
    attempts = [e for e in m.events if e.kind == "publish"]
    why = ""
    if again:
        why = f" after a redelivery (#{again[0].index})"
    elif len(attempts) > 1:
        why = f" after a producer retry (#{attempts[1].index})"
    times = ", ".join(f"#{e.index} by {e.actor}" for e in effects)
    return Anomaly(
        "duplicated",
        m.id,
        f"took effect {len(effects)} times{_in_group(group)} ({times}){why}",
        mine,
        "",
        group,
        m.events[0].key,
        *_partition_fields(m),
    )


# --- order ----------------------------------------------------------------------------------------


def _order_per_key(ix: _Index) -> list[Anomaly]:
    """First effects of one key, in one group, out of the order of their first publish."""
    found = []
    ahead: dict[tuple[Any, str], tuple[int, Event]] = {}  # (group, key) -> latest-published so far
    for e, group, m in ix.first_effects:
        publish = m.publish
        if publish is None:
            continue
        key = e.key if e.key is not None else publish.key
        if key is None:
            continue
        front = ahead.get((group, key))
        if front is None or publish.index > front[0]:
            ahead[(group, key)] = (publish.index, e)
            continue
        other = front[1]
        other_publish = ix.messages[other.msg].publish  # type: ignore[index]
        found.append(
            Anomaly(
                "order",
                m.id,
                f"key={key}{_in_group(group)}: {m.id} took effect at t={e.time:g} (#{e.index}) "
                f"after {other.msg} (#{other.index}), though {m.id} was published first"
                + (f" (#{publish.index} before #{other_publish.index})" if other_publish else ""),
                _sorted(publish, other_publish, other, e),
                "key",
                group,
                key,
            )
        )
    return found


def _order_per_partition(ix: _Index) -> list[Anomaly]:
    """First effects in one partition, in one group, out of offset order."""
    found = []
    ahead: dict[tuple[Any, tuple[Any, int]], tuple[int, Event]] = {}  # (group, tp) -> highest
    for e, group, m in ix.first_effects:
        if m.where is None:
            continue
        topic, p, o = m.where
        front = ahead.get((group, (topic, p)))
        if front is None or o > front[0]:
            ahead[(group, (topic, p))] = (o, e)
            continue
        other = front[1]
        found.append(
            Anomaly(
                "order",
                m.id,
                f"{_place(group, topic, p)}: {m.id} (offset {o}) took effect at t={e.time:g} "
                f"(#{e.index}) after {other.msg} (offset {front[0]}, #{other.index})",
                (other, e),
                "partition",
                group,
                None,
                p,
                topic,
            )
        )
    return found


# --- offsets --------------------------------------------------------------------------------------


class _Reading:
    """How far one group has read one partition."""

    __slots__ = ("high", "last", "resets", "position")

    def __init__(self, delivery: Event, offset: int, resets: int) -> None:
        self.high = offset + 1  # highest offset delivered so far, plus one
        self.last = delivery  # the last delivery
        self.resets = resets  # the resets that concerned it, counted at the last delivery
        self.position = offset + 1  # the last offset delivered, plus one


class _Resets:
    """How many events so far explain a re-read, for each (group, partition).

    A reset concerns one group or every group (:data:`ALL`), and one partition or every
    partition (None); the count for (group, tp) adds the four that cover it.
    """

    def __init__(self) -> None:
        self.counts: dict[tuple[Any, Any], int] = {}

    def add(self, group: Any, tp: Any) -> None:
        self.counts[(group, tp)] = self.counts.get((group, tp), 0) + 1

    def of(self, group: Any, tp: Any) -> int:
        c = self.counts
        return (
            c.get((group, tp), 0)
            + c.get((group, None), 0)
            + c.get((ALL, tp), 0)
            + c.get((ALL, None), 0)
        )


def _reset_scope(ix: _Index, e: Event) -> tuple[Any, Any] | None:
    """The (group, tp) an event may explain a re-read for (ALL / None: every one), or None.

    A member's crash or restart and a rebalance concern the member's group, every partition;
    a nack, a redelivery or a lost ack/commit/message concerns its group (or every group, for
    the broker's) and its message's partition. Producers' events explain nothing.
    """
    actor, kind = e.actor, e.kind
    m = ix.messages.get(e.msg) if e.msg is not None else None
    tp = None if m is None else m.tp
    if kind in ("crash", "restart"):
        if actor in ix.consumers or actor in ix.group_of_actor:
            return (ix.group_of(actor), None)
        if actor in ix.producers:
            return None
        return (e.get("group", ALL), None)
    if kind == "rebalance":
        if e.get("group") is not None:
            return (e.get("group"), None)
        if actor in ix.consumers or actor in ix.group_of_actor:
            return (ix.group_of(actor), None)
        return (actor if actor in ix.groups else ALL, None)
    if kind == "lost" and e.get("what") in ("publish", "confirm"):
        return None
    return (ix.group_of_event(e), tp)


def _offsets(ix: _Index) -> list[Anomaly]:
    """Commits and deliveries that went back or skipped, per group and partition."""
    found: list[Anomaly] = []
    skips: list[tuple[str, Any, tuple[Any, int], int, int, Event, Event]] = []
    reading: dict[tuple[Any, tuple[Any, int]], _Reading] = {}
    last_commit: dict[tuple[Any, tuple[Any, int]], Event] = {}
    resets = _Resets()
    for e in ix.reading:
        if e.kind in _RESETS:
            scope = _reset_scope(ix, e)
            if scope is not None:
                resets.add(*scope)
            continue
        if e.kind == "commit":
            group, tp, o = ix.group_of(e.actor), (e.get("topic"), e.partition), e.offset
            state, before = reading.get((group, tp)), last_commit.get((group, tp))
            if before is not None and o < before.offset:
                found.append(_commit_went_back(group, tp, before, e))
            start = state.high if state else (before.offset if before else None)
            if start is not None and o > start:
                skips.append(("commit", group, tp, start, o, e, state.last if state else before))
            last_commit[(group, tp)] = e
            continue
        # a located delivery
        m = ix.messages[e.msg]  # type: ignore[index]
        group = ix.group_of(_consumer(e))
        topic, p, o = _where(e, m)  # type: ignore[misc]
        tp = (topic, p)
        state = reading.get((group, tp))
        now = resets.of(group, tp)
        if state is None:
            before = last_commit.get((group, tp))
            if before is not None and o > before.offset:
                skips.append(("delivery", group, tp, before.offset, o, e, before))
            reading[(group, tp)] = _Reading(e, o, now)
            continue
        if o > state.high:  # jumps over offsets never delivered to the group
            skips.append(("delivery", group, tp, state.high, o, e, state.last))
        state.high = max(state.high, o + 1)
        excused = now != state.resets or e.get("redelivered") or e.get("seek")
        if o < state.position and not excused:
            found.append(_delivery_went_back(m, group, tp, o, e, state.last))
        state.last, state.resets, state.position = e, now, o + 1
    found += _skipped(ix, skips)
    return _by_last_event(found)


def _commit_went_back(group: Any, tp: tuple[Any, int], before: Event, e: Event) -> Anomaly:
    return Anomaly(
        "offsets",
        None,
        f"{_place(group, *tp)}: commit went back from {before.offset} (#{before.index}) to "
        f"{e.offset} (#{e.index}); the group would read offsets {e.offset}.."
        f"{before.offset - 1} again",  # type: ignore[operator]
        (before, e),
        "commit went back",
        group,
        None,
        tp[1],
        tp[0],
    )


def _delivery_went_back(
    m: _Message, group: Any, tp: tuple[Any, int], o: int, e: Event, before: Event
) -> Anomaly:
    return Anomaly(
        "offsets",
        m.id,
        f"{_place(group, *tp)}: delivered offset {o} at t={e.time:g} (#{e.index}) after offset "
        f"{before.offset} (#{before.index}), with no crash, restart, rebalance or redelivery "
        "in the group between",
        (before, e),
        "delivery went back",
        group,
        None,
        tp[1],
        tp[0],
    )


def _skipped(
    ix: _Index, skips: list[tuple[str, Any, tuple[Any, int], int, int, Event, Event]]
) -> list[Anomaly]:
    """The skip candidates whose gap holds offsets that exist in the history."""
    if not skips:
        return []
    known: dict[tuple[Any, int], list[tuple[int, str]]] = {}  # tp -> (offset, message), sorted
    for m in ix.messages.values():
        if m.where is not None:
            known.setdefault(m.tp, []).append((m.where[2], m.id))  # type: ignore[arg-type]
    for offsets in known.values():
        offsets.sort()
    found = []
    for what, group, tp, low, high, e, before in skips:
        offsets = known.get(tp, [])
        i = bisect_left(offsets, (low, ""))
        j = bisect_left(offsets, (high, ""))
        if i >= j:
            continue  # the gap holds no message: nothing was skipped
        first_o, first_m = offsets[i]
        quoted = _sorted(before, ix.messages[first_m].publish, e)
        if what == "commit":
            reason = (
                f"{_place(group, *tp)}: committed {high} at t={e.time:g} (#{e.index}) but "
                f"{j - i} existing offset(s) from {first_o} ({first_m}) were never delivered "
                "to the group"
            )
        else:
            reason = (
                f"{_place(group, *tp)}: delivered offset {high} at t={e.time:g} (#{e.index}) "
                f"after offset {low - 1}, skipping {j - i} existing offset(s) from {first_o} "
                f"({first_m})"
            )
        found.append(
            Anomaly("offsets", first_m, reason, quoted, f"{what} skipped", group, None, *tp[::-1])
        )
    return found


# --- dead-lettered --------------------------------------------------------------------------------


def _dead_lettered(ix: _Index) -> list[Anomaly]:
    """One entry per dead-lettered message and group its dead letters name (None: no group)."""
    found = []
    for m in ix.messages.values():
        by_group: dict[Any, list[Event]] = {}
        for e in m.dead_letters:
            by_group.setdefault(e.get("group"), []).append(e)
        for group, letters in sorted(by_group.items(), key=lambda item: repr(item[0])):
            reasons = ", ".join(
                dict.fromkeys(_plain(e.get("reason", "no reason recorded")) for e in letters)
            )
            first = letters[0]
            found.append(
                Anomaly(
                    "dead_lettered",
                    m.id,
                    f"dead-lettered by {first.actor}{_in_group(group)} at t={first.time:g} "
                    f"(#{first.index}): {reasons}",
                    _sorted(m.publish, *letters),
                    reasons,
                    group,
                    (m.publish or first).key,
                    *_partition_fields(m),
                )
            )
    return found


# --- words ----------------------------------------------------------------------------------------


def _place(group: Any, topic: Any, p: int) -> str:
    """``partition 0``, ``partition orders-0``, ``group g, partition 0``..."""
    partition = f"partition {p}" if topic is None else f"partition {topic}-{p}"
    return partition if group is None else f"group {group}, {partition}"


def _in_group(group: Any) -> str:
    return "" if group is None else f" in group {group}"


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else show(value)


def _sorted(*events: Event | None) -> tuple[Event, ...]:
    """The given events without ``None`` and repeats, in history order."""
    return tuple(sorted({e.index: e for e in events if e is not None}.values(), key=_index_of))


def _index_of(e: Event) -> int:
    return e.index


# --- the smallest failing history ------------------------------------------------------------------


# which anomalies break which property
_BREAKS = {
    "at-most-once": ("duplicated",),
    "at-least-once": ("lost",),
    "exactly-once": ("lost", "duplicated"),
    "per-key-order": ("order",),
    "per-partition-order": ("order",),
    "offsets": ("offsets",),
}


def violations(report: Report, property: str) -> list[Anomaly]:  # noqa: A002
    """The anomalies in ``report`` that break ``property`` (empty if it holds)."""
    if not isinstance(report, Report):
        raise InvalidType(
            f"report={show(report)} is a {type(report).__name__}: pass the Report that "
            "check(history) returned."
        )
    prop = property_name(property)
    found = [a for kind in _BREAKS[prop] for a in getattr(report, kind)]
    if prop == "per-key-order":
        return [a for a in found if a.what == "key"]
    if prop == "per-partition-order":
        return [a for a in found if a.what == "partition"]
    return found


def _identity(a: Anomaly) -> tuple[Any, ...]:
    """What makes two anomalies "the same failure" across sub-histories (not the indices)."""
    return (a.kind, a.what, a.msg, a.group, a.key, a.partition, a.topic)


def minimal_core(
    history: History,
    property: str,  # noqa: A002
    *,
    anomaly: Anomaly | None = None,
) -> History:
    """A 1-minimal sub-history of ``history`` that is well-formed and still violates ``property``.

    Greedy delta debugging: try dropping chunks of events (halves, quarters, ..., single events),
    keep every drop after which the history is still well-formed and still fails, and repeat
    single-event passes until none can be dropped. Events are copied and renumbered from 0.

    It works in two phases, so that the core explains the failure that really happened:

    1. keep the *same* anomaly failing (``anomaly``, by default the first one in the report that
       breaks ``property``: the same kind, message, group, key and partition). Without this,
       dropping a ``process`` event would manufacture a "lost" message of its own.
    2. then keep dropping while *any* anomaly still breaks ``property``.

    The result is *1-minimal*: dropping any one of its events makes it malformed or makes
    ``property`` hold. (Not necessarily the smallest possible: that would mean trying every
    subset.)

    >>> h = History()
    >>> for e in [("publish", "m1"), ("publish", "m2"), ("deliver", "m1"), ("ack", "m1"),
    ...           ("deliver", "m2"), ("ack", "m2"), ("process", "m2")]:
    ...     _ = h.record(0, "producer" if e[0] == "publish" else "consumer", *e)
    >>> minimal_core(h, "at-least-once").events
    [<#0 t=0 producer publish m1>, <#1 t=0 consumer deliver m1>, <#2 t=0 consumer ack m1>]
    """
    prop = property_name(property)
    _check_history(history)
    if anomaly is not None and not isinstance(anomaly, Anomaly):
        raise InvalidType(
            f"anomaly={show(anomaly)} is a {type(anomaly).__name__}: pass one of the Anomaly "
            f"objects of violations(check(history), {prop!r}), or None."
        )
    validate(history)
    found = violations(check(history), prop)
    if not found:
        raise InvalidArgument(
            f"the history does not violate {prop}: there is no failing core to find. "
            "Pass a history whose report says ok(...) is False."
        )
    if anomaly is not None and not any(_identity(a) == _identity(anomaly) for a in found):
        raise InvalidArgument(
            f"anomaly={anomaly!r} is not one of the anomalies of this history that break {prop}. "
            f"Pick one of violations(check(history), {prop!r})."
        )
    target = _identity(anomaly if anomaly is not None else found[0])

    def same(indices: list[int]) -> bool:
        sub = history.select(indices)
        if problems(sub):
            return False
        return any(_identity(a) == target for a in violations(check(sub, strict=False), prop))

    def fails(indices: list[int]) -> bool:
        sub = history.select(indices)
        return not problems(sub) and not check(sub, strict=False).ok(prop)

    keep = _shrink(list(range(len(history))), same)
    keep = _shrink(keep, fails)
    return history.select(keep)


def core_in(history: History, core: History) -> list[Event]:
    """The events of ``history`` that ``core`` (its :func:`minimal_core`) holds copies of, with
    their numbers in ``history``.

    A core is renumbered from 0, but the checker's reasons quote the numbers of the whole run
    (``took effect 2 times (#3, #8) after a redelivery (#5)``): print the core this way beside
    them, and the numbers match.
    """
    rest = iter(history)
    return [next(e for e in rest if e == c) for c in core]  # a core keeps the run's order


def _shrink(keep: list[int], still_fails: Any) -> list[int]:
    """Greedy delta debugging: drop chunks, then single items, while ``still_fails`` holds."""
    chunk = max(1, len(keep) // 2)
    while True:
        removed = False
        i = 0
        while i < len(keep):
            candidate = keep[:i] + keep[i + chunk :]
            if candidate and still_fails(candidate):
                keep = candidate
                removed = True
            else:
                i += chunk
        if chunk > 1:
            chunk //= 2
        elif not removed:
            return keep
