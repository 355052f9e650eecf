"""History: the record of everything that happened in a run, event by event.

A history is the only thing the checker (:mod:`brokerlab.checker`) looks at. It does not matter
whether the events came from the simulation, from the reference broker used by hand, or from a
real RabbitMQ or Redis: if the events are recorded in this vocabulary, they can be checked.

Each :class:`Event` has

- ``time``: virtual (or real) seconds;
- ``actor``: who did it, e.g. ``"producer-1"``, ``"broker"``, ``"consumer-2"``;
- ``kind``: one of :data:`KINDS` (below);
- ``msg``: the message id the event is about (``None`` for e.g. a crash);
- ``key``, ``partition``, ``offset``: where the message lives (for per-key order and offsets);
- ``info``: a small dict for anything else (the dead-letter reason, the delivery count...).

The kinds form the course's vocabulary:

============== =================================================================================
publish        a producer sent a message (``info["attempt"]`` counts retries from 1)
confirm        the broker confirmed a publish to the producer
deliver        the broker handed a message to a consumer (``info["redelivered"]``)
process        the consumer's *effect* happened (the thing that must happen once: a row
               written, an email sent). Duplicated effects are counted on these.
ack            the consumer acknowledged (queue) the delivery
commit         the consumer committed an offset (log); ``offset`` is the *next* offset to read
nack           the consumer gave a delivery back (``info["requeue"]``)
crash          an actor crashed; ``info["when"]`` says where (before/after processing)
restart        an actor (often the broker) came back
redeliver      the broker is about to hand a message out again (after a crash or timeout)
dead_letter    the broker moved a message to a dead-letter queue (``info["reason"]``)
lost           a fault dropped something (``info["what"]``: see below)
rebalance      a consumer group's assignment changed
============== =================================================================================

Conventions (the checker and the pictures rely on them)
--------------------------------------------------------

**Who is the actor.** An event is recorded at the *client* it concerns, when there is one:

- ``publish`` and ``confirm``: the producer (it sent the message / it received the confirm);
- ``deliver``: the consumer that *received* the message (the broker is implied);
- ``process``, ``ack``, ``nack``, ``commit``: the consumer that did it;
- ``redeliver``, ``dead_letter``, ``restart`` of the broker: the broker (any name, usually
  ``"broker"``); ``crash``/``restart``: whoever crashed or came back;
- ``lost``: the client whose message was dropped (the consumer for a lost ack or commit, the
  producer for a lost publish or confirm), or the broker for a stored message it dropped.

If a recorder can only record a delivery at the broker, it may use the broker as actor and put
the consumer in ``info["to"]``; the checker and the pictures understand both.

**Message ids.** ``msg`` is the *logical* message id: a producer retry re-uses it (that is what
makes a retry a possible duplicate rather than a new message).

**Groups.** When one message is meant for several independent subscribers (several consumer
groups reading one log, several queues bound to one fanout exchange), record ``group=...`` on the
subscriber's events (``deliver``, ``process``, ``ack``, ``commit``, ``rebalance``). The checker
then checks each group on its own. Without ``group`` everything belongs to one default group.
An actor's group, once seen on one of its events, is assumed for its other events too.

**What was lost.** ``info["what"]`` on a ``lost`` event is one of

- ``"publish"``: the publish never reached the broker (a retry may still succeed);
- ``"message"``: the broker dropped a stored message (a restart of a non-durable queue, an
  overflow with no dead-letter queue);
- ``"confirm"``, ``"ack"``, ``"commit"``, ``"deliver"``: that protocol message was dropped on the
  wire; the broker still holds the message (and will, for example, redeliver it).

A lost protocol message is recorded *instead of* the event it would have been: a consumer whose
ack never reaches the broker records ``lost`` with ``what="ack"``, not ``ack`` (the broker never
saw an ack). A lost publish is recorded *after* its ``publish`` (the producer did send it).

**Offsets.** On every event but ``commit``, ``offset`` is the message's own position in its
partition. On ``commit`` it is the *next* offset the group will read (Kafka's convention).

Histories round-trip through JSON Lines (one event per line), so a run can be saved, shared and
checked again later: :meth:`History.to_jsonl` and :meth:`History.from_jsonl`.

**Memory.** A history can hold millions of events, so an :class:`Event` is slotted, its ``info``
is ``None`` when empty, and a :class:`History` shares equal ``info`` dicts between events (they
are read-only: :class:`Info`) and shares the strings it reads from a file (actor, kind, msg, key).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import HistoryFormatError, InvalidArgument

__all__ = ["KINDS", "LOST_WHAT", "Event", "History", "Info"]

KINDS = (
    "publish",
    "confirm",
    "deliver",
    "process",
    "ack",
    "commit",
    "nack",
    "crash",
    "restart",
    "redeliver",
    "dead_letter",
    "lost",
    "rebalance",
)
_KIND_SET = frozenset(KINDS)
# kind -> the one shared string object for it (validation and interning in one dict lookup)
_KIND_CANON = {k: k for k in KINDS}
LOST_WHAT = ("publish", "message", "confirm", "ack", "commit", "deliver")
_FIELDS = ("time", "actor", "kind", "msg", "key", "partition", "offset", "info")
_FIELD_SET = frozenset(_FIELDS)


def _bad_kind(kind: object) -> InvalidArgument:
    return InvalidArgument(f"kind={kind!r} is not an event kind: use one of {', '.join(KINDS)}.")


class Info(dict):
    """A read-only ``dict`` for :attr:`Event.info`.

    Equal info dicts are shared between the events of one history (most events carry one of a
    handful, such as ``{"attempt": 1}``), so changing one in place would change them all:
    that is refused. Build a new event instead.
    """

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            "Event.info is read-only (equal info dicts are shared between events to save "
            "memory). Record a new event with the info you want instead."
        )

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]
    __ior__ = _refuse  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:  # copy/pickle as a plain dict, then re-freeze
        return (Info, (dict(self),))


class Event:
    """One thing that happened. Small and slotted: a history can hold millions."""

    __slots__ = ("index", "time", "actor", "kind", "msg", "key", "partition", "offset", "info")

    def __init__(
        self,
        time: float,
        actor: str,
        kind: str,
        msg: str | None = None,
        key: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
        info: dict[str, Any] | None = None,
        index: int = -1,
    ) -> None:
        self.index = index
        self.time = time
        self.actor = actor
        self.kind = kind
        self.msg = msg
        self.key = key
        self.partition = partition
        self.offset = offset
        self.info = info

    def to_dict(self) -> dict[str, Any]:
        """The event as a plain dict, without the fields that are ``None`` (and without index)."""
        d: dict[str, Any] = {"time": self.time, "actor": self.actor, "kind": self.kind}
        if self.msg is not None:
            d["msg"] = self.msg
        if self.key is not None:
            d["key"] = self.key
        if self.partition is not None:
            d["partition"] = self.partition
        if self.offset is not None:
            d["offset"] = self.offset
        if self.info:
            d["info"] = dict(self.info)
        return d

    def copy(self, index: int = -1) -> Event:
        """A copy of this event (same fields, the same shared ``info``) with a new ``index``."""
        return Event(
            self.time,
            self.actor,
            self.kind,
            self.msg,
            self.key,
            self.partition,
            self.offset,
            self.info,
            index,
        )

    def get(self, name: str, default: Any = None) -> Any:
        """``info[name]`` if present, else ``default`` (a shortcut: ``e.get("reason")``)."""
        info = self.info
        return info.get(name, default) if info else default

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:  # events are compared by content; hash by identity-ish content
        return hash((self.time, self.actor, self.kind, self.msg))

    def __repr__(self) -> str:
        parts = [
            f"#{self.index}" if self.index >= 0 else "",
            f"t={self.time:g}",
            self.actor,
            self.kind,
        ]
        if self.msg is not None:
            parts.append(self.msg)
        if self.key is not None:
            parts.append(f"key={self.key}")
        if self.partition is not None:
            parts.append(f"p{self.partition}")
        if self.offset is not None:
            parts.append(f"@{self.offset}")
        if self.info:
            parts.append(" ".join(f"{k}={v}" for k, v in sorted(self.info.items())))
        return "<" + " ".join(p for p in parts if p) + ">"


class History:
    """An ordered list of :class:`Event`; ``record`` appends and numbers them from 0.

    >>> h = History()
    >>> _ = h.record(0.0, "producer-1", "publish", "m1", key="k", attempt=1)
    >>> _ = h.record(0.5, "consumer-1", "deliver", "m1", key="k")
    >>> h
    History(2 events, actors=['consumer-1', 'producer-1'])
    >>> h[0]
    <#0 t=0 producer-1 publish m1 key=k attempt=1>
    """

    __slots__ = ("events", "_infos", "_strings")

    def __init__(self, events: Iterable[Event] = ()) -> None:
        self.events: list[Event] = []
        self._infos: dict[tuple[Any, ...], Info] = {}  # shared read-only info dicts
        self._strings: dict[str, str] = {}  # shared strings (from files)
        for e in events:
            self.append(e)

    def _share_info(self, info: dict[str, Any]) -> Info:
        """The one :class:`Info` of this history equal to ``info`` (made if new)."""
        try:
            marker = tuple(info.items())
            shared = self._infos.get(marker)
        except TypeError:  # an unhashable value (a list...): keep its own frozen copy
            return info if isinstance(info, Info) else Info(info)
        if shared is None:
            shared = info if isinstance(info, Info) else Info(info)
            if len(self._infos) < 4096:  # bounded: unique infos (ids, counters) are not shared
                self._infos[marker] = shared
        return shared

    def record(
        self,
        time: float,
        actor: str,
        kind: str,
        msg: str | None = None,
        *,
        key: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
        **info: Any,
    ) -> Event:
        """Append a new event and return it. Extra keyword arguments go into ``info``."""
        canon = _KIND_CANON.get(kind)
        if canon is None:
            raise _bad_kind(kind)
        e = Event(
            time,
            actor,
            canon,
            msg,
            key,
            partition,
            offset,
            self._share_info(info) if info else None,
            len(self.events),
        )
        self.events.append(e)
        return e

    def append(self, event: Event) -> Event:
        """Append an existing event (renumbering its ``index``); returns it."""
        canon = _KIND_CANON.get(event.kind)
        if canon is None:
            raise _bad_kind(event.kind)
        event.kind = canon
        if event.info is not None:
            event.info = self._share_info(event.info) if event.info else None
        event.index = len(self.events)
        self.events.append(event)
        return event

    def select(self, indices: Iterable[int]) -> History:
        """A new history of copies of the events at ``indices`` (in that order), renumbered."""
        out = History()
        for i in indices:
            out.append(self.events[i].copy())
        return out

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __getitem__(self, i: int) -> Event:
        return self.events[i]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, History):
            return NotImplemented
        return self.events == other.events

    __hash__ = None  # type: ignore[assignment]  # mutable

    def of_kind(self, *kinds: str) -> list[Event]:
        """The events of the given kinds, in order."""
        return [e for e in self.events if e.kind in kinds]

    def actors(self) -> list[str]:
        """Every actor, in order of first appearance."""
        return list(dict.fromkeys(e.actor for e in self.events))

    def __repr__(self) -> str:
        actors = sorted({e.actor for e in self.events})
        return f"History({len(self.events)} events, actors={actors})"

    # --- JSON Lines ---------------------------------------------------------------------------

    def to_jsonl(self, path: str | Path | None = None) -> str:
        """Serialise to JSON Lines; write to ``path`` too if given. Returns the text."""
        text = "".join(json.dumps(e.to_dict(), sort_keys=True) + "\n" for e in self.events)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_jsonl(cls, source: str | Path | io.TextIOBase) -> History:
        """Load a history from a JSON Lines file path, an open file, or the text itself.

        A malformed line raises :class:`HistoryFormatError` naming the line number and reason.
        Blank lines are skipped.
        """
        if isinstance(source, Path) or (
            isinstance(source, str)
            and "\n" not in source
            and source.strip()
            and Path(source).exists()
        ):
            lines = Path(source).read_text(encoding="utf-8").splitlines()
        elif isinstance(source, str):
            lines = source.splitlines()
        else:
            lines = source.read().splitlines()
        history = cls()
        strings = history._strings
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            d = _parse_line(line, number)
            s = [d.get(k) for k in ("actor", "msg", "key")]
            for i, v in enumerate(s):
                if v is not None:
                    s[i] = strings.setdefault(v, v)
            info = d.get("info")
            history.append(
                Event(
                    d["time"],
                    s[0],
                    d["kind"],
                    s[1],
                    s[2],
                    d.get("partition"),
                    d.get("offset"),
                    info if info else None,
                )
            )
        return history


def _parse_line(line: str, number: int) -> dict[str, Any]:
    """One JSON Lines line -> a checked dict, or :class:`HistoryFormatError` saying why not."""

    def fail(reason: str) -> HistoryFormatError:
        return HistoryFormatError(f"line {number}: {reason}")

    try:
        d = json.loads(line)
    except json.JSONDecodeError as exc:
        raise fail(f"not valid JSON ({exc.msg} at column {exc.colno}).") from None
    if not isinstance(d, dict):
        raise fail(f"expected a JSON object {{...}}, got {type(d).__name__}.")
    missing = [f for f in ("time", "actor", "kind") if f not in d]
    if missing:
        raise fail(
            f"missing field(s) {', '.join(missing)}; every event needs time, actor and kind."
        )
    unknown = sorted(set(d) - _FIELD_SET)
    if unknown:
        raise fail(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(_FIELDS)}.")
    if d["kind"] not in _KIND_SET:
        raise fail(f"kind {d['kind']!r} is not an event kind; use one of {', '.join(KINDS)}.")
    t = d["time"]
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
        raise fail(f"time {t!r} is not a finite number of seconds.")
    if not isinstance(d["actor"], str) or not d["actor"]:
        raise fail(f"actor {d['actor']!r} is not a non-empty string.")
    for name in ("msg", "key"):
        v = d.get(name)
        if v is not None and not isinstance(v, str):
            raise fail(f'{name} {v!r} is not a string; write ids and keys as strings, e.g. "{v}".')
    for name in ("partition", "offset"):
        v = d.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise fail(f"{name} {v!r} is not a whole number >= 0.")
    info = d.get("info")
    if info is not None and not isinstance(info, dict):
        raise fail(f"info must be a JSON object {{...}}, got {type(info).__name__}.")
    return d
