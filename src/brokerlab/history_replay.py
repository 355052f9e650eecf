"""History replay: step through a recorded history, event by event, and see what the broker held.

(The module is ``history_replay``, the glossary's term, so that ``brokerlab.replay`` stays the
widget function: a module named ``replay`` would take its place once imported. "Replay" alone
is the log's word for reading records again.)

A sequence diagram shows what happened; it does not show what the broker *held* at each moment.
The replay does: for any step of a history it works out, from the events alone,

- each queue's **ready** messages (waiting to be delivered) and **in-flight** messages
  (delivered, not yet settled, and who holds them), and how many it has let go of: **settled**
  (acked or committed past), **dead-lettered**, **dropped** (a non-durable queue lost it);
- each consumer's **state**: ``idle`` (up, holding nothing), ``working`` (up, holding
  deliveries), ``crashed`` (at the step of its crash), ``restarting`` (down since a crash,
  until its ``restart`` event);
- how often each message has **taken effect** so far (its ``process`` events), per group.

>>> from brokerlab.scenario import Scenario
>>> from brokerlab.simulation import simulate
>>> run = simulate(Scenario(messages=2))
>>> state_at(run.history, 2)
ReplayState(step 2 of 9: <#2 t=0.002 consumer-1 deliver m1 key=k1>)
>>> print(state_at(run.history, 2).summary())
step 2 of 9: <#2 t=0.002 consumer-1 deliver m1 key=k1>
queue: 0 ready, 1 in flight [m1 -> consumer-1], 0 settled
consumer-1: working on m1
effects: none yet

:func:`state_at` is a pure function of ``(history, step)``: the state *after* the event at
index ``step``. :func:`replay_states` gives every step's state in one pass (what the widget
uses). :func:`draw_replay` draws one step: the queues and the effects as its title, the sequence
diagram of the last few events up to the step (the current event highlighted), and each
consumer's state under its lane. :func:`replay` is the widget: a slider over the steps, about
40 ms of CPU a step for a run of a few dozen messages (the states are computed once, when the
widget is made; a step only draws).

How the events are read
-----------------------
The history is the only input (a simulated run, a notebook session, a real broker's recording
in the same vocabulary; see :mod:`brokerlab.history`). The broker keeps a *copy* of a message
per queue it was routed to, and per time it was stored (a producer retry after a lost confirm
stores a second copy; a duplicating broker, a third). Each copy is in exactly one place, so
``ready + in flight + settled + dead-lettered + dropped`` is the number of copies that arrived.

========================== ===================================================================
event                      what the replay does
========================== ===================================================================
``publish``                a ready copy in each queue the message is routed to (not on a log:
                           a record exists once the broker says where it is, below)
``confirm``                (log) the record at its partition and offset exists; a confirm
                           marked ``deduplicated`` means the publish stored nothing, so that
                           publish adds no copy
``lost`` ``publish``       the copy that publish added never arrived: it is taken back
``lost`` ``message``       the broker dropped a copy (ready first): ``dropped``
``lost`` ``ack/commit``    nothing moves; the consumer's channel is closing (the broker's
                           ``redeliver`` events that follow move its deliveries)
``deliver``                a ready copy goes in flight to the consumer; with none ready, a copy
                           the history never announced (a duplicating broker) arrives in flight.
                           On a log, the record at that offset goes in flight
``ack``                    the consumer's copy is settled (a ``stale`` ack settles nothing:
                           SQS ignores a delete with an out-of-date receipt handle)
``commit``                 (log) every record below the committed offset is settled
``redeliver``              a copy in flight goes back to ready: one held by a consumer whose
                           channel is closing (crashed, lost an ack, nacked), else the one
                           delivered first (an SQS visibility timeout)
``dead_letter``            that copy (in flight first, else ready) is dead-lettered
``crash`` / ``restart``    the consumer is ``crashed``, then ``restarting`` until it is back;
                           what the broker still counts as in flight to it then (SQS until the
                           visibility timeout, a log until the rebalance) is held by
                           ``<name> (crashed)``. A broker ``restart`` closes every channel
``rebalance``              (log) a partition that moved to another member gives back its
                           in-flight records: they are ready again, from the committed offset
``process``                the message took effect once more (in the consumer's group)
========================== ===================================================================

What a history does not say, the replay reads from later events, and says so here:

- **routing**: an exchange's history does not record which queues a publish was routed to. The
  replay places a message in every queue (group) where the history ever shows it; a message the
  history never shows in any queue is listed as ``unrouted``;
- **deduplicated publishes**: whether the broker dropped a retried publish (an SQS FIFO queue, an
  idempotent Kafka producer) is said by that publish's confirm, a little later. When that
  confirm was lost too, the replay goes by what the rest of the history shows: once any confirm
  is marked ``deduplicated``, the queue is taken to drop every publish of an id it stored less
  than :data:`DEDUP_WINDOW` seconds before (SQS FIFO's 5 minutes). A FIFO run whose every
  deduplicated confirm was lost cannot be told from a standard queue, and shows the retried
  copies as ready;
- the **queues, partitions and consumers** shown are all those the history names anywhere, so
  the picture keeps its shape as you step.

A single queue with no ``group`` is called ``queue``; an exchange's queues are named by their
``group``; a log's partitions are ``p0``, ``p1``... (``<group>/p0`` when several groups read it).
A consumer that recorded nothing yet is ``idle``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import InvalidArgument, InvalidType
from .history import Event, History

__all__ = [
    "CONSUMER_STATES",
    "DEDUP_WINDOW",
    "ConsumerView",
    "QueueView",
    "ReplayState",
    "draw_replay",
    "replay",
    "replay_demo",
    "replay_states",
    "state_at",
]

#: A consumer's state at a step, in the order a crash goes through them.
CONSUMER_STATES = ("idle", "working", "crashed", "restarting")
_CLIENT_KINDS = frozenset(("deliver", "process", "ack", "commit", "nack"))
#: SQS FIFO's deduplication interval: a publish of an id stored less than 5 minutes before is
#: dropped, even if the first copy was already deleted (Amazon SQS Developer Guide, "Exactly-once
#: processing in Amazon SQS").
DEDUP_WINDOW = 300.0
_SHOWN_IDS = 6  # message ids listed per group in a summary line or a picture


def _ids(ids: list[str] | tuple[str, ...], most: int = _SHOWN_IDS) -> str:
    shown = " ".join(ids[:most])
    return f"{shown} +{len(ids) - most}" if len(ids) > most else shown


@dataclass(frozen=True)
class QueueView:
    """One queue (or one partition of a log, for one group) at one step.

    ``ready``: message ids waiting to be delivered (a retried or duplicated message can be there
    twice); ``in_flight``: ``(message id, consumer)`` for each delivered, unsettled copy;
    ``settled``, ``dead_lettered``, ``dropped``: how many copies it has let go of, and how;
    ``arrived``: how many copies it has received in all.
    """

    name: str
    ready: tuple[str, ...]
    in_flight: tuple[tuple[str, str], ...]
    settled: int
    dead_lettered: int
    dropped: int
    arrived: int

    def line(self) -> str:
        """One line of text: ``jobs: 2 ready [m3 m4], 1 in flight [m2 -> consumer-1], ...``."""
        parts = [f"{len(self.ready)} ready" + (f" [{_ids(self.ready)}]" if self.ready else "")]
        held = [f"{m} -> {c}" for m, c in self.in_flight]
        parts.append(
            f"{len(held)} in flight"
            + (f" [{', '.join(held[:3])}{' ...' if len(held) > 3 else ''}]" if held else "")
        )
        parts.append(f"{self.settled} settled")
        if self.dead_lettered:
            parts.append(f"{self.dead_lettered} dead-lettered")
        if self.dropped:
            parts.append(f"{self.dropped} dropped")
        return f"{self.name}: " + ", ".join(parts)


@dataclass(frozen=True)
class ConsumerView:
    """One consumer at one step: its state (one of :data:`CONSUMER_STATES`), the message ids it
    holds in flight, and how many effects it has made so far."""

    name: str
    state: str
    holding: tuple[str, ...]
    effects: int

    def line(self) -> str:
        held = f" [{_ids(self.holding)}]" if self.holding else ""
        if self.state == "working":
            return f"{self.name}: working on {_ids(self.holding)}"
        return f"{self.name}: {self.state}" + (f", still holding{held}" if held else "")


@dataclass(frozen=True)
class ReplayState:
    """What the broker and its consumers were doing right after event ``step`` of a history.

    - ``step``: the event's index; ``steps``: the history's length; ``event``: the event;
    - ``kind``: ``"queue"`` (queues, exchanges, SQS) or ``"log"``;
    - ``queues``: a :class:`QueueView` per queue (or per partition and group of a log);
    - ``consumers``: a :class:`ConsumerView` per consumer;
    - ``effects``: ``(message, times)`` for every message that took effect so far
      (``"group:msg"`` when the history names groups);
    - ``unrouted``: messages published on an exchange that no event ever places in a queue.
    """

    step: int
    steps: int
    event: Event
    kind: str
    queues: tuple[QueueView, ...]
    consumers: tuple[ConsumerView, ...]
    effects: tuple[tuple[str, int], ...]
    unrouted: tuple[str, ...] = ()

    @property
    def duplicated(self) -> tuple[str, ...]:
        """The messages that took effect more than once (so far), in the form of ``effects``."""
        return tuple(m for m, n in self.effects if n > 1)

    def queue(self, name: str) -> QueueView:
        """The view of queue (or partition) ``name``."""
        return _named("queue", name, self.queues)

    def consumer(self, name: str) -> ConsumerView:
        """The view of consumer ``name``."""
        return _named("consumer", name, self.consumers)

    def effect_count(self, msg: str) -> int:
        """How many times ``msg`` took effect so far (in its group, if the history names one)."""
        return dict(self.effects).get(msg, 0)

    def summary(self) -> str:
        """A few lines: the event, each queue, each consumer, the effects so far."""
        lines = [f"step {self.step} of {self.steps - 1}: {self.event!r}"]
        lines += [q.line() for q in self.queues]
        if self.unrouted:
            lines.append(f"unrouted: {_ids(self.unrouted)}")
        lines += [c.line() for c in self.consumers]
        if self.effects:
            text = ", ".join(f"{m} x{n}" for m, n in self.effects[:8])
            more = f" +{len(self.effects) - 8} more" if len(self.effects) > 8 else ""
            dup = self.duplicated
            lines.append(f"effects: {text}{more}" + (f" (duplicated: {_ids(dup)})" if dup else ""))
        else:
            lines.append("effects: none yet")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"ReplayState(step {self.step} of {self.steps - 1}: {self.event!r})"


def _named(what: str, name: str, views: tuple[Any, ...]) -> Any:
    for v in views:
        if v.name == name:
            return v
    raise InvalidArgument(
        f"{what}={name!r} is not in this history: its {what}s are "
        f"{', '.join(v.name for v in views) or 'none'}."
    )


# --- reading a history ----------------------------------------------------------------------------


class _Copy:
    __slots__ = ("msg", "state", "holder", "order", "born")

    def __init__(self, msg: str, state: str, holder: str | None, order: int) -> None:
        self.msg = msg
        self.state = state  # ready, in_flight, settled, dead, dropped
        self.holder = holder
        self.order = order  # when it was last delivered (or arrived)
        self.born = order  # when it arrived: the order ready copies are listed in


class _Queue:
    """A queue's copies, by message id."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.copies: dict[str, list[_Copy]] = {}
        self.arrived = 0

    def add(self, msg: str, state: str, holder: str | None, order: int) -> _Copy:
        copy = _Copy(msg, state, holder, order)
        self.copies.setdefault(msg, []).append(copy)
        self.arrived += 1
        return copy

    def find(self, msg: str, state: str, holder: str | None = None) -> _Copy | None:
        best = None
        for c in self.copies.get(msg, ()):
            if c.state == state and (holder is None or c.holder == holder):
                if best is None or c.order < best.order:
                    best = c
        return best

    def take_back(self, copy: _Copy) -> None:
        self.copies[copy.msg].remove(copy)
        self.arrived -= 1

    def view(self) -> QueueView:
        ready: list[tuple[int, str]] = []
        flight: list[tuple[int, str, str]] = []
        counts = {"settled": 0, "dead": 0, "dropped": 0}
        for copies in self.copies.values():
            for c in copies:
                if c.state == "ready":
                    ready.append((c.born, c.msg))
                elif c.state == "in_flight":
                    flight.append((c.order, c.msg, c.holder or "?"))
                else:
                    counts[c.state] += 1
        ready.sort()
        flight.sort()
        return QueueView(
            self.name,
            tuple(m for _, m in ready),
            tuple((m, h) for _, m, h in flight),
            counts["settled"],
            counts["dead"],
            counts["dropped"],
            self.arrived,
        )


class _Partition:
    """One group's view of one partition of a log: the records, the commit, who holds what."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.records: dict[int, str] = {}  # offset -> message id
        self.committed = 0
        self.held: dict[int, str] = {}  # offset -> consumer (in flight)
        self.dead: set[int] = set()

    def view(self) -> QueueView:
        ready, settled = [], 0
        for off in sorted(self.records):
            if off in self.dead or off in self.held:
                continue
            if off < self.committed:
                settled += 1
            else:
                ready.append(self.records[off])
        flight = tuple((self.records[o], c) for o, c in sorted(self.held.items()))
        return QueueView(
            self.name, tuple(ready), flight, settled, len(self.dead), 0, len(self.records)
        )


_TP = re.compile(r"(\d+)$")
_MEMBER = re.compile(r"\.\d+$")


class _Reader:
    """Applies events one at a time; :meth:`state` takes a snapshot."""

    def __init__(self, history: History) -> None:
        self.history = history
        self.steps = len(history.events)
        self._survey(history.events)
        self._start()

    def _start(self) -> None:
        """The state before the first event: every queue or partition empty, consumers idle."""
        consumers = self.consumer_names
        self.queues: dict[str | None, _Queue] = {}
        self.parts: dict[tuple[str | None, int], _Partition] = {}
        if self.log:
            several = len(self.groups) > 1
            for g in self.groups:
                for p in sorted(self.partitions):
                    name = f"{g}/p{p}" if several else f"p{p}"
                    self.parts[(g, p)] = _Partition(name)
            self.owner: dict[tuple[str | None, int], str | None] = {}
        else:
            for g in sorted(self.groups, key=lambda g: (g is not None, str(g))):
                if (
                    g is None
                    and self.grouped
                    and not any(self.group_of.get(c) is None for c in consumers)
                ):
                    continue
                self.queues[g] = _Queue(self.default if g is None else g)
            if not self.queues:
                self.queues[None] = _Queue(self.default)
        self.unrouted: dict[str, None] = {}
        self.status = {c: "idle" for c in consumers}
        self.closing: set[str] = set()
        self.effects: dict[str, int] = {}
        self.made: dict[str, int] = {c: 0 for c in consumers}
        self.publish_copies: dict[str, list[tuple[_Queue, _Copy]]] = {}
        self.stored_at: dict[str, float] = {}  # message id -> when its first copy was stored
        self.order = 0
        self.step = -1

    def _survey(self, events: list[Event]) -> None:
        """What the whole history says about its shape (see the module docstring): who
        produces, who consumes and in which group, where each message is routed, which
        partitions exist, which publishes the broker deduplicated, and whether it is a log."""
        self.group_of: dict[str, str | None] = {}
        producers: dict[str, None] = {}
        consumers: dict[str, None] = {}
        routes: dict[str, dict[str | None, None]] = {}
        partitions: set[int] = set()
        groups: dict[str | None, None] = {}
        self.deduplicated: set[tuple[str | None, Any]] = set()
        self.log = False
        for e in events:
            if e.kind == "publish":
                producers[e.actor] = None
        for e in events:
            k = e.kind
            if e.partition is not None or k == "rebalance":
                self.log = True
            who = e.get("to", e.actor) if k == "deliver" else e.actor
            if k in _CLIENT_KINDS:
                if who not in producers:
                    consumers[who] = None
                g = e.get("group")
                if g is not None:
                    self.group_of.setdefault(who, g)
            if e.partition is not None:
                partitions.add(e.partition)
            if k == "rebalance":
                for member, tps in (e.get("assignment") or {}).items():
                    # a restarted Kafka consumer joins as a new member, "consumer-1.1": it is
                    # shown under its process, "consumer-1"
                    base = _MEMBER.sub("", str(member))
                    if base not in producers:
                        consumers.setdefault(base, None)
                    for tp in tps:
                        m = _TP.search(str(tp))
                        if m:
                            partitions.add(int(m.group(1)))
            if k == "confirm" and e.get("deduplicated"):
                self.deduplicated.add((e.msg, e.get("attempt")))
        self.broker = self._broker(events, producers, consumers)
        for e in events:
            if e.kind in ("crash", "restart") and e.actor not in producers:
                if e.actor != self.broker and e.actor not in consumers:
                    consumers[e.actor] = None
        for e in events:
            if e.kind in _CLIENT_KINDS and e.msg is not None:
                who = e.get("to", e.actor) if e.kind == "deliver" else e.actor
                g = e.get("group", self.group_of.get(who))
                routes.setdefault(e.msg, {})[g] = None
                groups[g] = None
        for c in consumers:
            groups.setdefault(self.group_of.get(c), None)
        self.routes = routes
        self.grouped = any(g is not None for g in groups)
        self.consumer_names = list(consumers)
        self.groups = list(groups) or [None]
        self.default = "queue"
        self.partitions = partitions

    @staticmethod
    def _broker(events: list[Event], producers: dict, consumers: dict) -> str:
        for e in events:
            if e.kind in ("redeliver", "dead_letter") and e.actor not in consumers:
                return e.actor
        for e in events:
            if e.kind == "restart" and e.actor not in consumers and e.actor not in producers:
                return e.actor
        return "broker"

    # --- applying events ----------------------------------------------------------------------

    def apply(self, e: Event) -> None:
        self.step += 1
        self.order += 1
        k = e.kind
        for c, s in self.status.items():  # "crashed" lasts one step, then "restarting"
            if s == "crashed":
                self.status[c] = "restarting"
        handler = getattr(self, "_" + k, None)
        if handler is not None:
            handler(e)

    def _queue_of(self, consumer: str) -> _Queue:
        g = self.group_of.get(consumer)
        q = self.queues.get(g)
        if q is None:
            q = self.queues.get(None) or next(iter(self.queues.values()))
        return q

    def _publish(self, e: Event) -> None:
        if self.log or e.msg is None:
            return
        if (e.msg, e.get("attempt")) in self.deduplicated:
            return  # the broker dropped this publish (its confirm says so)
        first = self.stored_at.get(e.msg)
        if self.deduplicated and first is not None and e.time - first < DEDUP_WINDOW:
            return  # a deduplicating queue drops a retry of an id it already has
        self.stored_at.setdefault(e.msg, e.time)
        if self.grouped:
            targets = [self.queues[g] for g in self.routes.get(e.msg, {}) if g in self.queues]
            if not targets:
                self.unrouted[e.msg] = None
                return
        else:
            targets = list(self.queues.values())
        added = [(q, q.add(e.msg, "ready", None, self.order)) for q in targets]
        self.publish_copies[e.msg] = added

    def _confirm(self, e: Event) -> None:
        if self.log and e.partition is not None and e.offset is not None:
            for (_, p), part in self.parts.items():
                if p == e.partition:
                    part.records.setdefault(e.offset, e.msg or "?")

    def _lost(self, e: Event) -> None:
        what = e.get("what")
        if what == "confirm":
            self._confirm(e)
        elif what == "publish" and e.msg is not None:
            for q, copy in self.publish_copies.pop(e.msg, []):
                if copy.state == "ready":
                    q.take_back(copy)
            if not any(q.copies.get(e.msg) for q in self.queues.values()):
                self.stored_at.pop(e.msg, None)  # never stored: a retry is a first copy
        elif what == "message" and e.msg is not None and not self.log:
            for q in self.queues.values():
                copy = q.find(e.msg, "ready") or q.find(e.msg, "in_flight")
                if copy is not None:
                    copy.state, copy.holder = "dropped", None
                    return
        elif what in ("ack", "commit"):
            self.closing.add(e.actor)

    def _deliver(self, e: Event) -> None:
        who = e.get("to", e.actor) if e.actor == self.broker else e.actor
        self.closing.discard(who)
        if self.status.get(who) in ("crashed", "restarting"):
            self.status[who] = "idle"
        if e.msg is None:
            return
        if self.log:
            if e.partition is None or e.offset is None:
                return
            g = self.group_of.get(who)
            for (pg, p), part in self.parts.items():
                if p == e.partition:
                    part.records.setdefault(e.offset, e.msg)
                    if pg == g:
                        part.held[e.offset] = who
                        part.dead.discard(e.offset)  # read again (a seek back): in flight
            return
        q = self._queue_of(who)
        copy = q.find(e.msg, "ready")
        if copy is None:  # a copy the history never announced (a broker that stores twice)
            q.add(e.msg, "in_flight", who, self.order)
            return
        copy.state, copy.holder, copy.order = "in_flight", who, self.order

    def _ack(self, e: Event) -> None:
        if e.msg is None or e.get("stale") or self.log:
            return
        q = self._queue_of(e.actor)
        copy = q.find(e.msg, "in_flight", e.actor) or q.find(e.msg, "ready")
        if copy is not None:
            copy.state, copy.holder = "settled", None

    def _commit(self, e: Event) -> None:
        if not self.log:
            if e.msg is not None:
                self._ack(e)
            return
        if e.partition is None or e.offset is None:
            return
        part = self.parts.get((self.group_of.get(e.actor), e.partition))
        if part is None:
            return
        part.committed = e.offset
        for off in [o for o in part.held if o < e.offset]:
            del part.held[off]

    def _nack(self, e: Event) -> None:
        self.closing.add(e.actor)

    def _held_copy(self, msg: str) -> tuple[_Queue, _Copy] | None:
        """The in-flight copy a ``redeliver`` or ``dead_letter`` is about (see the docstring)."""
        best: tuple[int, _Queue, _Copy] | None = None
        for q in self.queues.values():
            for c in q.copies.get(msg, ()):
                if c.state != "in_flight":
                    continue
                rank = 0 if c.holder in self.closing else 1
                if best is None or (rank, c.order) < (best[0], best[2].order):
                    best = (rank, q, c)
        return None if best is None else (best[1], best[2])

    def _redeliver(self, e: Event) -> None:
        if self.log or e.msg is None:
            return
        found = self._held_copy(e.msg)
        if found is not None:
            _, copy = found
            copy.state, copy.holder = "ready", None

    def _dead_letter(self, e: Event) -> None:
        if e.msg is None:
            return
        if self.log:
            if e.partition is None or e.offset is None:
                return
            who = e.actor if e.actor in self.status else None
            g = self.group_of.get(who) if who else None
            for (pg, p), part in self.parts.items():
                if p == e.partition and (pg == g or who is None):
                    part.records.setdefault(e.offset, e.msg)
                    part.held.pop(e.offset, None)
                    part.dead.add(e.offset)
            return
        found = self._held_copy(e.msg)
        if found is None:
            for q in self.queues.values():
                copy = q.find(e.msg, "ready")
                if copy is not None:
                    found = (q, copy)
                    break
        if found is not None:
            found[1].state, found[1].holder = "dead", None

    def _crash(self, e: Event) -> None:
        if e.actor in self.status:
            self.status[e.actor] = "crashed"
            self.closing.add(e.actor)

    def _restart(self, e: Event) -> None:
        if e.actor in self.status:
            self.status[e.actor] = "idle"
            self.closing.discard(e.actor)
            # What the broker still counts as held by the crashed process (an SQS message until
            # its visibility timeout, a log's records until the rebalance) is not in the new
            # process's hands: it stays in flight under "<name> (crashed)".
            old = f"{e.actor} (crashed)"
            for q in self.queues.values():
                for copies in q.copies.values():
                    for c in copies:
                        if c.state == "in_flight" and c.holder == e.actor:
                            c.holder = old
            for part in self.parts.values():
                for off, holder in part.held.items():
                    if holder == e.actor:
                        part.held[off] = old
        elif e.actor == self.broker:  # every channel closes; redeliveries follow
            self.closing.update(self.status)

    def _process(self, e: Event) -> None:
        if e.msg is None:
            return
        g = e.get("group", self.group_of.get(e.actor))
        key = e.msg if g is None or not self.grouped else f"{g}:{e.msg}"
        self.effects[key] = self.effects.get(key, 0) + 1
        if e.actor in self.made:
            self.made[e.actor] += 1

    def _rebalance(self, e: Event) -> None:
        assignment = e.get("assignment")
        if not isinstance(assignment, dict):
            return
        group = e.get("group")
        now: dict[int, str] = {}
        for member, tps in assignment.items():
            for tp in tps:
                m = _TP.search(str(tp))
                if m:
                    now[int(m.group(1))] = member
        for (g, p), part in self.parts.items():
            if group is not None and g != group:
                continue
            key = (g, p)
            before = self.owner.get(key)
            after = now.get(p)
            if key in self.owner and before != after:
                part.held.clear()  # the new owner starts again from the committed offset
            self.owner[key] = after

    # --- the snapshot -----------------------------------------------------------------------------

    def state(self) -> ReplayState:
        if self.log:
            views = tuple(part.view() for _, part in sorted(self.parts.items(), key=_part_key))
        else:
            views = tuple(q.view() for q in self.queues.values())
        holding: dict[str, list[str]] = {c: [] for c in self.status}
        for v in views:
            for m, c in v.in_flight:
                holding.setdefault(c, []).append(m)
        consumers = []
        for c in self.consumer_names:
            s = self.status[c]
            if s in ("idle", "working"):
                s = "working" if holding[c] else "idle"
            consumers.append(ConsumerView(c, s, tuple(holding[c]), self.made[c]))
        return ReplayState(
            self.step,
            self.steps,
            self.history.events[self.step],
            "log" if self.log else "queue",
            views,
            tuple(consumers),
            tuple(sorted(self.effects.items(), key=lambda kv: _msg_key(kv[0]))),
            tuple(self.unrouted),
        )


def _part_key(item: tuple[tuple[str | None, int], _Partition]) -> tuple[str, int]:
    (g, p), _ = item
    return (str(g), p)


def _msg_key(label: str) -> tuple[str, int, str]:
    """``m2`` before ``m10``; ``q1:m2`` grouped by queue first."""
    group, _, msg = label.rpartition(":")
    digits = msg[1:]
    return (group, int(digits) if digits.isdigit() else 0, msg)


def _check(history: Any) -> History:
    if hasattr(history, "history") and isinstance(history.history, History):
        history = history.history  # a Run, a Counterexample
    if not isinstance(history, History):
        raise InvalidType(
            f"history is a {type(history).__name__}: the replay needs a "
            "brokerlab.history.History (for example simulate(scenario).history) or a Run."
        )
    if not len(history):
        raise InvalidArgument(
            "the history is empty: there is nothing to replay. Record some events first, "
            "or pass a run's history."
        )
    return history


def _check_step(step: Any, history: History) -> int:
    last = len(history) - 1
    if isinstance(step, bool) or not isinstance(step, int):
        raise InvalidType(
            f"step={step!r} is a {type(step).__name__}: pass the index of an event, "
            f"a whole number 0..{last}."
        )
    if not 0 <= step <= last:
        raise InvalidArgument(
            f"step={step} is out of range: this history has {len(history)} events, so a step is "
            f"0..{last} (the state right after that event)."
        )
    return step


def state_at(history: History, step: int) -> ReplayState:
    """The state right after event ``step`` (0-based) of ``history``: a pure function.

    ``history`` may also be a :class:`~brokerlab.simulation.Run`. See the module docstring for
    how the events are read.
    """
    history = _check(history)
    step = _check_step(step, history)
    reader = _Reader(history)
    for e in history.events[: step + 1]:
        reader.apply(e)
    return reader.state()


def replay_states(history: History) -> list[ReplayState]:
    """Every step's state, in one pass: ``replay_states(h)[k] == state_at(h, k)``."""
    history = _check(history)
    reader = _Reader(history)
    out = []
    for e in history.events:
        reader.apply(e)
        out.append(reader.state())
    return out


# --- the picture ----------------------------------------------------------------------------------

_STATE_COLOURS = {  # Okabe-Ito; the word is always written too
    "idle": "#DDDDDD",
    "working": "#009E73",
    "crashed": "#D55E00",
    "restarting": "#E69F00",
}
_FIGSIZE = (8.6, 4.4)  # inches: 860 x 440 px at 100 dpi (the widget; the title is above it)
_MARGINS = (0.8, 0.15, 0.4, 0.1)  # left, right, top, bottom, inches
_TEXT_ON = {"idle": "#000000", "working": "#FFFFFF", "crashed": "#FFFFFF", "restarting": "#000000"}


def draw_replay(
    history: History,
    step: int,
    ax: Any = None,
    *,
    window: int = 12,
    states: list[ReplayState] | None = None,
    lanes: tuple[list[str], str] | None = None,
) -> Any:
    """Draw step ``step`` of ``history``; return the matplotlib Figure.

    The title says the step and its event, then one line per queue (ready, in flight,
    settled...) and the effects so far. Under it, the sequence diagram of the last ``window``
    events up to the step (the current one on a yellow band), with the whole history's lanes so
    nothing jumps as you step, and under each consumer's lane its state at that step (a
    coloured box with the word and the messages it holds). ``states``
    (from :func:`replay_states`) and ``lanes`` (``(lanes, broker name)``, as the widget keeps
    them) save recomputing; they must be this history's.
    """
    from .diagram import draw_sequence
    from .plots import figure_and_ax

    history = _check(history)
    step = _check_step(step, history)
    if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 200:
        raise InvalidArgument(
            f"window={window!r} is out of range: pass how many events to draw, 1..200, e.g. 12."
        )
    if states is not None and len(states) != len(history):
        raise InvalidArgument(
            f"states has {len(states)} steps but the history has {len(history)} events: pass "
            "replay_states(history) of this history, or None."
        )
    state = states[step] if states is not None else state_at(history, step)
    reader_lanes = lanes if lanes is not None else _lanes(history)
    title = _state_lines(state, history)
    if ax is None:  # a figure of its own: room above the axes for the title's lines
        w, h = _FIGSIZE
        left, right, top, bottom = _MARGINS
        extra = 0.17 * title.count("\n") + 0.3
        fig, ax = figure_and_ax(ax, (w, h + extra), margins=(left, right, top + extra, bottom))
    fig = ax.figure
    lo = max(0, step + 1 - window)
    part = history.select(range(lo, step + 1))
    # no key: the module docstring of brokerlab.diagram is the key; several ms saved per step
    draw_sequence(
        part, ax=ax, broker=reader_lanes[1], lanes=reader_lanes[0], labels=True, legend=False
    )
    ax.set_title("", loc="left")
    rows = step + 1 - lo
    lane_names = [t.get_text() for t in ax.get_xticklabels()]
    x_of = {name: i for i, name in enumerate(lane_names)}
    # the current event
    ax.axhspan(rows - 1.5, rows - 0.5, color="#F0E442", alpha=0.35, zorder=-1, linewidth=0)
    # each consumer's state, under its lane
    below = window - 0.2
    ax.axhline(below, color="#999999", linewidth=0.8)
    for c in state.consumers:
        x = x_of.get(c.name)
        if x is None:
            continue
        held = f"\n{_ids(c.holding, 3)}" if c.holding else ""
        ax.text(
            x,
            below + 1.1,
            c.state + held,
            ha="center",
            va="center",
            fontsize=8,
            color=_TEXT_ON[c.state],
            bbox={
                "boxstyle": "round,pad=0.3",
                "facecolor": _STATE_COLOURS[c.state],
                "edgecolor": "none",
            },
        )
    ax.set_ylim(below + 2.0, -0.9)
    ax.set_xlim(-0.6, max(len(lane_names) - 0.4, 3.5))
    # The queues and the effects are the title: a widget shows its title as text above the
    # picture, which the browser draws for free (matplotlib spends about 1 ms per short label).
    ax.set_title(title, fontsize=9, pad=22, linespacing=1.4)
    return fig


def _state_lines(state: ReplayState, history: History) -> str:
    """The event, each queue's line and the effects so far: the picture's title."""
    lines = [f"Replay, step {state.step} of {len(history) - 1}: {state.event!r}"]
    lines += [q.line() for q in state.queues]
    if state.unrouted:
        lines.append(f"unrouted: {_ids(state.unrouted)}")
    dup = state.duplicated
    effects = sum(n for _, n in state.effects)
    which = f" ({_ids([m for m, _ in state.effects])})" if state.effects else ""
    lines.append(
        f"effects so far: {effects}{which}" + (f", duplicated: {_ids(dup)}" if dup else "")
    )
    return "\n".join(lines)


def _lanes(history: History) -> tuple[list[str], str]:
    """The whole history's lanes (every consumer included, even one that never got a message),
    and its broker's name."""
    from .diagram import lanes_of

    reader = _Reader(history)
    lanes = lanes_of(history, broker=reader.broker)
    lanes += [c for c in reader.consumer_names if c not in lanes]
    return lanes, reader.broker


def replay_demo() -> Any:
    """The replay of a run of a few dozen messages, for the widget benchmark: 30 messages, two
    consumers, crashes before and after processing, lost acks and lost confirms (seed 3)."""
    from .scenario import Consumers, Scenario
    from .simulation import simulate

    faults = dict.fromkeys(
        ("crash_before_processing", "crash_after_processing", "lost_ack", "producer_retry"), 0.1
    )
    run = simulate(Scenario(messages=30, seed=3, consumers=Consumers(count=2), faults=faults))
    return replay(run)


def replay(history: History, *, window: int = 12, step: int = 0) -> Any:
    """The replay widget: a slider over the steps of ``history`` (or of a Run).

    Each step shows :func:`draw_replay`: the diagram up to that event, the queues' ready and
    in-flight messages, each consumer's state. The states are computed once, when the widget is
    made; moving the slider only draws.
    """
    import ipywidgets as widgets

    from .widgets import live_figure

    history = _check(history)
    step = _check_step(step, history)
    states = replay_states(history)
    shape = _lanes(history)

    def replay_step(ax: Any, step: int) -> None:
        draw_replay(history, step, ax, window=window, states=states, lanes=shape)

    live = live_figure(
        replay_step,
        figsize=_FIGSIZE,
        step=widgets.IntSlider(
            value=step,
            min=0,
            max=len(history) - 1,
            description="step",
            continuous_update=True,
            layout=widgets.Layout(width="700px"),
        ),
    )
    # Fixed margins instead of the layout of the first picture: later steps have longer time
    # labels (t=12.345) than step 0 (t=0), and the picture must not jump or clip as you step.
    w, h = _FIGSIZE
    left, right, top, bottom = _MARGINS
    live.figure.subplots_adjust(
        left=left / w, right=1 - right / w, top=1 - top / h, bottom=bottom / h
    )
    live.redraw()
    return live
