"""A consumer-group rebalance, run on the log and drawn: who owned which partition, before and after.

:func:`rebalance` builds a group on a fresh :class:`~brokerlab.log.Log` (one topic of
``partitions`` partitions, ``members`` consumers using one assignor), then makes one change
happen, as it would in Kafka:

- ``"join"``: a new consumer subscribes (Kafka: it sends JoinGroup, the group rebalances);
- ``"leave"``: the newest member closes cleanly (LeaveGroup: an immediate rebalance);
- ``"crash"``: the newest member dies; nobody notices until ``session.timeout.ms`` (45 s)
  has passed without a heartbeat, and only then does the group rebalance. Until then its
  partitions are read by nobody.

It returns the group's last :class:`~brokerlab.consumer_group.RebalanceEvent`, whose
``before``/``after``/``lost``/``got``/``revoked`` come from the model's own assignors
(:mod:`brokerlab.consumer_group`): nothing here assigns partitions itself.

:func:`draw_rebalance` draws the event as two rows of partitions, coloured by owner, with every
partition that changed owner outlined and joined by an arrow. :func:`count_moves` counts them.
:func:`crash_lag` runs a group through a crash and returns the :class:`~brokerlab.history.History`
that :func:`brokerlab.plots.plot_lag` turns into lag per partition over time.
"""

from __future__ import annotations

from typing import Any

from .consumer_group import ASSIGNORS, RebalanceEvent
from .errors import check_choice, check_range
from .plots import OKABE_ITO, figure_and_ax

__all__ = [
    "CHANGES",
    "count_moves",
    "crash_lag",
    "draw_rebalance",
    "rebalance",
    "rebalance_widget",
]

CHANGES = ("join", "leave", "crash")
_MEMBER_COLOURS = [
    OKABE_ITO[c]
    for c in (
        "blue",
        "orange",
        "bluish_green",
        "reddish_purple",
        "sky_blue",
        "yellow",
        "vermillion",
        "black",
    )
]


def rebalance(
    partitions: int = 6, members: int = 3, change: str = "join", assignor: str = "range"
) -> RebalanceEvent:
    """The rebalance caused by one ``change`` to a group of ``members`` on ``partitions``.

    >>> rebalance(partitions=6, members=2, change="join", assignor="range")
    RebalanceEvent(t=0s, 'demo' generation 3, m3 joined: m1 lost [orders-2]; m2 lost [orders-4, orders-5]; m2 got [orders-2]; m3 got [orders-4, orders-5])
    """
    from .log import Log

    check_range("partitions", partitions, 1, 64, "partitions", example=6)
    check_range("members", members, 1, 16, "members", example=3)
    check_choice("change", change, CHANGES)
    check_choice("assignor", assignor, tuple(ASSIGNORS))
    log = Log()
    log.create_topic("orders", partitions)
    consumers = []
    for i in range(1, members + 1):
        c = log.consumer(group="demo", name=f"m{i}", assignor=assignor)
        c.subscribe(["orders"])
        consumers.append(c)
    if change == "join":
        log.consumer(group="demo", name=f"m{members + 1}", assignor=assignor).subscribe(["orders"])
    elif change == "leave":
        consumers[-1].close()
    else:
        consumers[-1].crash()
        log.clock.advance(consumers[-1].session_timeout_ms / 1000)
        log.tick()
    return log.group("demo").events[-1]


def count_moves(event: RebalanceEvent) -> int:
    """How many partitions ended up with a different owner (a departed member's count too)."""
    return sum(len(tps) for tps in event.got.values())


def _owners(assignment: dict[str, tuple]) -> dict[int, str]:
    return {tp.partition: m for m, tps in assignment.items() for tp in tps}


def draw_rebalance(event: RebalanceEvent, ax: Any = None) -> Any:
    """Two rows of partitions (before, after), each cell coloured and labelled by its owner
    (the labels name the members, so there is no legend). A partition that changed owner is
    outlined in black, joined by an arrow and labelled with its new owner; the after row
    leaves the others unlabelled (same owner as above). Returns the Figure."""
    before, after = _owners(event.before), _owners(event.after)
    n = max([*before, *after], default=-1) + 1
    members = sorted(set(event.before) | set(event.after), key=_member_order)
    colour = {m: _MEMBER_COLOURS[i % len(_MEMBER_COLOURS)] for i, m in enumerate(members)}
    fig, ax = figure_and_ax(ax, (7.0, 2.6))
    from matplotlib.collections import PolyCollection

    changed = [p for p in range(n) if before.get(p) != after.get(p)]
    cells, faces, edges = [], [], []
    for row, owners in ((1, before), (0, after)):
        for p in range(n):
            owner = owners.get(p)
            x0, y0 = p - 0.45, row - 0.25
            cells.append([(x0, y0), (x0 + 0.9, y0), (x0 + 0.9, y0 + 0.5), (x0, y0 + 0.5)])
            faces.append(colour.get(owner, "white"))
            edges.append("black" if p in changed else "white")
            # Labels cost about a millisecond each: the after row names only the new owners.
            if row == 1 or p in changed:
                dark = owner is not None and colour[owner] in _DARK
                ax.text(
                    p,
                    row,
                    owner or "-",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if dark else "black",
                )
    ax.add_collection(PolyCollection(cells, facecolors=faces, edgecolors=edges, linewidths=2))
    if changed:  # one arrow per move: shafts and heads as two artists, not one per arrow
        shafts = []
        for p in changed:
            shafts += [(p, 0.72), (p, 0.33), (float("nan"), float("nan"))]
        xs, ys = zip(*shafts)
        ax.plot(xs, ys, color=OKABE_ITO["vermillion"], linewidth=1.5)
        ax.plot(changed, [0.31] * len(changed), "v", color=OKABE_ITO["vermillion"], markersize=6)
    moved = len(changed)
    ax.set_yticks([1, 0], ["before", "after"])
    ax.set_xticks(range(n))
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(-0.45, 1.45)
    ax.set_xlabel("partition of topic 'orders'")
    ax.set_title(
        f"{event.reason} ({event.protocol} protocol): {moved} of {n} partitions change owner"
    )
    return fig


_DARK = {OKABE_ITO["blue"], OKABE_ITO["black"], OKABE_ITO["vermillion"], OKABE_ITO["bluish_green"]}


def _member_order(name: str) -> tuple[int, str]:
    digits = "".join(ch for ch in name if ch.isdigit())
    return (int(digits) if digits else 0, name)


def crash_lag(
    seconds: int = 120,
    partitions: int = 4,
    members: int = 2,
    rate: int = 5,
    crash_at: int = 30,
    assignor: str = "range",
) -> Any:
    """A group of ``members`` keeping up with ``rate`` records per second per partition, until the
    last member crashes at ``crash_at`` s. Its partitions wait, unread, for the session timeout
    (45 s), then the group rebalances and the survivors catch up. Returns the run's History
    (one step per second; every live member polls and commits each second)."""
    from .history import History
    from .log import Log

    check_range("seconds", seconds, 1, 3600, "seconds", example=120)
    check_range("partitions", partitions, 1, 64, "partitions", example=4)
    check_range("members", members, 1, 16, "members", example=2)
    check_range("crash_at", crash_at, 0, seconds, "seconds", example=30)
    check_range("rate", rate, 1, 1000, "records per second per partition", example=5)
    history = History()
    log = Log(history=history)
    log.create_topic("orders", partitions)
    producer = log.producer()
    consumers = []
    for i in range(1, members + 1):
        c = log.consumer(
            group="billing",
            name=f"m{i}",
            assignor=assignor,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        c.subscribe(["orders"])
        consumers.append(c)
    for second in range(seconds):
        for p in range(partitions):
            for _ in range(rate):
                producer.send("orders", b"order", partition=p)
        if second == crash_at:
            consumers[-1].crash()
        log.clock.advance(1)
        for c in consumers:
            if c.state == "open":
                c.poll(max_records=rate * partitions * 2)
                c.commit()
    return history


def rebalance_widget() -> Any:
    """The rebalance widget: partitions, members, the change and the assignor."""
    import ipywidgets as widgets

    from .widgets import live_figure

    def draw(ax: Any, partitions: int, members: int, change: str, assignor: str) -> None:
        draw_rebalance(rebalance(partitions, members, change, assignor), ax=ax)

    return live_figure(
        draw,
        figsize=(7.0, 2.6),
        partitions=widgets.IntSlider(value=6, min=1, max=12, description="partitions"),
        members=widgets.IntSlider(value=3, min=1, max=7, description="members"),
        change=widgets.Dropdown(options=list(CHANGES), value="join", description="change"),
        assignor=widgets.Dropdown(options=list(ASSIGNORS), value="range", description="assignor"),
    )
