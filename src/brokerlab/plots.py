"""Plots over time: how deep the queue is, and how far a consumer group lags behind the log.

Both are computed from a :class:`~brokerlab.history.History` alone, so they work for a simulated
run, for a notebook session and for a history recorded from a real broker.

- **Queue depth** at time t: messages published so far minus those the broker has let go of
  (acked, dead-lettered, or dropped). A message counts once however often it was published
  (a producer retry re-uses the id) and however often it was delivered: a message in flight
  (delivered, not yet acked) is still held, because the broker would redeliver it. A publish
  lost on the wire never entered the queue. A log keeps its records whatever consumers do, so
  for a log, plot the lag instead.
- **Consumer lag** of a group on a partition at time t: the partition's end offset (one past
  the highest offset published so far) minus the group's committed offset (the next offset it
  will read; 0 before its first commit). It is what Kafka's ``kafka-consumer-groups.sh
  --describe`` prints as LAG.

The pictures are functions: ``plot_depth(history, ax=None)`` and ``plot_lag(history, ax=None)``
return the matplotlib Figure they drew on, keep no state, and give the same picture for the same
history. New figures are ``matplotlib.figure.Figure`` objects (not pyplot's), so nothing piles up
in pyplot when a widget redraws them. Colours are the Okabe-Ito palette, which reads the same
for the common kinds of colour blindness.
"""

from __future__ import annotations

from typing import Any

from .errors import InvalidType
from .history import History

__all__ = [
    "OKABE_ITO",
    "depth_over_time",
    "figure_and_ax",
    "lag_over_time",
    "plot_depth",
    "plot_lag",
]

# Okabe & Ito (2008), "Color Universal Design": eight colours distinguishable with the common
# kinds of colour blindness. Used by every picture of the course.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
_CYCLE = [
    OKABE_ITO[c]
    for c in ("blue", "orange", "bluish_green", "reddish_purple", "sky_blue", "vermillion", "black")
]
DPI = 100


def figure_and_ax(
    ax: Any,
    size: tuple[float, float],
    margins: tuple[float, float, float, float] = (0.8, 0.3, 0.5, 0.6),
) -> tuple[Any, Any]:
    """``(figure, ax)``: the given ax and its figure, or a new Figure of ``size`` inches.

    A new figure gets fixed ``margins`` (left, right, top, bottom, in inches) rather than an
    automatic layout: the same picture every time, and about half the drawing time.
    """
    if ax is None:
        from matplotlib.figure import Figure

        w, h = size
        left, right, top, bottom = margins
        fig = Figure(figsize=size, dpi=DPI)
        fig.subplots_adjust(left=left / w, right=1 - right / w, top=1 - top / h, bottom=bottom / h)
        return fig, fig.add_subplot()
    return ax.figure, ax


def _history(history: Any) -> History:
    if not isinstance(history, History):
        raise InvalidType(
            f"history is a {type(history).__name__}: a brokerlab.history.History is needed "
            "(for example simulation.history, or History.from_jsonl(path))."
        )
    return history


def depth_over_time(history: History) -> tuple[list[float], list[int]]:
    """``(times, depths)``: the queue depth after each event that changed it (see above).

    Starts at ``(first event time, 0)``.
    """
    _history(history)
    held: set[str] = set()
    gone: set[str] = set()  # let go of by the broker: a later publish of the id is a new copy
    times: list[float] = []
    depths: list[int] = []
    if history.events:
        times.append(history.events[0].time)
        depths.append(0)
    for e in history.events:
        m, k = e.msg, e.kind
        if m is None:
            continue
        before = len(held)
        if k == "publish":
            held.add(m)
            gone.discard(m)
        elif k in ("ack", "dead_letter") or (k == "commit" and e.partition is None):
            if m in held:
                held.discard(m)
                gone.add(m)
        elif k == "lost" and e.get("what") in ("publish", "message"):
            held.discard(m)
        if len(held) != before:
            times.append(e.time)
            depths.append(len(held))
    return times, depths


def lag_over_time(history: History) -> dict[tuple[Any, int], tuple[list[float], list[int]]]:
    """``{(group, partition): (times, lags)}`` after each event that changed a lag (see above).

    ``group`` is ``None`` for the default group. Only groups that committed on a partition get a
    line; if nobody committed anything, each partition gets one line for the default group (its
    lag is then the whole partition).
    """
    _history(history)
    actor_group: dict[str, Any] = {}
    for e in history.events:
        if e.info and "group" in e.info:
            actor = e.info.get("to", e.actor) if e.kind == "deliver" else e.actor
            actor_group.setdefault(actor, e.info["group"])
    committers = {
        (actor_group.get(e.actor), e.partition)
        for e in history.events
        if e.kind == "commit" and e.partition is not None and e.offset is not None
    }
    end: dict[int, int] = {}
    committed: dict[tuple[Any, int], int] = {}
    lines: dict[tuple[Any, int], tuple[list[float], list[int]]] = {}
    start = history.events[0].time if history.events else 0.0

    def note(gp: tuple[Any, int], t: float) -> None:
        if not committers and gp[0] is not None:
            return
        if committers and gp not in committers:
            return
        times, lags = lines.setdefault(gp, ([start], [0]))
        lag = end.get(gp[1], 0) - committed.get(gp, 0)
        if lag != lags[-1]:
            times.append(t)
            lags.append(lag)

    for e in history.events:
        p, o = e.partition, e.offset
        if p is None or o is None:
            continue
        if e.kind == "commit":
            gp = (actor_group.get(e.actor), p)
            committed[gp] = o
            note(gp, e.time)
        elif e.kind in ("publish", "confirm", "deliver") and o + 1 > end.get(p, 0):
            end[p] = o + 1
            targets = [gp for gp in committers if gp[1] == p] if committers else [(None, p)]
            for gp in sorted(targets, key=repr):
                note(gp, e.time)
    return dict(sorted(lines.items(), key=lambda kv: (repr(kv[0][0]), kv[0][1])))


def _extend(
    times: list[float], values: list[int], history: History
) -> tuple[list[float], list[int]]:
    """Carry the last value to the last event's time, so that the step reaches the end."""
    if history.events and times and times[-1] < history.events[-1].time:
        return times + [history.events[-1].time], values + [values[-1]]
    return times, values


def plot_depth(history: History, ax: Any = None) -> Any:
    """A step plot of the queue depth over time (see the module docstring). Returns the Figure."""
    times, depths = _extend(*depth_over_time(history), history)
    fig, ax = figure_and_ax(ax, (7.0, 3.0))
    (line,) = ax.step(
        times,
        depths,
        where="post",
        color=OKABE_ITO["blue"],
        linewidth=1.8,
        label="held by the broker",
    )
    line.set_gid("depth")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("messages")
    ax.set_title("Queue depth: published, not yet acked or dead-lettered")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    if not times:
        ax.text(0.5, 0.5, "empty history", ha="center", va="center", transform=ax.transAxes)
    return fig


def plot_lag(history: History, ax: Any = None) -> Any:
    """Step plots of consumer lag per group and partition (see the module docstring)."""
    lines = lag_over_time(history)
    fig, ax = figure_and_ax(ax, (7.0, 3.0))
    for i, ((g, p), (times, lags)) in enumerate(lines.items()):
        times, lags = _extend(times, lags, history)
        label = f"partition {p}" if g is None else f"{g} / partition {p}"
        (line,) = ax.step(
            times, lags, where="post", color=_CYCLE[i % len(_CYCLE)], linewidth=1.8, label=label
        )
        line.set_gid(f"lag:{g}:{p}")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("records behind")
    ax.set_title("Consumer lag: end offset minus committed offset")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    if lines:
        ax.legend(loc="upper left", fontsize="small", frameon=False)
    else:
        ax.text(
            0.5, 0.5, "no partitioned messages", ha="center", va="center", transform=ax.transAxes
        )
    return fig
