"""Windows: which slice of event time a record is counted in.

An unbounded stream never ends, so "how many orders?" has no answer until you say *when*. A
window says when. Three kinds are modelled, with Kafka Streams' rules (Flink's are the same for
these three):

**Tumbling** windows (``TimeWindows.ofSizeWithNoGrace(size)`` in Kafka Streams,
``TumblingEventTimeWindows`` in Flink) cut time into back-to-back pieces of one size::

    size=10:   [0,10) [10,20) [20,30) ...       a record at t=21 is in [20,30) only

**Hopping** windows (``TimeWindows...advanceBy(advance)``; Flink calls them *sliding*) have a
size and an advance smaller than the size, so they overlap and a record is in several::

    size=12, advance=5:  [10,22) [15,27) [20,32)   all contain t=21

Both are **aligned to the epoch**: every window starts at a multiple of the advance, counting
from timestamp 0, and is **half-open**, ``[start, end)``: a record exactly at ``end`` belongs to
the next window. Kafka Streams' ``TimeWindows.windowsFor`` computes the first start as
``max(0, t - size + advance) / advance * advance``, so windows that would start before 0 are
**not produced**: with size 10 and advance 5, a record at t=3 is in ``[0,10)`` only, not in
``[-5,5)``. :func:`windows_for` follows it exactly (source:
``streams/src/main/java/org/apache/kafka/streams/kstream/TimeWindows.java`` in apache/kafka).

**Session** windows (``SessionWindows.ofInactivityGap...``, Flink's ``EventTimeSessionWindows``)
have no fixed size. A session runs from its first to its last record; a new record at ``t``
merges *every* session of its key that ends at or after ``t - gap`` and starts at or before
``t + gap`` (both bounds inclusive: Kafka Streams asks its session store for
``findSessions(key, t - gap, t + gap)``, whose bounds are inclusive). So two records exactly
``gap`` apart share a session; ``gap + 1`` apart they do not. A late record that falls between two
sessions bridges them into one (the ``SessionWindows`` javadoc example, kept as test data)::

    gap=5:  10 12 . . . . . . . 20   ->  [10,12] [20,20]
            then 16 arrives           ->  [10,20]  (all four records)

A session window's ``end`` is the timestamp of its last record and is *inclusive*, as in Kafka
Streams' ``SessionWindow``; a time window's ``end`` is exclusive. Windows are plain
``(start, end)`` tuples of integer milliseconds.

Each window kind also knows :meth:`latest_time`: the largest event time that can still change
a window. That one number is what watermarks and grace periods are compared with
(:mod:`brokerlab.watermark`).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from numbers import Integral
from typing import Any, ClassVar

from .errors import InvalidArgument, InvalidType, OutOfRange, out_of_range

Window = tuple[int, int]
KINDS = ("tumbling", "hopping", "session")


# --- validation -----------------------------------------------------------------------------------


def check_millis(
    name: str,
    value: Any,
    *,
    low: int = 0,
    what: str = "",
    why: str = "",
    example: int = 1000,
    unit: str = "ms",
) -> int:
    """Return ``value`` as an int if it is a whole number of milliseconds >= ``low``, else raise.

    ``what`` says what the number is and ``why`` where the lower limit comes from, for the message.
    """
    what = what or "a duration"
    units = "milliseconds" if unit == "ms" else "number"
    if isinstance(value, bool) or not isinstance(value, Integral):
        kind = type(value).__name__
        raise InvalidType(
            f"{name}={value!r} is a {kind}: {what} is a whole {units}. "
            f"Pass an int, e.g. {name}={example}."
        )
    value = int(value)
    if value < low:
        raise OutOfRange(
            f"{name}={value!r} is out of range: {what} must be >= {low}{' ' + unit if unit else ''}"
            f"{' (' + why + ')' if why else ''}. Pass e.g. {name}={example}."
        )
    return value


def check_count(name: str, value: Any, *, what: str, example: int, low: int = 1) -> int:
    """A whole number of things (records, samples...), ``low`` or more."""
    return check_millis(name, value, low=low, what=what, example=example, unit="")


def check_timestamp(timestamp: Any, name: str = "timestamp") -> int:
    """An event time: a whole number of milliseconds since the epoch, 0 or more.

    Kafka Streams' default timestamp extractor (``FailOnInvalidTimestamp``) refuses negative
    timestamps, and windows are aligned to 0, so negative times have no window.
    """
    return check_millis(
        name,
        timestamp,
        low=0,
        what="an event time (ms since the epoch)",
        why="Kafka Streams' FailOnInvalidTimestamp refuses negative timestamps",
        example=1500,
    )


def check_timestamps(timestamps: Any, name: str = "timestamps") -> list[int]:
    """A collection of event times (a list, tuple, range...), each checked as by
    :func:`check_timestamp`; returned as a list."""
    if isinstance(timestamps, (str, bytes, Mapping)) or not isinstance(timestamps, Iterable):
        raise InvalidType(
            f"{name}={timestamps!r} is a {type(timestamps).__name__}: pass a list of event times "
            f"in ms, e.g. {name}=[1000, 2500, 1800]."
        )
    return [check_timestamp(t, f"{name}[{i}]") for i, t in enumerate(timestamps)]


def _check_size(size: Any) -> int:
    return check_millis(
        "size",
        size,
        low=1,
        what="a window size",
        why="Kafka Streams rejects 0 and negative sizes",
        example=60_000,
    )


def _check_advance(advance: Any, size: int) -> int:
    if advance is None:
        return size
    if isinstance(advance, bool) or not isinstance(advance, Integral):
        raise InvalidType(
            f"advance={advance!r} is a {type(advance).__name__}: the advance is a whole number of "
            f"milliseconds in 1..size. Pass an int, e.g. advance={max(1, size // 2)}, or None for tumbling."
        )
    if not 1 <= advance <= size:
        raise out_of_range(
            "advance",
            advance,
            1,
            size,
            "milliseconds (0 < advance <= size)",
            who="Kafka Streams' TimeWindows.advanceBy",
            example=max(1, size // 2),
        )
    return int(advance)


# --- tumbling and hopping ---------------------------------------------------------------------------


def windows_for(timestamp: int, size: int, advance: int | None = None) -> list[tuple[int, int]]:
    """Every window ``[start, end)`` a record at ``timestamp`` belongs to, oldest first.

    ``advance=None`` means tumbling (advance = size). Windows are aligned to the epoch (every
    start is a multiple of ``advance``) and windows that would start before 0 are not produced,
    exactly like Kafka Streams' ``TimeWindows.windowsFor``.

    >>> windows_for(21, 12)                # tumbling
    [(12, 24)]
    >>> windows_for(21, 12, advance=5)     # hopping
    [(10, 22), (15, 27), (20, 32)]
    >>> windows_for(3, 10, advance=5)      # no [-5, 5): windows start at 0 or later
    [(0, 10)]
    """
    size = _check_size(size)
    advance = _check_advance(advance, size)
    timestamp = check_timestamp(timestamp)
    return _windows_for(timestamp, size, advance)


def _windows_for(timestamp: int, size: int, advance: int) -> list[Window]:
    # The same arithmetic as TimeWindows.windowsFor: the first start is the smallest multiple of
    # the advance that is greater than timestamp - size, but not below 0.
    start = max(0, timestamp - size + advance) // advance * advance
    result = []
    while start <= timestamp:
        result.append((start, start + size))
        start += advance
    return result


@dataclass(frozen=True)
class HoppingWindows:
    """Overlapping windows of ``size`` ms that start every ``advance`` ms (0 < advance <= size).

    Kafka Streams: ``TimeWindows.ofSizeWithNoGrace(size).advanceBy(advance)``; Flink calls these
    sliding windows (``SlidingEventTimeWindows.of(size, slide)``). A record belongs to about
    ``size / advance`` windows. ``advance == size`` is allowed and is the same as tumbling.

    The grace period is not part of the window here but of the processor that uses it
    (:class:`brokerlab.stream.StreamProcessor`); Kafka Streams puts it on the window
    (``ofSizeAndGrace``), Flink on the windowed stream (``allowedLateness``).
    """

    size: int
    advance: int
    kind: ClassVar[str] = "hopping"
    merging: ClassVar[bool] = False

    def __post_init__(self) -> None:
        size = _check_size(self.size)
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "advance", _check_advance(self.advance, size))

    def windows_for(self, timestamp: int) -> list[Window]:
        """The windows a record at ``timestamp`` belongs to, oldest first."""
        return _windows_for(check_timestamp(timestamp), self.size, self.advance)

    def latest_time(self, window: Window) -> int:
        """The largest event time still inside ``window``: ``end - 1`` (the end is exclusive)."""
        return window[1] - 1

    def describe(self, window: Window) -> str:
        return f"[{window[0]}, {window[1]})"

    def __repr__(self) -> str:
        return f"HoppingWindows(size={self.size}, advance={self.advance})"


class TumblingWindows(HoppingWindows):
    """Back-to-back windows of one ``size`` (ms): Kafka Streams' ``TimeWindows.ofSizeWithNoGrace(size)``,
    Flink's ``TumblingEventTimeWindows.of(size)``. Hopping windows whose advance is their size."""

    kind: ClassVar[str] = "tumbling"

    def __init__(self, size: int) -> None:
        super().__init__(size, _check_size(size))

    def __repr__(self) -> str:
        return f"TumblingWindows(size={self.size})"


# --- sessions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionWindows:
    """Sessions of activity separated by more than ``gap`` ms of silence.

    Kafka Streams: ``SessionWindows.ofInactivityGapWithNoGrace(gap)``; Flink:
    ``EventTimeSessionWindows.withGap(gap)``. Records within ``gap`` of a session (inclusive)
    join it; a record within ``gap`` of two sessions merges them.
    """

    gap: int
    kind: ClassVar[str] = "session"
    merging: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "gap",
            check_millis(
                "gap",
                self.gap,
                low=1,
                what="a session gap",
                why="Kafka Streams rejects 0 and negative gaps",
                example=30_000,
            ),
        )

    def latest_time(self, window: Window) -> int:
        """The largest event time that could still change this session: ``end + gap``.

        A record at ``end + gap`` would still join it (the gap is inclusive).
        """
        return window[1] + self.gap

    def describe(self, window: Window) -> str:
        return f"[{window[0]}, {window[1]}]"

    def sessions(self, timestamps: Iterable[int]) -> list[Window]:
        """The sessions a set of timestamps forms (the batch answer), oldest first.

        >>> SessionWindows(gap=5).sessions([10, 12, 20])
        [(10, 12), (20, 20)]
        >>> SessionWindows(gap=5).sessions([10, 12, 20, 16])
        [(10, 20)]
        """
        result: list[list[int]] = []
        for t in sorted(check_timestamps(timestamps)):
            if result and t - result[-1][1] <= self.gap:
                result[-1][1] = t
            else:
                result.append([t, t])
        return [(s, e) for s, e in result]

    def __repr__(self) -> str:
        return f"SessionWindows(gap={self.gap})"


class SessionStore:
    """The sessions of one key, sorted by start: a small model of Kafka Streams' ``SessionStore``.

    Sessions of one key never overlap and are more than ``gap`` apart, so they are sorted by end
    as well, and :meth:`find` needs only a binary search.
    """

    __slots__ = ("gap", "_starts", "_windows")

    def __init__(self, gap: int) -> None:
        self.gap = gap
        self._starts: list[int] = []
        self._windows: list[Window] = []

    def find(self, timestamp: int) -> list[Window]:
        """Sessions with ``end >= timestamp - gap`` and ``start <= timestamp + gap``, oldest first.

        The same query as Kafka Streams' ``findSessions(key, t - gap, t + gap)``.
        """
        i = bisect_right(self._starts, timestamp + self.gap)
        found = []
        while i > 0 and self._windows[i - 1][1] >= timestamp - self.gap:
            i -= 1
            found.append(self._windows[i])
        found.reverse()
        return found

    def remove(self, window: Window) -> None:
        i = bisect_left(self._starts, window[0])
        del self._starts[i]
        del self._windows[i]

    def put(self, window: Window) -> None:
        i = bisect_left(self._starts, window[0])
        self._starts.insert(i, window[0])
        self._windows.insert(i, window)

    def __iter__(self):
        return iter(list(self._windows))

    def __len__(self) -> int:
        return len(self._windows)

    def __repr__(self) -> str:
        return f"SessionStore(gap={self.gap}: {', '.join(f'[{s}, {e}]' for s, e in self._windows)})"


def merge_sessions(windows: Iterable[Window], gap: int) -> list[list[Window]]:
    """Group session windows that are within ``gap`` of each other (inclusive), oldest first.

    Used to add two session views over disjoint records (the lambda architecture's serving
    layer): each group becomes one session. Because a session's ends are real record times,
    grouping whole sessions gives the same sessions as sessionizing all the records at once.
    """
    gap = check_millis("gap", gap, low=1, what="a session gap", example=30_000)
    groups: list[list[Window]] = []
    end = None
    for w in sorted(windows):
        if groups and end is not None and w[0] - end <= gap:
            groups[-1].append(w)
            end = max(end, w[1])
        else:
            groups.append([w])
            end = w[1]
    return groups


# --- choosing a kind by name ------------------------------------------------------------------------

WindowSpec = HoppingWindows | SessionWindows
_EXAMPLE = {"size": 1000, "advance": 500, "gap": 1000}


def make_windows(
    kind: str, *, size: int | None = None, advance: int | None = None, gap: int | None = None
) -> WindowSpec:
    """Build a window spec by name, as a widget would: ``make_windows("hopping", size=10, advance=5)``.

    ``kind`` is ``"tumbling"`` (needs ``size``), ``"hopping"`` (``size`` and ``advance``) or
    ``"session"`` (``gap``).
    """
    if kind not in KINDS:
        raise InvalidArgument(
            f"kind={kind!r} is not a window kind: use one of 'tumbling' (size), 'hopping' "
            "(size, advance) or 'session' (gap), e.g. make_windows('tumbling', size=60000)."
        )
    needed = {"tumbling": ("size",), "hopping": ("size", "advance"), "session": ("gap",)}[kind]
    given = {"size": size, "advance": advance, "gap": gap}
    for name in needed:
        if given[name] is None:
            raise InvalidArgument(
                f"{name}=None: {kind} windows need {' and '.join(needed)}. "
                f"Pass e.g. make_windows({kind!r}, {', '.join(f'{n}={_EXAMPLE[n]}' for n in needed)})."
            )
    for name, value in given.items():
        if value is not None and name not in needed:
            raise InvalidArgument(
                f"{name}={value!r} does not apply to {kind} windows, which take only "
                f"{' and '.join(needed)}. Leave {name} out."
            )
    if kind == "tumbling":
        return TumblingWindows(size)  # type: ignore[arg-type]
    if kind == "hopping":
        return HoppingWindows(size, advance)  # type: ignore[arg-type]
    return SessionWindows(gap)  # type: ignore[arg-type]


def check_windows(windows: Any) -> WindowSpec:
    """Return ``windows`` if it is a window spec, else explain how to make one."""
    if not isinstance(windows, (HoppingWindows, SessionWindows)):
        raise InvalidType(
            f"windows={windows!r} is not a window spec. Pass TumblingWindows(size), "
            "HoppingWindows(size, advance) or SessionWindows(gap), e.g. make_windows('tumbling', "
            "size=1000)."
        )
    return windows
