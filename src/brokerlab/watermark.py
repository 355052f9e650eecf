"""Watermarks: how a stream processor decides that a window is finished.

Records arrive out of order: a phone that was offline sends its clicks an hour late, a retry
resends yesterday's order. A stream processor cannot wait forever for stragglers, so it keeps a
guess of how far event time has got, and acts on it. Three numbers, all in event-time
milliseconds:

**Stream time** (Kafka Streams): the largest record timestamp seen so far. It never goes back.
A record's *lateness* is ``stream time - timestamp`` (0 for a record that moves stream time
forward), Kafka Streams' ``record-lateness`` metric.

**Watermark** (Flink, bounded out-of-orderness): ``max timestamp - bound - 1``. It is a promise:
"no more records at or before the watermark are expected". ``bound`` is how much disorder you
expect; the ``- 1`` is there because a record exactly ``bound`` behind the maximum may still
come (source: ``BoundedOutOfOrdernessWatermarks.onPeriodicEmit`` in apache/flink,
``flink-core/.../api/common/eventtime/``; its test, ``BoundedOutOfOrdernessWatermarksTest``, is
kept in ``tests/data/flink_watermarks.json``). Before the first record Flink's watermark is
``Long.MIN_VALUE``; here it is ``None``. A window is **complete** once the watermark reaches the
last event time that can change it (``end - 1`` for a time window: Flink fires when
``watermark >= window.maxTimestamp()``; ``end + gap`` for a session).

**Grace** (Kafka Streams; Flink's *allowed lateness* is the same idea counted from the
watermark): how long after a window's end it still accepts records. Kafka Streams drops a record
for a time window once ``window end <= stream time - grace``
(``KStreamWindowAggregate``: ``if (windowEnd > closeTime) ... else drop``, with
``closeTime = streamTime - grace``), and for a session once
``session end < stream time - grace - gap`` (``KStreamSessionWindowAggregate``). Both are the
one rule :meth:`StreamTime.closed` applies: ``latest_time < stream time - grace``.

The two meet: a time window is complete when ``end <= stream time - bound`` and closed when
``end <= stream time - grace``. With ``bound == grace`` it closes the moment it completes; with
``grace > bound`` it completes first (a result can be emitted) and keeps accepting late records
for ``grace - bound`` more milliseconds (each one *updates* the result).

Deliberate differences: Flink emits a watermark periodically (every 200 ms of processing time by
default, ``pipeline.auto-watermark-interval``); here it moves after every record, which is what
Flink does when a generator emits in ``onEvent``. Kafka Streams keeps stream time per task
(per input partition group); here one processor has one stream time.
"""

from __future__ import annotations

from collections.abc import Iterable

from .errors import InvalidArgument
from .windows import check_millis, check_timestamp, check_timestamps


def flink_watermark(max_timestamp: int, bound: int) -> int:
    """Flink's bounded-out-of-orderness watermark: ``max_timestamp - bound - 1``.

    >>> flink_watermark(1337, 10)
    1326
    """
    return check_timestamp(max_timestamp, "max_timestamp") - check_delay("bound", bound) - 1


def check_delay(name: str, value: object, *, example: int = 1000) -> int:
    """A bound or grace period: a whole number of milliseconds, 0 or more."""
    why = {
        "grace": "Kafka Streams' ofSizeAndGrace rejects a negative grace",
        "bound": "Flink's forBoundedOutOfOrderness rejects a negative bound",
    }.get(name, "")
    return check_millis(name, value, low=0, what=f"the {name} period", why=why, example=example)


def _check_latest_time(latest_time: object) -> int:
    return check_millis(
        "latest_time",
        latest_time,
        what="the latest event time of a window (its latest_time())",
        example=59_999,
    )


class StreamTime:
    """Stream time, the watermark and the grace rule for one stream processor.

    >>> st = StreamTime(bound=10, grace=30)
    >>> for t in (12345, 12300, 12340, 12280):
    ...     _ = st.observe(t)
    >>> st
    StreamTime(stream_time=12345, watermark=12334, bound=10, grace=30)
    >>> st.lateness(12280)
    65
    """

    __slots__ = ("bound", "grace", "stream_time")

    def __init__(self, bound: int = 0, grace: int = 0) -> None:
        self.bound = check_delay("bound", bound)
        self.grace = check_delay("grace", grace)
        self.stream_time: int | None = None

    def observe(self, timestamp: int) -> int:
        """Take a record's timestamp into account; return the (new) stream time."""
        timestamp = check_timestamp(timestamp)
        if self.stream_time is None or timestamp > self.stream_time:
            self.stream_time = timestamp
        return self.stream_time

    @property
    def watermark(self) -> int | None:
        """``stream_time - bound - 1`` (Flink's rule), or ``None`` before the first record."""
        if self.stream_time is None:
            return None
        return flink_watermark(self.stream_time, self.bound)

    def lateness(self, timestamp: int) -> int:
        """How far ``timestamp`` is behind stream time (0 if it is not behind)."""
        timestamp = check_timestamp(timestamp)
        if self.stream_time is None:
            return 0
        return max(0, self.stream_time - timestamp)

    def complete(self, latest_time: int) -> bool:
        """True once the watermark has reached ``latest_time``: the window's on-time result is due."""
        latest_time = _check_latest_time(latest_time)
        wm = self.watermark
        return wm is not None and latest_time <= wm

    def closed(self, latest_time: int) -> bool:
        """True once a window with this ``latest_time`` accepts no more records (Kafka's grace rule)."""
        latest_time = _check_latest_time(latest_time)
        return self.stream_time is not None and latest_time < self.stream_time - self.grace

    def __repr__(self) -> str:
        return (
            f"StreamTime(stream_time={self.stream_time}, watermark={self.watermark}, "
            f"bound={self.bound}, grace={self.grace})"
        )


def disorder(timestamps: Iterable[int]) -> int:
    """The largest lateness in a sequence of timestamps taken in arrival order.

    A grace period at least this large drops nothing: every record is then at most ``grace``
    behind stream time, and every window it belongs to ends after it.

    >>> disorder([100, 0, 1, 2, 6])
    100
    >>> disorder([1, 2, 3])
    0
    """
    worst = 0
    top = None
    for t in check_timestamps(timestamps):
        if top is None or t > top:
            top = t
        elif top - t > worst:
            worst = top - t
    return worst


def check_bound_within_grace(bound: int, grace: int) -> None:
    """Refuse a watermark bound larger than the grace period.

    With ``bound > grace`` a window would stop accepting records before its result is due, so
    records would be dropped from windows nobody has seen yet. Flink cannot express it either:
    its allowed lateness (``grace - bound`` here) is never negative.
    """
    if bound > grace:
        raise InvalidArgument(
            f"bound={bound} is larger than grace={grace}: windows would close (drop records) "
            f"before the watermark says they are complete. Pass bound <= grace, e.g. bound={grace}, "
            f"or raise grace to {bound} (Flink's allowed lateness is grace - bound >= 0)."
        )
