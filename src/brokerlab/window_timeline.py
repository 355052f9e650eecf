"""Tumbling, hopping and session windows drawn over one timeline of events.

:func:`window_rows` computes, for the same event timestamps, the windows each kind makes and how
many events fall in each, with the course's window classes
(:class:`~brokerlab.windows.TumblingWindows`, :class:`~brokerlab.windows.HoppingWindows`,
:class:`~brokerlab.windows.SessionWindows`); :func:`draw_windows` draws them one row per kind,
above the events, so that you can see a hopping event counted in several windows and a session
window stretch and stop with the events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .plots import OKABE_ITO, figure_and_ax

__all__ = ["draw_windows", "window_rows"]


def window_rows(
    timestamps: Sequence[int], size: int, advance: int, gap: int
) -> dict[str, list[tuple[int, int, int]]]:
    """kind -> ``[(start, end, events in it), ...]`` for tumbling (``size``), hopping (``size``,
    ``advance``) and session (``gap``) windows over ``timestamps`` (ms). Tumbling and hopping
    windows are half-open ``[start, end)``; a session's ``end`` is its last event (inclusive).

    >>> window_rows([1, 4, 12, 30], size=10, advance=5, gap=5)["session"]
    [(1, 4, 2), (12, 12, 1), (30, 30, 1)]
    """
    from .windows import HoppingWindows, SessionWindows, TumblingWindows

    rows: dict[str, list[tuple[int, int, int]]] = {}
    for name, kind in (
        ("tumbling", TumblingWindows(size)),
        ("hopping", HoppingWindows(size, advance)),
    ):
        counts: dict[tuple[int, int], int] = {}
        for t in timestamps:
            for w in kind.windows_for(t):
                counts[w] = counts.get(w, 0) + 1
        rows[name] = [(s, e, n) for (s, e), n in sorted(counts.items())]
    sessions = SessionWindows(gap).sessions(timestamps)
    rows["session"] = [(s, e, sum(1 for t in timestamps if s <= t <= e)) for s, e in sessions]
    return rows


def draw_windows(
    timestamps: Sequence[int], size: int, advance: int, gap: int, ax: Any = None
) -> Any:
    """One row per window kind over the events (ticks at the bottom); each window is a bar with
    its event count. Hopping windows overlap, so they are drawn on staggered lanes. Returns the
    Figure. Times are ms; the picture shows seconds."""
    rows = window_rows(timestamps, size, advance, gap)
    fig, ax = figure_and_ax(ax, (7.0, 3.2), margins=(1.35, 0.3, 0.5, 0.6))
    colours = {
        "tumbling": OKABE_ITO["blue"],
        "hopping": OKABE_ITO["orange"],
        "session": OKABE_ITO["bluish_green"],
    }
    lanes = max(1, -(-size // advance))  # overlapping hopping windows per instant
    y_of = {"session": 0.0, "hopping": 1.0, "tumbling": 2.2 + 0.0}
    for kind, windows in rows.items():
        for i, (start, end, n) in enumerate(windows):
            lane = (start // advance) % lanes if kind == "hopping" else 0
            y = y_of[kind] + (lane / lanes) * 0.9 if kind == "hopping" else y_of[kind]
            height = 0.8 / lanes if kind == "hopping" else 0.6
            width = (end - start) / 1000 if kind != "session" else max((end - start) / 1000, 0.3)
            left = (
                start / 1000 if kind != "session" else start / 1000 - (0.15 if end == start else 0)
            )
            ax.broken_barh(
                [(left, width)],
                (y, height),
                facecolors=colours[kind],
                edgecolors="white",
                alpha=0.85,
                label=kind if i == 0 else None,
            )
            ax.text(
                left + width / 2,
                y + height / 2,
                str(n),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if kind != "hopping" else "black",
            )
    ax.plot(
        [t / 1000 for t in timestamps],
        [-0.45] * len(timestamps),
        "|",
        color=OKABE_ITO["black"],
        markersize=12,
        label="events",
    )
    ax.set_yticks(
        [-0.45, 0.3, 1.45, 2.5],
        [
            "events",
            f"session\n(gap {gap / 1000:g} s)",
            f"hopping\n({size / 1000:g} s every {advance / 1000:g} s)",
            f"tumbling\n({size / 1000:g} s)",
        ],
    )
    ax.set_ylim(-0.9, 3.0)
    ax.set_xlabel("event time (s)")
    ax.set_title("One set of events, three kinds of window (numbers: events counted)")
    return fig
