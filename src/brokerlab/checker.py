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
:mod:`brokerlab.history`: without ``group=`` there is one default group). "Effect" means a
``process`` event. The order of events is their order in the history (their ``index``); times
only label them. A message is meant for every group that handled it (was delivered it, acked
it, processed it) and for every group that reads its partition; with one group, for that group.
A message that was never published (only possible with ``strict=False``) is judged neither lost
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
      restarted, an overflow with nowhere to dead-letter);
    - it was **lost on the wire**: every publish attempt has a ``lost`` event with
      ``what="publish"``, and nothing shows that any attempt reached the broker (no confirm,
      delivery, ...).

``unfinished``
    Published, never processed in the group, not dead-lettered, and still held by the broker at
    the end of the history (not acked, not committed past, not dropped). A run that stops early
    has unfinished messages; they are *not* lost, and they break no guarantee.

``dead_lettered``
    Every message with a ``dead_letter`` event, with its reason (``info["reason"]``). A
    dead-lettered message is set aside on purpose, so if it was never processed it is listed here
    and *not* counted as lost.

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
    - ``delivery went back``: a delivery below the position, with no crash, restart,
      rebalance, nack, redeliver or lost event since the group's previous delivery on that
      partition, and not marked ``redelivered`` or ``seek`` in its info. After a crash or a
      rebalance the new owner re-reads from the committed offset: that is at-least-once working
      as designed, not an offsets anomaly.

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
published, an ack by a consumer that was never delivered the message...). :func:`check` refuses
a malformed history with :class:`~brokerlab.errors.HistoryFormatError` naming the first problems,
unless ``strict=False`` (useful for a real-broker history that started recording after some
messages were published); the problems are then kept in :attr:`Report.problems`.

Counterexamples
---------------

:func:`minimal_core` shrinks a failing history to a 1-minimal one that still shows the failure
(greedy delta debugging), for the shortest-counterexample search; :func:`violations` lists the
anomalies that break a property.

Cost
----

:func:`check` is linear: one pass over the events, then one pass over the messages, with
dictionaries only (plus a binary search per skipped-offset candidate). See
``benchmarks/bench_checker.py``.
"""

from __future__ import annotations

import gc
import html
import sys
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

from .errors import HistoryFormatError, InvalidArgument, InvalidType
from .history import LOST_WHAT, Event, History

__all__ = [
    "ANOMALY_KINDS",
    "PROPERTIES",
    "Anomaly",
    "Problem",
    "Report",
    "Verdict",
    "check",
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
            f"property={prop!r} is a {type(prop).__name__}: pass one of {', '.join(PROPERTIES)}."
        )
    name = _ALIASES.get(prop.strip().lower().replace("_", "-").replace(" ", "-"))
    if name is None:
        raise InvalidArgument(
            f"property={prop!r} is not a property: use one of {', '.join(PROPERTIES)}."
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
    """

    kind: str
    msg: str | None
    reason: str
    events: tuple[Event, ...]
    what: str = ""
    group: str | None = None
    key: str | None = None
    partition: int | None = None

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
        return f"event #{self.index} {self.event!r}: {self.reason}"


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
            if kind not in ANOMALY_KINDS:
                raise InvalidArgument(
                    f"kind={kind!r} is not an anomaly kind: use one of {', '.join(ANOMALY_KINDS)}."
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

    Checked: actor, time, partition, offset and group have usable values; time never goes
    backwards; kinds about a message name one (``msg``); a ``lost`` event says what was lost;
    a ``commit`` names a partition and offset (or a message); nothing is confirmed, delivered,
    redelivered, dead-lettered or dropped before it is published; a consumer processes, acks or
    nacks only what was delivered to it, and never settles (acks/nacks) one delivery twice; an
    actor belongs to one group.
    """
    with _gc_paused():
        return _scan(history).problems


def well_formed(history: History) -> bool:
    """``True`` if :func:`problems` finds nothing."""
    return not problems(history)


def validate(history: History, limit: int = 5) -> None:
    """Raise :class:`HistoryFormatError` naming the first ``limit`` problems, if any."""
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


# --- the one pass ----------------------------------------------------------------------------------

# What the pass keeps per message: one small list, so that each event costs one dictionary
# look-up for its message. The common case (one group) stores plain events, not dicts.
_PUB = 0  # its first publish event (publish order is the order of these events)
_LOC = 1  # (partition, offset), from the first event that says where it lives
_TO = 2  # the consumers it was delivered to, one entry per delivery (one: the name itself)
_SETTLERS = 3  # the consumers that acked or nacked it, one entry per ack/nack (one: the name)
_EFFECT = 4  # its first process event, or {group: first process event} once 2 groups did
_SETTLED = 5  # its first ack (or commit naming it), or {group: that event} once 2 groups did
_FIRST = 6  # the index of its first event
_LAST = 7  # the index of its last event (to find all its events again without a full pass)


class _Pass:
    """What one pass over the events learns: problems, per-message facts, early anomalies."""

    def __init__(self, **facts: Any) -> None:
        self.__dict__.update(facts)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the length of one check.

    A check makes a small list per message. With the collector on, every few hundred new
    objects trigger a collection that walks the (large, long-lived) history again and again:
    that alone made the check 2-3 times slower on a million events. Nothing the check makes is
    cyclic garbage, so nothing is lost by waiting; the collector's previous state is restored.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _note_group(
    e: Event, a: str, g: Any, actor_group: dict[str, Any], group_at: dict[str, int], bad: Any
) -> bool:
    """Record that actor ``a`` is in group ``g`` (from event ``e``), or name the problem.

    Returns True if ``a`` is new to the map: the caller must then check whether ``a`` already
    acted (under the default group) before this event.
    """
    if type(g) is not str:
        bad(_problem(e, f"group {g!r} is not a string; name groups with strings."))
    elif a not in actor_group:
        actor_group[a] = g
        group_at[a] = e.index
        return True
    elif actor_group[a] != g:
        bad(
            _problem(
                e,
                f"{a} is in group {g!r} here but in group {actor_group[a]!r} at "
                f"#{group_at[a]}: an actor belongs to one group. Give each group's "
                "consumers their own names.",
            )
        )
    return False


def _committed_by(a: str, commits: dict[tuple[Any, int], list[Event]]) -> bool:
    """Whether actor ``a`` made any of the offset commits so far.

    (A function of its own rather than a generator inside :func:`_scan`: a generator there
    would turn ``a`` into a closure cell, which is slower to read at every event.)
    """
    return any(c.actor == a for cs in commits.values() for c in cs)


def _in(slot: Any, g: Any, group_of: Any) -> Event | None:
    """The event an ``_EFFECT``/``_SETTLED`` slot holds for group ``g`` (or None)."""
    if slot is None:
        return None
    if type(slot) is dict:
        return slot.get(g)
    return slot if group_of(slot.actor) == g else None


_MANY = object()  # "more than one": a marker no group can equal


def _listed(x: Any) -> list[Any]:
    """A ``_TO``/``_SETTLERS`` slot as a list: None, one name, or a list of names."""
    if x is None:
        return []
    return x if type(x) is list else [x]


def _slot_groups(slot: Any, group_of: Any) -> set[Any]:
    """The groups an ``_EFFECT``/``_SETTLED`` slot holds an event for."""
    if slot is None:
        return set()
    if type(slot) is dict:
        return set(slot)
    return {group_of(slot.actor)}


def _scan(history: History, groups: tuple[dict[str, Any], dict[str, int]] | None = None) -> Any:
    """The one pass over the events (see :func:`check` and :func:`problems`).

    Per event: a few attribute reads and dictionary operations, no search. Whatever needs all
    the events of one message (to quote them) is gathered afterwards, and only for the messages
    with an anomaly.

    Groups are learnt on the way (``groups``: the actor -> group map and where each was learnt,
    when known beforehand). If an actor's group shows up only after that actor already acted,
    the pass is run once more with the complete map, so that every event of an actor counts in
    its group.
    """
    _check_history(history)
    PUB, LOC, TO, SETTLERS, EFFECT, SETTLED, LAST = (
        _PUB,
        _LOC,
        _TO,
        _SETTLERS,
        _EFFECT,
        _SETTLED,
        _LAST,
    )
    INF = _INF  # (local names are the fastest to read in a loop of a million events)
    events = history.events
    found: list[Problem] = []
    bad = found.append
    actor_group, group_at = ({}, {}) if groups is None else (dict(groups[0]), dict(groups[1]))
    group_of = actor_group.get
    again_with_groups = False
    msgs: dict[str, list[Any]] = {}  # message -> [PUB, LOC, TO, SETTLERS, EFFECT, SETTLED]
    consumers: set[str] = set()  # every actor something was delivered to
    # (group, message) -> (the message's record, its later effects in the group)
    again: dict[tuple[Any, str], tuple[list[Any], list[Event]]] = {}
    # The per-group state of the hot branches is kept in one dict per group, keyed by key or
    # partition (a look-up with a plain str/int key is about twice as fast as one with a
    # (group, key) tuple, which is built and hashed anew at every event):
    # group -> (key -> [highest rank, event], partition -> [offset, event]): the order fronts
    fronts: dict[Any, tuple[dict[str, list[Any]], dict[int, list[Any]]]] = {}
    # group -> partition -> [high water (highest offset delivered + 1), last delivery, resets
    #                        before it, position (last offset delivered + 1)]
    reading_of: dict[Any, dict[int, list[Any]]] = {}
    commits: dict[tuple[Any, int], list[Event]] = {}  # (group, partition) -> its offset commits
    crashes: dict[str, list[int]] = {}  # actor -> indices of its crashes
    dead: dict[str, list[Event]] = {}  # message -> its dead_letter events
    dropped: dict[str, Event] = {}  # message -> the lost(what="message") event
    wire: dict[str, int] = {}  # message -> how many lost(what="publish") events
    skips: list[tuple[str, Any, int, int, int, Event, Event | None]] = []
    offsets_out: list[Anomaly] = []
    order_out: list[Anomaly] = []
    resets = 0  # crash/restart/rebalance/redeliver/nack/lost events so far
    last_time = _LOWEST

    for e in events:
        t = e.time
        k = e.kind
        m = e.msg
        a = e.actor
        if type(t) is float and last_time <= t < INF:  # the usual case, in one comparison
            last_time = t
        else:
            last_time = _time_problem(e, last_time, bad)
        if type(a) is not str or not a:
            bad(_problem(e, f"actor {a!r} is not a non-empty string."))
            continue
        p = e.partition
        o = e.offset
        if (p is not None and (type(p) is not int or p < 0)) or (
            o is not None and (type(o) is not int or o < 0)
        ):
            bad(
                _problem(
                    e, f"partition {p!r} and offset {o!r} must be whole numbers >= 0 (or None)."
                )
            )
            continue

        info = e.info
        if info is not None:
            if k == "deliver" and "to" in info:
                a = info["to"]  # a delivery recorded at the broker: about its consumer
                if type(a) is not str or not a:
                    bad(
                        _problem(
                            e, f"to={a!r} (the consumer delivered to) is not a non-empty string."
                        )
                    )
                    continue
            g = info.get("group")
            if g is not None and group_of(a) != g:
                if _note_group(e, a, g, actor_group, group_at, bad) and (
                    a in consumers or _committed_by(a, commits)
                ):
                    again_with_groups = True  # a acted before we knew its group

        # --- an offset commit (the next offset the group will read) --------------------------
        if k == "commit" and (p is not None or m is None):
            if p is None or o is None:
                bad(
                    _problem(
                        e,
                        "a commit needs partition=... and offset=... (the next offset to read), or msg=...",
                    )
                )
                continue
            g = group_of(a)
            gp = (g, p)
            cs = commits.get(gp)
            if cs is None:
                cs = commits[gp] = []
            elif o < cs[-1].offset:
                offsets_out.append(_commit_back(g, p, cs[-1], e))
            st = reading_of.get(g, _NOTHING).get(p)
            start = st[0] if st is not None else (cs[-1].offset if cs else None)
            if start is not None and o > start:
                skips.append(("commit", g, p, start, o, e, st[1] if st is not None else cs[-1]))
            cs.append(e)
            continue

        if m is None:
            if k in _NEEDS_MSG:
                bad(_problem(e, f"a {k} event must name its message (msg=...)."))
            elif k in _RESETS:
                resets += 1
                if k == "crash":
                    crashes.setdefault(a, []).append(e.index)
                elif k == "lost":
                    what = e.get("what")
                    if what not in LOST_WHAT:
                        bad(_problem(e, _what_reason(what)))
                    elif what in ("publish", "message", "deliver", "confirm"):
                        bad(_problem(e, f"a lost {what} must name its message (msg=...)."))
            continue
        if type(m) is not str:
            bad(
                _problem(e, f'msg {m!r} is not a string; write message ids as strings, e.g. "{m}".')
            )
            continue
        rec = msgs.get(m)
        if rec is None:
            i = e.index
            rec = msgs[m] = [None, None, None, None, None, None, i, i]
        else:
            rec[LAST] = e.index
        if o is not None and p is not None and rec[LOC] is None:
            rec[LOC] = (p, o)

        # --- message events, the most frequent first ---------------------------------------------
        if k == "process":
            to = rec[TO]
            if to != a and (type(to) is not list or a not in to):
                bad(
                    _problem(
                        e,
                        f"{a} processed {m}, but {m} was never delivered to {a} before. Record the deliver first, or check the actor.",
                    )
                )
            g = group_of(a)
            done = rec[EFFECT]
            if done is None:
                rec[EFFECT] = e
            else:
                if type(done) is not dict:
                    g0 = group_of(done.actor)
                    done = rec[EFFECT] = {g0: done}
                if g in done:
                    more = again.get((g, m))
                    if more is None:
                        again[(g, m)] = (rec, [e])
                    else:
                        more[1].append(e)
                    continue  # a duplicate: order is judged on first effects only
                done[g] = e
            fr = fronts.get(g)
            if fr is None:
                fr = fronts[g] = ({}, {})
            pub = rec[PUB]
            if pub is not None:
                key = e.key
                if key is None:
                    key = pub.key
                if key is not None:
                    r = pub.index
                    front = fr[0].get(key)
                    if front is None:
                        fr[0][key] = [r, e]
                    elif r > front[0]:
                        front[0] = r
                        front[1] = e
                    else:
                        order_out.append(_key_order(m, key, g, e, pub, front[1], msgs))
            where = rec[LOC]
            if where is not None:
                front = fr[1].get(where[0])
                if front is None:
                    fr[1][where[0]] = [where[1], e]
                elif where[1] > front[0]:
                    front[0] = where[1]
                    front[1] = e
                else:
                    order_out.append(_partition_order(m, where, g, e, front))
        elif k == "deliver":
            if rec[PUB] is None:
                bad(_problem(e, _unpublished(k, m)))
            to = rec[TO]
            if to is None:
                rec[TO] = a  # one delivery: the consumer itself (no list to allocate)
            elif type(to) is list:
                to.append(a)
            else:
                rec[TO] = [to, a]
            if a not in consumers:
                consumers.add(a)
            where = rec[LOC]
            if where is None:
                continue  # a queue delivery: no offsets to follow
            g = group_of(a)
            p, o = where
            reading = reading_of.get(g)
            if reading is None:
                reading = reading_of[g] = {}
            st = reading.get(p)
            if st is None:
                cs = commits.get((g, p))
                if cs and o > cs[-1].offset:
                    skips.append(("delivery", g, p, cs[-1].offset, o, e, cs[-1]))
                reading[p] = [o + 1, e, resets, o + 1]
                continue
            hw = st[0]
            if o > hw:  # jumps over offsets never delivered to the group
                skips.append(("delivery", g, p, hw, o, e, st[1]))
            if o >= hw:
                st[0] = o + 1
            if (
                o < st[3]
                and st[2] == resets
                and not (info and (info.get("redelivered") or info.get("seek")))
            ):
                offsets_out.append(_went_back(m, g, p, o, e, st[1]))
            st[1] = e
            st[2] = resets
            st[3] = o + 1
        elif k == "publish":
            if rec[PUB] is None:
                rec[PUB] = e
        elif k == "ack" or k == "nack" or k == "commit":  # (a commit that names a message)
            to = rec[TO]
            n = to.count(a) if type(to) is list else (1 if to == a else 0)
            settlers = rec[SETTLERS]
            if n == 0:
                bad(
                    _problem(
                        e,
                        f"{a} {k}s {m}, but {m} was never delivered to {a}. Record the deliver first, or check the actor.",
                    )
                )
            elif settlers is None:
                rec[SETTLERS] = a
            elif (settlers.count(a) if type(settlers) is list else (settlers == a)) >= n:
                bad(
                    _problem(
                        e,
                        f"{a} {k}s {m} again, but each delivery can be settled only once (acking twice is an error).",
                    )
                )
            elif type(settlers) is list:
                settlers.append(a)
            else:
                rec[SETTLERS] = [settlers, a]
            if k == "nack":
                resets += 1
                continue
            done = rec[SETTLED]
            if done is None:
                rec[SETTLED] = e
            else:
                g = group_of(a)
                if type(done) is not dict:
                    g0 = group_of(done.actor)
                    if g0 == g:
                        continue
                    done = rec[SETTLED] = {g0: done}
                if g not in done:
                    done[g] = e
        elif k == "confirm" or k == "redeliver" or k == "dead_letter":
            if rec[PUB] is None:
                bad(_problem(e, _unpublished(k, m)))
            if k == "redeliver":
                resets += 1
            elif k == "dead_letter":
                dead.setdefault(m, []).append(e)
        elif k == "lost":
            resets += 1
            what = e.get("what")
            if what not in LOST_WHAT:
                bad(_problem(e, _what_reason(what)))
            elif what == "publish":
                wire[m] = wire.get(m, 0) + 1
            elif rec[PUB] is None:
                bad(_problem(e, _unpublished(f"lost {what}", m)))
            elif what == "message" and m not in dropped:
                dropped[m] = e
        else:  # crash, restart, rebalance that happen to name a message
            resets += 1
            if k == "crash":
                crashes.setdefault(a, []).append(e.index)

    if again_with_groups:
        return _scan(history, (actor_group, group_at))
    return _Pass(
        problems=found,
        events=events,
        actor_group=actor_group,
        msgs=msgs,
        consumers=consumers,
        again=again,
        # (group, partition) -> the reading state above, for the checks after the pass
        reading={(g, p): st for g, by_p in reading_of.items() for p, st in by_p.items()},
        commits=commits,
        crashes=crashes,
        dead=dead,
        dropped=dropped,
        wire=wire,
        skips=skips,
        offsets=offsets_out,
        order=order_out,
    )


_INF = float("inf")
_NOTHING: dict[Any, Any] = {}  # an empty dict to read from (never written)
_LOWEST = -sys.float_info.max


def _time_problem(e: Event, last_time: float, bad: Any) -> float:
    """The slow path of the time check: an int, or something wrong. Returns the new last time."""
    t = e.time
    tt = type(t)
    if not ((tt is float or tt is int) and t - t == 0):  # t - t is nan for nan and infinities
        bad(_problem(e, f"time {t!r} is not a finite number of seconds."))
        return last_time
    if t < last_time:
        bad(
            _problem(
                e,
                f"time goes backwards: t={t:g} after t={last_time:g}. "
                "Record events in the order they happen.",
            )
        )
    return t


def _problem(e: Event, reason: str) -> Problem:
    return Problem(e.index, e, reason)


def _what_reason(what: Any) -> str:
    return f"a lost event needs info what= one of {', '.join(LOST_WHAT)}; got {what!r}."


def _unpublished(k: str, m: str) -> str:
    return f"{k} of {m}, but {m} was never published before it. Record its publish first, or check the id."


# --- the check -------------------------------------------------------------------------------------


def check(history: History, *, strict: bool = True) -> Report:
    """Check ``history`` and return a :class:`Report` (see the module docstring for definitions).

    With ``strict=True`` (the default) a history that is not well-formed (see :func:`problems`)
    raises :class:`HistoryFormatError`; with ``strict=False`` it is checked anyway and the
    problems are listed in :attr:`Report.problems`.
    """
    with _gc_paused():
        return _check(history, strict)


def _check(history: History, strict: bool) -> Report:
    s = _scan(history)
    if s.problems and strict:
        raise _malformed(s.problems)
    out: dict[str, list[Anomaly]] = {k: [] for k in ANOMALY_KINDS}
    out["order"] = s.order
    out["offsets"] = s.offsets
    group_of = s.actor_group.get
    groups = {group_of(a) for a in s.consumers} | {g for g, _p in s.commits}
    ordered = sorted(groups, key=repr) if groups else [None]
    multi = len(ordered) > 1
    parts = {g: {p for gg, p in (*s.reading, *s.commits) if gg == g} for g in ordered}
    # partition -> the one group that reads it (_MANY if several do)
    reader: dict[int, Any] = {}
    for gp in (*s.reading, *s.commits):
        reader[gp[1]] = gp[0] if reader.get(gp[1], gp[0]) == gp[0] else _MANY

    # Which (group, message) pairs need a closer look: never took effect in the group (lost?
    # unfinished?), or took effect more than once (duplicated).
    # (each with the message's record: looking it up again in a dict of a million messages
    # costs a cache miss, while this loop reads the records in the order they were made)
    unprocessed: list[tuple[Any, str, list[Any]]] = []
    processed = 0
    published = 0
    dead_letters = s.dead
    PUB, LOC, TO, EFFECT, SETTLED = _PUB, _LOC, _TO, _EFFECT, _SETTLED  # locals: read fastest
    for m, rec in s.msgs.items():
        if rec[PUB] is None:
            continue  # never published (a malformed history): neither lost nor unfinished
        published += 1
        dead = m in dead_letters  # set aside on purpose: listed under dead_lettered, never lost
        effect = rec[EFFECT]
        if not multi:
            if effect is not None:
                processed += 1
            elif not dead:
                unprocessed.append((ordered[0], m, rec))
            continue
        if effect is not None and type(effect) is not dict:  # took effect in one group, g0:
            a0 = effect.actor  # the usual case is that no other group wanted it
            g0 = group_of(a0)
            where, to, settled = rec[LOC], rec[TO], rec[SETTLED]
            if (
                (where is None or reader.get(where[0], g0) == g0)
                and (
                    to is None
                    or to == a0  # delivered once, to the consumer that processed it
                    or (
                        group_of(to) == g0
                        if type(to) is str
                        else all(group_of(a) == g0 for a in to)
                    )
                )
                and (
                    settled is None or (type(settled) is not dict and group_of(settled.actor) == g0)
                )
            ):
                processed += 1
                continue
        done = _slot_groups(effect, group_of)
        meant = (
            {group_of(a) for a in _listed(rec[_TO])} | _slot_groups(rec[_SETTLED], group_of) | done
        )
        where = rec[_LOC]
        if where is not None:
            meant |= {g for g in ordered if where[0] in parts[g]}
        for g in sorted(meant, key=repr) if meant else ordered:
            if g in done:
                processed += 1
            elif not dead:
                unprocessed.append((g, m, rec))
    wanted = {m: rec for _g, m, rec in unprocessed}
    wanted.update((m, rec) for (_g, m), (rec, _more) in s.again.items())
    by_msg = _events_of(wanted, s.events)

    for (g, m), (rec, more) in s.again.items():
        first = _in(rec[_EFFECT], g, group_of)
        out["duplicated"].append(_duplicated(m, g, [first, *more], by_msg[m], group_of))
    commit_max: dict[tuple[Any, int], list[int]] = {}
    for g, m, rec in unprocessed:
        evs = by_msg[m]
        lost = _released(m, rec, g, evs, s, commit_max)
        if lost is not None:
            out["lost"].append(lost)
        else:
            where = rec[_LOC]
            out["unfinished"].append(
                Anomaly(
                    "unfinished",
                    m,
                    f"never took effect{_in_group(g)}, and the broker still holds it at the end",
                    _mine(evs, g, group_of),
                    "",
                    g,
                    evs[0].key,
                    where[0] if where else None,
                )
            )
    for kind in ("lost", "unfinished", "duplicated"):
        out[kind].sort(key=_first_index)
    _skips(s.skips, s.msgs, out["offsets"])
    _dead_letters(s.dead, s.msgs, out["dead_lettered"])
    return Report(
        events=len(s.events),
        messages=published,
        processed=processed,
        anomalies=out,
        problems=s.problems,
    )


def _events_of(wanted: dict[str, list[Any]], events: list[Event]) -> dict[str, list[Event]]:
    """All the events of each ``wanted`` message (message -> its record), reading only the
    stretches of the history between each one's first and last event (merged where they
    overlap)."""
    by_msg: dict[str, list[Event]] = {m: [] for m in sorted(wanted)}
    spans = sorted((rec[_FIRST], rec[_LAST]) for rec in wanted.values())
    merged: list[list[int]] = []
    for first, last in spans:
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    get = by_msg.get
    for first, last in merged:
        for e in events[first : last + 1]:
            evs = get(e.msg)  # type: ignore[arg-type]
            if evs is not None:
                evs.append(e)
    return by_msg


def _first_index(a: Anomaly) -> int:
    return a.events[0].index if a.events else -1


def _gp(g: Any, p: int) -> str:
    return f"partition {p}" if g is None else f"group {g}, partition {p}"


def _in_group(g: Any) -> str:
    return "" if g is None else f" in group {g}"


def _idx(e: Event) -> int:
    return e.index


def _sorted(*events: Event | None) -> tuple[Event, ...]:
    """The given events without ``None`` and repeats, in history order."""
    return tuple(sorted({x.index: x for x in events if x is not None}.values(), key=_idx))


def _went_back(m: str, g: Any, p: int, o: int, e: Event, prev: Event) -> Anomaly:
    return Anomaly(
        "offsets",
        m,
        f"{_gp(g, p)}: delivered offset {o} at t={e.time:g} (#{e.index}) after offset "
        f"{prev.offset} (#{prev.index}), with no crash, restart, rebalance or redelivery between",
        (prev, e),
        "delivery went back",
        g,
        None,
        p,
    )


def _commit_back(g: Any, p: int, prev: Event, e: Event) -> Anomaly:
    return Anomaly(
        "offsets",
        None,
        f"{_gp(g, p)}: commit went back from {prev.offset} (#{prev.index}) to {e.offset} "
        f"(#{e.index}); the group would read offsets {e.offset}..{prev.offset - 1} again",  # type: ignore[operator]
        (prev, e),
        "commit went back",
        g,
        None,
        p,
    )


def _key_order(
    m: str, key: str, g: Any, e: Event, pub: Event, ahead: Event, msgs: dict[str, list[Any]]
) -> Anomaly:
    """``m`` took effect (``e``) after ``ahead``, a message with the same key published later."""
    pub_n = msgs[ahead.msg][_PUB]  # type: ignore[index]
    return Anomaly(
        "order",
        m,
        f"key={key}{_in_group(g)}: {m} took effect at t={e.time:g} (#{e.index}) after {ahead.msg} "
        f"(#{ahead.index}), though {m} was published first"
        + (f" (#{pub.index} before #{pub_n.index})" if pub_n else ""),
        _sorted(pub, pub_n, ahead, e),
        "key",
        g,
        key,
    )


def _partition_order(m: str, where: tuple[int, int], g: Any, e: Event, front: list[Any]) -> Anomaly:
    p, o = where
    ahead = front[1]
    return Anomaly(
        "order",
        m,
        f"{_gp(g, p)}: {m} (offset {o}) took effect at t={e.time:g} (#{e.index}) after "
        f"{ahead.msg} (offset {front[0]}, #{ahead.index})",
        (ahead, e),
        "partition",
        g,
        None,
        p,
    )


def _skips(
    candidates: list[tuple[str, Any, int, int, int, Event, Event | None]],
    msgs: dict[str, list[Any]],
    out: list[Anomaly],
) -> None:
    """Report the skip candidates whose gap holds offsets that exist in the history."""
    if not candidates:
        return
    known: dict[int, list[tuple[int, str]]] = {}
    for m, rec in msgs.items():
        where = rec[_LOC]
        if where is not None:
            known.setdefault(where[0], []).append((where[1], m))
    for lst in known.values():
        lst.sort()
    for what, g, p, low, high, e, before in candidates:
        lst = known.get(p, [])
        i = bisect_left(lst, (low, ""))
        j = bisect_left(lst, (high, ""))
        if i >= j:
            continue  # the gap holds no message: nothing was skipped
        first_o, first_m = lst[i]
        n = j - i
        quoted = _sorted(before, msgs[first_m][_PUB], e)
        if what == "commit":
            reason = (
                f"{_gp(g, p)}: committed {high} at t={e.time:g} (#{e.index}) but {n} existing "
                f"offset(s) from {first_o} ({first_m}) were never delivered to the group"
            )
            kind = "commit skipped"
        else:
            reason = (
                f"{_gp(g, p)}: delivered offset {high} at t={e.time:g} (#{e.index}) after offset "
                f"{low - 1}, skipping {n} existing offset(s) from {first_o} ({first_m})"
            )
            kind = "delivery skipped"
        out.append(Anomaly("offsets", first_m, reason, quoted, kind, g, None, p))
    out.sort(key=lambda a: a.events[-1].index)


def _dead_letters(
    dead: dict[str, list[Event]],
    msgs: dict[str, list[Any]],
    out: list[Anomaly],
) -> None:
    """One ``dead_lettered`` entry per dead-lettered message, with its reason(s)."""
    for m, letters in dead.items():
        reasons = ", ".join(
            dict.fromkeys(str(x.get("reason", "no reason recorded")) for x in letters)
        )
        d0 = letters[0]
        pub, where = msgs[m][_PUB], msgs[m][_LOC]
        out.append(
            Anomaly(
                "dead_lettered",
                m,
                f"dead-lettered by {d0.actor} at t={d0.time:g} (#{d0.index}): {reasons}",
                _sorted(pub, *letters),
                reasons,
                None,
                (pub or d0).key,
                where[0] if where else None,
            )
        )


def _to(e: Event) -> str:
    """Who an event is about: the actor, or for a deliver recorded at the broker, ``info["to"]``."""
    info = e.info
    if info and e.kind == "deliver":
        return info.get("to", e.actor)
    return e.actor


def _mine(evs: list[Event], g: Any, group_of: Any) -> tuple[Event, ...]:
    """A message's events that concern group ``g`` (and those that concern every group)."""
    return tuple(x for x in evs if x.kind not in _CONSUMER_SIDE or group_of(_to(x)) == g)


def _duplicated(m: str, g: Any, done: list[Event], evs: list[Event], group_of: Any) -> Anomaly:
    quoted = _mine(evs, g, group_of)
    why = ""
    attempts = [x for x in evs if x.kind == "publish"]
    again = [
        x for x in evs if x.kind == "redeliver" or (x.kind == "deliver" and x.get("redelivered"))
    ]
    if again:
        why = f" after a redelivery (#{again[0].index})"
    elif len(attempts) > 1:
        why = f" after a producer retry (#{attempts[1].index})"
    times = ", ".join(f"#{x.index} by {x.actor}" for x in done)
    return Anomaly(
        "duplicated",
        m,
        f"took effect {len(done)} times{_in_group(g)} ({times}){why}",
        quoted,
        "",
        g,
        evs[0].key if evs else None,
    )


def _released(
    m: str,
    rec: list[Any],
    g: Any,
    evs: list[Event],
    s: Any,
    commit_max: dict[tuple[Any, int], list[int]],
) -> Anomaly | None:
    """If the broker let go of unprocessed ``m`` for group ``g``: the ``lost`` anomaly, else None."""
    group_of = s.actor_group.get
    mine = _mine(evs, g, group_of)
    key = evs[0].key
    where = rec[_LOC]
    part = where[0] if where else None
    # acked (or committed by message id) by a consumer of the group
    x = _in(rec[_SETTLED], g, group_of)
    if x is not None:
        crash = _crash_after(x, s.crashes, s.events)
        tail = f"; {crash.actor} crashed at t={crash.time:g} (#{crash.index})" if crash else ""
        verb = "acked" if x.kind == "ack" else "committed"
        return Anomaly(
            "lost",
            m,
            f"{verb} by {x.actor} at t={x.time:g} (#{x.index}) but never processed{_in_group(g)}{tail}",
            _sorted(*mine, crash),
            "acked",
            g,
            key,
            part,
        )
    # committed past by the group
    if where is not None:
        p, o = where
        cs = s.commits.get((g, p))
        if cs and cs[-1].offset > o:
            pm = commit_max.get((g, p))
            if pm is None:
                pm, best = [], -1
                for c in cs:
                    best = max(best, c.offset)
                    pm.append(best)
                commit_max[(g, p)] = pm
            c = cs[bisect_right(pm, o)]
            crash = _crash_after(c, s.crashes, s.events)
            tail = f"; {crash.actor} crashed at t={crash.time:g} (#{crash.index})" if crash else ""
            return Anomaly(
                "lost",
                m,
                f"{_gp(g, p)}: committed past offset {o} ({c.actor} committed {c.offset} at "
                f"t={c.time:g}, #{c.index}) but never processed{tail}",
                _sorted(*mine, c, crash),
                "committed",
                g,
                key,
                part,
            )
    # dropped by the broker
    drop = s.dropped.get(m)
    if drop is not None:
        why = drop.get("reason")
        return Anomaly(
            "lost",
            m,
            f"dropped by {drop.actor} at t={drop.time:g} (#{drop.index}) before it was processed"
            + (f" ({why})" if why else ""),
            mine,
            "dropped",
            g,
            key,
            part,
        )
    # every publish attempt lost on the wire, and none reached the broker
    n_wire = s.wire.get(m, 0)
    if n_wire:
        n_pub = sum(1 for x in evs if x.kind == "publish")
        reached = any(
            x.kind != "publish" and not (x.kind == "lost" and x.get("what") == "publish")
            for x in evs
        )
        if not reached and n_wire >= n_pub:
            return Anomaly(
                "lost",
                m,
                f"all {n_pub} publish attempt(s) were lost on the wire and none reached the broker",
                tuple(evs),
                "wire",
                g,
                key,
                part,
            )
    return None


def _crash_after(x: Event, crashes: dict[str, list[int]], events: list[Event]) -> Event | None:
    """The first crash of ``x``'s actor after ``x`` (to quote: it explains why nothing happened)."""
    idx = crashes.get(x.actor)
    if not idx:
        return None
    i = bisect_right(idx, x.index)
    return events[idx[i]] if i < len(idx) else None


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
    prop = property_name(property)
    found = [a for kind in _BREAKS[prop] for a in getattr(report, kind)]
    if prop == "per-key-order":
        return [a for a in found if a.what == "key"]
    if prop == "per-partition-order":
        return [a for a in found if a.what == "partition"]
    return found


def _identity(a: Anomaly) -> tuple[Any, ...]:
    """What makes two anomalies "the same failure" across sub-histories (not the indices)."""
    return (a.kind, a.what, a.msg, a.group, a.key, a.partition)


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
