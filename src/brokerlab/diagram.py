"""The sequence diagram (a Lamport diagram) of a history: who sent what to whom, and when.

One vertical **lane** per actor: producers on the left, the broker in the middle, consumers on
the right. Time runs down the page: each event of the history gets its own row (in history
order), and the left axis says at what time it happened. Messages between actors are
horizontal arrows from the sender's lane to the receiver's:

==================  =====================================  ==================================
event               drawn as                               colour (Okabe-Ito)
==================  =====================================  ==================================
publish             producer -> broker                     blue
confirm             broker -> producer                     sky blue
deliver             broker -> consumer (dashed if it is    orange
                    a redelivery)
ack / commit        consumer -> broker                     bluish green
nack                consumer -> broker                     reddish purple
lost                a dashed half arrow ending in a cross  black
process             a dot on the consumer's lane           black
crash / restart     a big X / a triangle on the lane       black
redeliver           a diamond on the broker's lane         orange
dead_letter         a square on the broker's lane          reddish purple
rebalance           a plus on the lane                     sky blue
==================  =====================================  ==================================

Given a checker :class:`~brokerlab.checker.Report`, every event an anomaly quotes is marked in
vermillion (a thick underline under an arrow, a ring around a mark), and the anomaly is named at the right of the row of its last quoted event
("lost m2", "duplicated m1"...). With ``max_events``, an anomaly is drawn only if all its quoted
events are among the rows drawn; the title counts the others. The colour is never the only cue: the markers and line styles
differ too, and a legend names them.

``draw_sequence(history, report=None, ax=None, max_events=120)`` returns the matplotlib Figure.
It is a pure function of its input (same history, same picture).

How it stays quick enough for a widget (chapter 03 redraws a diagram at every slider move): it
makes a few collections rather than one artist per event, one per kind of arrow, arrowhead,
mark and label:

- arrows are one ``LineCollection`` per style; arrowheads and marks one ``PathCollection`` per
  marker (what ``ax.scatter`` makes, built directly: ``scatter`` spends about 1 ms per call on
  its arguments and on autoscaling, and a diagram has up to 20 of them);
- the axes limits are set before anything is drawn and no collection takes part in
  autoscaling: the diagram knows its limits from its rows and lanes;
- the message ids on the arrows are one collection of text outlines (``TextPath``), each
  outline made once per id and font size and then reused: matplotlib draws a ``Text`` glyph by
  glyph, about 0.4 ms per label, which for 40 labels was a third of a redraw. The outlines look
  the same as the text at screen size. The anomaly names stay ``Text`` artists (a few per
  picture, and tests read them).

Together with the widget's own PNG encoding, the chapter 03 widget's diagram (about 40 events,
labelled) goes from data to PNG in about 25 ms on the course's machine, less than half of before.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import Any

from .errors import InvalidArgument, InvalidType, check_range
from .history import Event, History
from .plots import OKABE_ITO, figure_and_ax

__all__ = ["STYLE", "draw_sequence", "lanes_of"]

_C = OKABE_ITO
# kind -> (colour, line style) of its arrow
STYLE: dict[str, tuple[str, str]] = {
    "publish": (_C["blue"], "solid"),
    "confirm": (_C["sky_blue"], "solid"),
    "deliver": (_C["orange"], "solid"),
    "redelivered": (_C["orange"], "dashed"),
    "ack": (_C["bluish_green"], "solid"),
    "commit": (_C["bluish_green"], "solid"),
    "nack": (_C["reddish_purple"], "solid"),
    "lost": (_C["black"], "dashed"),
}
# kind -> (marker, colour, size, hollow) of the mark on a lane
_MARKS: dict[str, tuple[str, str, float, bool]] = {
    "process": ("o", _C["black"], 36, False),
    "crash": ("X", _C["black"], 110, False),
    "restart": ("^", _C["black"], 60, False),
    "redeliver": ("D", _C["orange"], 40, True),
    "dead_letter": ("s", _C["reddish_purple"], 50, False),
    "rebalance": ("P", _C["sky_blue"], 70, False),
    "lost": ("x", _C["black"], 50, False),  # the end of a lost half arrow, or a dropped message
}
_TO_BROKER = ("publish", "ack", "commit", "nack")
_FROM_BROKER = ("confirm", "deliver")
ANOMALY_COLOUR = _C["vermillion"]


def lanes_of(history: History, broker: str | None = None) -> list[str]:
    """The lanes, left to right: producers, then the broker, then everyone else.

    Producers are the actors that publish. The broker is ``broker`` if given, else the actor of
    the history's ``redeliver``/``dead_letter`` events, else ``"broker"``; it gets a lane even
    if it recorded nothing, since every message passes through it.
    """
    return _lanes(history.events, broker or _broker_of(history))


def _lanes(events: list[Event], broker: str) -> list[str]:
    producers: dict[str, None] = {}
    others: dict[str, None] = {}
    for e in events:
        if e.kind == "publish" and e.actor != broker:
            producers[e.actor] = None
            others.pop(e.actor, None)
        elif e.actor != broker and e.actor not in producers:
            others[e.actor] = None
        if e.kind == "deliver" and e.info and "to" in e.info and e.info["to"] not in producers:
            others[e.info["to"]] = None
    return [*producers, broker, *others]


def _broker_of(history: History) -> str:
    names = Counter(e.actor for e in history.events if e.kind in ("redeliver", "dead_letter"))
    return min(names, key=lambda a: (-names[a], a)) if names else "broker"


def draw_sequence(
    history: History,
    report: Any = None,
    ax: Any = None,
    max_events: int = 120,
    *,
    broker: str | None = None,
    labels: bool | None = None,
    lanes: list[str] | None = None,
    legend: bool = True,
) -> Any:
    """Draw ``history`` as a sequence diagram (see the module docstring); return the Figure.

    - ``report``: a :class:`~brokerlab.checker.Report` of this history: its anomalies are
      highlighted. (``check(history)`` makes one.)
    - ``max_events``: draw only the first ``max_events`` events (1..5000); the title says so.
    - ``broker``: the broker's actor name, if it is not ``"broker"`` (see :func:`lanes_of`).
    - ``labels``: write the message id on each arrow (default: when at most 60 rows).
    - ``lanes``: the lanes, left to right, instead of those :func:`lanes_of` finds (a picture of
      part of a history keeps the whole history's lanes this way); actors it leaves out get a
      lane at the right.
    - ``legend``: draw the key of arrows and marks at the right (default). A widget that shows
      the key once, outside the picture, passes ``False``: the key is the same at every move
      and costs several ms to lay out.
    """
    if not isinstance(history, History):
        raise InvalidType(
            f"history is a {type(history).__name__}: draw_sequence needs a "
            "brokerlab.history.History (for example simulation.history)."
        )
    check_range("max_events", max_events, 1, 5000, "events", example=120)
    if isinstance(max_events, float):
        raise InvalidType(f"max_events={max_events!r} is a float: pass a whole number, e.g. 120.")
    if report is not None and not hasattr(report, "anomalies"):
        raise InvalidType(
            f"report is a {type(report).__name__}: pass the Report of check(history), or None."
        )
    if report is not None and report.events != len(history):
        raise InvalidArgument(
            f"report is about {report.events} events but the history has {len(history)}: "
            "pass the report of this history, check(history)."
        )
    from matplotlib.collections import LineCollection  # here: import brokerlab stays light

    events = history.events[:max_events]
    brk = broker or _broker_of(history)
    found = _lanes(events, brk)
    if lanes is not None:
        if isinstance(lanes, str) or not all(isinstance(name, str) for name in lanes):
            raise InvalidType(
                f"lanes={lanes!r} must be a list of actor names, e.g. lanes=['producer-1', "
                "'broker', 'consumer-1'], or None."
            )
        found = list(dict.fromkeys([*lanes, *found]))
    lanes = found
    x = {name: i for i, name in enumerate(lanes)}
    rows = len(events)
    show_labels = rows <= 60 if labels is None else labels

    width = min(max(5.0, 1.5 * len(lanes) + 2.6 + (1.4 if report is not None else 0.0)), 16.0)
    height = min(max(2.5, 0.24 * rows + 1.6), 40.0)
    fig, ax = figure_and_ax(ax, (width, height), margins=(0.75, 1.75, 0.75, 0.15))
    # the limits first, so that nothing below autoscales (the x limit widens for anomaly names)
    bottom = max(rows - 0.4, 0.6)
    ax.set_ylim(bottom, -0.9)
    ax.set_xlim(-0.6, len(lanes) - 0.4)

    # lanes
    lane_lines = [((i, -0.6), (i, bottom)) for i in range(len(lanes))]
    _add(ax, LineCollection(lane_lines, colors="#999999", linewidths=1.0, zorder=0), "lanes")

    arrows: dict[str, list[tuple[tuple[float, float], tuple[float, float]]]] = {}
    heads: dict[str, list[tuple[float, float, str]]] = {}
    marks: dict[str, list[tuple[float, float]]] = {}
    texts: list[tuple[float, float, str]] = []
    # event index -> (x0, x1, row): its arrow from x0 to x1, or its mark at x0 == x1
    where: dict[int, tuple[float, float, int]] = {}

    for row, e in enumerate(events):
        k = e.kind
        lane = x.get(e.actor, x[brk])
        b = x[brk]
        if k in _TO_BROKER or k in _FROM_BROKER:
            if k == "deliver" and e.actor == brk:  # recorded at the broker: info["to"]
                lane = x.get(e.get("to", brk), b)
            start, end = (lane, b) if k in _TO_BROKER else (b, lane)
            style = "redelivered" if k == "deliver" and e.get("redelivered") else k
            if start == end:  # recorded at the broker with no counterpart: a stub arrow
                start = end - 0.5 if end > 0 else end + 0.5
            arrows.setdefault(style, []).append(((start, row), (end, row)))
            heads.setdefault(style, []).append((end, row, ">" if end > start else "<"))
            where[e.index] = (start, end, row)
            if show_labels and e.msg is not None:
                texts.append(((start + end) / 2, row, e.msg))
        elif k == "lost":
            what = e.get("what")
            if what in _TO_BROKER or what in _FROM_BROKER:
                start, end = (lane, b) if what in _TO_BROKER else (b, lane)
                if start == end:
                    start = end - 0.5 if end > 0 else end + 0.5
                mid = (start + end) / 2
                arrows.setdefault("lost", []).append(((start, row), (mid, row)))
                marks.setdefault("lost", []).append((mid, row))
                where[e.index] = (start, mid, row)
                if show_labels and e.msg is not None:
                    texts.append((mid, row, f"{e.msg} ({what})"))
            else:  # a dropped message (or an unknown what): a cross on the lane
                marks.setdefault("lost", []).append((lane, row))
                where[e.index] = (lane, lane, row)
        else:
            marks.setdefault(k, []).append((lane, row))
            where[e.index] = (lane, lane, row)
            if show_labels and e.msg is not None and k != "crash":
                texts.append((lane + 0.08, row, e.msg))

    handles = []
    for style in ("publish", "confirm", "deliver", "redelivered", "ack", "commit", "nack", "lost"):
        segs = arrows.get(style)
        if not segs:
            continue
        colour, linestyle = STYLE[style]
        lines = LineCollection(
            segs, colors=colour, linestyles=linestyle, linewidths=1.6, label=style, zorder=2
        )
        handles.append(_add(ax, lines, f"arrows:{style}"))
        for direction in (">", "<"):
            pts = [(px, py) for (px, py, d) in heads.get(style, []) if d == direction]
            if pts:
                _marks(
                    ax,
                    pts,
                    direction,
                    38,
                    face=colour,
                    edge=colour,
                    width=0,
                    zorder=3,
                    gid=f"heads:{style}",
                )
    for kind in ("process", "crash", "restart", "redeliver", "dead_letter", "rebalance", "lost"):
        pts = marks.get(kind)
        if not pts:
            continue
        marker, colour, size, hollow = _MARKS[kind]
        stroked = marker == "x"  # two strokes, no face: drawn in the face colour, as scatter does
        sc = _marks(
            ax,
            pts,
            marker,
            size,
            face="none" if hollow else colour,
            edge="face" if stroked else colour,
            width=1.5 if hollow or stroked else 0.5,
            zorder=4,
            gid=f"marks:{kind}",
            label=kind.replace("_", "-"),
        )
        if kind != "lost" or "lost" not in arrows:
            handles.append(sc)

    # anomalies: underline every quoted arrow and ring every quoted mark in vermillion, and
    # name the anomaly at the right of the row of its last quoted event
    n_anomalies = hidden = 0
    names_x = len(lanes) - 0.3
    if report is not None:
        quoted: set[int] = set()
        names: dict[int, list[str]] = {}
        for a in report.anomalies():
            if a.kind == "unfinished":
                continue
            shown = [ev.index for ev in a.events if ev.index in where]
            if len(shown) < len(a.events):
                hidden += 1  # not all of it is drawn: it happens after the last row
                continue
            n_anomalies += 1
            quoted.update(shown)
            names.setdefault(max(shown), []).append(_anomaly_name(a))
        segs = [
            ((where[i][0], where[i][2]), (where[i][1], where[i][2]))
            for i in sorted(quoted)
            if where[i][0] != where[i][1]
        ]
        pts = [(where[i][0], where[i][2]) for i in sorted(quoted) if where[i][0] == where[i][1]]
        if segs:
            under = LineCollection(
                segs, colors=ANOMALY_COLOUR, linewidths=6, alpha=0.45, zorder=1, capstyle="round"
            )
            _add(ax, under, "anomaly-arrows")
        if pts:
            _marks(
                ax,
                pts,
                "o",
                240,
                face="none",
                edge=ANOMALY_COLOUR,
                width=2.2,
                zorder=5,
                gid="anomaly-marks",
            )
        if quoted:
            from matplotlib.lines import Line2D

            handles.append(
                Line2D(
                    [],
                    [],
                    color=ANOMALY_COLOUR,
                    linewidth=6,
                    alpha=0.45,
                    marker="o",
                    markersize=12,
                    markerfacecolor="none",
                    markeredgecolor=ANOMALY_COLOUR,
                    label="anomaly: a quoted event",
                )
            )
            row_of = {e.index: r for r, e in enumerate(events)}
            for idx in sorted(names):
                t = ax.text(
                    names_x,
                    row_of[idx],
                    ", ".join(names[idx]),
                    color=ANOMALY_COLOUR,
                    fontsize=8,
                    fontweight="bold",
                    va="center",
                    ha="left",
                )
                t.set_gid("anomaly-name")

    if texts:  # the message ids, just above their arrows and marks
        _add(ax, _labels(fig, ax, texts), "labels")

    # axes: lanes on top, time on the left (a tick where the time changes, at most ~16)
    if n_anomalies:
        ax.set_xlim(-0.6, len(lanes) + 1.0)  # room for the anomaly names
    ax.xaxis.tick_top()
    ax.set_xticks(range(len(lanes)), lanes, fontsize=9)
    ticks = _time_ticks(events)
    ax.set_yticks(ticks, [f"t={events[r].time:g}" for r in ticks], fontsize=8)
    ax.tick_params(axis="both", length=0)
    for side in ("right", "bottom", "left", "top"):
        ax.spines[side].set_visible(False)
    shown = f"first {rows} of {len(history)} events" if rows < len(history) else f"{rows} events"
    title = f"Sequence diagram: {shown}"
    if report is not None:
        title += f", {n_anomalies} anomal{'y' if n_anomalies == 1 else 'ies'} shown"
        if hidden:
            title += f" ({hidden} more after the last row)"
    ax.set_title(title, fontsize=10, loc="left", pad=22)
    if handles and legend:
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.0, 1.0),
            fontsize=7,
            frameon=False,
            borderaxespad=0.0,
        )
    if not rows:
        ax.text(0.5, 0.5, "empty history", ha="center", va="center", transform=ax.transAxes)
    return fig


def _add(ax: Any, collection: Any, gid: str) -> Any:
    """Add ``collection`` to ``ax`` outside autoscaling (the diagram sets its own limits)."""
    collection.set_gid(gid)
    return ax.add_collection(collection, autolim=False)


def _marks(
    ax: Any,
    pts: list[tuple[float, float]],
    marker: str,
    size: float,
    *,
    face: str,
    edge: str,
    width: float,
    zorder: float,
    gid: str,
    label: str = "",
) -> Any:
    """A ``marker`` of ``size`` points² at each of ``pts``: the collection ``ax.scatter`` makes.

    Built directly: ``scatter`` spends about 1 ms per call on its arguments (colour mapping,
    masks) and on autoscaling, and a diagram has up to 20 groups of marks.
    """
    from matplotlib.collections import PathCollection
    from matplotlib.markers import MarkerStyle
    from matplotlib.transforms import IdentityTransform

    style = MarkerStyle(marker)
    marks = PathCollection(
        [style.get_path().transformed(style.get_transform())],
        sizes=[size],
        offsets=pts,
        offset_transform=ax.transData,
        facecolors=face,
        edgecolors=edge,
        linewidths=width,
        zorder=zorder,
        label=label,
    )
    marks.set_transform(IdentityTransform())  # sizes are in points, whatever the data limits
    return _add(ax, marks, gid)


#: The size of the message ids on arrows and marks, in points.
LABEL_SIZE = 7


def _labels(fig: Any, ax: Any, texts: list[tuple[float, float, str]]) -> Any:
    """Each ``(x, y, text)`` of ``texts`` in grey, centred on x, its bottom just above row y.

    One collection of text outlines, where ``ax.text(x, y - 0.18, text, ha="center",
    va="bottom")`` would put each; an outline is made once per text (:func:`_label_outline`).
    """
    from matplotlib import font_manager
    from matplotlib.collections import PathCollection
    from matplotlib.transforms import Affine2D

    font = font_manager.findfont(font_manager.FontProperties(size=LABEL_SIZE))
    return PathCollection(
        [_label_outline(text, font, LABEL_SIZE) for _, _, text in texts],
        offsets=[(tx, ty - 0.18) for tx, ty, _ in texts],
        offset_transform=ax.transData,
        # the outlines are in points: 1/72 inch each, then the figure's own inches to pixels
        transform=Affine2D().scale(1 / 72) + fig.dpi_scale_trans,
        facecolors="#333333",
        edgecolors="none",
        linewidths=0,
        zorder=6,
    )


@lru_cache(maxsize=1024)
def _label_outline(text: str, font: str, size: float) -> Any:
    """The outline of ``text`` in ``font`` (a font file) at ``size`` points, a Path in points:
    centred on x = 0, with the bottom of its line (the font's descent under the baseline) at
    y = 0, as a Text with ``ha="center", va="bottom"`` is placed.

    Remembered (the last 1024): a diagram shows the same few message ids again and again, and
    an outline depends on nothing but these arguments.
    """
    from matplotlib import font_manager
    from matplotlib.textpath import TextPath
    from matplotlib.transforms import Affine2D

    prop = font_manager.FontProperties(fname=font, size=size)
    outline = TextPath((0, 0), text, prop=prop)
    descent = -TextPath((0, 0), "lp", prop=prop).get_extents().y0
    box = outline.get_extents()
    return outline.transformed(Affine2D().translate(-(box.x0 + box.x1) / 2, descent))


def _anomaly_name(a: Any) -> str:
    name = a.kind.replace("_", "-")
    if a.kind == "order":
        name = f"order ({a.what})"
    elif a.kind == "offsets":
        name = a.what
    return f"{name} {a.msg}" if a.msg else name


def _time_ticks(events: list[Event], most: int = 16) -> list[int]:
    """Rows at which to label the time: where it changes, thinned out to at most ``most``."""
    rows = [r for r, e in enumerate(events) if r == 0 or e.time != events[r - 1].time]
    if len(rows) > most:
        step = -(-len(rows) // most)
        rows = rows[::step]
    return rows
