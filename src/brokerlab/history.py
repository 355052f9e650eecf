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
An actor's group, once seen on one of its own events (a consumer's ``deliver``, ``process``,
``ack``, ``nack``, ``commit``, ``crash``, ``restart``, ``rebalance``; for a ``deliver`` recorded
at the broker, the consumer in ``info["to"]``), is assumed for its other events too. On a
broker's ``dead_letter``, ``redeliver`` or ``lost`` event, ``group=...`` says which group the
event concerns (a queue of a fanout exchange dead-lettered its copy) without making the broker
a member; such an event without ``group`` concerns every group.

**Topics.** ``info["topic"]`` names the topic of a partition (a log with several topics): the
checker takes partition 0 of two topics for two partitions.

**What was lost.** ``info["what"]`` on a ``lost`` event is one of

- ``"publish"``: the publish never reached the broker (a retry may still succeed);
- ``"message"``: the broker dropped a stored message (a restart of a non-durable queue; an
  expired TTL or an overflow with no dead-letter queue; the end of a queue's retention period;
  a purge; a log's retention deleting a record not yet read), with ``info["reason"]``;
- ``"confirm"``, ``"ack"``, ``"commit"``, ``"deliver"``: that protocol message was dropped on the
  wire; the broker still holds the message (and will, for example, redeliver it).

A lost protocol message is recorded *instead of* the event it would have been: a consumer whose
ack never reaches the broker records ``lost`` with ``what="ack"``, not ``ack`` (the broker never
saw an ack). A lost publish is recorded *after* its ``publish`` (the producer did send it).

**Offsets.** On every event but ``commit``, ``offset`` is the message's own position in its
partition. On ``commit`` it is the *next* offset the group will read (Kafka's convention).

Histories round-trip through JSON Lines (one event per line), so a run can be saved, shared and
checked again later: :meth:`History.to_jsonl` and :meth:`History.from_jsonl`.

**Checked fields.** :meth:`History.record`, :meth:`History.append` and
:meth:`History.from_jsonl` check every field (:func:`field_problem`): ``time`` a finite int or
float, ``actor`` a non-empty string, ``kind`` one of :data:`KINDS`, ``msg`` and ``key`` strings
(or None), ``partition`` and ``offset`` whole numbers from 0 (or None), ``info`` a dict whose
``group`` and ``topic`` are strings and whose ``to`` is a non-empty string. A bad field raises an
error that names it (in a file: the line too), and nothing is recorded.

**Memory.** A history can hold millions of events, so an :class:`Event` is slotted, its ``info``
is ``None`` when empty, and a :class:`History` shares equal ``info`` dicts between events (they
are read-only: :class:`Info`) and shares the strings it reads from a file (actor, kind, msg, key).
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import HistoryFormatError, InvalidArgument, InvalidType

__all__ = ["KINDS", "LOST_WHAT", "Event", "History", "Info", "field_problem", "show"]

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


_FLOAT_MAX = sys.float_info.max


def show(value: Any, limit: int = 60) -> str:
    """``repr(value)``, shortened, for error messages; never raises.

    A huge int is described by its number of digits (``str()`` of an int of more than 4,300
    digits raises in Python 3.11), a long text is cut.

    >>> show(10**400)
    'an int of 401 digits'
    >>> show("x" * 100, limit=10)
    "'xxxxxxxx..."
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        digits = len(str(abs(value))) if value.bit_length() < 10_000 else None
        size = f"{digits} digits" if digits else f"about {int(value.bit_length() * 0.30103)} digits"
        return f"an int of {size}"
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the error being reported
        return f"<a {type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "..."


def _plain(value: Any) -> str:
    """A string as itself, anything else as :func:`show` gives it (for reprs)."""
    return value if isinstance(value, str) else show(value)


def _time_text(t: Any) -> str:
    """A time as ``repr(Event)`` prints it (``t=1.5``), whatever it holds."""
    if time_problem(t) is None:
        return f"{t:g}"
    return show(t)


def time_problem(t: Any, name: str = "time") -> str | None:
    """Why ``t`` is not a usable time (a finite int or float of seconds), or None."""
    if isinstance(t, bool) or not isinstance(t, (int, float)):
        return (
            f"{name}={show(t)} is not a finite number of seconds: it is a {type(t).__name__}. "
            "Record times as int or float seconds, e.g. 0.5."
        )
    if not -_FLOAT_MAX <= t <= _FLOAT_MAX:  # NaN fails both comparisons; an int is exact here
        return (
            f"{name}={show(t)} is not a finite number of seconds (a float holds up to about "
            "1.8e308). Record times as int or float seconds, e.g. 0.5."
        )
    return None


_CHECKED_INFO = frozenset(("group", "to", "topic"))  # the info fields the checker reads
_WHOLE_LIMIT = 2**63  # offsets and partitions fit Kafka's 64-bit integers


def _whole(value: Any) -> bool:
    """A whole number from 0 that fits Kafka's 64-bit offsets."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _WHOLE_LIMIT


def field_problem(
    time: Any,
    actor: Any,
    kind: Any,
    msg: Any = None,
    key: Any = None,
    partition: Any = None,
    offset: Any = None,
    info: Any = None,
    *,
    prefix: str = "",
) -> str | None:
    """Why one of an event's fields has an unusable type or value, naming it; None if all are fine.

    ``prefix`` goes before each field name (``"event."`` names the fields of an :class:`Event`).
    Only what each field holds on its own is checked here; how the events of a history fit
    together (time order, causality) is the checker's :func:`~brokerlab.checker.problems`.
    """
    if (  # the usual case, answered in one expression (record() is called for every event)
        type(kind) is str
        and kind in _KIND_SET
        and type(time) in (float, int)
        and -_FLOAT_MAX <= time <= _FLOAT_MAX
        and type(actor) is str
        and actor
        and (msg is None or type(msg) is str)
        and (key is None or type(key) is str)
        and (partition is None or (type(partition) is int and 0 <= partition < _WHOLE_LIMIT))
        and (offset is None or (type(offset) is int and 0 <= offset < _WHOLE_LIMIT))
        and (info is None or (isinstance(info, dict) and _CHECKED_INFO.isdisjoint(info)))
    ):
        return None
    # Otherwise, field by field, to name the first one that is wrong.
    if not isinstance(kind, str) or kind not in _KIND_SET:
        return f"{prefix}kind={show(kind)} is not an event kind: use one of {', '.join(KINDS)}."
    why = time_problem(time, prefix + "time")
    if why is not None:
        return why
    if not isinstance(actor, str) or not actor:
        return (
            f"{prefix}actor={show(actor)} is not a non-empty string: name who did it, "
            "e.g. 'consumer-1'."
        )
    if msg is not None and not isinstance(msg, str):
        return (
            f"{prefix}msg={show(msg)} is not a string: write message ids as strings, "
            f'e.g. "{_plain(msg) if isinstance(msg, int) and msg.bit_length() < 64 else "m1"}".'
        )
    if key is not None and not isinstance(key, str):
        return f"{prefix}key={show(key)} is not a string (or None): write keys as strings."
    for name, value in (("partition", partition), ("offset", offset)):
        if value is not None and not _whole(value):
            return (
                f"{prefix}{name}={show(value)} is not a whole number >= 0 (or None): partitions "
                "and offsets are whole numbers from 0 to 2**63 - 1."
            )
    if info is None:
        return None
    if not isinstance(info, dict):
        return f"{prefix}info={show(info)} is not a dict (or None): pass extra fields as key=value."
    group = info.get("group")
    if "group" in info and not isinstance(group, str):
        return f"group={show(group)} is not a string: name groups with strings, e.g. 'billing'."
    topic = info.get("topic")
    if topic is not None and not isinstance(topic, str):
        return f"topic={show(topic)} is not a string: name topics with strings, e.g. 'orders'."
    to = info.get("to")
    if "to" in info and (not isinstance(to, str) or not to):
        return (
            f"to={show(to)} (the consumer a delivery went to) is not a non-empty string, "
            "e.g. 'consumer-1'."
        )
    return None


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
        # Robust to any field value: a malformed event is printed in the error that names it.
        index = self.index
        parts = [
            f"#{index}" if isinstance(index, int) and index >= 0 else "",
            f"t={_time_text(self.time)}",
            _plain(self.actor),
            _plain(self.kind),
        ]
        if self.msg is not None:
            parts.append(_plain(self.msg))
        if self.key is not None:
            parts.append(f"key={_plain(self.key)}")
        if self.partition is not None:
            parts.append(f"p{show(self.partition)}")
        if self.offset is not None:
            parts.append(f"@{show(self.offset)}")
        info = self.info
        if isinstance(info, dict) and info:
            items = sorted((_plain(k), _plain(v)) for k, v in info.items())
            parts.append(" ".join(f"{k}={v}" for k, v in items))
        elif info:
            parts.append(f"info={show(info)}")
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
        if isinstance(events, (str, bytes)) or not isinstance(events, Iterable):
            raise InvalidType(
                f"events={show(events)} is not an iterable of Event: pass e.g. a list of events, "
                "or nothing for an empty history."
            )
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
        """Append a new event and return it. Extra keyword arguments go into ``info``.

        Each field is checked first (see :func:`field_problem`): a wrong type or value raises
        :class:`~brokerlab.errors.InvalidType` or :class:`~brokerlab.errors.InvalidArgument`
        naming the parameter, and the history is left as it was.
        """
        why = field_problem(time, actor, kind, msg, key, partition, offset, info)
        if why is not None:
            raise _field_error(why, time, actor, kind, msg, key, partition, offset, info)
        return self._record_unchecked(
            time, actor, kind, msg, key=key, partition=partition, offset=offset, **info
        )

    def _record_unchecked(
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
        """:meth:`record` without its field checks.

        For :func:`~brokerlab.simulation.simulate`, which builds every field of its events
        itself and records about five events a message: the checks would be a fifth of the
        cost of a run. Nothing goes unchecked: :func:`~brokerlab.checker.check` checks every
        event's fields before it reads them (an event can be changed after it is recorded).
        """
        e = Event(
            time,
            actor,
            _KIND_CANON[kind],
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
        """Append an existing event (renumbering its ``index``); returns it.

        The event's fields are checked as :meth:`record` checks them (the error names
        ``event.<field>``); a refused event leaves both the history and the event unchanged.
        """
        if not isinstance(event, Event):
            raise InvalidType(
                f"event={show(event)} is a {type(event).__name__}: append() takes an Event. "
                "Use record(time, actor, kind, ...) to make one."
            )
        fields = (
            event.time,
            event.actor,
            event.kind,
            event.msg,
            event.key,
            event.partition,
            event.offset,
            event.info,
        )
        why = field_problem(*fields, prefix="event.")
        if why is not None:
            raise _field_error(why, *fields)
        event.kind = _KIND_CANON[event.kind]
        if event.info is not None:
            event.info = self._share_info(event.info) if event.info else None
        event.index = len(self.events)
        self.events.append(event)
        return event

    def select(self, indices: Iterable[int]) -> History:
        """A new history of copies of the events at ``indices`` (in that order), renumbered."""
        n = len(self.events)
        if isinstance(indices, (str, bytes)) or not isinstance(indices, Iterable):
            raise InvalidType(
                f"indices={show(indices)} is not an iterable of event indices: pass e.g. [0, 2]."
            )
        picked = list(indices)
        for i in picked:
            if isinstance(i, bool) or not isinstance(i, int) or not -n <= i < n:
                raise InvalidArgument(
                    f"indices contains {show(i)}, which is not an index of this history of {n} "
                    f"events: pass whole numbers from 0 to {n - 1}."
                )
        out = History()
        for i in picked:
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
        for k in kinds:
            if not isinstance(k, str) or k not in _KIND_SET:
                raise InvalidArgument(
                    f"kinds contains {show(k)}, which is not an event kind: use any of "
                    f"{', '.join(KINDS)}."
                )
        return [e for e in self.events if e.kind in kinds]

    def actors(self) -> list[str]:
        """Every actor, in order of first appearance."""
        return list(dict.fromkeys(e.actor for e in self.events))

    def __repr__(self) -> str:
        actors = sorted({_plain(e.actor) for e in self.events})
        return f"History({len(self.events)} events, actors={actors})"

    # --- JSON Lines ---------------------------------------------------------------------------

    def to_jsonl(self, path: str | Path | None = None) -> str:
        """Serialise to JSON Lines; write to ``path`` too if given. Returns the text."""
        if path is not None and not isinstance(path, (str, Path)):
            raise InvalidType(f"path={show(path)} is not a str or Path: pass a file name, or None.")
        lines = []
        for e in self.events:
            try:
                lines.append(json.dumps(e.to_dict(), sort_keys=True, allow_nan=False) + "\n")
            except (TypeError, ValueError) as exc:
                raise HistoryFormatError(
                    f"event #{e.index} {e!r} cannot be written as JSON ({exc}): keep info values "
                    "to strings, numbers, booleans, None, lists and dicts."
                ) from None
        text = "".join(lines)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_jsonl(cls, source: str | Path | io.TextIOBase) -> History:
        """Load a history from JSON Lines: a path, an open file, or the text itself.

        A :class:`~pathlib.Path` is a file to read. A ``str`` is taken for the text itself if it
        is empty, holds a newline or starts with ``{`` (as every JSON Lines event does), and for
        a file name otherwise; a file name that names no file raises
        :class:`HistoryFormatError` saying so. A malformed line raises
        :class:`HistoryFormatError` naming the line number and the field. Blank lines are
        skipped (and counted).
        """
        if isinstance(source, Path):
            lines = _read_lines(source)
        elif isinstance(source, str):
            text = source.lstrip()
            if not text or "\n" in source or text.startswith("{"):
                lines = source.splitlines()
            else:
                lines = _read_lines(Path(source))
        elif callable(getattr(source, "read", None)):
            text = source.read()
            if not isinstance(text, str):
                raise InvalidType(
                    f"source.read() gave a {type(text).__name__}: open the file in text mode "
                    "(open(path, encoding='utf-8'))."
                )
            lines = text.splitlines()
        else:
            raise InvalidType(
                f"source={show(source)} is a {type(source).__name__}: pass a path (str or Path), "
                "an open text file, or the JSON Lines text itself."
            )
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


def _read_lines(path: Path) -> list[str]:
    """The lines of a JSON Lines file, or :class:`HistoryFormatError` saying why not."""
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise HistoryFormatError(
            f"source={show(str(path))} names no file. Pass the path of a .jsonl file, or the "
            "JSON Lines text itself (each line an event such as "
            '{"time": 0, "actor": "p", "kind": "publish", "msg": "m1"}).'
        ) from None
    except (OSError, ValueError) as exc:  # a directory, no permission, a too-long name, not UTF-8
        raise HistoryFormatError(
            f"source={show(str(path))} cannot be read as a file ({exc.__class__.__name__}: "
            f"{getattr(exc, 'strerror', None) or exc}). Pass the path of a .jsonl file, or the "
            "JSON Lines text itself."
        ) from None


def _field_error(why: str, *fields: Any) -> InvalidType | InvalidArgument:
    """The error for a refused field: InvalidType for a wrong type, InvalidArgument for a value.

    ``fields`` are time, actor, kind, msg, key, partition, offset, info (for the choice only).
    """
    time, actor, kind, msg, key, partition, offset, info = fields
    wrong_type = (
        not isinstance(kind, str)
        or isinstance(time, bool)
        or not isinstance(time, (int, float))
        or not isinstance(actor, str)
        or not isinstance(msg, (str, type(None)))
        or not isinstance(key, (str, type(None)))
        or any(
            v is not None and (isinstance(v, bool) or not isinstance(v, int))
            for v in (partition, offset)
        )
        or not isinstance(info, (dict, type(None)))
        or (isinstance(info, dict) and not isinstance(info.get("group", ""), str))
        or (isinstance(info, dict) and not isinstance(info.get("to", ""), str))
        or (isinstance(info, dict) and not isinstance(info.get("topic", ""), (str, type(None))))
    )
    return InvalidType(why) if wrong_type else InvalidArgument(why)


def _parse_line(line: str, number: int) -> dict[str, Any]:
    """One JSON Lines line -> a checked dict, or :class:`HistoryFormatError` saying why not."""

    def fail(reason: str) -> HistoryFormatError:
        return HistoryFormatError(f"line {number}: {reason}")

    try:
        d = json.loads(line)
    except json.JSONDecodeError as exc:
        raise fail(f"not valid JSON ({exc.msg} at column {exc.colno}).") from None
    except (ValueError, RecursionError) as exc:  # an int of more than 4,300 digits; deep nesting
        raise fail(f"not usable JSON ({exc.__class__.__name__}: {show(str(exc), 120)}).") from None
    if not isinstance(d, dict):
        raise fail(f"expected a JSON object {{...}}, got {type(d).__name__}.")
    missing = [f for f in ("time", "actor", "kind") if f not in d]
    if missing:
        raise fail(
            f"missing field(s) {', '.join(missing)}; every event needs time, actor and kind."
        )
    unknown = sorted(set(d) - _FIELD_SET)
    if unknown:
        raise fail(
            f"unknown field(s) {', '.join(u[:40] for u in unknown)}; allowed: {', '.join(_FIELDS)}."
        )
    info = d.get("info")
    if info is not None and not isinstance(info, dict):
        raise fail(f"info must be a JSON object {{...}}, got {type(info).__name__}.")
    why = field_problem(
        d["time"],
        d["actor"],
        d["kind"],
        d.get("msg"),
        d.get("key"),
        d.get("partition"),
        d.get("offset"),
        info,
    )
    if why is not None:
        raise fail(why)
    return d
