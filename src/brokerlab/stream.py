"""The stream processor: windowed aggregation, record by record, as the records arrive.

:class:`StreamProcessor` is a small model of a Kafka Streams windowed aggregation
(``groupByKey().windowedBy(...).aggregate(...)``) with Flink's watermark added. It takes
records ``(timestamp, key, value)`` one at a time, keeps one aggregate per (key, window), and
**emits** results downstream. What it must decide for every record:

1. *Stream time* moves to the largest timestamp seen (:mod:`brokerlab.watermark`).
2. For each window the record belongs to (:mod:`brokerlab.windows`): if the window is
   **closed** (``latest_time < stream time - grace``), the record is dropped *for that window*
   and goes to the **side output** (:attr:`StreamProcessor.side_output`), with the windows it
   missed and how late it was. Nothing vanishes silently. Otherwise the window's aggregate is
   updated. Session windows first merge every session the record touches.
3. Results are emitted according to the **emission mode**, ``emit=``:

   ``"on_watermark"`` (the default)
       A window's first result is emitted when the watermark says it is complete
       (``latest_time <= stream time - bound - 1``); after that, every late record accepted
       within the grace period emits an *update*. This is Flink's ``EventTimeTrigger`` with
       ``allowedLateness = grace - bound``, and Akidau's "on-time pane, then late panes".
   ``"on_close"``
       One *final* result per window, when the window closes (``latest_time < stream time -
       grace``). Kafka Streams' ``EmitStrategy.onWindowClose()`` (KIP-825, 3.3+) or
       ``suppress(Suppressed.untilWindowCloses(...))``. It is ``"on_watermark"`` with
       ``bound == grace``: complete and closed are the same moment, so there are no updates.
   ``"on_update"``
       Every change is emitted at once: Kafka Streams' default ``EmitStrategy.onWindowUpdate()``
       with record caching off (``statestore.cache.max.bytes=0``; with the cache on, Kafka
       Streams emits fewer, coalesced updates, at commit time: every 30 s by default).

   Each :class:`Emission` has a ``kind``: ``"result"`` (the window's first emitted value),
   ``"update"`` (a new value for a window already emitted) or ``"retract"`` (a session that was
   emitted has been merged into a bigger one and no longer exists; Kafka Streams forwards a
   ``null`` value for it).

A bounded input ends with :meth:`StreamProcessor.end_of_input`, which fires every window still
waiting, as Flink does with its final ``Long.MAX_VALUE`` watermark. (Kafka Streams has no such
moment: without new records stream time stands still and the last windows wait.)

Records come from any **source** with a ``poll()`` method: :class:`ArrivalSource` replays a list
on the virtual clock, and :class:`LogSource` reads a topic of the Kafka-style log
(:mod:`brokerlab.log`), e.g. ``LogSource.of_topic(log, "clicks")``. The processor's
:meth:`~StreamProcessor.consume` polls until the source has nothing more for now; calling it
again whenever producers have appended more is how a stream processor consumes a log
continuously (its position in the log is kept by the consumer).

Deliberate differences from Kafka Streams: one processor is one task with one stream time (Kafka
Streams keeps one per task, i.e. per input partition group); records with a null key are
aggregated under ``None`` (Kafka Streams skips them); and when a record lands inside a session
without moving its bounds, this model emits one update, where Kafka Streams with caching off
forwards a tombstone and then the new value for the same session.

Processing time is read from the injected clock (``clock.now_ms()``); event time comes from the
records. Results never depend on the wall clock.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, Protocol

from .aggregation import Aggregation, aggregation
from .clock import Clock, VirtualClock
from .errors import InvalidArgument, InvalidType
from .watermark import StreamTime, check_bound_within_grace
from .windows import (
    SessionStore,
    Window,
    check_count,
    check_millis,
    check_timestamp,
    check_windows,
)

EMIT_MODES = ("on_watermark", "on_close", "on_update")


# --- records ----------------------------------------------------------------------------------------


class Record(NamedTuple):
    """One input record: event ``timestamp`` (ms), ``key``, ``value``.

    ``arrival`` is the processing time (ms on the virtual clock) at which it reaches the
    processor, when a simulation decided it; ``offset`` is its position in the log or input.
    """

    timestamp: int
    key: Any = None
    value: Any = 1
    arrival: int | None = None
    offset: int | None = None

    def __repr__(self) -> str:
        extra = f", arrival={self.arrival}" if self.arrival is not None else ""
        extra += f", offset={self.offset}" if self.offset is not None else ""
        return f"Record(t={self.timestamp}, key={self.key!r}, value={self.value!r}{extra})"


def as_record(item: Any, name: str = "item") -> Record:
    """Turn what a learner has into a :class:`Record`, checking the timestamp.

    Accepts a :class:`Record`, a tuple ``(timestamp, key, value)`` (or with ``arrival`` as a 4th
    item), a dict with those names, or any object with ``timestamp``, ``key`` and ``value``
    attributes (a log record). ``name`` is the parameter an error message names.
    """
    if isinstance(item, Record):
        rec = item
    elif isinstance(item, tuple) and 1 <= len(item) <= 4:
        rec = Record(*item)
    elif isinstance(item, Mapping) and "timestamp" in item:
        unknown = set(item) - {"timestamp", "key", "value", "arrival", "offset"}
        if unknown:
            raise InvalidArgument(
                f"{name}={dict(item)!r} has unknown field(s) "
                f"{', '.join(sorted(map(str, unknown)))}: a record has timestamp, key, value (and "
                "arrival, offset). Remove the others."
            )
        rec = Record(**item)
    elif hasattr(item, "timestamp") and hasattr(item, "value"):
        rec = Record(
            item.timestamp,
            getattr(item, "key", None),
            item.value,
            offset=getattr(item, "offset", None),
        )
    else:
        raise InvalidType(
            f"{name}={item!r} is a {type(item).__name__}: a record is (timestamp, key, value), "
            "a dict with those keys, or a Record. Pass e.g. (1500, 'user-1', 1)."
        )
    check_timestamp(rec.timestamp)
    if rec.arrival is not None:
        check_millis("arrival", rec.arrival, what="a processing time", example=2000)
    try:
        hash(rec.key)
    except TypeError:
        raise InvalidType(
            f"key={rec.key!r} is a {type(rec.key).__name__}, which cannot be hashed: records are "
            "grouped by key. Pass a str, int or tuple key."
        ) from None
    return rec


def as_records(items: Any, name: str = "records") -> list[Record]:
    """:func:`as_record` for every item of a list (or any iterable but a str, bytes or dict)."""
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise InvalidType(
            f"{name}={items!r} is a {type(items).__name__}: pass a list of records, e.g. "
            f"{name}=[(1500, 'user-1', 1), (1800, 'user-2', 1)]."
        )
    return [as_record(item, f"{name}[{i}]") for i, item in enumerate(items)]


# --- what comes out ----------------------------------------------------------------------------------


class Emission(NamedTuple):
    """One result sent downstream: the value of ``window`` for ``key`` at processing ``time``.

    ``kind`` is ``"result"``, ``"update"`` or ``"retract"`` (then ``value`` is ``None``);
    ``stream_time`` is the stream time when it was emitted.
    """

    time: int
    key: Any
    window: Window
    value: Any
    kind: str
    stream_time: int | None

    def __repr__(self) -> str:
        return f"Emission(t={self.time} {self.key!r} {self.window} -> {self.value!r} {self.kind})"


class LateRecord(NamedTuple):
    """A record dropped from one or more closed windows: the side output.

    ``windows`` are the windows it was dropped from (for a session: the session it would have
    formed), ``lateness`` is ``stream_time - record.timestamp``.
    """

    record: Record
    windows: tuple[Window, ...]
    stream_time: int
    time: int

    @property
    def lateness(self) -> int:
        return self.stream_time - self.record.timestamp

    def __repr__(self) -> str:
        ws = ", ".join(map(str, self.windows))
        return (
            f"LateRecord(t={self.record.timestamp} key={self.record.key!r}, {self.lateness} ms late, "
            f"dropped from {ws})"
        )


class _WindowState:
    """The aggregate of one (key, window), and which of its records nobody has seen yet."""

    __slots__ = ("value", "unseen", "emitted", "fired")

    def __init__(self, value: Any, unseen: list[int]) -> None:
        self.value = value
        self.unseen = unseen  # input positions of records not yet in an emitted result
        self.emitted: Any = None  # the last emitted value (None: never emitted)
        self.fired = False  # True once the window's first result was emitted


# --- sources -----------------------------------------------------------------------------------------


class Source(Protocol):
    """Anything a stream processor can consume: ``poll()`` returns what is available now."""

    def poll(self) -> list[Any]: ...


class ArrivalSource:
    """Replays records on the virtual clock: ``poll()`` returns those whose ``arrival`` has come.

    Records without an ``arrival`` are available at once. At most ``max_poll_records`` come back
    per poll (Kafka's consumer default is 500). The input order is kept: it is the log's order.
    """

    def __init__(
        self, records: Iterable[Any], clock: Clock | None = None, max_poll_records: int = 500
    ) -> None:
        self.records = as_records(records)
        self.clock = clock or VirtualClock()
        self.max_poll_records = check_count(
            "max_poll_records", max_poll_records, what="max_poll_records", example=500
        )
        self.position = 0

    def poll(self) -> list[Record]:
        now = self.clock.now_ms()
        out = []
        while self.position < len(self.records) and len(out) < self.max_poll_records:
            rec = self.records[self.position]
            if rec.arrival is not None and rec.arrival > now:
                break
            out.append(rec)
            self.position += 1
        return out

    def __len__(self) -> int:
        return len(self.records) - self.position

    def __repr__(self) -> str:
        return f"ArrivalSource({self.position} of {len(self.records)} records delivered)"


def _decode_key(key: Any) -> Any:
    """The log's bytes keys back to str (UTF-8); other keys as they are."""
    return key.decode("utf-8") if isinstance(key, bytes) else key


class LogSource:
    """Adapts a Kafka-style log consumer (:mod:`brokerlab.log`) to a stream processor source.

    Each ``poll()`` calls ``consumer.poll()`` once (``max_records`` at most, if given) and turns
    the log's records into :class:`Record`: event time from the record's ``timestamp`` (Kafka's
    ``CreateTime``, which a producer may set: ``producer.send(topic, v, timestamp=t)``), or from
    ``timestamp=`` a function of the log record, e.g. ``timestamp=lambda r: r.value["ts"]``
    (Kafka Streams' ``TimestampExtractor``). The log carries keys as bytes; ``key=`` turns them
    back (a key deserializer, e.g. ``key=bytes.decode``). The record keeps its log ``offset``.

    ``consumer.poll()`` may also return a dict ``{partition: [records]}`` (kafka-python's shape).
    :meth:`of_topic` makes a consumer that reads a whole topic from the beginning.
    """

    def __init__(
        self,
        consumer: Any,
        *,
        timestamp: Callable[[Any], int] | None = None,
        key: Callable[[Any], Any] | None = None,
        max_records: int | None = None,
    ) -> None:
        if not hasattr(consumer, "poll"):
            raise InvalidType(
                f"consumer={consumer!r} has no poll() method: pass a log consumer, or use "
                "ArrivalSource(records) for a list."
            )
        if max_records is not None:
            check_count("max_records", max_records, what="max_records", example=500)
        self.consumer = consumer
        self.timestamp = timestamp
        self.key = key
        self.max_records = max_records

    @classmethod
    def of_topic(
        cls,
        log: Any,
        topic: str,
        *,
        name: str | None = None,
        key: Callable[[Any], Any] | None = _decode_key,
        max_records: int | None = None,
    ) -> LogSource:
        """A source reading every partition of ``topic`` from the earliest retained offset.

        The consumer has no group (it assigns itself all partitions, as a Kafka Streams task
        that owns them would) and does not auto-commit. Keys are decoded from UTF-8.
        """
        consumer = log.consumer(name=name, auto_offset_reset="earliest", enable_auto_commit=False)
        consumer.assign([(topic, i) for i in range(len(log.topic(topic).partitions))])
        return cls(consumer, key=key, max_records=max_records)

    def poll(self) -> list[Record]:
        got = (
            self.consumer.poll()
            if self.max_records is None
            else self.consumer.poll(self.max_records)
        )
        batch = [r for rs in got.values() for r in rs] if isinstance(got, Mapping) else list(got)
        out = []
        for r in batch:
            ts = self.timestamp(r) if self.timestamp else r.timestamp
            key = getattr(r, "key", None)
            out.append(
                Record(
                    ts,
                    self.key(key) if self.key else key,
                    r.value,
                    offset=getattr(r, "offset", None),
                )
            )
        return out

    def __repr__(self) -> str:
        return f"LogSource({self.consumer!r})"


# --- the processor ---------------------------------------------------------------------------------


class StreamProcessor:
    """A windowed aggregation over an unbounded stream (see the module docstring).

    ``windows``: :class:`~brokerlab.windows.TumblingWindows`, ``HoppingWindows`` or
    ``SessionWindows``; ``agg``: ``"count"``, ``"sum"``, ``"min"``, ``"max"`` or ``"list"``;
    ``grace`` (ms, Kafka Streams' grace period, default 0 as in ``ofSizeWithNoGrace``);
    ``bound`` (ms, the watermark's out-of-orderness bound, 0..grace, default 0; only
    ``"on_watermark"`` uses it); ``emit``: the emission mode; ``clock``: where processing time
    comes from.

    >>> from brokerlab.windows import TumblingWindows
    >>> p = StreamProcessor(TumblingWindows(10), grace=5)
    >>> for rec in [(1, "a", 1), (12, "a", 1), (3, "a", 1), (25, "a", 1), (4, "a", 1)]:
    ...     _ = p.process(rec)
    >>> p.emitted  # doctest: +NORMALIZE_WHITESPACE
    [Emission(t=0 'a' (0, 10) -> 1 result), Emission(t=0 'a' (0, 10) -> 2 update),
     Emission(t=0 'a' (10, 20) -> 1 result)]
    >>> p.side_output
    [LateRecord(t=4 key='a', 21 ms late, dropped from (0, 10))]
    """

    def __init__(
        self,
        windows: Any,
        *,
        agg: str | Aggregation = "count",
        grace: int = 0,
        bound: int = 0,
        emit: str = "on_watermark",
        clock: Clock | None = None,
    ) -> None:
        self.windows = check_windows(windows)
        self.agg = aggregation(agg)
        if emit not in EMIT_MODES:
            raise InvalidArgument(
                f"emit={emit!r} is not an emission mode: use 'on_watermark' (result when the "
                "watermark passes, then updates), 'on_close' (one final result) or 'on_update' "
                "(every change)."
            )
        self.time = StreamTime(bound=bound, grace=grace)
        check_bound_within_grace(self.time.bound, self.time.grace)
        self.emit = emit
        self.clock = clock or VirtualClock()
        self.emitted: list[Emission] = []
        self.side_output: list[LateRecord] = []
        self.records: list[Record] = []  # every record processed, in order
        # per record: stream time - timestamp (Kafka Streams' record-lateness metric)
        self.lateness: list[int] = []
        self.counted_at: dict[int, int] = {}  # input position -> processing time first emitted
        self._state: dict[tuple[Any, Window], _WindowState] = {}
        self._sessions: dict[Any, SessionStore] = {}
        # windows waiting for their first result, a heap of (latest_time, seq, key, window)
        self._pending: list[tuple[int, int, Any, Window]] = []
        self._seq = 0

    # --- reading the state -----------------------------------------------------------------------

    @property
    def stream_time(self) -> int | None:
        return self.time.stream_time

    @property
    def watermark(self) -> int | None:
        return self.time.watermark

    @property
    def grace(self) -> int:
        return self.time.grace

    @property
    def bound(self) -> int:
        return self.time.bound

    def results(self) -> dict[tuple[Any, Window], Any]:
        """What a downstream table holds: the latest emitted value of every (key, window).

        Retracted sessions are gone. Windows never emitted are not here (see :meth:`state`).
        """
        return {kw: st.emitted for kw, st in self._state.items() if st.fired}

    def state(self) -> dict[tuple[Any, Window], Any]:
        """Every (key, window) aggregate held, emitted or not."""
        return {kw: self.agg.result(st.value) for kw, st in self._state.items()}

    @property
    def dropped(self) -> int:
        """How many records went to the side output."""
        return len(self.side_output)

    # --- processing -------------------------------------------------------------------------------

    def process(self, item: Any) -> list[Emission]:
        """Process one record; return what it caused to be emitted."""
        rec = as_record(item)
        self.agg.check(rec.value)  # validated before anything changes
        now = self.clock.now_ms()
        position = len(self.records)
        self.records.append(rec)
        self.time.observe(rec.timestamp)
        self.lateness.append(self.time.lateness(rec.timestamp))
        out: list[Emission] = []
        if self.windows.merging:
            self._add_to_session(rec, position, now, out)
        else:
            self._add_to_windows(rec, position, now, out)
        self._fire(now, out)
        return out

    def process_all(self, items: Iterable[Any]) -> list[Emission]:
        """Process records in order (all at the clock's current time)."""
        records = as_records(items, "items")
        for rec in records:  # all checked before any is processed
            self.agg.check(rec.value)
        out: list[Emission] = []
        for rec in records:
            out.extend(self.process(rec))
        return out

    def consume(self, source: Source) -> list[Emission]:
        """Poll ``source`` until it has nothing more right now, processing every record."""
        if not hasattr(source, "poll"):
            raise InvalidType(
                f"source={source!r} has no poll() method: pass ArrivalSource(records), a "
                "LogSource(consumer), or call process_all(records)."
            )
        out: list[Emission] = []
        while batch := source.poll():
            out.extend(self.process_all(batch))
        return out

    def end_of_input(self) -> list[Emission]:
        """The input is finished: emit every window still waiting (Flink's final watermark)."""
        now = self.clock.now_ms()
        out: list[Emission] = []
        while self._pending:
            _, _, key, window = heapq.heappop(self._pending)
            self._emit_first(key, window, now, out)
        return out

    # --- the rules -------------------------------------------------------------------------------

    def _add_to_windows(self, rec: Record, position: int, now: int, out: list[Emission]) -> None:
        dropped = []
        for window in self.windows.windows_for(rec.timestamp):
            if self.time.closed(self.windows.latest_time(window)):
                dropped.append(window)
                continue
            st = self._state.get((rec.key, window))
            if st is None:
                st = self._state[(rec.key, window)] = _WindowState(
                    self.agg.start(rec.value), [position]
                )
                self._changed(rec.key, window, st, now, out, new=True)
            else:
                st.value = self.agg.add(st.value, rec.value)
                st.unseen.append(position)
                self._changed(rec.key, window, st, now, out, new=False)
        if dropped:
            self.side_output.append(LateRecord(rec, tuple(dropped), self.time.stream_time, now))

    def _add_to_session(self, rec: Record, position: int, now: int, out: list[Emission]) -> None:
        store = self._sessions.get(rec.key)
        if store is None:
            store = self._sessions[rec.key] = SessionStore(self.windows.gap)
        found = store.find(rec.timestamp)
        merged = (
            min([rec.timestamp, *(w[0] for w in found)]),
            max([rec.timestamp, *(w[1] for w in found)]),
        )
        if self.time.closed(self.windows.latest_time(merged)):
            self.side_output.append(LateRecord(rec, (merged,), self.time.stream_time, now))
            return
        if found == [merged]:  # inside one session, bounds unchanged: the same window grows
            st = self._state[(rec.key, merged)]
            st.value = self.agg.add(st.value, rec.value)
            st.unseen.append(position)
            self._changed(rec.key, merged, st, now, out, new=False)
            return
        # The record starts a session or moves its bounds: the old sessions go, a new one comes.
        value, unseen = None, []
        for w in found:  # Kafka Streams: agg = merger(agg, session), oldest session first
            old = self._state.pop((rec.key, w))
            store.remove(w)
            value = old.value if value is None else self.agg.merge(value, old.value)
            unseen.extend(old.unseen)
            if old.fired:
                self._record(Emission(now, rec.key, w, None, "retract", self.time.stream_time), out)
        value = self.agg.start(rec.value) if value is None else self.agg.add(value, rec.value)
        st = self._state[(rec.key, merged)] = _WindowState(value, [*unseen, position])
        store.put(merged)
        self._changed(rec.key, merged, st, now, out, new=True)

    def _changed(
        self,
        key: Any,
        window: Window,
        st: _WindowState,
        now: int,
        out: list[Emission],
        *,
        new: bool,
    ) -> None:
        """A window's aggregate changed: emit now, or wait for the watermark / the close."""
        if self.emit == "on_update" or st.fired:
            self._emit(key, window, st, now, out)
        elif new:
            self._seq += 1
            heapq.heappush(
                self._pending, (self.windows.latest_time(window), self._seq, key, window)
            )

    def _fire(self, now: int, out: list[Emission]) -> None:
        """Emit the first result of every window that is now due."""
        if self.emit == "on_update":
            return
        st_time = self.time.stream_time
        delay = self.time.bound if self.emit == "on_watermark" else self.time.grace
        # due when latest_time <= stream_time - delay - 1 (the watermark for on_watermark)
        while self._pending and self._pending[0][0] <= st_time - delay - 1:
            _, _, key, window = heapq.heappop(self._pending)
            self._emit_first(key, window, now, out)

    def _emit_first(self, key: Any, window: Window, now: int, out: list[Emission]) -> None:
        st = self._state.get((key, window))
        if st is None or st.fired:  # merged away meanwhile, or already out
            return
        self._emit(key, window, st, now, out)

    def _emit(
        self, key: Any, window: Window, st: _WindowState, now: int, out: list[Emission]
    ) -> None:
        value = self.agg.result(st.value)
        kind = "update" if st.fired else "result"
        st.fired = True
        st.emitted = value
        for position in st.unseen:
            self.counted_at.setdefault(position, now)
        st.unseen = []
        self._record(Emission(now, key, window, value, kind, self.time.stream_time), out)

    def _record(self, emission: Emission, out: list[Emission]) -> None:
        self.emitted.append(emission)
        out.append(emission)

    def __repr__(self) -> str:
        return (
            f"StreamProcessor({self.windows!r}, agg={self.agg.name!r}, emit={self.emit!r}, "
            f"grace={self.grace}, bound={self.bound}: {len(self.records)} records, "
            f"stream_time={self.stream_time}, {len(self.emitted)} emitted, "
            f"{len(self.side_output)} late)"
        )
