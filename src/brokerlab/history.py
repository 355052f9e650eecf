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
lost           a fault dropped something on the wire (``info["what"]``: ``"ack"``, ``"confirm"``)
rebalance      a consumer group's assignment changed
============== =================================================================================

Histories round-trip through JSON Lines (one event per line), so a run can be saved, shared and
checked again later: :meth:`History.to_jsonl` and :meth:`History.from_jsonl`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import HistoryFormatError, InvalidArgument

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
_FIELDS = ("time", "actor", "kind", "msg", "key", "partition", "offset", "info")


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
        d: dict[str, Any] = {"time": self.time, "actor": self.actor, "kind": self.kind}
        for name in ("msg", "key", "partition", "offset", "info"):
            value = getattr(self, name)
            if value is not None:
                d[name] = value
        return d

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:  # events are compared by content; hash by identity-ish content
        return hash((self.time, self.actor, self.kind, self.msg))

    def __repr__(self) -> str:
        parts = [f"#{self.index}" if self.index >= 0 else "", f"t={self.time:g}", self.actor, self.kind]
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
    """An ordered list of :class:`Event`; ``record`` appends and numbers them from 0."""

    __slots__ = ("events",)

    def __init__(self, events: Iterable[Event] = ()) -> None:
        self.events: list[Event] = []
        for e in events:
            self.append(e)

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
        if kind not in _KIND_SET:
            raise InvalidArgument(
                f"kind={kind!r} is not an event kind: use one of {', '.join(KINDS)}."
            )
        e = Event(time, actor, kind, msg, key, partition, offset, info or None, len(self.events))
        self.events.append(e)
        return e

    def append(self, event: Event) -> Event:
        if event.kind not in _KIND_SET:
            raise InvalidArgument(
                f"kind={event.kind!r} is not an event kind: use one of {', '.join(KINDS)}."
            )
        event.index = len(self.events)
        self.events.append(event)
        return event

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __getitem__(self, i: int) -> Event:
        return self.events[i]

    def of_kind(self, *kinds: str) -> list[Event]:
        return [e for e in self.events if e.kind in kinds]

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
        """
        if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and Path(source).exists()):
            lines = Path(source).read_text(encoding="utf-8").splitlines()
        elif isinstance(source, str):
            lines = source.splitlines()
        else:
            lines = source.read().splitlines()
        history = cls()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as exc:
                raise HistoryFormatError(f"line {number}: not valid JSON ({exc.msg}).") from None
            if not isinstance(d, dict):
                raise HistoryFormatError(f"line {number}: expected a JSON object, got {type(d).__name__}.")
            missing = [f for f in ("time", "actor", "kind") if f not in d]
            if missing:
                raise HistoryFormatError(f"line {number}: missing field(s) {', '.join(missing)}.")
            unknown = sorted(set(d) - set(_FIELDS))
            if unknown:
                raise HistoryFormatError(
                    f"line {number}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(_FIELDS)}."
                )
            if d["kind"] not in _KIND_SET:
                raise HistoryFormatError(
                    f"line {number}: kind {d['kind']!r} is not an event kind; use one of {', '.join(KINDS)}."
                )
            if isinstance(d["time"], bool) or not isinstance(d["time"], (int, float)):
                raise HistoryFormatError(f"line {number}: time {d['time']!r} is not a number.")
            history.append(Event(**{k: d.get(k) for k in _FIELDS}))
        return history
