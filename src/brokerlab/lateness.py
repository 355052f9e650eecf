"""Lateness: how window size, grace and out-of-order arrival decide what a stream counts.

:func:`window_counts` sends the same events through a
:class:`~brokerlab.stream.StreamProcessor` with tumbling windows and through a batch count (the
truth), and returns both per window, with the records the stream dropped to its side output.
Events come from :func:`brokerlab.stream_vs_batch.generate_events`: about one a second of event
time, each delayed by 0 up to ``disorder`` ms on its way, so ``disorder`` is how far out of order
they can arrive.

:func:`plot_window_counts` draws the two counts per window (the chapter 05 widget, built by
:func:`lateness_widget`). :func:`plot_watermark` draws the same run in time: each record by arrival
and event time, stream time, and stream time minus grace (the line behind which windows close,
Kafka Streams' rule ``window end <= stream time - grace``), with the late records marked by what
happened to them.

All times are integer milliseconds, as in Kafka; the pictures show seconds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .errors import check_range
from .plots import OKABE_ITO, figure_and_ax

__all__ = [
    "LatenessRun",
    "lateness_widget",
    "plot_watermark",
    "plot_window_counts",
    "window_counts",
]


@dataclass(frozen=True)
class LatenessRun:
    """One run of :func:`window_counts`.

    ``truth``: window start -> records that belong there (a batch count over everything);
    ``counted``: window start -> records the stream counted; ``late``: records that arrived
    behind stream time (lateness > 0); ``dropped``: how many of those missed their window's
    grace and went to the side output. ``records``: the events in arrival order;
    ``positions_dropped``: their positions in ``records``.
    """

    size: int
    grace: int
    disorder: int
    truth: dict[int, int]
    counted: dict[int, int]
    late: int
    dropped: int
    records: list[Any] = field(repr=False)
    lateness: list[int] = field(repr=False)
    positions_dropped: frozenset[int] = field(repr=False)

    def __repr__(self) -> str:
        n = len(self.records)
        return (
            f"LatenessRun(size={self.size} ms, grace={self.grace} ms, disorder={self.disorder} ms: "
            f"{n} records, {self.late} arrived late, {self.dropped} dropped to the side output, "
            f"{sum(self.counted.values())} counted)"
        )


def window_counts(
    size: int = 10_000, grace: int = 0, disorder: int = 3_000, n: int = 60, seed: int = 7
) -> LatenessRun:
    """Count ``n`` events in tumbling windows of ``size`` ms with ``grace`` ms, when events
    arrive up to ``disorder`` ms late. Same arguments, same run.

    >>> window_counts(size=10_000, grace=0, disorder=3_000)
    LatenessRun(size=10000 ms, grace=0 ms, disorder=3000 ms: 60 records, 20 arrived late, 1 dropped to the side output, 59 counted)
    """
    from .stream import StreamProcessor
    from .stream_vs_batch import generate_events
    from .windows import TumblingWindows

    check_range("size", size, 1, 3_600_000, "ms", example=10_000)
    check_range("grace", grace, 0, 3_600_000, "ms", example=5_000)
    check_range("disorder", disorder, 0, 3_600_000, "ms", example=3_000)
    records = generate_events(n, interval=1000, max_delay=disorder, keys=("clicks",), seed=seed)
    stream = StreamProcessor(TumblingWindows(size), grace=grace, emit="on_update")
    stream.process_all(records)
    counted: Counter[int] = Counter()
    for (_, (start, _end)), value in stream.state().items():
        counted[start] += value
    truth = Counter(r.timestamp // size * size for r in records)
    dropped_ids = {id(late.record) for late in stream.side_output}
    positions = frozenset(i for i, r in enumerate(stream.records) if id(r) in dropped_ids)
    return LatenessRun(
        size,
        grace,
        disorder,
        dict(sorted(truth.items())),
        {start: counted.get(start, 0) for start in sorted(truth)},
        sum(1 for x in stream.lateness if x > 0),
        stream.dropped,
        list(stream.records),
        list(stream.lateness),
        positions,
    )


def plot_window_counts(run: LatenessRun, ax: Any = None) -> Any:
    """Bars per window: what the stream counted, and on top what it dropped as too late (the
    two together are the batch's count). Returns the Figure."""
    fig, ax = figure_and_ax(ax, (7.0, 2.8))
    starts = list(run.truth)
    xs = [s / 1000 for s in starts]
    width = run.size / 1000 * 0.85
    counted = [run.counted[s] for s in starts]
    missing = [run.truth[s] - run.counted[s] for s in starts]
    _bars(ax, xs, counted, [0] * len(xs), width, OKABE_ITO["blue"], "counted")
    _bars(ax, xs, missing, counted, width, OKABE_ITO["vermillion"], "dropped: too late")
    ax.set_xlim(min(xs, default=0) - width * 0.2, max(xs, default=0) + width * 1.2)
    ax.set_xlabel("window start (s of event time)")
    ax.set_ylabel("records")
    ax.set_ylim(0, max(run.truth.values(), default=1) * 1.25 + 0.5)
    ax.legend(loc="upper right", fontsize="small", frameon=False, ncols=2)
    n = len(run.records)
    ax.set_title(
        f"{run.dropped} of {n} records dropped; {run.late} arrived out of order "
        f"(windows {run.size / 1000:g} s, grace {run.grace / 1000:g} s)"
    )
    return fig


def _bars(
    ax: Any,
    xs: list[float],
    heights: list[int],
    bottoms: list[int],
    width: float,
    colour: str,
    label: str,
) -> None:
    """Bars as one PolyCollection: a bar chart of a few dozen bars draws several times faster
    than with ``ax.bar``, which makes one patch per bar (this picture is redrawn by a widget)."""
    from matplotlib.collections import PolyCollection

    verts = [
        [(x, b), (x + width, b), (x + width, b + h), (x, b + h)]
        for x, h, b in zip(xs, heights, bottoms)
        if h
    ]
    ax.add_collection(PolyCollection(verts, facecolors=colour, edgecolors="none", label=label))


def plot_watermark(run: LatenessRun, ax: Any = None) -> Any:
    """Each record at (arrival, event time); stream time and stream time minus grace as steps;
    on-time records as dots, late-but-counted as orange diamonds, dropped as vermillion crosses.
    Returns the Figure."""
    fig, ax = figure_and_ax(ax, (7.0, 3.2))
    arrivals = [r.arrival / 1000 for r in run.records]
    stamps = [r.timestamp / 1000 for r in run.records]
    stream_time, running = [], None
    for r in run.records:
        running = r.timestamp if running is None else max(running, r.timestamp)
        stream_time.append(running / 1000)
    ax.step(
        arrivals,
        stream_time,
        where="post",
        color=OKABE_ITO["black"],
        lw=1.2,
        label="stream time (largest event time seen)",
    )
    ax.step(
        arrivals,
        [t - run.grace / 1000 for t in stream_time],
        where="post",
        color=OKABE_ITO["sky_blue"],
        lw=1.2,
        linestyle="--",
        label="stream time - grace: windows ending before this are closed",
    )
    groups = {"on time": [], "late, counted (within grace)": [], "late, dropped": []}
    for i, (a, t) in enumerate(zip(arrivals, stamps)):
        if i in run.positions_dropped:
            groups["late, dropped"].append((a, t))
        elif run.lateness[i] > 0:
            groups["late, counted (within grace)"].append((a, t))
        else:
            groups["on time"].append((a, t))
    looks = {
        "on time": ("o", OKABE_ITO["blue"], 12),
        "late, counted (within grace)": ("D", OKABE_ITO["orange"], 18),
        "late, dropped": ("X", OKABE_ITO["vermillion"], 40),
    }
    for name, points in groups.items():
        if points:
            marker, colour, size = looks[name]
            x, y = zip(*points)
            ax.scatter(x, y, marker=marker, color=colour, s=size, label=name, zorder=3)
    ax.set_xlabel("processing time: arrival (s)")
    ax.set_ylabel("event time (s)")
    ax.legend(loc="upper left", fontsize="x-small", frameon=False)
    ax.set_title("Event time against processing time, with stream time and grace")
    return fig


def lateness_widget() -> Any:
    """The chapter 05 widget: window size, grace and disorder (seconds) -> counts per window."""
    import ipywidgets as widgets

    from .widgets import live_figure

    def draw(ax: Any, size: int, grace: int, disorder: int) -> None:
        plot_window_counts(window_counts(size * 1000, grace * 1000, disorder * 1000), ax=ax)

    return live_figure(
        draw,
        figsize=(7.0, 2.8),
        size=widgets.IntSlider(value=10, min=2, max=30, description="window (s)"),
        grace=widgets.IntSlider(value=0, min=0, max=20, description="grace (s)"),
        disorder=widgets.IntSlider(value=3, min=0, max=20, description="disorder (s)"),
    )
