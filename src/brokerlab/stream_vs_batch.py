"""Stream vs batch, side by side on the same out-of-order events.

Everything here runs on the virtual clock, and every time is in milliseconds. An **event**
happens at its event time (``Record.timestamp``) and reaches the system later, at its
**arrival** (processing time), after a network delay, a retry, or a phone coming back online.
:func:`generate_events` makes such a stream, deterministically from a seed.

Two views of the same records:

- :func:`event_vs_processing_time` counts them in tumbling windows of *event* time and of
  *processing* time. The totals agree; the windows do not, because the late records land in the
  wrong processing-time window. :func:`plot_event_vs_processing_time` draws both, and
  :func:`plot_event_time_skew` draws each event's delay (the picture from Akidau's *Streaming
  101*: processing time against event time, with the ideal diagonal).
- :func:`run_side_by_side` feeds the records to a :class:`~brokerlab.stream.StreamProcessor` as
  they arrive, and runs a :class:`~brokerlab.batch.BatchJob` on a schedule over everything that
  has arrived. For every record it measures the **latency** (processing time at which it is
  first counted in a visible result, minus its event time), and over time the **completeness**
  (records counted in the visible answer / records that have happened). A batch answer is
  complete but late; a stream answer is fast but provisional, and misses what its grace period
  dropped. :func:`plot_completeness` and :func:`plot_latency` draw both.

When the input ends, the stream processor is told so (``end_of_input``, Flink's final
watermark), so the last windows are counted too.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

from .aggregation import Aggregation
from .batch import BatchJob
from .errors import InvalidArgument, InvalidType, check_range, out_of_range
from .scheduler import Scheduler
from .stream import ArrivalSource, Record, StreamProcessor, as_records
from .windows import check_count, check_millis, check_windows

# --- input -------------------------------------------------------------------------------------------

#: The most events :func:`generate_events` makes: far more than a notebook needs.
MAX_EVENTS = 1_000_000


def generate_events(
    n: int = 300,
    *,
    interval: int = 1000,
    max_delay: int = 3000,
    stragglers: float = 0.0,
    straggler_delay: int = 60_000,
    keys: Sequence[Any] = ("a", "b", "c"),
    seed: int = 0,
) -> list[Record]:
    """``n`` events, about ``interval`` ms apart in event time, listed in arrival order.

    Each is delayed by 0..``max_delay`` ms; a fraction ``stragglers`` of them by another
    ``straggler_delay`` ms (a phone that was offline). Keys are drawn from ``keys``; values are 1.
    The same arguments always give the same events. ``offset`` is the arrival order.
    """
    check_count("n", n, what="the number of events", example=300)
    if n > MAX_EVENTS:
        raise out_of_range("n", n, 1, MAX_EVENTS, "events", who="this model", example=300)
    check_millis("interval", interval, low=1, what="the mean time between events", example=1000)
    check_millis("max_delay", max_delay, what="the largest network delay", example=3000)
    check_millis(
        "straggler_delay", straggler_delay, what="a straggler's extra delay", example=60_000
    )
    check_range("stragglers", stragglers, 0, 1, who="a fraction", example=0.05)
    if not isinstance(keys, Sequence):
        raise InvalidType(
            f"keys={keys!r} is a {type(keys).__name__}: pass a list or tuple of keys, e.g. "
            "keys=('a', 'b')."
        )
    if not keys:
        raise InvalidArgument(
            f"keys={keys!r} is empty: events need at least one key. Pass e.g. keys=('a', 'b')."
        )
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidType(
            f"seed={seed!r} is a {type(seed).__name__}: a seed is an int, e.g. seed=0 (the same "
            "seed gives the same events)."
        )
    rng = random.Random(seed)
    events = []
    t = 0
    for i in range(n):
        t += max(1, round(rng.expovariate(1 / interval)))
        delay = rng.randint(0, max_delay)
        if rng.random() < stragglers:
            delay += straggler_delay
        events.append((t + delay, t, i, keys[rng.randrange(len(keys))]))
    events.sort()
    return [Record(t, key, 1, arrival=a, offset=pos) for pos, (a, t, _, key) in enumerate(events)]


def in_arrival_order(records: Iterable[Any]) -> list[Record]:
    """The records sorted by arrival (stable); each must have an ``arrival`` time."""
    recs = as_records(records)
    for r in recs:
        if r.arrival is None:
            raise InvalidArgument(
                f"record {r!r} has no arrival time: this comparison needs when each record reaches "
                "the system. Use generate_events(), or give records an arrival (4th item)."
            )
    return sorted(recs, key=lambda r: r.arrival)  # type: ignore[arg-type, return-value]


# --- event time against processing time ---------------------------------------------------------------


@dataclass
class TimeDomains:
    """Record counts per tumbling window of event time and of processing time (window start -> count)."""

    size: int
    event_time: dict[int, int]
    processing_time: dict[int, int]

    def __repr__(self) -> str:
        return (
            f"TimeDomains(size={self.size}: {len(self.event_time)} event-time windows, "
            f"{len(self.processing_time)} processing-time windows, "
            f"{sum(self.event_time.values())} records)"
        )


def event_vs_processing_time(records: Iterable[Any], size: int) -> TimeDomains:
    """Count the same records in tumbling windows of event time and of processing time.

    >>> recs = [Record(1, "a", arrival=2), Record(8, "a", arrival=12), Record(9, "a", arrival=9)]
    >>> d = event_vs_processing_time(recs, 10)
    >>> d.event_time, d.processing_time
    ({0: 3}, {0: 2, 10: 1})
    """
    size = check_millis("size", size, low=1, what="a window size", example=60_000)
    recs = in_arrival_order(records)
    by_event = Counter(r.timestamp // size * size for r in recs)
    by_arrival = Counter(r.arrival // size * size for r in recs)  # type: ignore[operator]
    return TimeDomains(size, dict(sorted(by_event.items())), dict(sorted(by_arrival.items())))


def figure_and_ax(ax: Any, figsize: tuple[float, float] = (8, 3.5)) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    if ax is None:
        fig = Figure(figsize=figsize, layout="constrained")
        return fig, fig.add_subplot()
    return ax.figure, ax


def plot_event_vs_processing_time(records: Iterable[Any], size: int, ax: Any = None) -> Any:
    """Bars: records per window by event time and by processing time, side by side."""
    d = event_vs_processing_time(records, size)
    fig, ax = figure_and_ax(ax)
    starts = sorted(set(d.event_time) | set(d.processing_time))
    xs = [s / 1000 for s in starts]
    width = size / 1000 * 0.4
    ax.bar(
        [x - width / 2 for x in xs],
        [d.event_time.get(s, 0) for s in starts],
        width,
        label="by event time (when it happened)",
        color="tab:blue",
    )
    ax.bar(
        [x + width / 2 for x in xs],
        [d.processing_time.get(s, 0) for s in starts],
        width,
        label="by processing time (when it arrived)",
        color="tab:orange",
    )
    ax.set_xlabel(f"window start (s), windows of {size / 1000:g} s")
    ax.set_ylabel("records")
    ax.set_title("The same records, two clocks")
    ax.set_ylim(0, 1.3 * max([*d.event_time.values(), *d.processing_time.values(), 1]))
    ax.legend(loc="upper left", fontsize="small", ncols=2)
    return fig


def plot_event_time_skew(records: Iterable[Any], ax: Any = None) -> Any:
    """Each record as a dot: event time (x) against arrival time (y). Ideal is the diagonal."""
    recs = in_arrival_order(records)
    fig, ax = figure_and_ax(ax, (5, 4.5))
    xs = [r.timestamp / 1000 for r in recs]
    ys = [r.arrival / 1000 for r in recs]  # type: ignore[operator]
    top = max([*xs, *ys, 0.0])
    ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1, label="no delay")
    ax.scatter(xs, ys, s=8, color="tab:blue", label="record")
    ax.set_xlabel("event time (s)")
    ax.set_ylabel("processing time (s)")
    ax.set_title("Event-time skew (height above the diagonal = delay)", fontsize="medium")
    ax.legend(loc="upper left", fontsize="small")
    return fig


# --- batch and stream on the same clock --------------------------------------------------------------------


@dataclass
class SideBySide:
    """The outcome of :func:`run_side_by_side`.

    ``stream_latency`` / ``batch_latency``: per record (arrival order), ms from its event time to
    the first visible result that counts it, or ``None`` if none ever does (dropped as late).
    ``stream_counted`` / ``batch_counted``: per record, the processing time it was first counted.
    """

    records: list[Record]
    stream: StreamProcessor
    batch: BatchJob
    end: int
    stream_counted: list[int | None]
    batch_counted: list[int | None]

    @property
    def stream_latency(self) -> list[int | None]:
        return _latencies(self.records, self.stream_counted)

    @property
    def batch_latency(self) -> list[int | None]:
        return _latencies(self.records, self.batch_counted)

    def completeness(self, system: str, at: int) -> float:
        """Records counted by ``system`` ("stream" or "batch") at time ``at`` / records happened by then."""
        counted = self._counted(system)
        happened = sum(1 for r in self.records if r.timestamp <= at)
        if happened == 0:
            return 1.0
        return (
            sum(1 for r, c in zip(self.records, counted, strict=True) if c is not None and c <= at)
            / happened
        )

    def completeness_curve(self, system: str, points: int = 200) -> list[tuple[int, float]]:
        """``(time, completeness)`` at ``points + 1`` evenly spaced times, first event to the end."""
        counted = sorted(c for c in self._counted(system) if c is not None)
        happened = sorted(r.timestamp for r in self.records)
        if not happened:
            return []
        first = happened[0]
        curve = []
        for i in range(points + 1):
            t = first + (self.end - first) * i // points
            curve.append((t, bisect_right(counted, t) / bisect_right(happened, t)))
        return curve

    def summary(self) -> dict[str, dict[str, float | int | None]]:
        """Median and 95th-percentile latency (ms), final completeness and records dropped."""
        out = {}
        for system, latencies in (("stream", self.stream_latency), ("batch", self.batch_latency)):
            lat = sorted(x for x in latencies if x is not None)
            out[system] = {
                "median_latency": median(lat) if lat else None,
                "p95_latency": lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else None,
                "completeness": len(lat) / len(self.records) if self.records else 1.0,
                "never_counted": len(self.records) - len(lat),
            }
        return out

    def _counted(self, system: str) -> list[int | None]:
        if system not in ("stream", "batch"):
            raise InvalidArgument(
                f"system={system!r} is not one of 'stream', 'batch'. Pass one of them."
            )
        return self.stream_counted if system == "stream" else self.batch_counted

    def __repr__(self) -> str:
        s = self.summary()

        def text(x: dict[str, Any]) -> str:
            lat = "-" if x["median_latency"] is None else f"{x['median_latency'] / 1000:.3g} s"
            return f"median latency {lat}, {x['completeness']:.0%} counted"

        return f"SideBySide({len(self.records)} records: stream {text(s['stream'])}; batch {text(s['batch'])})"


def _latencies(records: list[Record], counted: list[int | None]) -> list[int | None]:
    return [None if c is None else c - r.timestamp for r, c in zip(records, counted, strict=True)]


def run_side_by_side(
    records: Iterable[Any],
    windows: Any,
    *,
    agg: str | Aggregation = "count",
    grace: int = 0,
    bound: int = 0,
    emit: str = "on_watermark",
    batch_every: int = 60_000,
    batch_duration: int = 0,
) -> SideBySide:
    """Run a stream processor and a scheduled batch job over the same arriving records.

    Records need an ``arrival`` (see :func:`generate_events`). The stream processor consumes them
    as they arrive; the batch job runs every ``batch_every`` ms over everything arrived so far,
    taking ``batch_duration`` ms, until one run has covered every record.
    """
    recs = in_arrival_order(records)
    windows = check_windows(windows)
    check_millis("batch_every", batch_every, low=1, what="the batch interval", example=60_000)
    sched = Scheduler()
    stream = StreamProcessor(
        windows, agg=agg, grace=grace, bound=bound, emit=emit, clock=sched.clock
    )
    batch = BatchJob(windows, agg=agg, every=batch_every, duration=batch_duration)
    source = ArrivalSource(recs, sched.clock)
    last_arrival = recs[-1].arrival if recs else 0

    def run_batch() -> None:
        now = sched.clock.now_ms()
        batch.run(source.records[: source.position], now=now)
        if source.position < len(recs) or now < last_arrival:  # type: ignore[operator]
            sched.at(batch.next_run / 1000, run_batch, priority=2)

    # At any one time: the stream consumes what has arrived, then (after the last arrival) the
    # input ends, then the batch job runs over what has arrived.
    for t in sorted({r.arrival for r in recs}):  # type: ignore[type-var]
        sched.at(t / 1000, stream.consume, source)
    sched.at(last_arrival / 1000, stream.end_of_input, priority=1)  # type: ignore[operator]
    sched.at(batch.next_run / 1000, run_batch, priority=2)
    sched.run()
    end = max(batch.runs[-1].finished, sched.clock.now_ms())
    stream_counted = [stream.counted_at.get(i) for i in range(len(recs))]
    return SideBySide(
        recs, stream, batch, end, stream_counted, first_counted_by_batch(batch, len(recs))
    )


def first_counted_by_batch(batch: BatchJob, n: int) -> list[int | None]:
    """For each of ``n`` records (arrival order), when the first batch result counting it was visible."""
    counted: list[int | None] = [None] * n
    covered = 0
    for run in sorted(batch.runs, key=lambda r: r.finished):
        for i in range(covered, min(run.covered, n)):
            counted[i] = run.finished
        covered = max(covered, run.covered)
    return counted


def plot_completeness(result: SideBySide, ax: Any = None) -> Any:
    """Completeness over processing time for the stream and the batch job."""
    fig, ax = figure_and_ax(ax)
    for system, color in (("stream", "tab:blue"), ("batch", "tab:orange")):
        curve = result.completeness_curve(system)
        ax.step(
            [t / 1000 for t, _ in curve],
            [c for _, c in curve],
            where="post",
            color=color,
            label=system,
        )
    for run in result.batch.runs:
        ax.axvline(run.finished / 1000, color="tab:orange", alpha=0.25, linewidth=1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("processing time (s)")
    ax.set_ylabel("events counted / events happened")
    ax.set_title("Completeness: the batch answer is complete but stale; the stream's is fresh")
    ax.legend(loc="lower right", fontsize="small")
    return fig


def plot_latency(result: SideBySide, ax: Any = None) -> Any:
    """Cumulative share of records counted within a given latency, stream against batch."""
    fig, ax = figure_and_ax(ax)
    n = len(result.records)
    for system, lat, color in (
        ("stream", result.stream_latency, "tab:blue"),
        ("batch", result.batch_latency, "tab:orange"),
    ):
        xs = sorted(x / 1000 for x in lat if x is not None)
        ax.step(
            xs,
            [(i + 1) / n for i in range(len(xs))],
            where="post",
            color=color,
            label=f"{system}: {len(xs)}/{n} counted",
        )
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("latency: event time to first result counting it (s)")
    ax.set_ylabel("share of records")
    ax.set_title("Latency")
    ax.legend(loc="lower right", fontsize="small")
    return fig
